"""Shared fixtures of the Home Assistant tests.

- `auto_enable_custom_integrations` (autouse): lets Home Assistant load this integration.
- `mock_setup_entry`: patches the integration's `async_setup_entry` and `async_unload_entry`
  out (both return True), for tests of flows that must not start a central system.
- `free_port`: a TCP port on 127.0.0.1 that was free a moment ago (sockets enabled).
- `tls_files`: a self-signed certificate and key (PEM files) for localhost and 127.0.0.1.
- `mock_config_entry`: a factory that adds a central system entry to hass, with charger and
  id-tag subentries built by `charger_subentry` and `id_tag_subentry`; `setup_entry` loads it.
- `make_harness`: the whole integration (server, runtime, current limiter, solar controller)
  with one charger at the other end of a real websocket on 127.0.0.1: `LoopbackCharger`, the
  one scripted charger of these tests, which sends what a test tells it and records and
  answers the central system's CALLs. The entity and solar tests use it.
- `charger`: chargers built on the `ocpp` package's ChargePoint (`OcppTestCharger`), an
  independent OCPP-J implementation; `chargers`: the project's simulator.
- State helpers (`entity_id`, `state_of`, `wait_for_state`, `recorded_states`, ...).
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Mapping,
)
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import ipaddress
import json
from pathlib import Path
import socket
from typing import Any, Protocol
from unittest.mock import AsyncMock, PropertyMock, patch

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentry, ConfigSubentryData
from homeassistant.const import Platform
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import websockets
from websockets.asyncio.client import ClientConnection

from custom_components.ocpp_central.config_values import (
    central_title,
    id_tag_title,
    id_tag_unique_id,
)
from custom_components.ocpp_central.const import (
    CONF_CHARGE_BOX_ID,
    CONF_HEARTBEAT_INTERVAL,
    CONF_HOST,
    CONF_ID_TAG,
    CONF_LENIENT,
    CONF_MAX_CURRENT,
    CONF_METER_INTERVAL,
    CONF_PORT,
    CONF_STATUS,
    CONF_UNKNOWN_CHARGERS,
    CONF_UNKNOWN_TAGS,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_MAX_CURRENT,
    DEFAULT_METER_INTERVAL,
    DEFAULT_UNKNOWN_CHARGERS,
    DEFAULT_UNKNOWN_TAGS,
    DOMAIN,
    SUBENTRY_CHARGER,
    SUBENTRY_ID_TAG,
    TAG_STATUS_ACCEPTED,
)
from custom_components.ocpp_central.protocol.errors import (
    CallErrorReceived,
    CallTimeoutError,
    NotConnectedError,
)
from custom_components.ocpp_central.protocol.session import ChargerSession
from custom_components.ocpp_central.protocol.smart_charging import CurrentLimiter
from custom_components.ocpp_central.protocol.state import CONNECTED, READY, StateKey
from custom_components.ocpp_central.runtime import OcppRuntime
from custom_components.ocpp_central.solar_charging import SolarCharging
from simulator import ManualClock, SimulatedCharger

LOOPBACK = "127.0.0.1"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/ocpp_central in every test."""


@pytest.fixture
def enable_all_entities() -> Generator[None]:
    """Create disabled-by-default entities enabled (voltage, transaction id, per-phase values).

    For tests that read them; which entities a user gets enabled is asserted without it
    (tests/ha/test_entities_enabled.py).
    """
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def mock_setup_entry() -> Generator[AsyncMock]:
    """Patch out setting the integration up and unloading it; yield the setup mock.

    Entries then load (and reload) without starting a server or holding runtime data.
    """
    with (
        patch("custom_components.ocpp_central.async_setup_entry", return_value=True) as mock_setup,
        patch("custom_components.ocpp_central.async_unload_entry", return_value=True),
    ):
        yield mock_setup


@pytest.fixture
def free_port(socket_enabled: None) -> int:
    """Return a port on 127.0.0.1 that was free when asked (the socket is closed again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Paths of a PEM certificate and its private key."""

    certfile: Path
    keyfile: Path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """Write a self-signed certificate for localhost and 127.0.0.1, valid for a day."""
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(certfile=directory / "cert.pem", keyfile=directory / "key.pem")
    files.certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files.keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def charger_subentry(charge_box_id: str, **data: Any) -> ConfigSubentryData:
    """Return a charger subentry as the charger flow stores it; data overrides defaults."""
    return ConfigSubentryData(
        data={
            CONF_CHARGE_BOX_ID: charge_box_id,
            CONF_HEARTBEAT_INTERVAL: DEFAULT_HEARTBEAT_INTERVAL,
            CONF_METER_INTERVAL: DEFAULT_METER_INTERVAL,
            CONF_MAX_CURRENT: DEFAULT_MAX_CURRENT,
            CONF_LENIENT: False,
            **data,
        },
        subentry_type=SUBENTRY_CHARGER,
        title=charge_box_id,
        unique_id=charge_box_id,
    )


def id_tag_subentry(id_tag: str, **data: Any) -> ConfigSubentryData:
    """Return an id-tag subentry as the id-tag flow stores it; data overrides defaults."""
    values = {CONF_ID_TAG: id_tag, CONF_STATUS: TAG_STATUS_ACCEPTED, **data}
    return ConfigSubentryData(
        data=values,
        subentry_type=SUBENTRY_ID_TAG,
        title=id_tag_title(values),
        unique_id=id_tag_unique_id(id_tag),
    )


class ConfigEntryFactory(Protocol):
    """Signature of the `mock_config_entry` fixture."""

    def __call__(
        self,
        *,
        port: int = ...,
        host: str = ...,
        data: Mapping[str, Any] | None = ...,
        options: Mapping[str, Any] | None = ...,
        chargers: Iterable[str | ConfigSubentryData] = ...,
        id_tags: Iterable[str | ConfigSubentryData] = ...,
    ) -> MockConfigEntry: ...


@pytest.fixture
def mock_config_entry(hass: HomeAssistant) -> ConfigEntryFactory:
    """Return a factory that adds a central system entry (not set up) to hass.

    Chargers and id tags are given as ids (stored with default settings) or as subentries
    from `charger_subentry` / `id_tag_subentry`.
    """

    def factory(
        *,
        port: int = 9000,
        host: str = LOOPBACK,
        data: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        chargers: Iterable[str | ConfigSubentryData] = (),
        id_tags: Iterable[str | ConfigSubentryData] = (),
    ) -> MockConfigEntry:
        subentries = [
            *(_as_subentry(charger, charger_subentry) for charger in chargers),
            *(_as_subentry(tag, id_tag_subentry) for tag in id_tags),
        ]
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=central_title(port),
            data={CONF_HOST: host, CONF_PORT: port, **(data or {})},
            options=options
            or {
                CONF_UNKNOWN_CHARGERS: DEFAULT_UNKNOWN_CHARGERS,
                CONF_UNKNOWN_TAGS: DEFAULT_UNKNOWN_TAGS,
            },
            subentries_data=subentries,
        )
        entry.add_to_hass(hass)
        return entry

    return factory


def _as_subentry(
    item: str | ConfigSubentryData, build: Callable[[str], ConfigSubentryData]
) -> ConfigSubentryData:
    """Build a default subentry from a bare id; pass a ready subentry through."""
    return build(item) if isinstance(item, str) else item


# --- one charger over a real websocket on 127.0.0.1 -------------------------------------

# Generous bound for one exchange over loopback; tests never assert on time.
WAIT = 10.0
CHARGER = "CP-1"
T0 = "2025-01-01T10:00:00Z"


def ts(minute: int, second: int = 0) -> str:
    """An OCPP timestamp `minute` minutes after T0."""
    return datetime(2025, 1, 1, 10, minute, second, tzinfo=UTC).isoformat().replace("+00:00", "Z")


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll `predicate` (state kept by other tasks; no event to wait on), bounded by WAIT."""
    async with asyncio.timeout(WAIT):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


# What the charger answers to the central system's own setup calls unless told otherwise:
# intervals as configured (nothing to change), smart charging without a schedule to read,
# no local list (OCPP 1.6 sections 5.8, 5.7, 5.10).
def _default_reply(charger: LoopbackCharger, action: str, payload: dict[str, Any]) -> Any:
    if action == "GetConfiguration":
        wanted = payload.get("key") or list(charger.configuration)
        return {
            "configurationKey": [
                {"key": key, "readonly": False, "value": charger.configuration[key]}
                for key in wanted
                if key in charger.configuration
            ],
            "unknownKey": [key for key in wanted if key not in charger.configuration],
        }
    if action in ("GetCompositeSchedule", "TriggerMessage"):
        return {"status": "Rejected"}
    if action == "GetLocalListVersion":
        return {"listVersion": -1}
    if action == "DataTransfer":
        return {"status": "UnknownVendorId"}
    return {"status": "Accepted"}


class LoopbackCharger:
    """The charger's end of a real OCPP-J websocket: sends CALLs, records and answers ours.

    `calls` holds every CALL of the central system as (action, payload); `replies` sets
    the answer per action: a payload, `CallErrorReceived` (answered with that CallError),
    `CallTimeoutError` (never answered) or `NotConnectedError` (the charger hangs up).
    """

    def __init__(self, port: int, charge_box_id: str = CHARGER) -> None:
        self.url = f"ws://{LOOPBACK}:{port}/ocpp/{charge_box_id}"
        self.replies: dict[str, dict[str, Any] | Exception] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        # The answer to every action without one in `replies` (None: what a charger says).
        self.fallback: dict[str, Any] | Exception | None = None
        self.configuration: dict[str, str] = {
            "HeartbeatInterval": str(DEFAULT_HEARTBEAT_INTERVAL),
            "MeterValueSampleInterval": str(DEFAULT_METER_INTERVAL),
            "SupportedFeatureProfiles": "Core,SmartCharging",
        }
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[list[Any]]] = {}
        self._sent = 0

    async def connect(self) -> None:
        self._ws = await websockets.connect(
            self.url,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            open_timeout=WAIT,
        )
        self._reader = asyncio.get_running_loop().create_task(self._read(self._ws))

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._ws = self._reader = None

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL; return the central system's CALLRESULT payload."""
        assert self._ws is not None, "not connected"
        self._sent += 1
        message_id = f"cp-{self._sent}"
        future = self._pending[message_id] = asyncio.get_running_loop().create_future()
        await self._ws.send(json.dumps([2, message_id, action, payload]))
        async with asyncio.timeout(WAIT):
            frame = await future
        assert frame[0] == 3, frame
        result: dict[str, Any] = frame[2]
        return result

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                frame = json.loads(raw)
                if frame[0] == 2:
                    await self._answer(ws, frame[1], frame[2], frame[3])
                elif (future := self._pending.pop(frame[1], None)) is not None:
                    future.set_result(frame)

    async def _answer(
        self, ws: ClientConnection, message_id: str, action: str, payload: dict[str, Any]
    ) -> None:
        self.calls.append((action, payload))
        reply = self.replies.get(action, self.fallback)
        if reply is None:
            reply = _default_reply(self, action, payload)
        if isinstance(reply, CallTimeoutError):
            return
        if isinstance(reply, NotConnectedError):
            await ws.close()
        elif isinstance(reply, CallErrorReceived):
            await ws.send(json.dumps([4, message_id, reply.code, reply.description, {}]))
        else:
            await ws.send(json.dumps([3, message_id, reply]))


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> OcppRuntime:
    """Load `entry`; short command timeouts so a silent charger fails fast."""
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime: OcppRuntime = entry.runtime_data
    runtime.central.response_timeout = 1.0
    return runtime


@dataclass
class Harness:
    """The whole integration (server, runtime, current limiter) and one charger over loopback."""

    hass: HomeAssistant
    entry: MockConfigEntry
    runtime: OcppRuntime
    link: LoopbackCharger

    @property
    def session(self) -> ChargerSession:
        return self.runtime.central.sessions[CHARGER]

    async def send(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The charger sends `action`; return the central system's reply."""
        return await self.link.call(action, payload)

    async def _until(self, key: StateKey, predicate: Callable[[], bool]) -> None:
        """Wait until `predicate` holds, checked whenever the session announces `key`.

        No timer: tests that freeze the clock freeze the event loop's too.
        """
        done = asyncio.get_running_loop().create_future()

        def check() -> None:
            if predicate() and not done.done():
                done.set_result(None)

        unsubscribe = self.session.state.subscribe((key,), check)
        try:
            check()
            await done
        finally:
            unsubscribe()

    async def connect(self) -> None:
        await self.link.connect()
        await self._until(CONNECTED, lambda: self.session.state.connected)

    async def disconnect(self) -> None:
        await self.link.close()
        await self._until(CONNECTED, lambda: not self.session.state.connected)

    async def settled(self) -> None:
        """Wait until the central system's own work after a boot (setup calls) is done."""
        await self._until(READY, lambda: self.session.state.ready)
        limiter = self.runtime.limiters[CHARGER]
        # Re-read: a new READY replaces the task.
        while (task := limiter._ready_task) is not None and not task.done():
            await asyncio.wait([task])
        await self.hass.async_block_till_done(wait_background_tasks=True)

    async def boot(self, connectors: int = 2) -> None:
        self.link.configuration["NumberOfConnectors"] = str(connectors)
        await self.connect()
        await self.send(
            "BootNotification",
            {
                "chargePointVendor": "Acme",
                "chargePointModel": "Wallbox 22",
                "chargeBoxSerialNumber": "SN-42",
                "firmwareVersion": "1.2.3",
            },
        )
        for connector_id in range(1, connectors + 1):
            await self.status(connector_id, "Available")
        await self.settled()

    async def status(self, connector_id: int, status: str, error: str = "NoError") -> None:
        await self.send(
            "StatusNotification",
            {"connectorId": connector_id, "status": status, "errorCode": error},
        )

    async def meter(
        self,
        connector_id: int,
        values: dict[str, float],
        *,
        when: str = T0,
        transaction_id: int | None = None,
    ) -> None:
        """MeterValues with one sampled value per "Measurand[@Phase]" key."""
        sampled = []
        for key, value in values.items():
            measurand, _, phase = key.partition("@")
            item: dict[str, Any] = {"value": str(value), "measurand": measurand}
            if phase:
                item["phase"] = phase
            sampled.append(item)
        payload: dict[str, Any] = {
            "connectorId": connector_id,
            "meterValue": [{"timestamp": when, "sampledValue": sampled}],
        }
        if transaction_id is not None:
            payload["transactionId"] = transaction_id
        await self.send("MeterValues", payload)

    async def start(self, connector_id: int, id_tag: str, meter_start: int, when: str = T0) -> int:
        reply = await self.send(
            "StartTransaction",
            {
                "connectorId": connector_id,
                "idTag": id_tag,
                "meterStart": meter_start,
                "timestamp": when,
            },
        )
        return int(reply["transactionId"])

    async def stop(self, transaction_id: int, meter_stop: int, when: str) -> None:
        await self.send(
            "StopTransaction",
            {"transactionId": transaction_id, "meterStop": meter_stop, "timestamp": when},
        )

    @property
    def limiter(self) -> CurrentLimiter:
        return self.runtime.limiters[CHARGER]

    @property
    def control(self) -> SolarCharging:
        """The charger's solar surplus controller."""
        return self.runtime.solar[CHARGER]

    def profiles(self) -> list[float]:
        """The limits of every SetChargingProfile sent, in order."""
        return [
            p["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
            for action, p in self.link.calls
            if action == "SetChargingProfile"
        ]

    async def tick(self, freezer: FrozenDateTimeFactory, seconds: float = 30) -> None:
        """Let `seconds` pass and run one step of the solar controller."""
        freezer.tick(timedelta(seconds=seconds))
        await self.control.async_run()
        await self.hass.async_block_till_done()

    def entity_id(self, platform: str, unique_id: str) -> str:
        entity_id = er.async_get(self.hass).async_get_entity_id(platform, DOMAIN, unique_id)
        assert entity_id is not None, unique_id
        return entity_id

    def state(self, platform: str, unique_id: str) -> str:
        found = self.hass.states.get(self.entity_id(platform, unique_id))
        assert found is not None
        return found.state


class HarnessFactory(Protocol):
    """Signature of the `make_harness` fixture."""

    async def __call__(
        self,
        platforms: list[Platform],
        tags: dict[str, dict[str, Any]] | None = None,
        charger: Mapping[str, Any] | None = None,
    ) -> Harness: ...


@pytest.fixture
async def make_harness(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, free_port: int
) -> AsyncGenerator[HarnessFactory]:
    """Return a factory of harnesses: the entry loaded with `platforms` only, one charger
    configured with `charger` settings (not connected yet) and id tags (default: TAG-1,
    accepted).

    Its charger is closed at the end of the test.
    """
    made: list[Harness] = []

    async def factory(
        platforms: list[Platform],
        tags: dict[str, dict[str, Any]] | None = None,
        charger: Mapping[str, Any] | None = None,
    ) -> Harness:
        id_tags = [
            id_tag_subentry(tag, **({CONF_STATUS: info["status"].lower()} if info else {}))
            for tag, info in (tags or {"TAG-1": {"status": "Accepted"}}).items()
        ]
        entry = mock_config_entry(
            port=free_port, chargers=[charger_subentry(CHARGER, **(charger or {}))], id_tags=id_tags
        )
        with patch("custom_components.ocpp_central.PLATFORMS", platforms):
            runtime = await setup_entry(hass, entry)
        # Every limit goes out at once: the tests do not wait for the coalescing interval.
        runtime.limiters[CHARGER].min_interval = 0.0
        harness = Harness(hass, entry, runtime, LoopbackCharger(free_port))
        made.append(harness)
        return harness

    yield factory
    for harness in made:
        await harness.link.close()


# --- the solar surplus controller ---------------------------------------------------------

GRID = "sensor.grid_power"
BATTERY = "sensor.battery_power"
SOLAR_OPTIONS: dict[str, Any] = {
    "grid_power_entity": GRID,
    "phases": 1,
    "min_current": 6,
    "max_current": 16,
    "start_delay": 0,
    "stop_delay": 60,
    "hysteresis": 100,
    # The tests step the controller themselves (`Harness.tick`); one test checks that the
    # control period drives it.
    "control_period": 3600,
}


async def charging(harness: Harness) -> int:
    """Boot the charger with a car charging on connector 1; return the transaction id."""
    await harness.boot(connectors=1)
    return await harness.start(1, "TAG-1", 1000)


def grid(hass: HomeAssistant, watts: float | str, unit: str = "W") -> None:
    """The grid power sensor's state (negative: exported)."""
    hass.states.async_set(GRID, str(watts), {"unit_of_measurement": unit})


# --- chargers of the `ocpp` package and of the project's simulator --------------------------

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ocpp_time(moment: datetime = NOW) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class OcppTestCharger(ChargePoint):  # type: ignore[misc]
    """A charger answering every CSMS command; statuses and silence are set per test."""

    def __init__(self, charge_box_id: str, connection: ClientConnection) -> None:
        super().__init__(charge_box_id, connection, response_timeout=WAIT)
        self.configuration: dict[str, str] = {
            "HeartbeatInterval": "300",
            "MeterValueSampleInterval": "30",
            "NumberOfConnectors": "1",
            "SupportedFeatureProfiles": "Core,LocalAuthListManagement,SmartCharging",
            "LocalAuthListEnabled": "true",
        }
        # Status answered per action (default Accepted); actions never answered.
        self.statuses: dict[str, str] = {}
        self.silent: set[str] = set()
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.received_event = asyncio.Event()

    async def _answer(self, action: str, payload: dict[str, Any], result: Any) -> Any:
        self.received.append((action, payload))
        self.received_event.set()
        if action in self.silent:
            await asyncio.sleep(3600)
        return result

    def status(self, action: str, default: str = "Accepted") -> str:
        return self.statuses.get(action, default)

    async def wait_for(self, action: str) -> dict[str, Any]:
        """The payload of the next-or-already-received CALL `action`."""
        async with asyncio.timeout(WAIT):
            while True:
                for name, payload in self.received:
                    if name == action:
                        return payload
                self.received_event.clear()
                await self.received_event.wait()

    @on(Action.get_configuration)
    async def on_get_configuration(self, key: list[str] | None = None) -> Any:
        keys = key or list(self.configuration)
        known = [k for k in keys if k in self.configuration]
        return await self._answer(
            "GetConfiguration",
            {"key": key},
            call_result.GetConfiguration(
                configuration_key=[
                    {
                        "key": k,
                        "readonly": k == "NumberOfConnectors",
                        "value": self.configuration[k],
                    }
                    for k in known
                ],
                unknown_key=[k for k in keys if k not in self.configuration] or None,
            ),
        )

    @on(Action.change_configuration)
    async def on_change_configuration(self, key: str, value: str) -> Any:
        status = self.status("ChangeConfiguration")
        if status == "Accepted":
            self.configuration[key] = value
        return await self._answer(
            "ChangeConfiguration",
            {"key": key, "value": value},
            call_result.ChangeConfiguration(status=status),
        )

    @on(Action.trigger_message)
    async def on_trigger_message(self, requested_message: str, **kwargs: Any) -> Any:
        return await self._answer(
            "TriggerMessage",
            {"requested_message": requested_message, **kwargs},
            call_result.TriggerMessage(status=self.status("TriggerMessage", "Rejected")),
        )

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> Any:
        return await self._answer(
            "DataTransfer",
            {"vendor_id": vendor_id, **kwargs},
            call_result.DataTransfer(
                status=self.status("DataTransfer"), data=f"echo:{kwargs.get('data')}"
            ),
        )

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: Any) -> Any:
        return await self._answer(
            "SetChargingProfile",
            {"connector_id": connector_id, "cs_charging_profiles": cs_charging_profiles},
            call_result.SetChargingProfile(status=self.status("SetChargingProfile")),
        )

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, **kwargs: Any) -> Any:
        return await self._answer(
            "ClearChargingProfile",
            kwargs,
            call_result.ClearChargingProfile(status=self.status("ClearChargingProfile")),
        )

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(
        self, connector_id: int, duration: int, **kwargs: Any
    ) -> Any:
        status = self.status("GetCompositeSchedule")
        schedule = {
            "duration": duration,
            "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": 16.0}],
        }
        return await self._answer(
            "GetCompositeSchedule",
            {"connector_id": connector_id, "duration": duration, **kwargs},
            call_result.GetCompositeSchedule(
                status=status,
                connector_id=connector_id if status == "Accepted" else None,
                schedule_start=ocpp_time() if status == "Accepted" else None,
                charging_schedule=schedule if status == "Accepted" else None,
            ),
        )

    @on(Action.reserve_now)
    async def on_reserve_now(self, **kwargs: Any) -> Any:
        return await self._answer(
            "ReserveNow", kwargs, call_result.ReserveNow(status=self.status("ReserveNow"))
        )

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id: int) -> Any:
        return await self._answer(
            "CancelReservation",
            {"reservation_id": reservation_id},
            call_result.CancelReservation(status=self.status("CancelReservation")),
        )

    @on(Action.update_firmware)
    async def on_update_firmware(self, **kwargs: Any) -> Any:
        return await self._answer("UpdateFirmware", kwargs, call_result.UpdateFirmware())

    @on(Action.get_diagnostics)
    async def on_get_diagnostics(self, **kwargs: Any) -> Any:
        return await self._answer(
            "GetDiagnostics", kwargs, call_result.GetDiagnostics(file_name="diag.zip")
        )

    @on(Action.clear_cache)
    async def on_clear_cache(self) -> Any:
        return await self._answer(
            "ClearCache", {}, call_result.ClearCache(status=self.status("ClearCache"))
        )

    @on(Action.reset)
    async def on_reset(self, type: str) -> Any:
        return await self._answer(
            "Reset", {"type": type}, call_result.Reset(status=self.status("Reset"))
        )

    @on(Action.remote_start_transaction)
    async def on_remote_start(self, id_tag: str, **kwargs: Any) -> Any:
        return await self._answer(
            "RemoteStartTransaction",
            {"id_tag": id_tag, **kwargs},
            call_result.RemoteStartTransaction(status=self.status("RemoteStartTransaction")),
        )

    @on(Action.unlock_connector)
    async def on_unlock_connector(self, connector_id: int) -> Any:
        return await self._answer(
            "UnlockConnector",
            {"connector_id": connector_id},
            call_result.UnlockConnector(status=self.status("UnlockConnector", "Unlocked")),
        )

    @on(Action.send_local_list)
    async def on_send_local_list(self, **kwargs: Any) -> Any:
        return await self._answer(
            "SendLocalList", kwargs, call_result.SendLocalList(status=self.status("SendLocalList"))
        )

    # --- messages the charger sends ---

    async def boot(self) -> str:
        reply = await self.call(
            call.BootNotification(charge_point_model="Model", charge_point_vendor="Vendor")
        )
        return str(reply.status)

    async def start_transaction(self, id_tag: str, meter_start: int, connector_id: int = 1) -> Any:
        return await self.call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp=ocpp_time(),
            )
        )

    async def meter_values(self, transaction_id: int, wh: int, connector_id: int = 1) -> None:
        await self.call(
            call.MeterValues(
                connector_id=connector_id,
                transaction_id=transaction_id,
                meter_value=[
                    {
                        "timestamp": ocpp_time(NOW + timedelta(minutes=5)),
                        "sampled_value": [
                            {
                                "value": str(wh),
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                            }
                        ],
                    }
                ],
            )
        )

    async def stop_transaction(self, transaction_id: int, meter_stop: int) -> Any:
        return await self.call(
            call.StopTransaction(
                meter_stop=meter_stop,
                timestamp=ocpp_time(NOW + timedelta(hours=1)),
                transaction_id=transaction_id,
            )
        )

    async def authorize(self, id_tag: str) -> dict[str, Any]:
        reply = await self.call(call.Authorize(id_tag=id_tag))
        return dict(reply.id_tag_info)


type ChargerFactory = Callable[..., Awaitable[OcppTestCharger]]


@pytest.fixture
async def charger() -> AsyncIterator[ChargerFactory]:
    """Connect `OcppTestCharger`s to a port; all are closed at the end of the test."""
    stack = contextlib.AsyncExitStack()

    async def connect(
        port: int, charge_box_id: str, *, password: str | None = None, boot: bool = True
    ) -> OcppTestCharger:
        headers = {}
        if password is not None:
            import base64

            token = base64.b64encode(f"{charge_box_id}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        ws = await stack.enter_async_context(
            websockets.connect(
                f"ws://127.0.0.1:{port}/ocpp/{charge_box_id}",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                additional_headers=headers,
                open_timeout=WAIT,
            )
        )
        cp = OcppTestCharger(charge_box_id, ws)
        task = asyncio.get_running_loop().create_task(cp.start())
        stack.push_async_callback(cancel_task, task)
        if boot:
            assert await cp.boot() == "Accepted"
        return cp

    yield connect
    await stack.aclose()


async def cancel_task(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
        await task


def subentry_of(entry: MockConfigEntry, charge_box_id: str) -> ConfigSubentry:
    return next(
        s for s in entry.subentries.values() if s.data.get(CONF_CHARGE_BOX_ID) == charge_box_id
    )


class Chargers:
    """Simulated chargers connected to the test's central system; all closed at teardown."""

    def __init__(self) -> None:
        # Starts at the real time: our charging profiles start "now" by the wall clock.
        self.clock = ManualClock()
        self._open: list[SimulatedCharger] = []

    def make(self, port: int, charge_box_id: str, **kwargs: Any) -> SimulatedCharger:
        """A charger on the shared manual clock that sends nothing unless told to."""
        kwargs.setdefault("clock", self.clock)
        kwargs.setdefault("heartbeat", False)
        charger = SimulatedCharger(f"ws://127.0.0.1:{port}/ocpp", charge_box_id, **kwargs)
        self._open.append(charger)
        return charger

    async def connect(self, port: int, charge_box_id: str, **kwargs: Any) -> SimulatedCharger:
        """Connect and boot a new charger (its statuses are announced on return)."""
        charger = self.make(port, charge_box_id, **kwargs)
        await charger.connect()
        return charger

    async def close(self) -> None:
        for charger in self._open:
            await charger.close()


@pytest.fixture
async def chargers(socket_enabled: None) -> AsyncIterator[Chargers]:
    """Make simulated chargers; every one is closed at the end of the test."""
    made = Chargers()
    yield made
    await made.close()


def entity_id(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    """The entity id of the integration's entity `unique_id` on `platform`."""
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert found is not None, f"no {platform} entity {unique_id}"
    return found


def state_of(hass: HomeAssistant, platform: str, unique_id: str) -> State:
    """The current state of entity `unique_id`."""
    state = hass.states.get(entity_id(hass, platform, unique_id))
    assert state is not None, unique_id
    return state


def number(state: State) -> float:
    return float(state.state)


async def wait_for_state(
    hass: HomeAssistant, entity: str, predicate: Callable[[State], bool]
) -> State:
    """Wait (bounded) until entity's state satisfies `predicate`; return that state."""
    done = asyncio.Event()

    @callback
    def changed(_event: Event[EventStateChangedData]) -> None:
        state = hass.states.get(entity)
        if state is not None and predicate(state):
            done.set()

    unsubscribe = async_track_state_change_event(hass, [entity], changed)
    try:
        current = hass.states.get(entity)
        if current is None or not predicate(current):
            async with asyncio.timeout(WAIT):
                await done.wait()
    finally:
        unsubscribe()
    result = hass.states.get(entity)
    assert result is not None
    return result


@contextlib.contextmanager
def recorded_states(hass: HomeAssistant, entity: str) -> Any:
    """Collect every state `entity` takes while the block runs."""
    seen: list[State] = []

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None:
            seen.append(new)

    unsubscribe = async_track_state_change_event(hass, [entity], changed)
    try:
        yield seen
    finally:
        unsubscribe()


def energy_wh(state: State) -> float:
    """An energy state in Wh, whatever unit the entity shows (energy suggests kWh)."""
    factor = {"Wh": 1.0, "kWh": 1000.0, "MWh": 1e6}[state.attributes["unit_of_measurement"]]
    return float(state.state) * factor


def device_of(hass: HomeAssistant, entry_id: str, charge_box_id: str) -> dr.DeviceEntry:
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, charge_box_id), entry_id)
    assert device is not None, charge_box_id
    return device


def cut_network(charger: SimulatedCharger) -> None:
    """Lose the TCP connection without a close frame, as a power cut or a dead link does."""
    websocket = charger._ws
    assert websocket is not None
    websocket.transport.abort()
