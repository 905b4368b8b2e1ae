"""The solar controller's sensors, and solar charging set up the way a homeowner does it.

The first tests drive the controller through the solar harness of `test_solar.py`. The
last one loads the whole integration: a charger over 127.0.0.1 websockets (the `ocpp`
package's ChargePoint), the grid sensor chosen in the charger's reconfigure form, the
mode picked on the select, and the limit the charger receives in SetChargingProfile.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.select import (
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.components.sensor import (
    ATTR_OPTIONS,
    ATTR_STATE_CLASS,
    DOMAIN as SENSOR_DOMAIN,
    SensorStateClass,
)
from homeassistant.config_entries import SOURCE_RECONFIGURE
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_ENTITY_ID,
    ATTR_FRIENDLY_NAME,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.ocpp_central.const import CONF_MAX_CURRENT, DOMAIN, SUBENTRY_CHARGER
from custom_components.ocpp_central.solar_sensors import ATTR_LAST_ERROR, ATTR_REASON
from custom_components.ocpp_central.surplus_controller import (
    CONF_CONTROL_PERIOD,
    CONF_GRID_POWER_ENTITY,
    CONF_PHASES,
    CONF_START_DELAY,
    ControllerState,
)

from .conftest import (
    CHARGER,
    GRID,
    SOLAR_OPTIONS,
    ChargerFactory,
    ConfigEntryFactory,
    Harness,
    HarnessFactory,
    OcppTestCharger,
    charger_subentry,
    charging,
    grid,
    ocpp_time,
    setup_entry,
    subentry_of,
    wait_until,
)

TARGET_ID = f"{CHARGER}_controller_target_current"
STATE_ID = f"{CHARGER}_controller_state"


def sensor_state(hass: HomeAssistant, unique_id: str) -> State:
    entity_id = er.async_get(hass).async_get_entity_id(SENSOR_DOMAIN, DOMAIN, unique_id)
    assert entity_id is not None, unique_id
    state = hass.states.get(entity_id)
    assert state is not None
    return state


async def start(
    make_harness: HarnessFactory,
    options: dict[str, Any] | None = None,
) -> Harness:
    return await make_harness(
        [Platform.SENSOR], charger=SOLAR_OPTIONS if options is None else options
    )


async def test_sensors_show_the_controller_decision(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -2300)  # 2.3 kW exported
    harness = await start(make_harness)
    await charging(harness)

    # No control step yet: nothing decided.
    target = sensor_state(hass, TARGET_ID)
    assert target.state == STATE_UNKNOWN
    assert target.attributes[ATTR_FRIENDLY_NAME] == "CP-1 Controller target current"
    assert target.attributes[ATTR_UNIT_OF_MEASUREMENT] == "A"
    assert target.attributes[ATTR_DEVICE_CLASS] == "current"
    assert target.attributes[ATTR_STATE_CLASS] == SensorStateClass.MEASUREMENT
    state = sensor_state(hass, STATE_ID)
    assert state.state == STATE_UNKNOWN
    assert state.attributes[ATTR_FRIENDLY_NAME] == "CP-1 Controller state"
    assert state.attributes[ATTR_OPTIONS] == [s.value for s in ControllerState]
    assert state.attributes[ATTR_REASON] is None

    await harness.tick(freezer)

    # 2300 W / 230 V on one phase: 10 A.
    assert sensor_state(hass, TARGET_ID).state == "10.0"
    state = sensor_state(hass, STATE_ID)
    assert state.state == "charging"
    assert state.attributes[ATTR_REASON] == "surplus"
    assert state.attributes[ATTR_LAST_ERROR] is None

    # Import: the current steps down to the minimum for the stop delay.
    await harness.meter(1, {"Power.Active.Import": 2300})
    grid(hass, 2000)
    await harness.tick(freezer)
    assert sensor_state(hass, TARGET_ID).state == "6.0"
    state = sensor_state(hass, STATE_ID)
    assert (state.state, state.attributes[ATTR_REASON]) == ("stop_delay", "surplus_below_minimum")


async def test_a_refused_limit_shows_as_last_error(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -2300)
    harness = await start(make_harness)
    harness.link.replies["SetChargingProfile"] = {"status": "Rejected"}
    await charging(harness)

    await harness.tick(freezer)

    state = sensor_state(hass, STATE_ID)
    assert state.state == "charging"  # what the controller wants, whatever the charger says
    assert "refused" in state.attributes[ATTR_LAST_ERROR]


async def test_sensors_appear_with_a_grid_sensor_and_go_unavailable_without(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    harness = await start(make_harness, {"max_current": 16})
    registry = er.async_get(hass)
    assert registry.async_get_entity_id(SENSOR_DOMAIN, DOMAIN, TARGET_ID) is None

    grid(hass, -2300)
    harness.control.async_update_options(SOLAR_OPTIONS)
    await hass.async_block_till_done()
    assert sensor_state(hass, STATE_ID).state == STATE_UNKNOWN

    harness.control.async_update_options({"max_current": 16})
    await hass.async_block_till_done()
    assert sensor_state(hass, TARGET_ID).state == STATE_UNAVAILABLE
    assert sensor_state(hass, STATE_ID).state == STATE_UNAVAILABLE


async def test_sensors_do_not_write_an_unchanged_decision(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -2300)
    harness = await start(make_harness)
    await charging(harness)
    await harness.tick(freezer)
    written = sensor_state(hass, TARGET_ID).last_reported

    await harness.meter(1, {"Power.Active.Import": 2300})
    grid(hass, 0)  # the car takes the surplus: same target, same state
    await harness.tick(freezer)

    assert sensor_state(hass, TARGET_ID).last_reported == written
    assert sensor_state(hass, STATE_ID).last_reported == written


class HeldLimiter:
    """A limiter that holds every limit back until released (as spacing limits does)."""

    def __init__(self) -> None:
        self.released = asyncio.Event()

    async def set_limit(
        self, connector_id: int, amps: float, *, phases: int | None = None
    ) -> float:
        await self.released.wait()
        return amps


async def test_the_decision_shows_while_the_limit_is_held_back(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    grid(hass, -2300)
    harness = await start(make_harness)
    await charging(harness)
    limiter = harness.control.limiter = HeldLimiter()

    step = asyncio.create_task(harness.control.async_run())
    await asyncio.sleep(0)  # the step runs up to the limiter

    assert not step.done()
    assert sensor_state(hass, TARGET_ID).state == "10.0"
    limiter.released.set()
    await step
    assert sensor_state(hass, STATE_ID).attributes[ATTR_LAST_ERROR] is None


# --- as a homeowner sets it up ----------------------------------------------------------------


async def send_power(cp: OcppTestCharger, transaction_id: int, watts: float) -> None:
    """MeterValues with the power the car draws (OCPP 1.6 section 4.7)."""
    await cp.call(
        call.MeterValues(
            connector_id=1,
            transaction_id=transaction_id,
            meter_value=[
                {
                    "timestamp": ocpp_time(dt_util.utcnow()),
                    "sampled_value": [
                        {"value": str(watts), "measurand": "Power.Active.Import", "unit": "W"}
                    ],
                }
            ],
        )
    )


def limits(cp: OcppTestCharger) -> list[float]:
    """The limit of every SetChargingProfile the charger received, in order."""
    return [
        payload["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]["limit"]
        for action, payload in cp.received
        if action == "SetChargingProfile"
    ]


async def test_solar_charging_set_up_from_the_charger_settings(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(
        port=free_port, chargers=[charger_subentry(CHARGER, max_current=16)], id_tags=["TAG-1"]
    )
    runtime = await setup_entry(hass, entry)
    # Firing the control period below also fires the timers due by then: keep call timeouts
    # later than that. The limiter's spacing of limits (10 s, real time) is not looked at here.
    runtime.central.response_timeout = 60.0
    runtime.limiters[CHARGER].min_interval = 0.0
    cp = await charger(free_port, CHARGER)
    started = await cp.start_transaction("TAG-1", meter_start=0)
    registry = er.async_get(hass)
    assert registry.async_get_entity_id(SELECT_DOMAIN, DOMAIN, f"{CHARGER}_charging_mode") is None

    # The meter shows 1380 W exported: enough for 6 A on one phase.
    hass.states.async_set(
        GRID, "-1380", {ATTR_UNIT_OF_MEASUREMENT: "W", ATTR_DEVICE_CLASS: "power"}
    )

    # The charger's settings: the grid sensor, one phase, no start delay.
    subentry = subentry_of(entry, CHARGER)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CHARGER),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry.subentry_id},
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_MAX_CURRENT: 16,
            "solar": {
                CONF_GRID_POWER_ENTITY: GRID,
                CONF_PHASES: "1",
                CONF_START_DELAY: 0,
                CONF_CONTROL_PERIOD: 10,
            },
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.runtime_data is runtime  # applied without a reload

    # The charger's device now has the Charging mode select; the homeowner picks Solar.
    select = registry.async_get_entity_id(SELECT_DOMAIN, DOMAIN, f"{CHARGER}_charging_mode")
    assert select == "select.cp_1_charging_mode"
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: select, "option": "solar"},
        blocking=True,
    )
    await wait_until(lambda: limits(cp) == [6])
    await hass.async_block_till_done()
    assert sensor_state(hass, TARGET_ID).state == "6.0"
    assert sensor_state(hass, STATE_ID).state == "charging"

    # The car draws its 6 A, and the sun comes out: 920 W more are exported.
    await send_power(cp, started.transaction_id, 1380)
    hass.states.async_set(GRID, "-920", {ATTR_UNIT_OF_MEASUREMENT: "W"})

    # At the next control period the limit goes up: (920 + 1380) W / 230 V = 10 A.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
    await wait_until(lambda: limits(cp) == [6, 10])
    await hass.async_block_till_done()
    assert sensor_state(hass, TARGET_ID).state == "10.0"
    state = sensor_state(hass, STATE_ID)
    assert (state.state, state.attributes[ATTR_REASON]) == ("charging", "surplus")
    await wait_until(
        lambda: runtime.central.sessions[CHARGER].state.connector(1).current_limit == 10
    )
    assert sensor_state(hass, STATE_ID).attributes[ATTR_LAST_ERROR] is None
