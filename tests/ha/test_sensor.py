"""Sensors: values at each step of a session, writes only on change, availability, registers."""

from __future__ import annotations

import gc

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, Platform
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest

from custom_components.ocpp_central.const import DOMAIN
from custom_components.ocpp_central.entity import OcppEntity
from custom_components.ocpp_central.sensor import snake_case

from .conftest import CHARGER, HarnessFactory, ts

ENERGY = "Energy.Active.Import.Register"


@pytest.mark.parametrize(
    ("ocpp", "state"),
    [
        ("SuspendedEVSE", "suspended_evse"),
        ("SuspendedEV", "suspended_ev"),
        ("EVCommunicationError", "ev_communication_error"),
        ("OverCurrentFailure", "over_current_failure"),
        ("DownloadFailed", "download_failed"),
        ("Available", "available"),
    ],
)
def test_snake_case(ocpp: str, state: str) -> None:
    assert snake_case(ocpp) == state


# The event loop keeps its own clock: the charger talks over a real socket.
@pytest.mark.usefixtures("enable_all_entities")
@pytest.mark.freeze_time("2025-01-01T10:30:00+00:00", real_asyncio=True)
async def test_session_steps(hass: HomeAssistant, make_harness: HarnessFactory) -> None:
    """Status, power, energy and session values follow a whole session on one connector."""
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=1)
    await hass.async_block_till_done()
    uid = f"{CHARGER}_1_"
    # A single-connector charger names its entities without a connector number.
    entry = er.async_get(hass).async_get(h.entity_id("sensor", uid + "power"))
    assert entry is not None
    assert entry.translation_key == "power"
    assert h.state("sensor", uid + "connector_status") == "available"
    assert h.state("sensor", uid + "session_energy") == STATE_UNKNOWN

    tx = await h.start(1, "TAG-1", 10_000, when=ts(0))
    await h.status(1, "Charging")
    await hass.async_block_till_done()
    assert h.state("sensor", uid + "connector_status") == "charging"
    assert h.state("sensor", uid + "id_tag") == "TAG-1"
    assert h.state("sensor", uid + "transaction_id") == str(tx)
    assert h.state("sensor", uid + "session_energy") == "0.0"

    # Per-phase values only: power is their sum, current their maximum.
    await h.meter(
        1,
        {
            ENERGY: 12_500,
            "Power.Active.Import@L1": 2300,
            "Power.Active.Import@L2": 2200,
            "Power.Active.Import@L3": 2100,
            "Current.Import@L1": 10,
            "Current.Import@L2": 9.5,
            "Voltage@L1": 229,
        },
        when=ts(10),
        transaction_id=tx,
    )
    await hass.async_block_till_done()
    assert h.state("sensor", uid + "power") == "6.6"  # kW, as the power is shown
    assert h.state("sensor", uid + "current") == "10.0"
    assert h.state("sensor", uid + "voltage") == "229.0"
    assert h.state("sensor", uid + "energy") == "12.5"
    assert h.state("sensor", uid + "session_energy") == "2.5"
    assert h.state("sensor", uid + "session_duration") == "30.0"  # minutes, frozen clock

    await h.stop(tx, 13_000, when=ts(20))
    await h.status(1, "Finishing")
    await hass.async_block_till_done()
    # The finished session keeps its final energy and duration; the tag is gone.
    assert h.state("sensor", uid + "session_energy") == "3.0"
    assert h.state("sensor", uid + "session_duration") == "20.0"
    assert h.state("sensor", uid + "id_tag") == STATE_UNKNOWN
    assert h.state("sensor", uid + "connector_status") == "finishing"
    state = hass.states.get(h.entity_id("sensor", uid + "session_energy"))
    assert state is not None
    assert state.attributes["state_class"] == "total"
    assert state.attributes["last_reset"] == "2025-01-01T10:00:00+00:00"


async def test_writes_only_on_change(hass: HomeAssistant, make_harness: HarnessFactory) -> None:
    """A MeterValues that repeats a value writes no state for it."""
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=1)
    await h.meter(1, {"Power.Active.Import": 1000, "Current.Offered": 16})
    await hass.async_block_till_done()
    power = h.entity_id("sensor", f"{CHARGER}_1_power")
    offered = h.entity_id("sensor", f"{CHARGER}_1_current_offered")
    writes: list[str] = []

    @callback
    def count(event: Event[EventStateChangedData]) -> None:
        writes.append(event.data["entity_id"])

    hass.bus.async_listen("state_changed", count)
    for second in range(1, 6):
        await h.meter(1, {"Power.Active.Import": 1000, "Current.Offered": 16}, when=ts(1, second))
    await hass.async_block_till_done()
    assert writes == []
    await h.meter(1, {"Power.Active.Import": 1500, "Current.Offered": 16}, when=ts(2))
    await hass.async_block_till_done()
    assert writes == [power]
    assert offered not in writes


@pytest.mark.usefixtures("enable_all_entities")
async def test_values_rounded_to_their_resolution(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    """Meter jitter below a quantity's resolution neither shows nor writes a state."""
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=1)
    tx = await h.start(1, "TAG-1", 10_000, when=ts(0))
    sample = {
        ENERGY: 12_345.4,
        "Power.Active.Import": 7360.45,
        "Current.Import": 15.994,
        "Voltage": 229.87,
        "SoC": 41.26,
        "Temperature": 31.04,
    }
    await h.meter(1, sample, when=ts(1), transaction_id=tx)
    await hass.async_block_till_done()
    uid = f"{CHARGER}_1_"
    shown = {
        "power": "7.36",  # kW
        "current": "16.0",
        "voltage": "230.0",
        "soc": "41.0",
        "temperature": "31.0",
        "energy": "12.35",  # kWh with 2 decimals: a register in 10 Wh
        "session_energy": "2.35",
    }
    for key, state in shown.items():
        assert h.state("sensor", uid + key) == state, key
    writes: list[str] = []

    @callback
    def count(event: Event[EventStateChangedData]) -> None:
        writes.append(event.data["entity_id"])

    hass.bus.async_listen("state_changed", count)
    jitter = {
        ENERGY: 12_348.9,  # still 12.35 kWh
        "Power.Active.Import": 7360.3,
        "Current.Import": 15.9949,
        "Voltage": 229.91,
        "SoC": 41.28,
        "Temperature": 30.99,
    }
    await h.meter(1, jitter, when=ts(1, 10), transaction_id=tx)
    await hass.async_block_till_done()
    assert [w for w in writes if "session_duration" not in w] == []


async def test_session_duration_written_once_a_minute(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    """The duration is shown in whole minutes: meter samples within a minute write nothing."""
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=1)
    freezer.move_to(ts(0).replace("Z", "+00:00"))
    tx = await h.start(1, "TAG-1", 10_000, when=ts(0))
    uid = f"{CHARGER}_1_session_duration"
    writes: list[str] = []

    @callback
    def count(event: Event[EventStateChangedData]) -> None:
        if event.data["entity_id"].endswith("session_duration"):
            writes.append(event.data["new_state"].state)

    hass.bus.async_listen("state_changed", count)
    for minute, second in ((0, 10), (0, 20), (0, 30), (0, 40), (0, 50), (1, 10)):
        freezer.move_to(ts(minute, second).replace("Z", "+00:00"))
        energy = 10_000 + 60 * minute + second
        await h.meter(1, {ENERGY: energy}, when=ts(minute, second), transaction_id=tx)
        await hass.async_block_till_done()
    assert writes == ["1.0"]  # minutes: once, when the first minute was full
    assert h.state("sensor", uid) == "1.0"


@pytest.mark.usefixtures("enable_all_entities")
async def test_offline(hass: HomeAssistant, make_harness: HarnessFactory) -> None:
    """A disconnected charger's values are unavailable, except those that stay meaningful."""
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=1)
    await h.meter(1, {ENERGY: 5000, "Power.Active.Import": 1000})
    await h.send("Heartbeat", {})
    await hass.async_block_till_done()
    await h.disconnect()
    await hass.async_block_till_done()
    assert h.state("sensor", f"{CHARGER}_1_power") == STATE_UNAVAILABLE
    assert h.state("sensor", f"{CHARGER}_1_connector_status") == STATE_UNAVAILABLE
    assert h.state("sensor", f"{CHARGER}_1_energy") == "5.0"
    assert h.state("sensor", f"{CHARGER}_last_heartbeat") not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    await h.connect()
    await hass.async_block_till_done()
    assert h.state("sensor", f"{CHARGER}_1_power") == "1.0"


async def test_register_never_goes_back(hass: HomeAssistant, make_harness: HarnessFactory) -> None:
    """A lone lower register value is held back; a confirmed one is a meter reset.

    After the reset the register carries on from what it showed (an offset), so that
    statistics count only what the new meter counted.
    """
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=1)
    energy = f"{CHARGER}_1_energy"
    await h.meter(1, {ENERGY: 50_000}, when=ts(1))
    await hass.async_block_till_done()
    assert h.state("sensor", energy) == "50.0"
    await h.meter(1, {ENERGY: 0}, when=ts(2))  # a glitch
    await hass.async_block_till_done()
    assert h.state("sensor", energy) == "50.0"
    await h.meter(1, {ENERGY: 50_100}, when=ts(3))
    await hass.async_block_till_done()
    assert h.state("sensor", energy) == "50.1"
    await h.meter(1, {ENERGY: 100}, when=ts(4))  # a new meter: held back once...
    await hass.async_block_till_done()
    assert h.state("sensor", energy) == "50.1"
    await h.meter(1, {ENERGY: 200}, when=ts(5))  # ...and confirmed by the next sample
    await hass.async_block_till_done()
    assert h.state("sensor", energy) == "50.2"


async def test_per_phase_disabled_by_default(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=1)
    # Per-phase sensors exist once their phase is reported.
    await h.meter(1, {"Current.Import@L1": 16, "Voltage@L2-N": 230, "Power.Active.Import@L3": 3680})
    await hass.async_block_till_done()
    registry = er.async_get(hass)
    for key in ("current_l1", "voltage_l2", "power_l3"):
        entry = registry.async_get(h.entity_id("sensor", f"{CHARGER}_1_{key}"))
        assert entry is not None
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    entry = registry.async_get(h.entity_id("sensor", f"{CHARGER}_1_power"))
    assert entry is not None
    assert entry.disabled_by is None
    # Entities Home Assistant did not add are let go: a charger's memory holds no
    # disabled sensor objects.
    gc.collect()
    alive = {e.unique_id for e in gc.get_objects() if isinstance(e, OcppEntity)}
    assert f"{CHARGER}_1_power" in alive
    assert not {f"{CHARGER}_1_{key}" for key in ("current_l1", "voltage_l2", "power_l3")} & alive


async def test_second_connector_moves_disabled_sensors_too(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    """Connector 1's entities, disabled ones included, move to its device once 2 appears."""
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=1)
    await h.meter(
        1,
        {
            "Current.Import@L1": 16,
            "Voltage@L1-N": 230,
            "Power.Active.Import@L1": 3680,
            "Voltage@L3-N": 231,
        },
    )
    await hass.async_block_till_done()
    await h.status(2, "Available")
    await hass.async_block_till_done()
    registry = er.async_get(hass)
    connector = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{CHARGER}_connector_1"), h.entry.entry_id
    )
    assert connector is not None
    for key in ("power", "current_l1", "voltage_l1", "power_l1", "voltage_l3"):
        entry = registry.async_get(h.entity_id("sensor", f"{CHARGER}_1_{key}"))
        assert entry is not None
        assert entry.translation_key == key, key
        assert entry.device_id == connector.id, key


async def test_charger_meter_appears_when_reported(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    """Charger-wide power and energy exist once the charger reports them on connector 0."""
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=1)
    await hass.async_block_till_done()
    registry = er.async_get(hass)
    assert registry.async_get_entity_id("sensor", "ocpp_central", f"{CHARGER}_power") is None
    await h.meter(0, {"Power.Active.Import": 900})
    await hass.async_block_till_done()
    assert h.state("sensor", f"{CHARGER}_power") == "0.9"
    assert registry.async_get_entity_id("sensor", "ocpp_central", f"{CHARGER}_energy") is None
    await h.meter(0, {ENERGY: 4000})
    await hass.async_block_till_done()
    assert h.state("sensor", f"{CHARGER}_energy") == "4.0"
