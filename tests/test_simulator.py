"""The simulated charge point against a small CSMS built on the ocpp package, over 127.0.0.1 websockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
import pytest
import websockets
from websockets.datastructures import Headers
from websockets.asyncio.server import Request, Response, ServerConnection, serve

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
        try:
            await csms.start()
        except websockets.ConnectionClosed:
            pass


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
    async with make(server, clock, reconnect=True) as cp:
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
