"""One rule for a charger's power: the power sensor and the solar controller give one figure.

The rule is `measurands.active_power`: the charger's phase-less Power.Active.Import or the
sum of its L1, L2, L3 readings, the newer of the two (OCPP 1.6 section 7.31 leaves open
whether a phase-less value is a sum). Power is never derived from current x voltage: a
charger sending Current.Import and Voltage only gets no power figure from them in either place.

The whole integration runs with a charger over 127.0.0.1 (`make_harness`); the controller
sees the car's power in its decision: with the grid at 0 W and no battery, the surplus is
the car's power.
"""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
import pytest

from .conftest import CHARGER, SOLAR_OPTIONS, Harness, HarnessFactory, charging, grid, ts


def _sensor_watts(harness: Harness) -> float:
    """The power sensor's state (shown in kW) in W."""
    return float(harness.state("sensor", f"{CHARGER}_1_power")) * 1000


async def _controller_watts(harness: Harness, freezer: FrozenDateTimeFactory) -> float:
    """The car's power the controller counted in one step (surplus with the grid at 0 W)."""
    await harness.tick(freezer)
    decision = harness.control.decision
    assert decision is not None
    assert decision.surplus is not None
    return decision.surplus


async def test_sensor_and_controller_agree_on_the_power(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, 0)
    harness = await make_harness([Platform.SENSOR], charger=SOLAR_OPTIONS)
    await charging(harness)

    # Per-phase power only: the sum of the phases.
    phases = {"Power.Active.Import@L1": 1000, "Power.Active.Import@L2": 1100}
    await harness.meter(1, {**phases, "Power.Active.Import@L3": 1200}, when=ts(1))
    assert _sensor_watts(harness) == pytest.approx(3300)
    assert await _controller_watts(harness, freezer) == pytest.approx(3300)

    # The total only, newer than the phases: the total.
    await harness.meter(1, {"Power.Active.Import": 2500}, when=ts(2))
    assert _sensor_watts(harness) == pytest.approx(2500)
    assert await _controller_watts(harness, freezer) == pytest.approx(2500)

    # Phases only again: the older total no longer stands for the charger's power.
    phases = {"Power.Active.Import@L1": 800, "Power.Active.Import@L2": 900}
    await harness.meter(1, {**phases, "Power.Active.Import@L3": 1000}, when=ts(3))
    assert _sensor_watts(harness) == pytest.approx(2700)
    assert await _controller_watts(harness, freezer) == pytest.approx(2700)

    # Total and phases in one MeterValues: the total (it may be their sum or not).
    await harness.meter(1, {"Power.Active.Import": 2000, "Power.Active.Import@L1": 700}, when=ts(4))
    assert _sensor_watts(harness) == pytest.approx(2000)
    assert await _controller_watts(harness, freezer) == pytest.approx(2000)


async def test_current_and_voltage_make_no_power_figure(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, 0)
    harness = await make_harness([Platform.SENSOR], charger=SOLAR_OPTIONS)
    await charging(harness)

    await harness.meter(1, {"Current.Import": 10, "Voltage": 230}, when=ts(1))

    # Both keep the power the charger last gave (none sent: the session's start value),
    # not 10 A x 230 V.
    assert harness.state("sensor", f"{CHARGER}_1_current") == "10.0"
    shown = _sensor_watts(harness)
    assert shown != pytest.approx(2300)
    assert await _controller_watts(harness, freezer) == pytest.approx(shown)
