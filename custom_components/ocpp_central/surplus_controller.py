"""The solar surplus controller: how much current a car may take from surplus power, and when.

Pure and independent of Home Assistant (`solar_charging.py` runs it there): fed with
samples of the grid power (and optionally a home battery's power), stepped once per
control period, it returns a `Decision`: the target current (0 = paused), a state and
the reason for it.

Algorithm, at each step:

1. Grid power is the time-weighted mean of the samples since the last step (a sensor
   that does not change sends no new sample: its last value holds), leaving out the
   first `SETTLE_TIME` seconds after a change of the target, while the car still draws
   the old current. It is taken as import-positive (an option flips sensors that
   report export as positive).
2. Surplus = -grid power + the car's charging power + the battery term. The car's
   power is the charger's Power.Active.Import reading; while that reading predates the
   last change of the target, target x voltage x phases stands in for it (the car
   already draws the new current while the charger's meter value still tells the old).
   Battery term, with the battery's power discharge-positive (an option flips it):
   - battery priority "battery" (the home battery charges first): only discharging
     counts, negatively (the car must not drain the home battery); power going into the
     battery stays there.
   - battery priority "car": all battery power counts: what the battery would charge
     goes to the car, and its discharging still subtracts.
3. Available current = surplus / (voltage x phases), per phase as OCPP limits are
   (section 7.12 of OCPP 1.6): the voltage and phases the charger reports in its meter
   values, given to each step (`measurands.reported_supply`); the configured ones while
   it reports none.
4. The target follows the available current in whole amperes (rounded down: planning
   never imports) with a hysteresis band h = hysteresis W / (voltage x phases): it goes
   up only when the available current reaches target + 1 A + h, and down only when it
   falls below target - h. After a change the available current sits inside a band at
   least 1 A + 2h wide, so noise smaller than that never moves it back and forth.
   The target stays within [minimum, maximum] current.
5. Modes: `off` pauses (0 A); `fast` charges at the maximum; `min_solar` charges at
   least at the minimum and follows the surplus above it; `solar` charges from surplus
   only: it starts once the available current stayed at or above the minimum for the
   start delay, and pauses once it stayed below minimum - h for the stop delay
   (meanwhile it charges at the minimum). Without a grid power value, `solar` behaves as
   with no surplus and `min_solar` charges at the minimum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
import math
from typing import Any, Final

from .const import DEFAULT_MAX_CURRENT
from .protocol.load.allocation import Mode
from .protocol.measurands import Supply
from .protocol.smart_charging import MIN_CURRENT, NOMINAL_VOLTAGE

# Seconds the car takes to follow a new limit: grid power of that time after a change of
# the target is left out of the next mean (it still shows the old current).
SETTLE_TIME: Final = 10.0

# Options of a charger subentry that configure the controller.
CONF_GRID_POWER_ENTITY: Final = "grid_power_entity"
CONF_GRID_EXPORT_POSITIVE: Final = "grid_export_positive"
CONF_BATTERY_POWER_ENTITY: Final = "battery_power_entity"
CONF_BATTERY_CHARGE_POSITIVE: Final = "battery_charge_positive"
CONF_BATTERY_PRIORITY: Final = "battery_priority"
CONF_PHASES: Final = "phases"
CONF_VOLTAGE: Final = "voltage"
CONF_MIN_CURRENT: Final = "min_current"
CONF_MAX_CURRENT: Final = "max_current"  # the charger subentry's own maximum
CONF_START_DELAY: Final = "start_delay"
CONF_STOP_DELAY: Final = "stop_delay"
CONF_HYSTERESIS: Final = "hysteresis"
CONF_CONTROL_PERIOD: Final = "control_period"


# What the controller aims for (the `charging_mode` select): the one definition is load
# management's, which runs the same modes per connector on a circuit.
ChargingMode = Mode


class ControllerState(StrEnum):
    """What the controller does now (the `controller_state` sensor)."""

    OFF = "off"
    FAST = "fast"
    CHARGING = "charging"
    WAITING_FOR_SURPLUS = "waiting_for_surplus"
    START_DELAY = "start_delay"
    STOP_DELAY = "stop_delay"


class Reason(StrEnum):
    """Why the controller is in its state (an attribute of `controller_state`)."""

    MODE_OFF = "mode_off"
    MODE_FAST = "mode_fast"
    SURPLUS = "surplus"
    MINIMUM_CURRENT = "minimum_current"  # min_solar: less surplus than the minimum
    MAXIMUM_CURRENT = "maximum_current"  # more surplus than the maximum takes
    SURPLUS_ABOVE_MINIMUM = "surplus_above_minimum"
    SURPLUS_BELOW_MINIMUM = "surplus_below_minimum"
    NO_GRID_POWER = "no_grid_power"  # the grid power sensor has no value


class BatteryPriority(StrEnum):
    """Who gets the surplus first: the home battery or the car."""

    BATTERY = "battery"
    CAR = "car"


@dataclass(frozen=True, slots=True, kw_only=True)
class SolarSettings:
    """The controller's settings (the options of a charger subentry)."""

    phases: int = 3  # used while the charger reports no phases
    voltage: float = NOMINAL_VOLTAGE  # the nominal phase voltage, V; used while none reported
    min_current: float = MIN_CURRENT  # A per phase; IEC 61851 does not charge below 6 A
    max_current: float = DEFAULT_MAX_CURRENT  # the charger subentry's default maximum
    start_delay: float = 60.0  # s of enough surplus before charging starts
    stop_delay: float = 300.0  # s of too little surplus before charging pauses
    hysteresis: float = 200.0  # W
    period: float = 30.0  # s between two control steps
    grid_export_positive: bool = False  # the grid sensor reports export as positive
    battery_charge_positive: bool = False  # the battery sensor reports charging as positive
    battery_priority: BatteryPriority = BatteryPriority.BATTERY

    def __post_init__(self) -> None:
        """Refuse settings the controller cannot work with."""
        if self.phases not in (1, 2, 3):
            raise ValueError(f"phases must be 1, 2 or 3, not {self.phases}")
        if not 0 < self.min_current <= self.max_current:
            raise ValueError("0 < minimum current <= maximum current is required")
        if self.voltage <= 0 or self.period <= 0:
            raise ValueError("voltage and period must be positive")
        if min(self.start_delay, self.stop_delay, self.hysteresis) < 0:
            raise ValueError("delays and hysteresis cannot be negative")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SolarSettings:
        """Read the settings from a charger subentry's data; missing ones take defaults."""
        defaults = cls()

        def number(key: str, default: float) -> float:
            value = options.get(key)
            return default if value is None else float(value)

        return cls(
            phases=int(number(CONF_PHASES, defaults.phases)),
            voltage=number(CONF_VOLTAGE, defaults.voltage),
            min_current=number(CONF_MIN_CURRENT, defaults.min_current),
            max_current=number(CONF_MAX_CURRENT, defaults.max_current),
            start_delay=number(CONF_START_DELAY, defaults.start_delay),
            stop_delay=number(CONF_STOP_DELAY, defaults.stop_delay),
            hysteresis=number(CONF_HYSTERESIS, defaults.hysteresis),
            period=number(CONF_CONTROL_PERIOD, defaults.period),
            grid_export_positive=bool(options.get(CONF_GRID_EXPORT_POSITIVE, False)),
            battery_charge_positive=bool(options.get(CONF_BATTERY_CHARGE_POSITIVE, False)),
            battery_priority=BatteryPriority(
                options.get(CONF_BATTERY_PRIORITY, defaults.battery_priority)
            ),
        )

    @property
    def watts_per_amp(self) -> float:
        """Power of one ampere on every phase."""
        return self.voltage * self.phases


@dataclass(frozen=True, slots=True)
class Sample:
    """Sensor values at `time` (seconds): grid and battery power in W as the sensors say.

    None: the sensor has no value (unavailable); no battery sensor at all is also None.
    """

    time: float
    grid_power: float | None
    battery_power: float | None = None


@dataclass(frozen=True, slots=True)
class ChargingPower:
    """The charger's Power.Active.Import reading and when it arrived (seconds)."""

    power: float
    time: float


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one control step."""

    target: float  # A per phase; 0 pauses
    state: ControllerState
    reason: Reason
    surplus: float | None = None  # W
    available: float | None = None  # A per phase


class _TimeWeightedMean:
    """Mean of a piecewise-constant signal over a window, from its change points."""

    def __init__(self) -> None:
        self._points: list[Sample] = []

    def add(self, sample: Sample) -> None:
        if self._points and sample.time < self._points[-1].time:
            return  # out of order: the signal cannot be rewritten backwards
        self._points.append(sample)

    def mean(self, start: float, end: float) -> Sample | None:
        """The mean grid and battery power over [start, end]; None without a grid value."""
        points = self._points
        # Keep the last point before `start`: it holds at the window's beginning.
        first = 0
        for index, point in enumerate(points):
            if point.time <= start:
                first = index
        del points[:first]
        if not points or points[0].time > end:
            return None
        if points[-1].grid_power is None:
            return None  # unavailable now: do not act on the past
        grid = _Integral()
        battery = _Integral()
        for index, point in enumerate(points):
            begin = max(point.time, start)
            until = points[index + 1].time if index + 1 < len(points) else end
            until = min(until, end)
            grid.add(point.grid_power, until - begin)
            battery.add(point.battery_power, until - begin)
        return Sample(end, grid.value(), battery.value())


class _Integral:
    """Sum of value x duration over the known parts; None when nothing was known."""

    def __init__(self) -> None:
        self._sum = 0.0
        self._duration = 0.0
        self._last: float | None = None

    def add(self, value: float | None, duration: float) -> None:
        if value is None:
            return
        self._last = value
        if duration > 0:
            self._sum += value * duration
            self._duration += duration

    def value(self) -> float | None:
        if self._duration > 0:
            return self._sum / self._duration
        return self._last


class SurplusController:
    """Decides the target current of one charger from grid (and battery) power samples."""

    def __init__(
        self,
        settings: SolarSettings,
        mode: ChargingMode = ChargingMode.SOLAR,
        *,
        target: float = 0.0,
    ) -> None:
        """Start in `mode`, paused unless `target` says what the charger does now."""
        self.settings = settings
        self.mode = mode
        self.target = target
        self._samples = _TimeWeightedMean()
        self._last_step: float | None = None
        self._last_change: float | None = None
        self._start_since: float | None = None
        self._stop_since: float | None = None
        self._supply = Supply(None, None)

    @property
    def watts_per_amp(self) -> float:
        """W of one ampere on every phase: the reported supply, the settings' else."""
        settings = self.settings
        return self._supply.watts_per_amp(settings.voltage, settings.phases)

    def set_mode(self, mode: ChargingMode) -> None:
        """Switch modes; the delays start over."""
        if mode is not self.mode:
            self.mode = mode
            self._start_since = self._stop_since = None

    def update_settings(self, settings: SolarSettings) -> None:
        """Take new settings (from the next step on)."""
        self.settings = settings

    def add_sample(self, sample: Sample) -> None:
        """Record sensor values (each state change of the grid or battery sensor)."""
        self._samples.add(sample)

    def step(
        self,
        now: float,
        charging: ChargingPower | None = None,
        supply: Supply | None = None,
    ) -> Decision:
        """Decide the target current at `now` (seconds, the samples' time base).

        `supply`: the voltage and phases the charger reports now (None: none reported).
        """
        self._supply = supply or Supply(None, None)
        start = self._last_step if self._last_step is not None else now - self.settings.period
        if self._last_change is not None:
            start = max(start, min(self._last_change + SETTLE_TIME, now))
        self._last_step = now
        mean = self._samples.mean(start, now)
        decision = self._decide(now, mean, charging)
        if decision.target != self.target:
            self.target = decision.target
            self._last_change = now
        return decision

    # ------------------------------------------------------------------ decisions

    def _decide(self, now: float, mean: Sample | None, charging: ChargingPower | None) -> Decision:
        settings = self.settings
        if self.mode is ChargingMode.OFF:
            return Decision(0.0, ControllerState.OFF, Reason.MODE_OFF)
        if self.mode is ChargingMode.FAST:
            return Decision(settings.max_current, ControllerState.FAST, Reason.MODE_FAST)
        surplus = None if mean is None else self._surplus(mean, charging)
        available = None if surplus is None else surplus / self.watts_per_amp
        if self.mode is ChargingMode.MIN_SOLAR:
            return self._min_solar(surplus, available)
        return self._solar(now, surplus, available)

    def _min_solar(self, surplus: float | None, available: float | None) -> Decision:
        settings = self.settings
        if available is None:
            return Decision(settings.min_current, ControllerState.CHARGING, Reason.NO_GRID_POWER)
        target = self._follow(max(self.target, settings.min_current), available)
        return Decision(
            target, ControllerState.CHARGING, self._charging_reason(available), surplus, available
        )

    def _solar(self, now: float, surplus: float | None, available: float | None) -> Decision:
        settings = self.settings
        low_reason = Reason.NO_GRID_POWER if available is None else Reason.SURPLUS_BELOW_MINIMUM
        if self.target <= 0:
            self._stop_since = None
            if available is None or available < settings.min_current:
                self._start_since = None
                return Decision(
                    0.0, ControllerState.WAITING_FOR_SURPLUS, low_reason, surplus, available
                )
            if self._start_since is None:
                self._start_since = now
            if now - self._start_since < settings.start_delay:
                return Decision(
                    0.0,
                    ControllerState.START_DELAY,
                    Reason.SURPLUS_ABOVE_MINIMUM,
                    surplus,
                    available,
                )
            self._start_since = None
            target = self._clamp(math.floor(available))
            return Decision(
                target,
                ControllerState.CHARGING,
                self._charging_reason(available),
                surplus,
                available,
            )
        if available is None or available < settings.min_current - self._band:
            if self._stop_since is None:
                self._stop_since = now
            if now - self._stop_since >= settings.stop_delay:
                self._stop_since = None
                return Decision(
                    0.0, ControllerState.WAITING_FOR_SURPLUS, low_reason, surplus, available
                )
            return Decision(
                settings.min_current, ControllerState.STOP_DELAY, low_reason, surplus, available
            )
        self._stop_since = None
        return Decision(
            self._follow(self.target, available),
            ControllerState.CHARGING,
            self._charging_reason(available),
            surplus,
            available,
        )

    def _surplus(self, mean: Sample, charging: ChargingPower | None) -> float:
        return -self._net_import(mean) + self._car_power(charging)

    def _net_import(self, mean: Sample) -> float:
        """W the house takes from the grid, the battery term (see the module) taken off."""
        settings = self.settings
        grid = mean.grid_power or 0.0
        grid_import = -grid if settings.grid_export_positive else grid
        battery = 0.0
        if mean.battery_power is not None:
            discharge = (
                -mean.battery_power if settings.battery_charge_positive else mean.battery_power
            )
            if settings.battery_priority is BatteryPriority.CAR:
                battery = -discharge
            else:
                battery = -max(0.0, discharge)
        return grid_import - battery

    def net_import(self, now: float) -> float | None:
        """The mean grid import since the last call, battery term off; None without grid.

        For a charger whose connectors share the surplus (`solar_charging`): the
        allocator of `protocol.load` divides -net import + what they draw.
        """
        start = self._last_step if self._last_step is not None else now - self.settings.period
        self._last_step = now
        mean = self._samples.mean(start, now)
        return None if mean is None else self._net_import(mean)

    def _car_power(self, charging: ChargingPower | None) -> float:
        """The car's power now; the commanded one while the reading predates a change."""
        expected = max(0.0, self.target) * self.watts_per_amp
        if charging is None:
            return expected
        if self._last_change is not None and charging.time < self._last_change:
            return expected
        return max(0.0, charging.power)

    @property
    def _band(self) -> float:
        """The hysteresis in amperes per phase."""
        return self.settings.hysteresis / self.watts_per_amp

    def _follow(self, target: float, available: float) -> float:
        """Move to whole amperes of the available current only outside the band."""
        if available >= target + 1 + self._band or available < target - self._band:
            target = math.floor(available)
        return self._clamp(target)

    def _clamp(self, amps: float) -> float:
        settings = self.settings
        return float(min(settings.max_current, max(settings.min_current, amps)))

    def _charging_reason(self, available: float) -> Reason:
        settings = self.settings
        if available < settings.min_current:
            return Reason.MINIMUM_CURRENT
        if available >= settings.max_current:
            return Reason.MAXIMUM_CURRENT
        return Reason.SURPLUS
