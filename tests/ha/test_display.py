"""The first hour's screens: power, current, voltage and energy shown alike.

From the "first hour" report: "16.00 A" beside "230 V" and "11,041 W". Power shows in kW
like energy in kWh, each quantity with the decimals that mean something: "11.04 kW",
"16.0 A", "230 V", "12.35 kWh". Through the whole integration over 127.0.0.1 with the
simulated charger; what Home Assistant stores for the display is in the entity registry.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest

from .conftest import (
    Chargers,
    ConfigEntryFactory,
    charger_subentry,
    entity_id,
    setup_entry,
    state_of,
)

# unique id suffix -> (unit shown, decimals shown)
SHOWN = {
    "power": ("kW", 2),
    "current": ("A", 1),
    "voltage": ("V", 0),
    "energy": ("kWh", 2),
    "session_energy": ("kWh", 2),
    "current_offered": ("A", 1),
    "soc": ("%", 0),
}


@pytest.mark.usefixtures("enable_all_entities")
async def test_quantities_are_shown_alike(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    entry = mock_config_entry(
        port=free_port, chargers=[charger_subentry("CP1", meter_interval=0)], id_tags=["TAG1"]
    )
    await setup_entry(hass, entry)
    cp = await chargers.connect(free_port, "CP1")
    await cp.start_transaction(1, "TAG1", authorize=False)
    chargers.clock.advance(600)
    await cp.send_meter_values(1)

    registry = er.async_get(hass)
    for key, (unit, decimals) in SHOWN.items():
        found = registry.async_get(entity_id(hass, "sensor", f"CP1_1_{key}"))
        assert found is not None, key
        options = found.options.get("sensor", {})
        assert options.get("suggested_display_precision") == decimals, key
        shown = state_of(hass, "sensor", f"CP1_1_{key}")
        assert shown.attributes["unit_of_measurement"] == unit, key
    power = state_of(hass, "sensor", "CP1_1_power")
    assert power.attributes["unit_of_measurement"] == "kW"
    assert float(power.state) == pytest.approx(cp.connector(1).power_w / 1000, abs=0.01)
