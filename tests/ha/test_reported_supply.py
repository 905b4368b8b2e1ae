"""W <-> A with the voltage and phases a connector reports (`measurands.reported_supply`).

OCPP 1.6 sections 7.31 (Voltage, Current.Import) and 7.34 (phase L1-N.., L1..): what the
charger reports in its MeterValues (section 4.7) wins over the configured voltage and
phases, which stand in while it reports none. The whole integration runs with a charger
over 127.0.0.1 (`make_harness`).
"""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant

from custom_components.ocpp_central.surplus_controller import ControllerState

from .conftest import SOLAR_OPTIONS, Harness, HarnessFactory, charging, grid

# Configured as a three-phase charger on 230 V: the charger reports otherwise.
THREE_PHASE_OPTIONS = {**SOLAR_OPTIONS, "phases": 3, "voltage": 230}


def _schedule_periods(harness: Harness) -> list[dict[str, Any]]:
    return [
        p["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]
        for action, p in harness.link.calls
        if action == "SetChargingProfile"
    ]


async def test_solar_target_follows_the_reported_single_phase_at_240_v(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -2400)
    harness = await make_harness([], charger=THREE_PHASE_OPTIONS)
    await charging(harness)
    # One phase at 240 V (Voltage.L1-N), no power drawn yet.
    await harness.meter(1, {"Voltage@L1-N": 240, "Power.Active.Import": 0})

    await harness.tick(freezer)

    # 2400 W / (240 V x 1 phase) = 10 A; the configured 3 x 230 V would give 3.5 A,
    # below the 6 A minimum (no charging).
    assert harness.profiles() == [10]
    decision = harness.control.decision
    assert decision is not None
    assert decision.state is ControllerState.CHARGING
    assert decision.available == 10


async def test_solar_falls_back_to_the_configured_supply(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -4830)
    harness = await make_harness([], charger=THREE_PHASE_OPTIONS)
    await charging(harness)
    await harness.meter(1, {"Power.Active.Import": 0})  # no voltage, no phase

    await harness.tick(freezer)

    # 4830 W / (230 V x 3 phases) = 7 A.
    assert harness.profiles() == [7]


async def test_solar_uses_the_mean_of_three_reported_phase_voltages(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -8532)
    harness = await make_harness([], charger={**SOLAR_OPTIONS, "phases": 1})
    await charging(harness)
    # Plain L1..L3 (no -N): configured as one phase, the charger shows three at 237 V.
    await harness.meter(
        1, {"Voltage@L1": 235, "Voltage@L2": 237, "Voltage@L3": 239, "Power.Active.Import": 0}
    )

    await harness.tick(freezer)

    # 8532 W / (237 V x 3) = 12 A.
    assert harness.profiles() == [12]


async def test_a_watt_only_charger_gets_amps_times_reported_volts_and_phases(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    harness = await make_harness([])
    harness.link.configuration["ChargingScheduleAllowedChargingRateUnit"] = "Power"
    await harness.boot(connectors=1)
    await harness.meter(1, {"Voltage@L1-N": 240, "Current.Import@L1": 0})

    await harness.limiter.set_limit(1, 10)
    await hass.async_block_till_done()

    # Section 7.12: W = 10 A x 240 V x 1 phase (not the nominal 230 V, not 3 phases).
    period = _schedule_periods(harness)[-1]
    assert period["limit"] == 2400
    assert period["numberPhases"] == 1
    assert harness.session.state.connector(1).current_limit == 10


async def test_a_watt_only_charger_uses_connector_0_voltage_and_nominal_without_any(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    harness = await make_harness([])
    harness.link.configuration["ChargingScheduleAllowedChargingRateUnit"] = "Power"
    await harness.boot(connectors=1)

    await harness.limiter.set_limit(1, 10)
    await hass.async_block_till_done()
    # Nothing reported: 230 V nominal x 3 phases (section 7.12's default).
    assert _schedule_periods(harness)[-1]["limit"] == 6900

    # The charger's own meter (connector 0) reports 2 phases at 220 V.
    await harness.meter(0, {"Voltage@L1-N": 220, "Voltage@L2-N": 220})
    await harness.limiter.set_limit(1, 8)
    await hass.async_block_till_done()
    period = _schedule_periods(harness)[-1]
    assert (period["limit"], period["numberPhases"]) == (8 * 220 * 2, 2)
