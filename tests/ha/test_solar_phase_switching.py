"""A charger that can switch phases, on no circuit, follows the surplus with its phases.

OCPP 1.6 lets a schedule period name the phases a charger may use (numberPhases, sections
7.13 and 7.14) for chargers reporting ConnectorSwitch3to1PhaseSupported (section 9.4.4).
Its own solar controller uses the rule circuits use (`protocol.load.phase_switch`): one
phase when the surplus cannot carry three at the minimum current (3 x 6 A x 230 V), three
again once it can plus the hysteresis, never sooner than 300 s after the last switch; the
`phase_mode` select (1 or 3) overrides it at once. A charger that cannot switch gets no
numberPhases (the solar tests keep covering it).
"""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant

from .conftest import CHARGER, SOLAR_OPTIONS, Harness, HarnessFactory, grid


def last_schedule(harness: Harness) -> tuple[float, int | None]:
    """The limit and numberPhases of the last SetChargingProfile sent."""
    profiles = [p for action, p in harness.link.calls if action == "SetChargingProfile"]
    period: dict[str, Any] = profiles[-1]["csChargingProfiles"]["chargingSchedule"][
        "chargingSchedulePeriod"
    ][0]
    return period["limit"], period.get("numberPhases")


async def switching_charger(make_harness: HarnessFactory) -> Harness:
    harness = await make_harness([Platform.SELECT], charger={**SOLAR_OPTIONS, "phases": 3})
    harness.link.configuration["ConnectorSwitch3to1PhaseSupported"] = "true"
    await harness.boot(connectors=1)
    await harness.start(1, "TAG-1", 1000)
    harness.limiter.min_interval = 0.0
    return harness


async def test_one_phase_on_little_sun_three_again_after_the_interval(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -2300)  # 2.3 kW exported: less than three phases take at 6 A (4.14 kW)
    harness = await switching_charger(make_harness)
    await harness.tick(freezer)  # the first step learns the surplus, on three phases
    await harness.tick(freezer)
    assert last_schedule(harness) == (10.0, 1)  # 2300 W on one phase at 230 V
    assert harness.control.phase_switch.phases == 1
    select = harness.entity_id("select", f"{CHARGER}_phase_mode")
    state = hass.states.get(select)
    assert state is not None
    assert (state.state, state.attributes["phases"]) == ("auto", 1)

    grid(hass, -4600)  # more sun: with the car's 2.3 kW, 6.9 kW would carry three phases
    await harness.tick(freezer)
    assert harness.control.phase_switch.phases == 1  # not within 300 s of the last switch
    await harness.tick(freezer, 301)
    await harness.tick(freezer)
    limit, phases = last_schedule(harness)
    assert phases == 3
    assert 6.0 <= limit <= 16.0  # at least the minimum on each of the three phases
    assert harness.control.phase_switch.switches == 2


async def test_the_phase_mode_select_overrides_at_once(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -2300)
    harness = await switching_charger(make_harness)
    await harness.tick(freezer)
    select = harness.entity_id("select", f"{CHARGER}_phase_mode")
    await hass.services.async_call(
        "select", "select_option", {"entity_id": select, "option": "3"}, blocking=True
    )
    await hass.async_block_till_done()
    await harness.tick(freezer)
    assert harness.control.phase_switch.phases == 3
    assert last_schedule(harness)[1] == 3


async def test_a_charger_that_cannot_switch_gets_no_number_of_phases(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -2300)
    harness = await make_harness([Platform.SELECT], charger=SOLAR_OPTIONS)
    await harness.boot(connectors=1)
    await harness.start(1, "TAG-1", 1000)
    harness.limiter.min_interval = 0.0
    await harness.tick(freezer)
    await harness.tick(freezer)
    sent = [p for action, p in harness.link.calls if action == "SetChargingProfile"]
    assert sent
    for profile in sent:
        periods = profile["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"]
        assert "numberPhases" not in periods[0]
    assert hass.states.get(f"select.{CHARGER.lower()}_phase_mode") is None
