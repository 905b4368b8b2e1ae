"""The simulated charge point against a small CSMS (ocpp package) over 127.0.0.1 websockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
import json
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
import pytest
import websockets
from websockets.asyncio.server import Request, Response, ServerConnection, serve
from websockets.datastructures import Headers

from simulator import ManualClock, NotConnectedError, SimulatedCharger, TransactionRefused, Vehicle
from simulator.clock import iso
from simulator.profiles import Profile, ProfileRules, ProfileStore

START = datetime(2025, 1, 6, 8, 0, 0, tzinfo=UTC)  # a Monday


@dataclass
class CsmsPolicy:
    """How the test CSMS answers."""

    boots: list[str] = field(default_factory=lambda: ["Accepted"])  # then Accepted forever
    interval: int = 300
    tags: dict[str, str] = field(default_factory=dict)  # id tag -> status (default Accepted)
    password: str | None = None


class Csms(ChargePoint):  # type: ignore[misc]
    """The central-system side of one connection, recording what the charger sent."""

    def __init__(self, charge_point_id: str, connection: Any, policy: CsmsPolicy) -> None:
        super().__init__(charge_point_id, connection, response_timeout=5)
        self.policy = policy
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.changed = asyncio.Event()
        self.next_tx = 100

    def _record(self, action: str, payload: dict[str, Any]) -> None:
        self.received.append((action, payload))
        self.changed.set()

    def of(self, action: str) -> list[dict[str, Any]]:
        return [p for a, p in self.received if a == action]

    async def wait_for(self, action: str, count: int = 1) -> dict[str, Any]:
        async with asyncio.timeout(5):
            while len(self.of(action)) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.of(action)[count - 1]

    def _tag_info(self, id_tag: str) -> dict[str, Any]:
        return {"status": self.policy.tags.get(id_tag, "Accepted")}

    @on("BootNotification")
    def on_boot(self, **payload: Any) -> Any:
        self._record("BootNotification", payload)
        status = self.policy.boots.pop(0) if self.policy.boots else "Accepted"
        return call_result.BootNotification(
            current_time=iso(datetime.now(UTC)), interval=self.policy.interval, status=status
        )

    @on("StatusNotification")
    def on_status(self, **payload: Any) -> Any:
        self._record("StatusNotification", payload)
        return call_result.StatusNotification()

    @on("Heartbeat")
    def on_heartbeat(self, **payload: Any) -> Any:
        self._record("Heartbeat", payload)
        return call_result.Heartbeat(current_time=iso(datetime.now(UTC)))

    @on("Authorize")
    def on_authorize(self, **payload: Any) -> Any:
        self._record("Authorize", payload)
        return call_result.Authorize(id_tag_info=self._tag_info(payload["id_tag"]))

    @on("StartTransaction")
    def on_start(self, **payload: Any) -> Any:
        self._record("StartTransaction", payload)
        self.next_tx += 1
        return call_result.StartTransaction(
            transaction_id=self.next_tx, id_tag_info=self._tag_info(payload["id_tag"])
        )

    @on("StopTransaction")
    def on_stop(self, **payload: Any) -> Any:
        self._record("StopTransaction", payload)
        return call_result.StopTransaction()

    @on("MeterValues")
    def on_meter_values(self, **payload: Any) -> Any:
        self._record("MeterValues", payload)
        return call_result.MeterValues()

    @on("DataTransfer")
    def on_data_transfer(self, **payload: Any) -> Any:
        self._record("DataTransfer", payload)
        return call_result.DataTransfer(status="Accepted", data="pong")

    @on("FirmwareStatusNotification")
    def on_firmware(self, **payload: Any) -> Any:
        self._record("FirmwareStatusNotification", payload)
        return call_result.FirmwareStatusNotification()

    @on("DiagnosticsStatusNotification")
    def on_diagnostics(self, **payload: Any) -> Any:
        self._record("DiagnosticsStatusNotification", payload)
        return call_result.DiagnosticsStatusNotification()


class CsmsServer:
    """A websockets server on 127.0.0.1 that runs one `Csms` per connection."""

    def __init__(self, policy: CsmsPolicy) -> None:
        self.policy = policy
        self.port = 0
        self.connections: list[Csms] = []
        self.headers: list[Headers] = []
        self.arrived = asyncio.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    @property
    def csms(self) -> Csms:
        return self.connections[-1]

    async def wait_connections(self, count: int) -> Csms:
        async with asyncio.timeout(5):
            while len(self.connections) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.connections[count - 1]

    def check_auth(self, connection: ServerConnection, request: Request) -> Response | None:
        self.headers.append(request.headers)
        if self.policy.password is None:
            return None
        import base64

        charge_box_id = request.path.rstrip("/").rsplit("/", 1)[-1]
        token = base64.b64encode(f"{charge_box_id}:{self.policy.password}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {token}":
            return connection.respond(HTTPStatus.UNAUTHORIZED, "unauthorized\n")
        return None

    async def handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        csms = Csms(connection.request.path.rsplit("/", 1)[-1], connection, self.policy)
        self.connections.append(csms)
        self.arrived.set()
        with contextlib.suppress(websockets.ConnectionClosed):
            await csms.start()


@pytest.fixture
def policy() -> CsmsPolicy:
    return CsmsPolicy()


@pytest.fixture
async def server(policy: CsmsPolicy, socket_enabled: None) -> AsyncIterator[CsmsServer]:
    csms_server = CsmsServer(policy)
    async with serve(
        csms_server.handle,
        "127.0.0.1",
        0,
        subprotocols=[websockets.Subprotocol("ocpp1.6")],
        process_request=csms_server.check_auth,
    ) as ws_server:
        csms_server.port = next(iter(ws_server.sockets)).getsockname()[1]
        yield csms_server


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def make(server: CsmsServer, clock: ManualClock, **options: Any) -> SimulatedCharger:
    options.setdefault("heartbeat", False)
    return SimulatedCharger(server.url, "CP-1", clock=clock, **options)


async def ask(csms: Csms, payload: Any) -> Any:
    return await csms.call(payload, suppress=False)


def tx_default(limit: float, unit: str = "A", **extra: Any) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
    }
    profile.update(extra)
    return profile


# -- boot, status, heartbeat --------------------------------------------------------------------


async def test_boot_and_status_of_every_connector(server: CsmsServer, clock: ManualClock) -> None:
    server.policy.password = "s3cret"
    async with make(server, clock, connectors=2, password="s3cret") as cp:
        csms = server.csms
        assert cp.subprotocol == "ocpp1.6"
        assert cp.registration == "Accepted"
        assert cp.heartbeat_interval == 300
        boot = csms.of("BootNotification")[0]
        assert boot["charge_point_vendor"] == "OpenSim"
        await csms.wait_for("StatusNotification", 3)
        statuses = [(p["connector_id"], p["status"]) for p in csms.of("StatusNotification")]
        assert statuses == [(0, "Available"), (1, "Available"), (2, "Available")]
        assert await cp.heartbeat()
        assert csms.of("Heartbeat") == [{}]
    assert not cp.connected
    assert server.headers[0].get("Sec-WebSocket-Protocol") == "ocpp1.6"
    assert server.headers[0]["Authorization"].startswith("Basic ")


async def test_wrong_password_is_refused(server: CsmsServer, clock: ManualClock) -> None:
    server.policy.password = "right"
    with pytest.raises(websockets.InvalidStatus) as refused:
        await make(server, clock, password="wrong").connect()
    assert refused.value.response.status_code == HTTPStatus.UNAUTHORIZED


async def test_pending_boot_is_retried(server: CsmsServer, clock: ManualClock) -> None:
    server.policy.boots = ["Pending", "Rejected"]
    async with make(server, clock, boot_retry_interval=0.01) as cp:
        assert cp.registration == "Accepted"
        assert len(server.csms.of("BootNotification")) == 3
        assert cp.boot_count == 1


async def test_heartbeat_and_meter_intervals_follow_change_configuration(
    server: CsmsServer, clock: ManualClock
) -> None:
    async with make(server, clock, heartbeat=True) as cp:
        csms = server.csms
        await cp.start_transaction(1, "TAG")
        for key in ("HeartbeatInterval", "MeterValueSampleInterval"):
            result = await ask(csms, call.ChangeConfiguration(key=key, value="1"))
            assert result.status == "Accepted"
        assert cp.heartbeat_interval == 1
        assert cp.meter_interval == 1
        await csms.wait_for("Heartbeat")
        sample = await csms.wait_for("MeterValues")
        assert sample["transaction_id"] == 101


# -- transactions -------------------------------------------------------------------------------


def values_by_key(meter_value: dict[str, Any]) -> dict[str, float]:
    out = {}
    for sampled in meter_value["sampled_value"]:
        key = sampled["measurand"] + ("." + sampled["phase"] if "phase" in sampled else "")
        out[key] = float(sampled["value"])
    return out


async def test_whole_transaction(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock, energy_wh=1000) as cp:
        csms = server.csms
        tx = await cp.start_transaction(1, "TAG")
        assert tx == 101
        assert csms.of("Authorize") == [{"id_tag": "TAG"}]
        start = csms.of("StartTransaction")[0]
        assert start["meter_start"] == 1000
        assert start["connector_id"] == 1
        connector = cp.connector(1)
        assert connector.status == "Charging"
        assert connector.offered_current == 32
        assert connector.power_w == pytest.approx(32 * 230 * 3)

        clock.advance(1800)
        sent = await cp.send_meter_values(1)
        assert len(sent["sampledValue"]) == 11
        meter = (await csms.wait_for("MeterValues"))["meter_value"][0]
        values = values_by_key(meter)
        assert values["Energy.Active.Import.Register"] == pytest.approx(1000 + 11040, abs=0.1)
        assert values["Power.Active.Import"] == pytest.approx(22080, abs=0.1)
        assert values["Current.Import.L2"] == 32
        assert values["Voltage.L3-N"] == 230
        assert values["Current.Offered"] == 32
        assert values["SoC"] == pytest.approx(20 + 100 * 11040 / 60000, abs=0.1)
        assert "Temperature" in values

        clock.advance(600)
        await cp.stop_transaction(1, "Local")
        stop = csms.of("StopTransaction")[0]
        assert stop["transaction_id"] == 101
        assert stop["reason"] == "Local"
        assert stop["meter_stop"] == int(1000 + 22080 * 2400 / 3600)
        contexts = [d["sampled_value"][0]["context"] for d in stop["transaction_data"]]
        assert contexts == ["Transaction.Begin", "Transaction.End"]
        statuses = [p["status"] for p in csms.of("StatusNotification") if p["connector_id"] == 1]
        assert statuses == ["Available", "Preparing", "Charging", "Finishing", "Available"]
        assert connector.transaction is None
        assert connector.power_w == 0


async def test_charging_tapers_and_suspends_when_full(
    server: CsmsServer, clock: ManualClock
) -> None:
    car = Vehicle(capacity_wh=10_000, soc=79.0)
    async with make(server, clock) as cp:
        await cp.start_transaction(1, "TAG", vehicle=car)
        connector = cp.connector(1)
        full_power = connector.power_w
        clock.advance(120)
        await cp.tick()
        assert 80 < car.soc < 100
        assert connector.power_w < full_power
        clock.advance(4 * 3600)
        await cp.send_meter_values(1)
        assert car.soc == 100
        assert connector.status == "SuspendedEV"
        await server.csms.wait_for("StatusNotification", 4)
        assert server.csms.of("StatusNotification")[-1]["status"] == "SuspendedEV"


async def test_refused_tag(server: CsmsServer, clock: ManualClock) -> None:
    server.policy.tags["BAD"] = "Invalid"
    async with make(server, clock) as cp:
        with pytest.raises(TransactionRefused) as refused:
            await cp.start_transaction(1, "BAD")
        assert refused.value.status == "Invalid"
        assert cp.connector(1).status == "Available"
        assert server.csms.of("StartTransaction") == []


async def test_tag_refused_at_start_is_deauthorized(server: CsmsServer, clock: ManualClock) -> None:
    server.policy.tags["LATE"] = "Blocked"
    async with make(server, clock) as cp:
        with pytest.raises(TransactionRefused):
            await cp.start_transaction(1, "LATE", authorize=False)
        assert server.csms.of("StopTransaction")[0]["reason"] == "DeAuthorized"


async def test_set_status_and_data_transfer(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock) as cp:
        await cp.set_status(1, "Faulted", "GroundFailure", info="test")
        last = server.csms.of("StatusNotification")[-1]
        assert (last["status"], last["error_code"], last["info"]) == (
            "Faulted",
            "GroundFailure",
            "test",
        )
        with pytest.raises(TransactionRefused):
            await cp.start_transaction(1, "TAG")
        assert await cp.data_transfer("Vendor", "ping", "x") == ("Accepted", "pong")
        result = await ask(
            server.csms, call.DataTransfer(vendor_id="OpenSim", message_id="Echo", data="hi")
        )
        assert (result.status, result.data) == ("Accepted", "hi")
        result = await ask(server.csms, call.DataTransfer(vendor_id="OpenSim", message_id="x"))
        assert result.status == "UnknownMessageId"
        result = await ask(server.csms, call.DataTransfer(vendor_id="Other"))
        assert result.status == "UnknownVendorId"


async def test_lost_connection(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock, reconnect=True, reconnect_delay=0.01) as cp:
        first = server.csms
        await first._connection.close()
        await cp.wait_until(lambda: not cp.connected)
        with pytest.raises(NotConnectedError):
            await cp.heartbeat()
        await server.wait_connections(2)
        await cp.wait_until(lambda: cp.connected)
        assert await cp.heartbeat()
        # A reconnect is not a reboot: no second BootNotification.
        assert server.csms.of("BootNotification") == []


# -- configuration ------------------------------------------------------------------------------


async def test_get_configuration(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock, connectors=2, max_stack_level=3, rate_unit="W") as cp:
        everything = await ask(server.csms, call.GetConfiguration())
        keys = {k["key"]: k for k in everything.configuration_key}
        for name in (
            "HeartbeatInterval",
            "MeterValueSampleInterval",
            "NumberOfConnectors",
            "SupportedFeatureProfiles",
            "ChargeProfileMaxStackLevel",
            "ChargingScheduleAllowedChargingRateUnit",
            "MaxChargingProfilesInstalled",
            "MeterValuesSampledData",
            "AuthorizeRemoteTxRequests",
            "LocalAuthListEnabled",
            "LocalAuthListMaxLength",
            "SendLocalListMaxLength",
        ):
            assert name in keys
        assert keys["NumberOfConnectors"] == {
            "key": "NumberOfConnectors",
            "readonly": True,
            "value": "2",
        }
        assert keys["ChargeProfileMaxStackLevel"]["value"] == "3"
        assert keys["ChargingScheduleAllowedChargingRateUnit"]["value"] == "Power"
        assert keys["HeartbeatInterval"] == {
            "key": "HeartbeatInterval",
            "readonly": False,
            "value": "300",
        }
        assert everything.unknown_key is None

        some = await ask(server.csms, call.GetConfiguration(key=["heartbeatinterval", "Nope"]))
        assert [k["key"] for k in some.configuration_key] == ["HeartbeatInterval"]
        assert some.unknown_key == ["Nope"]
        assert cp.calls_received[-1] == ("GetConfiguration", {"key": ["heartbeatinterval", "Nope"]})


@pytest.mark.parametrize(
    ("key", "value", "status"),
    [
        ("NumberOfConnectors", "3", "Rejected"),  # read-only
        ("NoSuchKey", "1", "NotSupported"),
        ("HeartbeatInterval", "soon", "Rejected"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus", "Rejected"),
        ("AuthorizeRemoteTxRequests", "FALSE", "Accepted"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,SoC", "Accepted"),
    ],
)
async def test_change_configuration(
    server: CsmsServer, clock: ManualClock, key: str, value: str, status: str
) -> None:
    async with make(server, clock) as cp:
        result = await ask(server.csms, call.ChangeConfiguration(key=key, value=value))
        assert result.status == status
        if key == "MeterValuesSampledData" and status == "Accepted":
            await cp.start_transaction(1, "TAG")
            sent = await cp.send_meter_values(1)
            measurands = [v["measurand"] for v in sent["sampledValue"]]
            assert measurands == ["Energy.Active.Import.Register", "SoC"]
        if key == "AuthorizeRemoteTxRequests":
            assert not cp.configuration.boolean(key)


# -- remote start / stop, unlock, availability --------------------------------------------------


async def test_remote_start_and_stop(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock, connectors=2) as cp:
        csms = server.csms
        started = await ask(csms, call.RemoteStartTransaction(id_tag="REMOTE"))
        assert started.status == "Accepted"
        start = await csms.wait_for("StartTransaction")
        assert (start["connector_id"], start["id_tag"]) == (1, "REMOTE")
        assert csms.of("Authorize") == [{"id_tag": "REMOTE"}]  # AuthorizeRemoteTxRequests
        await cp.wait_until(lambda: cp.connector(1).status == "Charging")

        second = await ask(csms, call.RemoteStartTransaction(id_tag="OTHER", connector_id=1))
        assert second.status == "Rejected"  # connector 1 is busy
        assert (
            await ask(csms, call.RemoteStopTransaction(transaction_id=999))
        ).status == "Rejected"

        stopped = await ask(csms, call.RemoteStopTransaction(transaction_id=101))
        assert stopped.status == "Accepted"
        stop = await csms.wait_for("StopTransaction")
        assert (stop["transaction_id"], stop["reason"]) == (101, "Remote")
        await cp.wait_until(lambda: cp.connector(1).status == "Available")


async def test_remote_start_with_profile(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock) as cp:
        csms = server.csms
        await ask(csms, call.ChangeConfiguration(key="AuthorizeRemoteTxRequests", value="false"))
        profile = tx_default(10, chargingProfilePurpose="TxProfile")
        result = await ask(
            csms, call.RemoteStartTransaction(id_tag="R", connector_id=1, charging_profile=profile)
        )
        assert result.status == "Accepted"
        await csms.wait_for("StartTransaction")
        assert csms.of("Authorize") == []
        await cp.wait_until(lambda: cp.connector(1).status == "Charging")
        assert cp.connector(1).offered_current == 10
        assert cp.profiles_received[0].profile == profile
        assert cp.profiles.profiles[0].transaction_id == 101

        wrong = await ask(
            csms,
            call.RemoteStartTransaction(
                id_tag="R", connector_id=1, charging_profile=tx_default(10)
            ),
        )
        assert wrong.status == "Rejected"


async def test_unlock_connector_stops_the_transaction(
    server: CsmsServer, clock: ManualClock
) -> None:
    async with make(server, clock) as cp:
        await cp.start_transaction(1, "TAG")
        assert (await ask(server.csms, call.UnlockConnector(connector_id=1))).status == "Unlocked"
        stop = await server.csms.wait_for("StopTransaction")
        assert stop["reason"] == "UnlockCommand"
        await cp.wait_until(lambda: cp.connector(1).status == "Available")
        unknown = await ask(server.csms, call.UnlockConnector(connector_id=5))
        assert unknown.status == "NotSupported"


async def test_change_availability(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock, connectors=2) as cp:
        csms = server.csms
        off = await ask(csms, call.ChangeAvailability(connector_id=2, type="Inoperative"))
        assert off.status == "Accepted"
        assert cp.connector(2).status == "Unavailable"
        assert (await csms.wait_for("StatusNotification", 4))["status"] == "Unavailable"
        with pytest.raises(TransactionRefused, match="Unavailable"):
            await cp.start_transaction(2, "TAG")

        await cp.start_transaction(1, "TAG")
        whole = await ask(csms, call.ChangeAvailability(connector_id=0, type="Inoperative"))
        assert whole.status == "Scheduled"
        await cp.wait_until(lambda: cp.status == "Unavailable")
        assert cp.connector(1).status == "Charging"
        await cp.stop_transaction(1)
        assert cp.connector(1).status == "Unavailable"

        on = await ask(csms, call.ChangeAvailability(connector_id=0, type="Operative"))
        assert on.status == "Accepted"
        await cp.wait_until(
            lambda: [c.status for c in cp.connectors.values()] == ["Available", "Available"]
        )
        bad = await ask(csms, call.ChangeAvailability(connector_id=7, type="Operative"))
        assert bad.status == "Rejected"


async def test_reset_reboots(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock) as cp:
        await cp.start_transaction(1, "TAG")
        assert (await ask(server.csms, call.Reset(type="Soft"))).status == "Accepted"
        stop = await server.connections[0].wait_for("StopTransaction")
        assert stop["reason"] == "SoftReset"
        second = await server.wait_connections(2)
        await second.wait_for("BootNotification")
        await cp.wait_until(lambda: cp.boot_count == 2)
        await second.wait_for("StatusNotification", 2)
        assert cp.connected


# -- local authorisation, cache, reservations ---------------------------------------------------


async def test_local_list(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock) as cp:
        csms = server.csms
        assert (await ask(csms, call.GetLocalListVersion())).list_version == 0
        full = call.SendLocalList(
            list_version=3,
            update_type="Full",
            local_authorization_list=[
                {"idTag": "A", "idTagInfo": {"status": "Accepted"}},
                {"idTag": "B", "idTagInfo": {"status": "Blocked"}},
            ],
        )
        assert (await ask(csms, full)).status == "Accepted"
        assert (await ask(csms, call.GetLocalListVersion())).list_version == 3
        stale = call.SendLocalList(list_version=3, update_type="Differential")
        assert (await ask(csms, stale)).status == "VersionMismatch"
        remove_b = call.SendLocalList(
            list_version=4, update_type="Differential", local_authorization_list=[{"idTag": "B"}]
        )
        assert (await ask(csms, remove_b)).status == "Accepted"
        assert set(cp.local_list) == {"A"}
        too_many = call.SendLocalList(
            list_version=5,
            update_type="Full",
            local_authorization_list=[
                {"idTag": f"T{n}", "idTagInfo": {"status": "Accepted"}} for n in range(51)
            ],
        )
        assert (await ask(csms, too_many)).status == "Failed"

        # LocalPreAuthorize: a tag accepted in the local list starts without Authorize.
        await ask(csms, call.ChangeConfiguration(key="LocalPreAuthorize", value="true"))
        await cp.start_transaction(1, "A")
        assert csms.of("Authorize") == []
        assert (await ask(csms, call.ClearCache())).status == "Accepted"


async def test_without_local_list(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock, local_auth_list=False):
        csms = server.csms
        assert (await ask(csms, call.GetLocalListVersion())).list_version == -1
        result = await ask(csms, call.SendLocalList(list_version=1, update_type="Full"))
        assert result.status == "NotSupported"


async def test_reservations(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock, connectors=2) as cp:
        csms = server.csms
        expiry = iso(START + timedelta(minutes=15))

        def reserve(connector_id: int, reservation_id: int) -> Any:
            return call.ReserveNow(
                connector_id=connector_id,
                expiry_date=expiry,
                id_tag="MINE",
                reservation_id=reservation_id,
            )

        assert (await ask(csms, reserve(1, 7))).status == "Accepted"
        await cp.wait_until(lambda: cp.connector(1).status == "Reserved")
        assert (await ask(csms, reserve(0, 8))).status == "Rejected"
        with pytest.raises(TransactionRefused, match="Reserved"):
            await cp.start_transaction(1, "SOMEONE")
        await cp.start_transaction(1, "MINE")
        assert csms.of("StartTransaction")[0]["reservation_id"] == 7
        assert (await ask(csms, reserve(1, 9))).status == "Occupied"

        assert (await ask(csms, reserve(2, 10))).status == "Accepted"
        assert (await ask(csms, call.CancelReservation(reservation_id=10))).status == "Accepted"
        assert (await ask(csms, call.CancelReservation(reservation_id=10))).status == "Rejected"
        await cp.wait_until(lambda: cp.connector(2).status == "Available")

        assert (await ask(csms, reserve(2, 11))).status == "Accepted"
        clock.advance(16 * 60)
        await cp.tick()
        assert cp.connector(2).status == "Available"
        assert csms.of("StatusNotification")[-1] == {
            "connector_id": 2,
            "error_code": "NoError",
            "status": "Available",
            "timestamp": iso(clock.now()),
        }


# -- trigger, firmware, diagnostics -------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "connector_id", "action", "count"),
    [
        ("BootNotification", None, "BootNotification", 2),
        ("Heartbeat", None, "Heartbeat", 1),
        ("StatusNotification", 1, "StatusNotification", 3),
        ("StatusNotification", None, "StatusNotification", 4),
        ("MeterValues", 1, "MeterValues", 1),
        ("FirmwareStatusNotification", None, "FirmwareStatusNotification", 1),
        ("DiagnosticsStatusNotification", None, "DiagnosticsStatusNotification", 1),
    ],
)
async def test_trigger_message(
    server: CsmsServer,
    clock: ManualClock,
    *,
    message: str,
    connector_id: int | None,
    action: str,
    count: int,
) -> None:
    async with make(server, clock) as cp:
        csms = server.csms
        await csms.wait_for("StatusNotification", 2)
        result = await ask(
            csms, call.TriggerMessage(requested_message=message, connector_id=connector_id)
        )
        assert result.status == "Accepted"
        payload = await csms.wait_for(action, count)
        if action == "MeterValues":
            assert payload["meter_value"][0]["sampled_value"][0]["context"] == "Trigger"
        if action == "FirmwareStatusNotification":
            assert payload == {"status": "Idle"}
        rejected = await ask(csms, call.TriggerMessage(requested_message=message, connector_id=9))
        assert rejected.status == "Rejected"
        assert cp.calls_received[0] == (
            "TriggerMessage",
            {"requestedMessage": message}
            | ({} if connector_id is None else {"connectorId": connector_id}),
        )


async def test_firmware_update_and_diagnostics(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock):
        csms = server.csms
        await ask(
            csms, call.UpdateFirmware(location="ftp://127.0.0.1/fw.bin", retrieve_date=iso(START))
        )
        await csms.wait_for("FirmwareStatusNotification", 4)
        statuses = [p["status"] for p in csms.of("FirmwareStatusNotification")]
        assert statuses == ["Downloading", "Downloaded", "Installing", "Installed"]
        result = await ask(csms, call.GetDiagnostics(location="ftp://127.0.0.1/upload/"))
        assert result.file_name.startswith("diagnostics-CP-1-")
        await csms.wait_for("DiagnosticsStatusNotification", 2)
        statuses = [p["status"] for p in csms.of("DiagnosticsStatusNotification")]
        assert statuses == ["Uploading", "Uploaded"]


# -- smart charging -----------------------------------------------------------------------------


def profile(
    profile_id: int,
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    stack: int = 0,
    unit: str = "A",
    kind: str = "Relative",
    **extra: Any,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": limit} for s, limit in periods],
    }
    for key in ("startSchedule", "duration"):
        if key in extra:
            schedule[key] = extra.pop(key)
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
        **extra,
    }


async def set_profile(csms: Csms, connector_id: int, wire: dict[str, Any]) -> str:
    result = await ask(
        csms, call.SetChargingProfile(connector_id=connector_id, cs_charging_profiles=wire)
    )
    return str(result.status)


async def test_profiles_change_the_offered_current(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock) as cp:
        csms = server.csms
        c = cp.connector(1)
        assert await set_profile(csms, 0, profile(1, "TxDefaultProfile", [(0, 16)])) == "Accepted"
        assert (c.current_limit, c.offered_current) == (16, 0)  # nothing offered without a car
        # A TxProfile needs a transaction on its connector (OCPP 1.6 section 3.13.1).
        assert await set_profile(csms, 1, profile(2, "TxProfile", [(0, 20)])) == "Rejected"

        await cp.start_transaction(1, "TAG")
        assert c.offered_current == 16
        # Higher stack level wins; W becomes A through 230 V x 3 phases.
        assert (
            await set_profile(
                csms, 1, profile(3, "TxDefaultProfile", [(0, 6900)], stack=1, unit="W")
            )
            == "Accepted"
        )
        assert c.offered_current == pytest.approx(10)
        # A TxProfile overrules the default, whatever its stack level.
        wrong_tx = profile(4, "TxProfile", [(0, 20)], transactionId=5)
        assert await set_profile(csms, 1, wrong_tx) == "Rejected"
        assert (
            await set_profile(csms, 1, profile(4, "TxProfile", [(0, 20)], transactionId=101))
            == "Accepted"
        )
        assert c.offered_current == 20
        # ChargePointMaxProfile: connector 0 only, caps everything.
        assert (
            await set_profile(csms, 1, profile(5, "ChargePointMaxProfile", [(0, 8)])) == "Rejected"
        )
        assert (
            await set_profile(csms, 0, profile(5, "ChargePointMaxProfile", [(0, 8)])) == "Accepted"
        )
        assert c.offered_current == 8
        # Below 6 A the charger pauses.
        assert (
            await set_profile(csms, 0, profile(5, "ChargePointMaxProfile", [(0, 4)])) == "Accepted"
        )
        assert c.offered_current == 0
        assert (await csms.wait_for("StatusNotification", 5))["status"] == "SuspendedEVSE"

        cleared = await ask(
            csms, call.ClearChargingProfile(charging_profile_purpose="ChargePointMaxProfile")
        )
        assert cleared.status == "Accepted"
        assert c.offered_current == 20
        assert (await csms.wait_for("StatusNotification", 6))["status"] == "Charging"
        assert (await ask(csms, call.ClearChargingProfile(id=42))).status == "Unknown"

        await cp.stop_transaction(1)
        assert [p.purpose for p in cp.profiles.profiles] == ["TxDefaultProfile", "TxDefaultProfile"]
        assert [r.status for r in cp.profiles_received] == [
            "Accepted",
            "Rejected",
            "Accepted",
            "Rejected",
            "Accepted",
            "Rejected",
            "Accepted",
            "Accepted",
        ]
        assert cp.profiles_received[2].profile["chargingSchedule"]["chargingRateUnit"] == "W"


async def test_energy_follows_the_limit(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock, phases=1) as cp:
        await cp.start_transaction(1, "TAG")
        clock.advance(3600)
        await set_profile(server.csms, 1, profile(1, "TxProfile", [(0, 10)]))
        clock.advance(3600)
        await cp.send_meter_values(1)
        assert cp.connector(1).energy_wh == pytest.approx(32 * 230 + 10 * 230)


@pytest.mark.parametrize(
    ("options", "connector_id", "wire", "status"),
    [
        ({"rate_unit": "W"}, 0, profile(1, "TxDefaultProfile", [(0, 16)]), "Rejected"),
        ({"rate_unit": "W"}, 0, profile(1, "TxDefaultProfile", [(0, 11000)], unit="W"), "Accepted"),
        ({"rate_unit": "A"}, 0, profile(1, "TxDefaultProfile", [(0, 11000)], unit="W"), "Rejected"),
        ({"refuse_tx_default": True}, 0, profile(1, "TxDefaultProfile", [(0, 16)]), "Rejected"),
        (
            {"refuse_tx_default": True},
            0,
            profile(1, "ChargePointMaxProfile", [(0, 16)]),
            "Accepted",
        ),
        ({"max_stack_level": 2}, 0, profile(1, "TxDefaultProfile", [(0, 16)], stack=3), "Rejected"),
        ({"max_stack_level": 2}, 0, profile(1, "TxDefaultProfile", [(0, 16)], stack=2), "Accepted"),
        ({}, 3, profile(1, "TxDefaultProfile", [(0, 16)]), "Rejected"),
        ({}, 0, profile(1, "TxDefaultProfile", [(10, 16)]), "Rejected"),
        ({}, 0, profile(1, "TxDefaultProfile", [(0, 16)], kind="Recurring"), "Rejected"),
    ],
)
async def test_profile_switches(
    server: CsmsServer,
    clock: ManualClock,
    *,
    options: dict[str, Any],
    connector_id: int,
    wire: dict[str, Any],
    status: str,
) -> None:
    async with make(server, clock, **options) as cp:
        assert await set_profile(server.csms, connector_id, wire) == status
        assert cp.profiles_received[-1].status == status


async def test_refuse_tx_default_still_takes_tx_profiles(
    server: CsmsServer, clock: ManualClock
) -> None:
    async with make(server, clock, refuse_tx_default=True) as cp:
        await cp.start_transaction(1, "TAG")
        assert await set_profile(server.csms, 1, profile(1, "TxProfile", [(0, 12)])) == "Accepted"
        assert cp.connector(1).offered_current == 12


async def test_max_profiles(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock, max_profiles=2) as cp:
        csms = server.csms
        assert await set_profile(csms, 0, profile(1, "TxDefaultProfile", [(0, 16)])) == "Accepted"
        assert (
            await set_profile(csms, 0, profile(2, "TxDefaultProfile", [(0, 16)], stack=1))
            == "Accepted"
        )
        assert (
            await set_profile(csms, 0, profile(3, "TxDefaultProfile", [(0, 16)], stack=2))
            == "Rejected"
        )
        # Same id (or same stack level and purpose) replaces, so it still fits.
        assert (
            await set_profile(csms, 0, profile(2, "TxDefaultProfile", [(0, 10)], stack=2))
            == "Accepted"
        )
        assert (
            await set_profile(csms, 0, profile(9, "TxDefaultProfile", [(0, 12)], stack=2))
            == "Accepted"
        )
        assert sorted(p.profile_id for p in cp.profiles.profiles) == [1, 9]


async def test_absolute_schedule_over_time(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock) as cp:
        csms = server.csms
        wire = profile(
            1,
            "TxDefaultProfile",
            [(0, 16), (600, 8)],
            kind="Absolute",
            startSchedule=iso(START),
            duration=1200,
        )
        assert await set_profile(csms, 0, wire) == "Accepted"
        composite = await ask(csms, call.GetCompositeSchedule(connector_id=1, duration=1800))
        assert composite.status == "Accepted"
        periods = composite.charging_schedule["charging_schedule_period"]
        assert [(p["start_period"], p["limit"]) for p in periods] == [(0, 16), (600, 8), (1200, 32)]
        in_watts = await ask(
            csms, call.GetCompositeSchedule(connector_id=1, duration=300, charging_rate_unit="W")
        )
        assert in_watts.charging_schedule["charging_schedule_period"][0]["limit"] == 16 * 230 * 3

        await cp.start_transaction(1, "TAG")
        c = cp.connector(1)
        assert c.offered_current == 16
        clock.advance(601)
        await cp.tick()
        assert c.offered_current == 8
        clock.advance(600)
        await cp.send_meter_values(1)
        assert c.offered_current == 32  # past the duration: no limit


async def test_recurring_and_relative_schedules(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock) as cp:
        csms = server.csms
        daily = profile(
            1,
            "TxDefaultProfile",
            [(0, 6), (4 * 3600, 16)],
            kind="Recurring",
            recurrencyKind="Daily",
            startSchedule=iso(START),
            validTo=iso(START + timedelta(days=3)),
        )
        assert await set_profile(csms, 0, daily) == "Accepted"
        await cp.start_transaction(1, "TAG")
        c = cp.connector(1)
        assert c.offered_current == 6
        clock.advance(23 * 3600)  # 07:00 next day: still in the afternoon period
        await cp.tick()
        assert c.offered_current == 16
        clock.advance(1800)  # 07:30
        await cp.tick()
        assert c.offered_current == 16
        clock.advance(3600)  # 08:30: the schedule started again
        await cp.tick()
        assert c.offered_current == 6

        relative = profile(2, "TxProfile", [(0, 10), (60, 20)])
        assert await set_profile(csms, 1, relative) == "Accepted"
        # Relative to the transaction start, which was more than 60 s ago.
        assert c.offered_current == 20
        clock.advance(3 * 86400)  # past validTo of the daily profile
        await cp.tick()
        assert c.offered_current == 20


async def test_composite_schedule_answers(server: CsmsServer, clock: ManualClock) -> None:
    async with make(server, clock, rate_unit="A", connectors=2) as cp:
        csms = server.csms
        refused = await ask(
            csms, call.GetCompositeSchedule(connector_id=1, duration=60, charging_rate_unit="W")
        )
        assert refused.status == "Rejected"
        assert (
            await ask(csms, call.GetCompositeSchedule(connector_id=3, duration=60))
        ).status == "Rejected"
        await set_profile(csms, 0, profile(1, "ChargePointMaxProfile", [(0, 20)]))
        whole = await ask(csms, call.GetCompositeSchedule(connector_id=0, duration=60))
        assert whole.charging_schedule["charging_schedule_period"] == [
            {"start_period": 0, "limit": 20}
        ]
        # The charge point's limit is shared by the connectors that charge.
        await cp.start_transaction(1, "A")
        await cp.start_transaction(2, "B")
        assert [c.offered_current for c in cp.connectors.values()] == [10, 10]


def test_profile_store_replacement_rules() -> None:
    store = ProfileStore(ProfileRules(connectors=2))
    now = START

    def add(connector_id: int, wire: dict[str, Any]) -> None:
        parsed = Profile.from_wire(connector_id, wire, now)
        assert store.refusal(parsed, None) is None
        store.install(parsed)

    add(0, profile(1, "TxDefaultProfile", [(0, 16)]))
    add(2, profile(2, "TxDefaultProfile", [(0, 10)]))
    # A connector-specific TxDefaultProfile replaces the connector-0 one there only (3.13.1).
    assert store.limit(1, now, now, 230) == 16
    assert store.limit(2, now, now, 230) == 10
    add(0, profile(3, "TxDefaultProfile", [(0, 12)]))  # same stack level and purpose: replaces 1
    assert [p.profile_id for p in store.profiles] == [2, 3]
    assert store.limit(1, now, now, 230) == 12
    future = profile(
        4, "TxDefaultProfile", [(0, 6)], stack=5, validFrom=iso(now + timedelta(hours=1))
    )
    add(0, future)
    assert store.limit(1, now, now, 230) == 12
    assert store.limit(1, now + timedelta(hours=2), now, 230) == 6
    assert store.clear(connector_id=0)
    assert store.limit(1, now, now, 230) is None
    assert store.limit(2, now, now, 230) == 10


# -- against the real central system ------------------------------------------------------------


async def test_against_the_central_system(socket_enabled: None, clock: ManualClock) -> None:
    from custom_components.ocpp_central.protocol.config import ChargerConfig
    from custom_components.ocpp_central.protocol.hooks import MemoryHooks
    from custom_components.ocpp_central.protocol.server import CentralSystem

    central = CentralSystem(host="127.0.0.1", port=0, hooks=MemoryHooks())
    central.set_charger(ChargerConfig(charge_box_id="CP-1", password="pw", meter_interval=60))
    await central.start()
    try:
        async with SimulatedCharger(
            f"ws://127.0.0.1:{central.port}", "CP-1", password="pw", clock=clock, heartbeat=False
        ) as cp:
            assert cp.subprotocol == "ocpp1.6"
            assert cp.registration == "Accepted"
            session = central.sessions["CP-1"]
            assert session.state.registration == "Accepted"
            assert session.connected
            # After the boot the central system reads our configuration and aligns the interval.
            await cp.wait_for_call("ChangeConfiguration")
            assert cp.meter_interval == 60

            transaction_id = await cp.start_transaction(1, "TAG")
            clock.advance(600)
            await cp.send_meter_values(1)
            connector = session.state.connectors[1]
            assert connector.transaction is not None
            assert connector.transaction.transaction_id == transaction_id
            assert connector.reading("Power.Active.Import") == pytest.approx(32 * 230 * 3)
            limit = profile(1, "TxProfile", [(0, 10)], transactionId=transaction_id)
            assert await session.set_charging_profile(1, limit) == "Accepted"
            assert cp.connector(1).offered_current == 10
            await cp.stop_transaction(1)
            assert connector.transaction is None
    finally:
        await central.stop()


# -- command line and benchmark -----------------------------------------------------------------


def test_command_line_options() -> None:
    from simulator.__main__ import build, parse_args

    args = parse_args(
        [
            "--url",
            "ws://127.0.0.1:9",
            "--id",
            "X",
            "--connectors",
            "2",
            "--rate-unit",
            "W",
            "--refuse-tx-default",
            "--max-stack-level",
            "2",
            "--auto-charge",
            "TAG",
        ]
    )
    cp = build(args)
    assert (cp.charge_box_id, len(cp.connectors), cp.meter_interval) == ("X", 2, 10)
    assert cp.rules.rate_units == frozenset({"W"})
    assert cp.rules.refuse_tx_default
    assert cp.configuration["ChargeProfileMaxStackLevel"] == "2"
    assert args.auto_charge == "TAG"
    assert cp.reconnect


async def test_bench_floor_and_load_generator(socket_enabled: None) -> None:
    from bench.closed import BENCH_MEASURANDS, HEADER, meter_values_payload, throughput

    payload = json.loads(meter_values_payload())
    assert len(payload["meterValue"][0]["sampledValue"]) == 10
    assert len(BENCH_MEASURANDS) == 6
    figures = await throughput("floor", 2, 0.2)
    assert figures.messages == len(figures.rtts) > 0
    assert figures.cpu_s >= 0
    row = figures.row("floor N=2")
    assert len(row) == len(HEADER)
    assert len([float(x) for x in row.split()[2:]]) == 5  # msg/s, p50, p99, cpu, MB
