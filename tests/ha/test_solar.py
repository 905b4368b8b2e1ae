"""The solar surplus controller inside Home Assistant: sensor states in, charging profiles out.

The whole integration runs (server, runtime, current limiter, controller) with a charger
over 127.0.0.1 that records our CALLs and answers them (`make_harness`); the grid and
battery sensors are plain states set with `hass.states.async_set`; time moves with the
freezer.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
import shutil

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.ocpp_central.solar_charging import SolarCharging, power_of
from custom_components.ocpp_central.surplus_controller import (
    ChargingMode,
    ControllerState,
    Reason,
)

from .conftest import BATTERY, CHARGER, GRID, SOLAR_OPTIONS, HarnessFactory, charging, grid


async def test_surplus_becomes_a_charging_profile(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -2300)  # 2.3 kW exported before the controller starts
    harness = await make_harness([], charger=SOLAR_OPTIONS)
    await charging(harness)

    await harness.tick(freezer)

    # 2300 W / 230 V on one phase: 10 A, in a TxDefaultProfile (OCPP 1.6 section 3.13.1).
    assert harness.profiles() == [10]
    assert harness.session.state.connector(1).current_limit == 10
    decision = harness.control.decision
    assert decision is not None
    assert (decision.state, decision.reason) == (ControllerState.CHARGING, Reason.SURPLUS)

    # The same surplus next period (the car now draws the 10 A): nothing new is sent.
    await harness.meter(1, {"Power.Active.Import": 2300})
    grid(hass, 0)
    await harness.tick(freezer)
    assert harness.profiles() == [10]

    # Clouds: the car's 2300 W now come half from the grid; the limit goes down.
    grid(hass, 1150)
    await harness.tick(freezer)
    assert harness.profiles() == [10, 6]


async def test_power_in_kilowatts_and_battery_priority(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -0.46, "kW")
    hass.states.async_set(BATTERY, "-2300", {"unit_of_measurement": "W"})  # charging 2.3 kW
    options = {**SOLAR_OPTIONS, "battery_power_entity": BATTERY, "battery_priority": "car"}
    harness = await make_harness([], charger=options)
    await charging(harness)
    await harness.meter(1, {"Power.Active.Import": 0})

    await harness.tick(freezer)

    # The car comes first: 460 W exported + 2300 W into the battery = 12 A.
    assert harness.profiles() == [12]


async def test_no_surplus_pauses_after_the_stop_delay(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -3000)
    harness = await make_harness([], charger=SOLAR_OPTIONS)
    await charging(harness)
    await harness.tick(freezer)
    assert harness.profiles() == [13]

    grid(hass, "unavailable")
    await harness.tick(freezer)
    decision = harness.control.decision
    assert decision is not None
    assert (decision.state, decision.reason) == (ControllerState.STOP_DELAY, Reason.NO_GRID_POWER)
    await harness.tick(freezer)
    await harness.tick(freezer)

    # 60 s of stop delay: the minimum meanwhile, then a pause (a limit of 0 A).
    assert harness.profiles() == [13, 6, 0]
    assert harness.session.state.connector(1).current_limit == 0


async def test_mode_change_acts_at_once(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, 500)
    harness = await make_harness([], charger=SOLAR_OPTIONS)
    await charging(harness)

    harness.control.async_set_mode(ChargingMode.FAST)
    await hass.async_block_till_done()
    assert harness.profiles() == [16]

    harness.control.async_set_mode(ChargingMode.OFF)
    await hass.async_block_till_done()
    assert harness.profiles() == [16, 0]


async def test_nothing_is_sent_to_a_disconnected_charger(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -3000)
    harness = await make_harness([], charger=SOLAR_OPTIONS)
    await harness.tick(freezer)
    assert harness.profiles() == []
    assert harness.control.decision is not None


async def test_a_refusing_charger_is_reported_not_fatal(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -3000)
    harness = await make_harness([], charger=SOLAR_OPTIONS)
    harness.link.replies["SetChargingProfile"] = {"status": "Rejected"}
    await charging(harness)

    await harness.tick(freezer)

    assert harness.control.last_error is not None
    assert "refused" in harness.control.last_error
    assert harness.session.state.connector(1).current_limit is None
    # The next period tries again (the refusals are remembered per connection).
    harness.link.replies.pop("SetChargingProfile")
    await harness.disconnect()
    await charging(harness)
    await harness.meter(1, {"Power.Active.Import": 0})  # the car draws nothing meanwhile
    await harness.tick(freezer)
    control: SolarCharging = harness.control  # mypy: the tick changed it
    assert control.last_error is None
    assert harness.session.state.connector(1).current_limit == 13


async def test_without_a_grid_sensor_the_controller_does_nothing(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    harness = await make_harness([], charger={"max_current": 16})
    await charging(harness)
    await harness.tick(freezer)
    assert not harness.control.configured
    assert harness.control.decision is None
    assert harness.profiles() == []

    # Configured later (the charger's options changed): it starts.
    grid(hass, -2300)
    harness.control.async_update_options(SOLAR_OPTIONS)
    await harness.tick(freezer)
    assert harness.profiles() == [10]


async def test_the_control_period_drives_the_controller(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -2300)
    options = {**SOLAR_OPTIONS, "control_period": 30}
    harness = await make_harness([], charger=options)
    await charging(harness)
    freezer.tick(timedelta(seconds=31))
    async_fire_time_changed(hass)
    # The period's step runs as a background task; its limit goes over the socket.
    await hass.async_block_till_done(wait_background_tasks=True)
    assert harness.profiles() == [10]


@pytest.mark.parametrize(
    ("state", "attributes", "expected"),
    [
        ("1500", {"unit_of_measurement": "W"}, 1500.0),
        ("1.5", {"unit_of_measurement": "kW"}, 1500.0),
        ("-2", {}, -2.0),
        ("unknown", {}, None),
        ("abc", {}, None),
        ("5", {"unit_of_measurement": "A"}, None),
    ],
)
async def test_power_of_sensor_states(
    hass: HomeAssistant, state: str, attributes: dict[str, str], expected: float | None
) -> None:
    hass.states.async_set(GRID, state, attributes)
    assert power_of(hass.states.get(GRID)) == expected
    assert power_of(None) is None


BLUEPRINT = (
    Path(__file__).parents[2]
    / "blueprints"
    / "automation"
    / "ocpp_central"
    / "charge_from_solar_surplus.yaml"
)


async def test_blueprint_sets_the_current_limit_from_surplus(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    """The blueprint drives the current_limit number; the built-in controller stays off."""
    target = Path(hass.config.path("blueprints/automation/ocpp_central"))
    await hass.async_add_executor_job(_copy, BLUEPRINT, target)
    grid(hass, 0)
    harness = await make_harness([Platform.NUMBER], charger={})
    await charging(harness)
    # Paused at 0 A before (a never-limited charger shows its maximum instead).
    assert await harness.limiter.set_limit(1, 0) == 0
    harness.link.calls.clear()
    limit = er.async_get(hass).async_get_entity_id(
        "number", "ocpp_central", f"{CHARGER}_1_current_limit"
    )
    assert limit is not None
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "use_blueprint": {
                    "path": "ocpp_central/charge_from_solar_surplus.yaml",
                    "input": {
                        "grid_power_sensor": GRID,
                        "current_limit": limit,
                        "phases": "1",
                        "period": 10,
                    },
                }
            }
        },
    )
    await hass.async_block_till_done()

    grid(hass, -2300)  # 10 A exported
    await hass.async_block_till_done()
    assert harness.profiles() == [10]
    assert hass.states.get(limit).state == "10.0"  # type: ignore[union-attr]

    # Within the period further changes are dropped; after it the next one counts.
    grid(hass, -1150)
    await hass.async_block_till_done()
    assert harness.profiles() == [10]
    freezer.tick(timedelta(seconds=11))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    grid(hass, 1150)  # the car's 2300 W now half from the grid: 5 A, below the minimum
    await hass.async_block_till_done()
    assert harness.profiles() == [10, 0]


def _copy(source: Path, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, directory / source.name)
