"""Snapshots of every entity of a two-connector charger, and the harness the entity tests share.

The harness runs the real `ChargerSession` (its OCPP handlers fill the ChargerState the
entities read) inside the integration's platforms; the charger's answers to our commands
come from `ChargerLink`, which stands in for the websocket connection.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from unittest.mock import PropertyMock, patch

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import Platform
from homeassistant.core import CALLBACK_TYPE, HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.hooks import MemoryHooks
from custom_components.ocpp_central.protocol.session import ChargerSession
from custom_components.ocpp_central.protocol.state import CURRENT_LIMIT

from .conftest import ConfigEntryFactory, load_with_runtime

CHARGER = "CP-1"
T0 = "2025-01-01T10:00:00Z"


def ts(minute: int, second: int = 0) -> str:
    """An OCPP timestamp `minute` minutes after T0."""
    return datetime(2025, 1, 1, 10, minute, second, tzinfo=UTC).isoformat().replace("+00:00", "Z")


@dataclass
class ChargerLink:
    """The charger's end of our CALLs: records them, answers as told."""

    replies: dict[str, dict[str, Any] | Exception] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def call(
        self,
        action: str,
        payload: dict[str, Any],
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        self.calls.append((action, payload))
        reply = self.replies.get(action, {"status": "Accepted"})
        if isinstance(reply, Exception):
            raise reply
        return reply

    def after_reply(self, fn: Callable[[], None]) -> None:
        """Run what the session does once its reply went out (the connection ready, setup)."""
        fn()


class Limiter:
    """Accepts any limit unless told to refuse, as the smart-charging limiter reports it."""

    def __init__(self, session: ChargerSession) -> None:
        self.session = session
        self.refuse: Exception | None = None

    async def set_limit(self, connector_id: int, amps: float) -> float:
        if self.refuse is not None:
            raise self.refuse
        state = self.session.state
        state.connector(connector_id).current_limit = amps
        state.notify(((connector_id, CURRENT_LIMIT),))
        return amps

    async def start_profile(self, connector_id: int) -> dict[str, Any] | None:
        return None  # a remote start carries no profile here (see test_limit_restart.py)


class Runtime:
    """The part of the runtime the platforms use: chargers and their limiters."""

    def __init__(self) -> None:
        self.chargers: list[tuple[ConfigSubentry, ChargerSession]] = []
        self.limiters: dict[str, Limiter] = {}
        self._listeners: list[Callable[[ConfigSubentry, ChargerSession], None]] = []

    def add(self, subentry: ConfigSubentry, session: ChargerSession) -> None:
        self.chargers.append((subentry, session))
        self.limiters[session.state.charge_box_id] = Limiter(session)
        for listener in self._listeners:
            listener(subentry, session)

    def async_add_charger_listener(
        self, listener: Callable[[ConfigSubentry, ChargerSession], None]
    ) -> CALLBACK_TYPE:
        for subentry, session in self.chargers:
            listener(subentry, session)
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def async_stop(self) -> None:
        """Nothing runs: the sessions are driven by the test."""


@dataclass
class Harness:
    """A loaded entry with one charger session and what it takes to drive it."""

    hass: HomeAssistant
    entry: MockConfigEntry
    session: ChargerSession
    link: ChargerLink
    runtime: Runtime

    def send(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The charger sends `action`; return the central system's reply."""
        return self.session.handle_call(action, payload)

    def connect(self) -> None:
        self.session.connection_made(self.link)

    def disconnect(self) -> None:
        self.session.connection_lost()

    def boot(self, connectors: int = 2) -> None:
        self.connect()
        self.send(
            "BootNotification",
            {
                "chargePointVendor": "Acme",
                "chargePointModel": "Wallbox 22",
                "chargeBoxSerialNumber": "SN-42",
                "firmwareVersion": "1.2.3",
            },
        )
        for connector_id in range(1, connectors + 1):
            self.status(connector_id, "Available")

    def status(self, connector_id: int, status: str, error: str = "NoError") -> None:
        self.send(
            "StatusNotification",
            {"connectorId": connector_id, "status": status, "errorCode": error},
        )

    def meter(
        self,
        connector_id: int,
        values: dict[str, float],
        *,
        when: str = T0,
        transaction_id: int | None = None,
    ) -> None:
        """MeterValues with one sampled value per "Measurand[.Phase]" key."""
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
        self.send("MeterValues", payload)

    def start(self, connector_id: int, id_tag: str, meter_start: int, when: str = T0) -> int:
        reply = self.send(
            "StartTransaction",
            {
                "connectorId": connector_id,
                "idTag": id_tag,
                "meterStart": meter_start,
                "timestamp": when,
            },
        )
        return int(reply["transactionId"])

    def stop(self, transaction_id: int, meter_stop: int, when: str) -> None:
        self.send(
            "StopTransaction",
            {"transactionId": transaction_id, "meterStop": meter_stop, "timestamp": when},
        )

    def entity_id(self, platform: str, unique_id: str) -> str:
        entity_id = er.async_get(self.hass).async_get_entity_id(platform, "ocpp_central", unique_id)
        assert entity_id is not None, unique_id
        return entity_id

    def state(self, platform: str, unique_id: str) -> str:
        found = self.hass.states.get(self.entity_id(platform, unique_id))
        assert found is not None
        return found.state


class HarnessFactory(Protocol):
    """Signature of the `make_harness` fixture."""

    async def __call__(
        self, platforms: list[Platform], tags: dict[str, dict[str, Any]] | None = None
    ) -> Harness: ...


@pytest.fixture(name="make_harness")
async def make_harness_fixture(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> AsyncGenerator[HarnessFactory]:
    """Return a factory of harnesses; their chargers disconnect at the end of the test."""
    made: list[Harness] = []

    async def factory(
        platforms: list[Platform], tags: dict[str, dict[str, Any]] | None = None
    ) -> Harness:
        harness = await _start_harness(hass, mock_config_entry, platforms, tags)
        made.append(harness)
        return harness

    yield factory
    for harness in made:
        harness.disconnect()


async def _start_harness(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    platforms: list[Platform],
    tags: dict[str, dict[str, Any]] | None,
) -> Harness:
    """Load the entry with `platforms` and one charger (no charger connected yet)."""
    entry = mock_config_entry(chargers=[CHARGER])
    runtime = Runtime()
    hooks = MemoryHooks(tags=tags or {"TAG-1": {"status": "Accepted"}})
    session = ChargerSession(ChargerConfig(charge_box_id=CHARGER), hooks, resync_delay=3600)
    subentry = next(iter(entry.subentries.values()))
    runtime.add(subentry, session)

    await load_with_runtime(hass, entry, runtime, platforms)
    return Harness(hass, entry, session, ChargerLink(), runtime)


@pytest.fixture
def enable_all() -> Generator[None]:
    """Create disabled-by-default entities enabled, to see them in the snapshot."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.mark.parametrize(
    "platform",
    [
        Platform.BINARY_SENSOR,
        Platform.BUTTON,
        Platform.EVENT,
        Platform.NUMBER,
        Platform.SENSOR,
        Platform.SWITCH,
    ],
)
@pytest.mark.usefixtures("enable_all")
@pytest.mark.freeze_time("2025-01-01T10:10:00+00:00")
async def test_entities(
    hass: HomeAssistant,
    make_harness: HarnessFactory,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    """Every entity of a two-connector charger in the middle of a session on connector 1."""
    harness = await make_harness([platform])
    harness.boot(connectors=2)
    tx = harness.start(1, "TAG-1", 1000, when=ts(0))
    harness.status(1, "Charging")
    harness.meter(
        1,
        {
            "Energy.Active.Import.Register": 2500,
            "Power.Active.Import": 7200,
            "Current.Import@L1": 10.5,
            "Current.Import@L2": 10.2,
            "Current.Import@L3": 10.0,
            "Voltage@L1-N": 230.1,
            "Voltage@L2-N": 229.5,
            "Voltage@L3-N": 231.0,
            "Current.Offered": 16,
            "SoC": 55,
            "Temperature": 31.5,
        },
        when=ts(5),
        transaction_id=tx,
    )
    harness.meter(0, {"Energy.Active.Import.Register": 12000, "Power.Active.Import": 7300})
    await hass.async_block_till_done()
    await snapshot_platform(
        hass,
        entity_registry,
        snapshot.use_extension(HomeAssistantSnapshotExtension),
        harness.entry.entry_id,
    )
