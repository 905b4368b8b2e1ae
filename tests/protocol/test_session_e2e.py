"""The charger session end to end: a real central system on 127.0.0.1 and the `ocpp` package's
ChargePoint as the charger (an independent OCPP-J 1.6 implementation), real schemas both ways.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.exceptions import SecurityError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
import pytest

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.hooks import MemoryHooks
from custom_components.ocpp_central.protocol.messages import DataTransferResult
from custom_components.ocpp_central.protocol.server import CentralSystem
from custom_components.ocpp_central.protocol.session import ChargerSession
from custom_components.ocpp_central.protocol.state import BootInfo, ChargerEvent

from .conftest import CentralFactory, ocpp_client, wait_for

CBID = "CP1"
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def ts(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class Charger(ChargePoint):  # type: ignore[misc]
    """A charger with three connectors that records our CALLs and accepts most of them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.configuration = {
            "NumberOfConnectors": "3",
            "HeartbeatInterval": "300",
            "MeterValueSampleInterval": "60",
        }

    @on("GetConfiguration")  # type: ignore[untyped-decorator]
    def on_get_configuration(self, key: list[str] | None = None) -> call_result.GetConfiguration:
        self.received.append(("GetConfiguration", {"key": key}))
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": name, "readonly": name == "NumberOfConnectors", "value": value}
                for name, value in self.configuration.items()
                if key is None or name in key
            ],
            unknown_key=[name for name in key or () if name not in self.configuration],
        )

    @on("ChangeConfiguration")  # type: ignore[untyped-decorator]
    def on_change_configuration(self, key: str, value: str) -> call_result.ChangeConfiguration:
        self.received.append(("ChangeConfiguration", {"key": key, "value": value}))
        self.configuration[key] = value
        return call_result.ChangeConfiguration(status="Accepted")

    @on("TriggerMessage")  # type: ignore[untyped-decorator]
    def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None
    ) -> call_result.TriggerMessage:
        self.received.append(
            ("TriggerMessage", {"requestedMessage": requested_message, "connectorId": connector_id})
        )
        return call_result.TriggerMessage(status="Accepted")

    @on("RemoteStartTransaction")  # type: ignore[untyped-decorator]
    def on_remote_start(
        self, id_tag: str, connector_id: int | None = None, **_: Any
    ) -> call_result.RemoteStartTransaction:
        self.received.append(
            ("RemoteStartTransaction", {"idTag": id_tag, "connectorId": connector_id})
        )
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("DataTransfer")  # type: ignore[untyped-decorator]
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> call_result.DataTransfer:
        self.received.append(("DataTransfer", {"vendorId": vendor_id}))
        return call_result.DataTransfer(status="Accepted", data=f"echo {data}")

    def actions(self) -> list[str]:
        return [action for action, _ in self.received]


async def start(
    make_central: CentralFactory, hooks: MemoryHooks | None = None, **config: Any
) -> tuple[CentralSystem, ChargerSession, MemoryHooks]:
    hooks = hooks or MemoryHooks()
    central = await make_central([ChargerConfig(charge_box_id=CBID, **config)], hooks=hooks)
    session = central.sessions[CBID]
    assert isinstance(session, ChargerSession)
    return central, session, hooks


async def boot(charger: Charger) -> call_result.BootNotification:
    return await charger.call(
        call.BootNotification(charge_point_model="Model", charge_point_vendor="Vendor"),
        suppress=False,
    )


async def test_boot_then_configuration_sync(make_central: CentralFactory) -> None:
    _central, session, _ = await start(make_central, heartbeat_interval=120, meter_interval=30)
    async with ocpp_client(_central, CBID, Charger) as charger:
        reply = await boot(charger)
        assert reply.status == "Accepted"
        assert reply.interval == 120
        assert reply.current_time.endswith("Z")
        configuration = session.state.configuration
        await wait_for(
            lambda: (
                (value := configuration.get("MeterValueSampleInterval")) is not None
                and value.value == "30"
            )
        )
        assert charger.received == [
            ("GetConfiguration", {"key": None}),
            ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}),
            ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "30"}),
        ]
        assert session.state.connector_ids == [1, 2, 3]
        assert session.state.boot == BootInfo("Vendor", "Model")
        assert session.state.configuration["MeterValueSampleInterval"].value == "30"
        # A new interval goes to the connected charger at once.
        session.update_config(
            ChargerConfig(charge_box_id=CBID, heartbeat_interval=60, meter_interval=30)
        )
        await wait_for(lambda: len(charger.received) >= 4)
        assert charger.received[3] == (
            "ChangeConfiguration",
            {"key": "HeartbeatInterval", "value": "60"},
        )


async def test_a_whole_charging_session(make_central: CentralFactory) -> None:
    central, session, hooks = await start(make_central)
    hooks.tags["blocked"] = {"status": "Blocked"}
    events: list[ChargerEvent] = []
    session.state.subscribe_events(events.append)
    async with ocpp_client(central, CBID, Charger) as charger:
        await boot(charger)
        status = await charger.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"),
            suppress=False,
        )
        assert status is not None
        refused = await charger.call(call.Authorize(id_tag="BLOCKED"), suppress=False)
        assert refused.id_tag_info["status"] == "Blocked"
        started = await charger.call(
            call.StartTransaction(connector_id=1, id_tag="TAG", meter_start=0, timestamp=ts(T0)),
            suppress=False,
        )
        assert started.transaction_id == 1
        assert started.id_tag_info == {"status": "Accepted"}
        await charger.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=1,
                meter_value=[
                    {
                        "timestamp": ts(T0 + timedelta(minutes=30)),
                        "sampledValue": [
                            {
                                "value": "5.5",
                                "unit": "kWh",
                                "measurand": "Energy.Active.Import.Register",
                            },
                            {"value": "11", "unit": "kW", "measurand": "Power.Active.Import"},
                            *(
                                {
                                    "value": "16",
                                    "unit": "A",
                                    "measurand": "Current.Import",
                                    "phase": p,
                                }
                                for p in ("L1", "L2", "L3")
                            ),
                        ],
                    }
                ],
            ),
            suppress=False,
        )
        connector = session.state.connectors[1]
        assert connector.reading("Power.Active.Import") == 11000
        assert connector.reading("Current.Import.L3") == 16
        assert hooks.open[CBID][1].meter_last == 5500
        stopped = await charger.call(
            call.StopTransaction(
                meter_stop=11000,
                timestamp=ts(T0 + timedelta(hours=1)),
                transaction_id=1,
                reason="EVDisconnected",
                id_tag="TAG",
            ),
            suppress=False,
        )
        assert stopped.id_tag_info == {"status": "Accepted"}
    assert hooks.stopped[0][1].energy == 11000
    assert [(e.kind, e.event_type) for e in events] == [
        ("id_tag", "blocked"),
        ("id_tag", "accepted"),
        ("session", "started"),
        ("session", "stopped"),
    ]
    assert events[-1].data == {
        "transaction_id": 1,
        "id_tag": "TAG",
        "energy_wh": 11000.0,
        "duration_s": 3600.0,
        "reason": "EVDisconnected",
    }


async def test_restart_mid_transaction_then_stop(make_central: CentralFactory) -> None:
    hooks = MemoryHooks()
    central, _, _ = await start(make_central, hooks)
    async with ocpp_client(central, CBID, Charger) as charger:
        await boot(charger)
        await charger.call(
            call.StartTransaction(connector_id=2, id_tag="TAG", meter_start=2000, timestamp=ts(T0)),
            suppress=False,
        )
    await central.stop()

    # The central system restarts with the same store; the charger reconnects and stops.
    central, session, _ = await start(make_central, hooks)
    tx = session.state.connectors[2].transaction
    assert tx is not None
    assert tx.transaction_id == 1
    async with ocpp_client(central, CBID, Charger) as charger:
        await charger.call(
            call.StopTransaction(
                meter_stop=9500, timestamp=ts(T0 + timedelta(hours=2)), transaction_id=1
            ),
            suppress=False,
        )
    assert hooks.stopped[0][1].energy == 7500
    assert hooks.stopped[0][1].stop_reason == "Local"


async def test_reconnect_without_boot_is_resynchronised(make_central: CentralFactory) -> None:
    central, session, _ = await start(make_central)
    session.resync_delay = 0.05
    async with ocpp_client(central, CBID, Charger) as charger:
        await boot(charger)
        await wait_for(lambda: len(charger.received) >= 2)
    await wait_for(lambda: not session.connected)
    async with ocpp_client(central, CBID, Charger) as charger:
        # Served at once although it sent no BootNotification (OCPP-J section 5.4).
        beat = await charger.call(call.Heartbeat(), suppress=False)
        assert beat.current_time.endswith("Z")
        await wait_for(lambda: "GetConfiguration" in charger.actions())
        triggers = [p for a, p in charger.received if a == "TriggerMessage"]
        assert triggers == [
            {"requestedMessage": message, "connectorId": connector_id}
            for message in ("StatusNotification", "MeterValues")
            for connector_id in (1, 2, 3)
        ]


async def test_security_error_before_an_accepted_boot(make_central: CentralFactory) -> None:
    central, session, _ = await start(make_central)
    session.boot_policy = lambda _id, _info: "Pending"
    async with ocpp_client(central, CBID, Charger) as charger:
        reply = await boot(charger)
        assert reply.status == "Pending"
        with pytest.raises(SecurityError):
            await charger.call(call.Heartbeat(), suppress=False)
        # While Pending we may still configure it (section 4.2).
        assert (await session.get_configuration(["NumberOfConnectors"])).values[
            "NumberOfConnectors"
        ].value == "3"
        session.boot_policy = None
        assert (await boot(charger)).status == "Accepted"
        await charger.call(call.Heartbeat(), suppress=False)


async def test_commands_over_the_wire(make_central: CentralFactory) -> None:
    central, session, _ = await start(make_central)
    async with ocpp_client(central, CBID, Charger) as charger:
        await boot(charger)
        await wait_for(lambda: len(charger.received) >= 2)
        assert await session.remote_start("HomeAssistant", 2) == "Accepted"
        result = await session.data_transfer("com.example", "m", "hello")
        assert (result.status, result.data) == ("Accepted", "echo hello")
        configuration = await session.get_configuration(["HeartbeatInterval", "Nope"])
        assert configuration.unknown == ["Nope"]
        assert await session.trigger_message("StatusNotification", 1) == "Accepted"
        assert charger.received[-4:] == [
            ("RemoteStartTransaction", {"idTag": "HomeAssistant", "connectorId": 2}),
            ("DataTransfer", {"vendorId": "com.example"}),
            ("GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]}),
            ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}),
        ]
        # The charger's vendor data reaches our handler; unknown vendors are told so.
        session.register_vendor(
            "com.example", lambda _message_id, data: DataTransferResult("Accepted", data)
        )
        reply = await charger.call(
            call.DataTransfer(vendor_id="com.example", data="x"), suppress=False
        )
        assert (reply.status, reply.data) == ("Accepted", "x")
        reply = await charger.call(call.DataTransfer(vendor_id="org.other"), suppress=False)
        assert reply.status == "UnknownVendorId"
        assert session.connected
    await wait_for(lambda: not session.connected)
