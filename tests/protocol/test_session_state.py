"""ChargerState as a session's listeners use it: keyed subscriptions, events, connectors."""

from __future__ import annotations

from datetime import UTC, datetime

from custom_components.ocpp_central.protocol.state import (
    CONNECTORS,
    ChargerEvent,
    ChargerState,
    Transaction,
)


def test_listener_called_once_per_notification_and_unsubscribed() -> None:
    state = ChargerState("cp")
    calls: list[str] = []
    unsubscribe = state.subscribe([(1, "status"), (1, "readings")], lambda: calls.append("a"))
    other = state.subscribe([(1, "status")], lambda: calls.append("b"))
    state.notify({(1, "status"), (1, "readings"), (2, "status")})
    assert sorted(calls) == ["a", "b"]
    unsubscribe()
    unsubscribe()  # twice is harmless
    other()
    state.notify({(1, "status"), (1, "readings")})
    assert len(calls) == 2


def test_events_and_connectors() -> None:
    state = ChargerState("cp")
    events: list[ChargerEvent] = []
    stop = state.subscribe_events(events.append)
    event = ChargerEvent(1, "id_tag", "accepted", {"id_tag": "T"})
    state.emit(event)
    stop()
    state.emit(event)
    assert events == [event]
    assert state.connector(2) is state.connector(2)
    assert state.connector_ids == [2]
    assert CONNECTORS == (0, "connectors")
    assert state.connectors[2].reading("Voltage") is None


def test_transaction_energy_is_never_negative() -> None:
    tx = Transaction(
        transaction_id=1,
        connector_id=1,
        id_tag="T",
        meter_start=500.0,
        start_time=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert tx.energy == 0.0
    tx.meter_last = 400.0  # a meter replaced mid-session
    assert tx.energy == 0.0
    tx.meter_last = 1500.0
    assert tx.energy == 1000.0
