"""ChargerState as a session's listeners use it: keyed subscriptions, events, connectors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

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


def test_a_failing_listener_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    state = ChargerState("cp")
    heard: list[str] = []

    def broken() -> None:
        raise RuntimeError("entity bug")

    def broken_event(_event: ChargerEvent) -> None:
        raise RuntimeError("event bug")

    state.subscribe([(1, "status")], broken)
    state.subscribe([(1, "status")], lambda: heard.append("status"))
    state.subscribe_events(broken_event)
    state.subscribe_events(lambda event: heard.append(event.kind))
    state.notify({(1, "status")})
    state.emit(ChargerEvent(1, "session", "started", {}))
    assert heard == ["status", "session"]
    assert "state listener failed" in caplog.text
    assert "event listener failed" in caplog.text
