"""The solar surplus controller inside Home Assistant: sensor states in, charging profiles out.

The charger side is the real `ChargerSession` and `CurrentLimiter` over the entity tests'
`ChargerLink` (it records our CALLs and answers them); the grid and battery sensors are
plain states set with `hass.states.async_set`; time moves with the freezer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.hooks import MemoryHooks
from custom_components.ocpp_central.protocol.session import ChargerSession
from custom_components.ocpp_central.protocol.smart_charging import CurrentLimiter
from custom_components.ocpp_central.solar import (
    ChargingMode,
    ControllerState,
    Reason,
)
from custom_components.ocpp_central.solar_runtime import SolarCharging, power_of

from .conftest import ConfigEntryFactory, after_test, charger_subentry, load_with_runtime
from .test_entities_snapshot import ChargerLink, Harness, Runtime

CHARGER = "CP-1"
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
    # The tests step the controller themselves (`SolarHarness.tick`); one test checks
    # that the control period drives it.
    "control_period": 3600,
}


class SolarRuntime(Runtime):
    """The entity tests' runtime with the solar controllers the runtime keeps."""

    def __init__(self) -> None:
        super().__init__()
        self.solar: dict[str, SolarCharging] = {}


@dataclass
class SolarHarness(Harness):
    """The entity harness plus the charger's real limiter and solar controller."""

    limiter: CurrentLimiter
    control: SolarCharging

    def profiles(self) -> list[float]:
        """The limits of every SetChargingProfile sent, in order."""
        return [
            p["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
            for action, p in self.link.calls
            if action == "SetChargingProfile"
        ]

    async def tick(self, freezer: FrozenDateTimeFactory, seconds: float = 30) -> None:
        """Let `seconds` pass and run one control step."""
        freezer.tick(timedelta(seconds=seconds))
        await self.control.async_run()
        await self.hass.async_block_till_done()


async def start_solar_harness(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    platforms: list[Platform],
    options: dict[str, Any] | None = None,
) -> SolarHarness:
    """Load the entry with `platforms`, one charger and its running solar controller."""
    data = SOLAR_OPTIONS if options is None else options
    entry = mock_config_entry(chargers=[charger_subentry(CHARGER, **data)])
    runtime = SolarRuntime()
    session = ChargerSession(ChargerConfig(charge_box_id=CHARGER), MemoryHooks(), resync_delay=3600)
    subentry = next(iter(entry.subentries.values()))
    limiter = CurrentLimiter(session, min_interval=0.0)
    control = SolarCharging(hass, session.state, limiter, subentry.data)
    runtime.solar[CHARGER] = control
    runtime.add(subentry, session)
    runtime.limiters[CHARGER] = limiter  # type: ignore[assignment]
    entry.async_on_unload(control.async_start())
    await load_with_runtime(hass, entry, runtime, platforms)
    harness = SolarHarness(hass, entry, session, ChargerLink(), runtime, limiter, control)
    after_test(limiter.close)
    after_test(harness.disconnect)
    return harness


def charging(harness: SolarHarness) -> int:
    """Boot the charger with a car charging on connector 1; return the transaction id."""
    harness.boot(connectors=1)
    return harness.start(1, "TAG-1", 1000)


def grid(hass: HomeAssistant, watts: float | str, unit: str = "W") -> None:
    hass.states.async_set(GRID, str(watts), {"unit_of_measurement": unit})


async def test_surplus_becomes_a_charging_profile(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -2300)  # 2.3 kW exported before the controller starts
    harness = await start_solar_harness(hass, mock_config_entry, [])
    charging(harness)

    await harness.tick(freezer)

    # 2300 W / 230 V on one phase: 10 A, in a TxDefaultProfile (OCPP 1.6 section 3.13.1).
    assert harness.profiles() == [10]
    assert harness.session.state.connector(1).current_limit == 10
    decision = harness.control.decision
    assert decision is not None
    assert (decision.state, decision.reason) == (ControllerState.CHARGING, Reason.SURPLUS)

    # The same surplus next period (the car now draws the 10 A): nothing new is sent.
    harness.meter(1, {"Power.Active.Import": 2300})
    grid(hass, 0)
    await harness.tick(freezer)
    assert harness.profiles() == [10]

    # Clouds: the car's 2300 W now come half from the grid; the limit goes down.
    grid(hass, 1150)
    await harness.tick(freezer)
    assert harness.profiles() == [10, 6]


async def test_power_in_kilowatts_and_battery_priority(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -0.46, "kW")
    hass.states.async_set(BATTERY, "-2300", {"unit_of_measurement": "W"})  # charging 2.3 kW
    options = {**SOLAR_OPTIONS, "battery_power_entity": BATTERY, "battery_priority": "car"}
    harness = await start_solar_harness(hass, mock_config_entry, [], options)
    charging(harness)
    harness.meter(1, {"Power.Active.Import": 0})

    await harness.tick(freezer)

    # The car comes first: 460 W exported + 2300 W into the battery = 12 A.
    assert harness.profiles() == [12]


async def test_no_surplus_pauses_after_the_stop_delay(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -3000)
    harness = await start_solar_harness(hass, mock_config_entry, [])
    charging(harness)
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
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, 500)
    harness = await start_solar_harness(hass, mock_config_entry, [])
    charging(harness)

    harness.control.async_set_mode(ChargingMode.FAST)
    await hass.async_block_till_done()
    assert harness.profiles() == [16]

    harness.control.async_set_mode(ChargingMode.OFF)
    await hass.async_block_till_done()
    assert harness.profiles() == [16, 0]


async def test_nothing_is_sent_to_a_disconnected_charger(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -3000)
    harness = await start_solar_harness(hass, mock_config_entry, [])
    await harness.tick(freezer)
    assert harness.profiles() == []
    assert harness.control.decision is not None


async def test_a_refusing_charger_is_reported_not_fatal(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -3000)
    harness = await start_solar_harness(hass, mock_config_entry, [])
    harness.link.replies["SetChargingProfile"] = {"status": "Rejected"}
    charging(harness)

    await harness.tick(freezer)

    assert harness.control.last_error is not None
    assert "refused" in harness.control.last_error
    assert harness.session.state.connector(1).current_limit is None
    # The next period tries again (the refusals are remembered per connection).
    harness.link.replies.pop("SetChargingProfile")
    harness.disconnect()
    charging(harness)
    harness.meter(1, {"Power.Active.Import": 0})  # the car draws nothing meanwhile
    await harness.tick(freezer)
    control: SolarCharging = harness.control  # mypy: the tick changed it
    assert control.last_error is None
    assert harness.session.state.connector(1).current_limit == 13


async def test_without_a_grid_sensor_the_controller_does_nothing(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, freezer: FrozenDateTimeFactory
) -> None:
    harness = await start_solar_harness(hass, mock_config_entry, [], {"max_current": 16})
    charging(harness)
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
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -2300)
    options = {**SOLAR_OPTIONS, "control_period": 30}
    harness = await start_solar_harness(hass, mock_config_entry, [], options)
    charging(harness)
    freezer.tick(timedelta(seconds=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
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
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, freezer: FrozenDateTimeFactory
) -> None:
    """The blueprint drives the current_limit number; the built-in controller stays off."""
    target = Path(hass.config.path("blueprints/automation/ocpp_central"))
    await hass.async_add_executor_job(_copy, BLUEPRINT, target)
    grid(hass, 0)
    harness = await start_solar_harness(hass, mock_config_entry, [Platform.NUMBER], {})
    charging(harness)
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
