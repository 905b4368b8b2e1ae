"""Transactions whose StopTransaction never came: superseded by the next start, never ConcurrentTx.

A charger that reboots or loses a frame leaves a transaction open at the central system.
Through a real central system on 127.0.0.1 and the `ocpp` package's ChargePoint:
- a new StartTransaction on that connector closes the leftover (session event `stopped`,
  reason "Superseded", energy up to its last reading) and the store forgets it;
- a late StopTransaction for it is acknowledged (OCPP 1.6 section 4.10: the central system
  cannot refuse a stop) and leaves the connector's current transaction alone;
- a leftover on another connector whose status shows it ended never turns a later
  Authorize or StartTransaction of its tag into ConcurrentTx (section 7.2).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16 import ChargePoint, call

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.hooks import MemoryHooks
from custom_components.ocpp_central.protocol.server import CentralSystem
from custom_components.ocpp_central.protocol.session import SUPERSEDED, ChargerSession
from custom_components.ocpp_central.protocol.state import ChargerEvent, Transaction

from .conftest import CentralFactory, ocpp_client

CBID = "CP1"
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
REGISTER = "Energy.Active.Import.Register"


def ts(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def start(
    make_central: CentralFactory, hooks: MemoryHooks | None = None
) -> tuple[CentralSystem, ChargerSession, MemoryHooks, list[ChargerEvent]]:
    hooks = hooks or MemoryHooks()
    central = await make_central([ChargerConfig(charge_box_id=CBID)], hooks=hooks)
    session = central.sessions[CBID]
    assert isinstance(session, ChargerSession)
    events: list[ChargerEvent] = []
    session.state.subscribe_events(events.append)
    return central, session, hooks, events


async def send(charger: ChargePoint, message: Any) -> Any:
    return await charger.call(message, suppress=False)


async def boot(charger: ChargePoint) -> None:
    await send(charger, call.BootNotification(charge_point_model="M", charge_point_vendor="V"))


async def start_tx(
    charger: ChargePoint, connector_id: int, id_tag: str, meter_start: int, at: datetime
) -> Any:
    return await send(
        charger,
        call.StartTransaction(
            connector_id=connector_id, id_tag=id_tag, meter_start=meter_start, timestamp=ts(at)
        ),
    )


async def status(charger: ChargePoint, connector_id: int, value: str, at: datetime) -> None:
    await send(
        charger,
        call.StatusNotification(
            connector_id=connector_id, error_code="NoError", status=value, timestamp=ts(at)
        ),
    )


async def register(
    charger: ChargePoint, connector_id: int, transaction_id: int, wh: int, at: datetime
) -> None:
    await send(
        charger,
        call.MeterValues(
            connector_id=connector_id,
            transaction_id=transaction_id,
            meter_value=[
                {"timestamp": ts(at), "sampledValue": [{"value": str(wh), "measurand": REGISTER}]}
            ],
        ),
    )


async def test_new_start_closes_the_leftover_and_a_late_stop_changes_nothing(
    make_central: CentralFactory,
) -> None:
    central, session, hooks, events = await start(make_central)
    async with ocpp_client(central, CBID) as charger:
        await boot(charger)
        first = await start_tx(charger, 1, "TAG", 1000, T0)
        await register(charger, 1, first.transaction_id, 1500, T0 + timedelta(minutes=20))
        # The charger rebooted; the StopTransaction of the first one never came.
        events.clear()
        second = await start_tx(charger, 1, "TAG", 2000, T0 + timedelta(hours=1))
        assert second.id_tag_info == {"status": "Accepted"}
        assert [(e.kind, e.event_type, e.connector_id) for e in events] == [
            ("session", "stopped", 1),
            ("id_tag", "accepted", 1),
            ("session", "started", 1),
        ]
        assert events[0].data == {
            "transaction_id": first.transaction_id,
            "id_tag": "TAG",
            "energy_wh": 500.0,  # up to its last reading
            "duration_s": 1200.0,
            "reason": SUPERSEDED,
        }
        assert list(session.transactions) == [second.transaction_id]
        assert list(hooks.open[CBID]) == [second.transaction_id]
        assert [(tx.transaction_id, tx.stop_reason) for _, tx in hooks.stopped] == [
            (first.transaction_id, SUPERSEDED)
        ]
        connector = session.state.connectors[1]
        current = connector.transaction
        assert current is not None
        assert current.transaction_id == second.transaction_id

        # The first one's stop arrives late from the charger's queue: acknowledged, and
        # neither the connector's transaction nor its register moves.
        events.clear()
        late = await send(
            charger,
            call.StopTransaction(
                meter_stop=1800,
                timestamp=ts(T0 + timedelta(minutes=30)),
                transaction_id=first.transaction_id,
                id_tag="TAG",
                reason="PowerLoss",
            ),
        )
        assert late.id_tag_info == {"status": "Accepted"}
        assert connector.transaction is current
        assert (current.meter_start, current.meter_last, current.stop_time) == (2000, 2000, None)
        assert connector.reading(REGISTER) == 2000
        assert events == []
        assert len(hooks.stopped) == 1
        assert list(hooks.open[CBID]) == [second.transaction_id]

        # The current one stops normally.
        await send(
            charger,
            call.StopTransaction(
                meter_stop=2600,
                timestamp=ts(T0 + timedelta(hours=2)),
                transaction_id=second.transaction_id,
            ),
        )
    assert [(e.event_type, e.data["energy_wh"]) for e in events] == [("stopped", 600.0)]
    assert hooks.open[CBID] == {}


async def test_a_leftover_elsewhere_never_answers_concurrent_tx(
    make_central: CentralFactory,
) -> None:
    central, _session, _hooks, events = await start(make_central)
    async with ocpp_client(central, CBID) as charger:
        await boot(charger)
        await start_tx(charger, 1, "TAG", 0, T0)
        # Still charging on connector 1: a second transaction of the tag is concurrent.
        await status(charger, 1, "Charging", T0 + timedelta(seconds=5))
        busy = await start_tx(charger, 2, "tag", 0, T0 + timedelta(minutes=1))
        assert busy.id_tag_info["status"] == "ConcurrentTx"
        await send(
            charger,
            call.StopTransaction(
                meter_stop=0, timestamp=ts(T0 + timedelta(minutes=2)), transaction_id=2
            ),
        )
        # The charger reboots: connector 1 reports Available, its stop was lost.
        await boot(charger)
        await status(charger, 1, "Available", T0 + timedelta(minutes=10))
        events.clear()
        authorized = await send(charger, call.Authorize(id_tag="TAG"))
        assert authorized.id_tag_info["status"] == "Accepted"
        again = await start_tx(charger, 2, "TAG", 0, T0 + timedelta(minutes=11))
        assert again.id_tag_info["status"] == "Accepted"
    assert "concurrent_tx" not in [e.event_type for e in events if e.kind == "id_tag"]


async def test_restore_closes_leftovers_a_store_still_holds(make_central: CentralFactory) -> None:
    hooks = MemoryHooks()
    for transaction_id, hours in ((3, 0), (4, 1), (5, 2)):
        hooks.transaction_started(
            CBID,
            Transaction(
                transaction_id=transaction_id,
                connector_id=1,
                id_tag="TAG",
                meter_start=100 * hours,
                start_time=T0 + timedelta(hours=hours),
            ),
        )
    central, session, hooks, _events = await start(make_central, hooks)
    assert list(session.transactions) == [5]
    assert list(hooks.open[CBID]) == [5]
    assert sorted(tx.transaction_id for _, tx in hooks.stopped) == [3, 4]
    async with ocpp_client(central, CBID) as charger:
        await boot(charger)
        stopped = await send(
            charger,
            call.StopTransaction(
                meter_stop=900, timestamp=ts(T0 + timedelta(hours=3)), transaction_id=5
            ),
        )
        assert stopped is not None
    assert hooks.open[CBID] == {}
    assert hooks.stopped[-1][1].energy == 700
