"""The running transaction of a connector: one rule, `ConnectorState.running_transaction`.

A transaction runs from its StartTransaction (OCPP 1.6 section 4.8) until its
StopTransaction (section 4.10) or a new start on the same connector that supersedes it.
Through a real central system on 127.0.0.1 and the `ocpp` package's ChargePoint.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16 import ChargePoint, call

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.hooks import MemoryHooks
from custom_components.ocpp_central.protocol.session import ChargerSession
from custom_components.ocpp_central.protocol.state import ConnectorState, Transaction

from .conftest import CentralFactory, ocpp_client

CBID = "CP1"
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def ts(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def send(charger: ChargePoint, message: Any) -> Any:
    return await charger.call(message, suppress=False)


async def test_running_transaction_follows_start_supersede_and_stop(
    make_central: CentralFactory,
) -> None:
    central = await make_central([ChargerConfig(charge_box_id=CBID)], hooks=MemoryHooks())
    session = central.sessions[CBID]
    assert isinstance(session, ChargerSession)
    async with ocpp_client(central, CBID) as charger:
        await send(charger, call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        connector = session.state.connector(1)
        assert connector.running_transaction is None
        first = await send(
            charger,
            call.StartTransaction(connector_id=1, id_tag="TAG", meter_start=0, timestamp=ts(T0)),
        )
        running = connector.running_transaction
        assert running is not None
        assert running.transaction_id == first.transaction_id
        # A new start without the first one's stop supersedes it: the new one runs.
        second = await send(
            charger,
            call.StartTransaction(
                connector_id=1, id_tag="TAG", meter_start=10, timestamp=ts(T0 + timedelta(hours=1))
            ),
        )
        running = connector.running_transaction
        assert running is not None
        assert running.transaction_id == second.transaction_id
        await send(
            charger,
            call.StopTransaction(
                transaction_id=second.transaction_id,
                meter_stop=20,
                timestamp=ts(T0 + timedelta(hours=2)),
            ),
        )
        assert connector.running_transaction is None
        assert connector.transaction is None


def test_a_transaction_with_a_stop_time_is_not_running() -> None:
    # Whoever holds a connector with a stopped transaction in it still sees none running.
    connector = ConnectorState(1)

    tx = Transaction(1, 1, "TAG", 0.0, T0)
    connector.transaction = tx
    assert connector.running_transaction is tx
    connector.transaction = replace(tx, stop_time=T0 + timedelta(minutes=1))
    assert connector.running_transaction is None
