"""The charging_mode select: one per charger with a solar controller, restored after a restart."""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.select import (
    ATTR_OPTION,
    ATTR_OPTIONS,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.const import ATTR_ENTITY_ID, ATTR_FRIENDLY_NAME, STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import mock_restore_cache

from custom_components.ocpp_central.surplus_controller import ChargingMode

from .conftest import CHARGER, SOLAR_OPTIONS, HarnessFactory, charging, grid

UNIQUE_ID = f"{CHARGER}_charging_mode"
RESTORED_ID = "select.cp_1_charging_mode"


def entity_id(hass: HomeAssistant) -> str | None:
    return er.async_get(hass).async_get_entity_id(SELECT_DOMAIN, "ocpp_central", UNIQUE_ID)


async def test_charging_mode_select(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, 1000)  # importing: no surplus
    harness = await make_harness([Platform.SELECT], charger=SOLAR_OPTIONS)
    await charging(harness)
    select = entity_id(hass)
    assert select is not None
    state = hass.states.get(select)
    assert state is not None
    assert state.state == "solar"
    assert state.attributes[ATTR_OPTIONS] == ["off", "fast", "solar", "min_solar"]
    assert state.attributes[ATTR_FRIENDLY_NAME] == "CP-1 Charging mode"

    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: select, ATTR_OPTION: "fast"},
        blocking=True,
    )
    await hass.async_block_till_done()

    assert harness.control.mode is ChargingMode.FAST
    assert hass.states.get(select).state == "fast"  # type: ignore[union-attr]
    # Fast charges at the maximum at once (OCPP 1.6 section 5.16 SetChargingProfile).
    assert harness.profiles() == [16]

    # A change made elsewhere (the runtime, a service) shows in the select.
    harness.control.async_set_mode(ChargingMode.MIN_SOLAR)
    await hass.async_block_till_done()
    assert hass.states.get(select).state == "min_solar"  # type: ignore[union-attr]


async def test_mode_is_restored_after_a_restart(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    mock_restore_cache(hass, [State(RESTORED_ID, "min_solar")])
    harness = await make_harness([Platform.SELECT], charger=SOLAR_OPTIONS)
    select = entity_id(hass)
    assert select == RESTORED_ID
    assert harness.control.mode is ChargingMode.MIN_SOLAR
    assert hass.states.get(select).state == "min_solar"  # type: ignore[union-attr]


async def test_an_unknown_restored_state_keeps_the_default(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    mock_restore_cache(hass, [State(RESTORED_ID, "turbo")])
    harness = await make_harness([Platform.SELECT], charger=SOLAR_OPTIONS)
    assert harness.control.mode is ChargingMode.SOLAR


async def test_select_appears_once_a_grid_sensor_is_configured(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    harness = await make_harness([Platform.SELECT], charger={"max_current": 16})
    assert entity_id(hass) is None

    harness.control.async_update_options(SOLAR_OPTIONS)
    await hass.async_block_till_done()
    select = entity_id(hass)
    assert select is not None
    assert hass.states.get(select).state == "solar"  # type: ignore[union-attr]

    # Removing the sensor again leaves the select unavailable rather than lying.
    harness.control.async_update_options({"max_current": 16})
    await hass.async_block_till_done()
    assert hass.states.get(select).state == STATE_UNAVAILABLE  # type: ignore[union-attr]


async def test_select_available_while_the_charger_is_offline(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    await make_harness([Platform.SELECT], charger=SOLAR_OPTIONS)
    select = entity_id(hass)
    assert select is not None
    assert hass.states.get(select).state == "solar"  # type: ignore[union-attr]
