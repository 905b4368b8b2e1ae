"""Which entities a user gets enabled, and the states one MeterValues writes.

Home Assistant records every state an entity writes (a database row each) and keeps every
enabled entity in memory: noisy and less popular entities are created disabled (Integration
Quality Scale, rule entity-disabled-by-default); the user enables them on the entity page.
"""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from custom_components.ocpp_central import PLATFORMS

from .conftest import CHARGER, HarnessFactory, ts

ENERGY = "Energy.Active.Import.Register"

# What a three-phase charger reports with a car that tells its state of charge (the
# benchmark's 24 values, less the ones no entity shows).
SAMPLE: dict[str, float] = {
    ENERGY: 12_000,
    "Power.Active.Import": 11_040,
    **{f"Power.Active.Import@L{n}": 3_680 for n in (1, 2, 3)},
    **{f"Current.Import@L{n}": 16.0 for n in (1, 2, 3)},
    **{f"Voltage@L{n}-N": 230.0 for n in (1, 2, 3)},
    "Current.Offered": 16,
    "Power.Offered": 11_040,
    "Frequency": 50.0,
    "Temperature": 35.0,
    "SoC": 40,
}

# Keys of the connector's entities (unique id `<charger>_1_<key>`, or `<charger>_<key>` for
# the charger's own) created disabled, and those created enabled.
DISABLED = {
    "voltage",  # moves with the grid on most samples
    "transaction_id",
    "last_heartbeat",  # a timestamp that moves with every heartbeat
    *(f"{kind}_l{n}" for kind in ("current", "voltage", "power") for n in (1, 2, 3)),
}
ENABLED_SENSORS = {
    "connector_status",
    "error_code",
    "power",
    "current",
    "current_offered",
    "energy",
    "session_energy",
    "session_duration",
    "id_tag",
    "limit_source",
    "soc",
    "temperature",
    "firmware_status",
}


def _key(unique_id: str) -> str:
    return unique_id.removeprefix(f"{CHARGER}_1_").removeprefix(f"{CHARGER}_")


async def test_noisy_and_less_popular_entities_are_created_disabled(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    h = await make_harness(list(PLATFORMS))
    await h.boot(connectors=1)
    tx = await h.start(1, "TAG-1", 10_000, when=ts(0))
    await h.status(1, "Charging")
    await h.meter(1, SAMPLE, when=ts(1), transaction_id=tx)
    await hass.async_block_till_done()
    entries = er.async_entries_for_config_entry(er.async_get(hass), h.entry.entry_id)
    sensors = {_key(e.unique_id): e for e in entries if e.domain == Platform.SENSOR}
    disabled = {key for key, e in sensors.items() if e.disabled_by is not None}
    assert disabled == DISABLED
    for key in DISABLED:
        assert sensors[key].disabled_by is er.RegistryEntryDisabler.INTEGRATION, key
        assert hass.states.get(sensors[key].entity_id) is None, key  # no state, no row
    assert sensors.keys() - disabled >= ENABLED_SENSORS


async def test_a_meter_sample_writes_only_the_enabled_values_that_moved(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    """The next sample of a charging car: grid jitter everywhere, 30 Wh more energy.

    Written: energy, session energy, power and current (each moved by at least what is
    shown); not the disabled voltage and per-phase values, nor what stayed.
    """
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=1)
    tx = await h.start(1, "TAG-1", 10_000, when=ts(0))
    await h.status(1, "Charging")
    await h.meter(1, SAMPLE, when=ts(10), transaction_id=tx)
    await hass.async_block_till_done()
    writes: list[str] = []

    @callback
    def count(event: Event[EventStateChangedData]) -> None:
        entry = er.async_get(hass).async_get(event.data["entity_id"])
        # The duration follows the wall clock in whole minutes, not the samples.
        if entry is not None and _key(entry.unique_id) != "session_duration":
            writes.append(_key(entry.unique_id))

    hass.bus.async_listen("state_changed", count)
    moved = {
        **SAMPLE,
        ENERGY: SAMPLE[ENERGY] + 30,
        "Power.Active.Import": 11_100,
        **{f"Power.Active.Import@L{n}": 3_700 for n in (1, 2, 3)},
        **{f"Current.Import@L{n}": 16.2 for n in (1, 2, 3)},
        **{f"Voltage@L{n}-N": 232.0 for n in (1, 2, 3)},
        "Frequency": 50.02,
    }
    await h.meter(1, moved, when=ts(20), transaction_id=tx)
    await hass.async_block_till_done()
    assert sorted(writes) == ["current", "energy", "power", "session_energy"]
    # Energy below what is shown (10 Wh) writes nothing.
    writes.clear()
    await h.meter(1, {**moved, ENERGY: SAMPLE[ENERGY] + 34}, when=ts(30), transaction_id=tx)
    await hass.async_block_till_done()
    assert writes == []
