"""The solar surplus controller on recorded-style time series: clouds, a kettle, sunset, noise.

A small model of a house closes the loop: the grid meter shows house load + car - PV,
the car draws what the controller allowed at the previous step, and the charger reports
the car's power in its meter values every 30 s (so the reading is often older than the
last change). Everything is deterministic (seeded noise, simulated time, bounded length).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
import random

import pytest

from custom_components.ocpp_central.surplus_controller import (
    BatteryPriority,
    ChargingMode,
    ChargingPower,
    ControllerState,
    Decision,
    Reason,
    Sample,
    SolarSettings,
    SurplusController,
)

SETTINGS = SolarSettings(
    phases=1,
    voltage=230.0,
    min_current=6.0,
    max_current=16.0,
    start_delay=60.0,
    stop_delay=300.0,
    hysteresis=200.0,
    period=30.0,
)
SAMPLE_EVERY = 5.0  # s between grid meter readings
METER_EVERY = 30.0  # s between the charger's MeterValues


@dataclass
class Run:
    """The decisions of a simulated run, with the time of each."""

    decisions: list[tuple[float, Decision]] = field(default_factory=list)

    @property
    def targets(self) -> list[float]:
        return [d.target for _t, d in self.decisions]

    def changes(self, start: float = 0.0) -> int:
        """How often the target changed (a profile sent each time)."""
        targets = [d.target for t, d in self.decisions if t >= start]
        return sum(1 for a, b in pairwise(targets) if a != b)

    def times_of(self, predicate: Callable[[Decision], bool]) -> list[float]:
        return [t for t, d in self.decisions if predicate(d)]

    def pauses(self) -> list[float]:
        """Times the car was paused after charging."""
        out = []
        for (_, a), (t, b) in pairwise(self.decisions):
            if a.target > 0 and b.target == 0:
                out.append(t)
        return out

    def starts(self) -> list[float]:
        out = []
        for (_, a), (t, b) in pairwise(self.decisions):
            if a.target == 0 and b.target > 0:
                out.append(t)
        if self.decisions and self.decisions[0][1].target > 0:
            out.insert(0, self.decisions[0][0])
        return out


def simulate(
    pv: Callable[[float], float],
    house: Callable[[float], float],
    *,
    duration: float,
    settings: SolarSettings = SETTINGS,
    mode: ChargingMode = ChargingMode.SOLAR,
    noise: float = 0.0,
    seed: int = 1,
) -> Run:
    """Run the controller against the house model for `duration` seconds."""
    assert duration <= 6 * 3600  # bounded
    rng = random.Random(seed)
    controller = SurplusController(settings, mode)
    car = 0.0  # W the car draws now
    reading: ChargingPower | None = None
    run = Run()
    t = 0.0
    while t <= duration:
        grid = house(t) + car - pv(t) + rng.uniform(-noise, noise)
        controller.add_sample(Sample(t, grid))
        if t % METER_EVERY == 0:
            reading = ChargingPower(car, t)
        if t > 0 and t % settings.period == 0:
            decision = controller.step(t, reading)
            run.decisions.append((t, decision))
            car = decision.target * settings.watts_per_amp
        t += SAMPLE_EVERY
    return run


def constant(value: float) -> Callable[[float], float]:
    return lambda _t: value


def assert_within_limits(run: Run, settings: SolarSettings = SETTINGS) -> None:
    for target in run.targets:
        assert target == 0 or settings.min_current <= target <= settings.max_current
        assert target == int(target)  # whole amperes


# --------------------------------------------------------------------- time series


def test_noisy_steady_sun_never_oscillates() -> None:
    # 2.8 kW of PV, 300 W of house load, +-150 W of noise on the meter.
    run = simulate(constant(2800), constant(300), duration=3600, noise=150)
    assert_within_limits(run)
    assert run.starts() == [90.0]  # surplus from the start, plus the 60 s start delay
    # 2500 W / 230 V = 10.9 A: it settles on 10 A and stays there.
    assert run.targets[-1] == 10
    assert run.changes(start=120) == 0
    assert run.pauses() == []


def test_clouds_passing_hold_the_charge_without_pausing() -> None:
    def pv(t: float) -> float:
        # A cloud every 10 minutes, 90 s long, PV down to 700 W.
        return 700.0 if t % 600 >= 500 and t % 600 < 590 else 3500.0

    run = simulate(pv, constant(400), duration=3600, noise=60, seed=7)
    assert_within_limits(run)
    assert len(run.starts()) == 1
    assert run.pauses() == []  # 90 s clouds are shorter than the 300 s stop delay
    # During each cloud the car drops to the minimum and waits (stop delay) ...
    in_cloud = run.times_of(lambda d: d.state is ControllerState.STOP_DELAY)
    assert in_cloud
    assert all(t % 600 >= 500 for t in in_cloud)
    assert all(d.target == 6 for t, d in run.decisions if t in in_cloud)
    # ... and goes back up after it: 3100 W / 230 V = 13.5 A.
    assert max(run.targets) == 13
    # Bounded profiles: a few changes per cloud, not one per sample.
    assert run.changes() <= 2 + 3 * 6


def test_a_kettle_lowers_the_current_but_does_not_pause() -> None:
    def house(t: float) -> float:
        return 300.0 + (2000.0 if 900 <= t < 1080 else 0.0)  # 3 minutes of kettle

    run = simulate(constant(3500), house, duration=1800, noise=40, seed=3)
    assert_within_limits(run)
    before = [d.target for t, d in run.decisions if 600 <= t < 900]
    during = [d.target for t, d in run.decisions if 930 <= t < 1080]
    after = [d.target for t, d in run.decisions if t >= 1200]
    assert set(before) == {13}  # 3200 W / 230 V
    assert set(during) == {6}  # 1200 W of surplus is under the minimum: minimum, waiting
    assert set(after) == {13}
    assert run.pauses() == []
    assert run.changes() == 3  # up once at the start, down, up again


def test_sunset_steps_down_then_pauses_after_the_stop_delay() -> None:
    def pv(t: float) -> float:
        return max(0.0, 4500.0 * (1 - t / 7200))  # to nothing in two hours

    run = simulate(pv, constant(300), duration=3 * 3600, noise=50, seed=11)
    assert_within_limits(run)
    charging = [d.target for _t, d in run.decisions if d.target > 0]
    # The current only goes down (no oscillation while the sun sets).
    assert all(b <= a for a, b in pairwise(charging[3:]))
    assert charging[-1] == 6
    [paused_at] = run.pauses()
    stop_delay_started = min(run.times_of(lambda d: d.state is ControllerState.STOP_DELAY))
    # Paused exactly when the stop delay has run out (at the step that reaches it).
    assert paused_at - stop_delay_started == SETTINGS.stop_delay
    assert len(run.starts()) == 1  # never resumed in the dark
    last = run.decisions[-1][1]
    assert last.state is ControllerState.WAITING_FOR_SURPLUS
    assert last.reason is Reason.SURPLUS_BELOW_MINIMUM


def test_morning_resumes_only_after_the_start_delay() -> None:
    def pv(t: float) -> float:
        return 0.0 if t < 600 else 3000.0

    run = simulate(pv, constant(300), duration=1200)
    assert run.targets[: 600 // 30 - 1] == [0] * (600 // 30 - 1)
    waiting = run.times_of(lambda d: d.state is ControllerState.START_DELAY)
    [started] = run.starts()
    assert started - min(waiting) == SETTINGS.start_delay
    assert all(d.reason is Reason.SURPLUS_ABOVE_MINIMUM for t, d in run.decisions if t in waiting)


def test_max_current_caps_a_big_surplus() -> None:
    run = simulate(constant(9000), constant(200), duration=600)
    assert max(run.targets) == 16
    assert run.decisions[-1][1].reason is Reason.MAXIMUM_CURRENT


def test_three_phases_need_three_times_the_surplus() -> None:
    settings = SolarSettings(phases=3, start_delay=0, period=30)
    # 3 kW is 4.3 A on three phases: never enough to start.
    run = simulate(constant(3300), constant(300), duration=900, settings=settings)
    assert set(run.targets) == {0}
    # 6 kW is 8.7 A per phase.
    run = simulate(constant(6300), constant(300), duration=900, settings=settings)
    assert run.targets[-1] == 8


# --------------------------------------------------------------------- modes


def test_min_solar_charges_at_least_the_minimum() -> None:
    run = simulate(constant(500), constant(300), duration=600, mode=ChargingMode.MIN_SOLAR)
    assert set(run.targets) == {6}
    assert run.decisions[-1][1].reason is Reason.MINIMUM_CURRENT
    run = simulate(constant(3500), constant(300), duration=600, mode=ChargingMode.MIN_SOLAR)
    assert run.targets[-1] == 13
    assert run.decisions[-1][1].reason is Reason.SURPLUS


@pytest.mark.parametrize(
    ("mode", "target", "state", "reason"),
    [
        (ChargingMode.OFF, 0, ControllerState.OFF, Reason.MODE_OFF),
        (ChargingMode.FAST, 16, ControllerState.FAST, Reason.MODE_FAST),
    ],
)
def test_off_and_fast_ignore_the_surplus(
    mode: ChargingMode, target: float, state: ControllerState, reason: Reason
) -> None:
    run = simulate(constant(3000), constant(300), duration=300, mode=mode)
    assert set(run.targets) == {target}
    assert {(d.state, d.reason) for _t, d in run.decisions} == {(state, reason)}


def test_mode_switch_restarts_the_delays() -> None:
    controller = SurplusController(SETTINGS, ChargingMode.FAST)
    controller.add_sample(Sample(0, -3000))
    assert controller.step(30).target == 16
    controller.set_mode(ChargingMode.SOLAR)
    # Charging at 16 A, the grid now shows 3000 W of export with the car drawing 3680 W.
    decision = controller.step(60, ChargingPower(3680, 55))
    assert decision.state is ControllerState.CHARGING
    assert decision.target == 16  # 6680 W of surplus: 29 A available, capped
    controller.set_mode(ChargingMode.OFF)
    assert controller.step(90).target == 0


# --------------------------------------------------------------------- inputs


def test_grid_sign_option() -> None:
    settings = SolarSettings(phases=1, start_delay=0, grid_export_positive=True)
    controller = SurplusController(settings)
    controller.add_sample(Sample(0, 2300))  # export, reported positive
    decision = controller.step(30)
    assert decision.surplus == pytest.approx(2300)
    assert decision.target == 10


@pytest.mark.parametrize(
    ("priority", "charge_positive", "battery", "expected"),
    [
        # Battery charging at 1 kW (HA convention: negative), 500 W exported.
        (BatteryPriority.BATTERY, False, -1000.0, 500.0),
        (BatteryPriority.CAR, False, -1000.0, 1500.0),
        # The same with a sensor that reports charging as positive.
        (BatteryPriority.CAR, True, 1000.0, 1500.0),
        # Battery discharging 800 W: never surplus for the car.
        (BatteryPriority.BATTERY, False, 800.0, -300.0),
        (BatteryPriority.CAR, False, 800.0, -300.0),
    ],
)
def test_battery_priority(
    priority: BatteryPriority, charge_positive: bool, battery: float, expected: float
) -> None:
    settings = SolarSettings(
        phases=1, battery_priority=priority, battery_charge_positive=charge_positive
    )
    controller = SurplusController(settings)
    controller.add_sample(Sample(0, -500, battery))
    assert controller.step(30, ChargingPower(0, 0)).surplus == pytest.approx(expected)


def test_grid_mean_is_time_weighted() -> None:
    controller = SurplusController(SolarSettings(phases=1))  # in its start delay: paused
    controller.add_sample(Sample(0, -1000))
    controller.add_sample(Sample(20, -4000))  # 20 s at 1000 W, 10 s at 4000 W
    assert controller.step(30, ChargingPower(0, 0)).surplus == pytest.approx(2000)
    # No new sample: the last value holds for the whole next period.
    assert controller.step(60, ChargingPower(0, 0)).surplus == pytest.approx(4000)


def test_stale_car_reading_is_replaced_by_the_commanded_power() -> None:
    controller = SurplusController(SolarSettings(phases=1, start_delay=0), target=6)
    controller.add_sample(Sample(0, -2300))  # 10 A exported with the car at 6 A
    first = controller.step(30, ChargingPower(1380, 25))
    assert first.target == 16  # 3680 W: 16 A
    # The grid already shows the car at 16 A; its meter value is from before the change.
    controller.add_sample(Sample(35, 0))
    second = controller.step(60, ChargingPower(1380, 28))
    assert second.surplus == pytest.approx(3680)
    assert second.target == 16


def test_unavailable_grid_sensor() -> None:
    controller = SurplusController(SETTINGS, target=10)
    controller.add_sample(Sample(0, None))
    decision = controller.step(30)
    assert (decision.state, decision.reason) == (ControllerState.STOP_DELAY, Reason.NO_GRID_POWER)
    assert decision.target == 6
    later = [controller.step(30 + 30 * n) for n in range(1, 11)]
    assert later[-1].target == 0
    assert later[-1].state is ControllerState.WAITING_FOR_SURPLUS
    min_solar = SurplusController(SETTINGS, ChargingMode.MIN_SOLAR)
    assert min_solar.step(30).target == 6
    assert min_solar.step(60).reason is Reason.NO_GRID_POWER


def test_out_of_order_samples_are_ignored() -> None:
    controller = SurplusController(SolarSettings(phases=1))
    controller.add_sample(Sample(10, -2300))
    controller.add_sample(Sample(5, 5000))
    assert controller.step(30, ChargingPower(0, 0)).surplus == pytest.approx(2300)


@pytest.mark.parametrize(
    "options",
    [
        {"phases": 4},
        {"min_current": 0},
        {"min_current": 20, "max_current": 16},
        {"voltage": 0},
        {"stop_delay": -1},
    ],
)
def test_bad_settings_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|required|cannot"):
        SolarSettings.from_options(options)


def test_settings_from_options() -> None:
    settings = SolarSettings.from_options(
        {
            "phases": "1",
            "min_current": 7,
            "max_current": 20,
            "start_delay": 30,
            "stop_delay": 600,
            "hysteresis": 100,
            "grid_export_positive": True,
            "battery_priority": "car",
        }
    )
    assert settings == SolarSettings(
        phases=1,
        min_current=7,
        max_current=20,
        start_delay=30,
        stop_delay=600,
        hysteresis=100,
        grid_export_positive=True,
        battery_priority=BatteryPriority.CAR,
    )
    assert SolarSettings.from_options({}) == SolarSettings()
