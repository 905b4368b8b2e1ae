"""The electrical model of one connector and its car: offered current in, power, energy and SoC out.

Power follows the offered current times voltage times phases, limited by what the car
draws, and tapers as the battery fills above about 80 %. Energy integrates power over
the clock's time, so the register is consistent however often it is sampled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
import random
from typing import Any

from .clock import iso

# The sampled data a charger sends by default (MeterValuesSampledData, OCPP 1.6 section 9.1.17).
# Per-phase measurands expand to one sampled value per phase.
DEFAULT_MEASURANDS: tuple[str, ...] = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Voltage",
    "SoC",
    "Current.Offered",
    "Temperature",
)
SUPPORTED_MEASURANDS = frozenset(DEFAULT_MEASURANDS)
PHASE_NAMES = ("L1", "L2", "L3")
# Below this current IEC 61851 does not allow charging: the charger pauses (SuspendedEVSE).
MIN_CHARGING_CURRENT = 6.0
# Integration step: long manual clock jumps are split so the SoC taper is followed.
_MAX_STEP_S = 60.0
_TAPER_START_SOC = 80.0


@dataclass(slots=True)
class Vehicle:
    """The car plugged into a connector."""

    capacity_wh: float = 60_000.0
    soc: float = 20.0
    max_current: float = 32.0


class ConnectorModel:
    """Energy register, offered current and the car on one connector."""

    def __init__(
        self,
        *,
        phases: int,
        voltage: float,
        energy_wh: float,
        noise: float,
        seed: int,
        now: datetime,
    ) -> None:
        self.phases = phases
        self.nominal_voltage = voltage
        self.energy_wh = energy_wh
        self.offered_current = 0.0
        self.vehicle: Vehicle | None = None
        self.charging = False  # a transaction lets energy flow
        self._noise = noise
        self._rng = random.Random(seed)
        self._last = now
        self._voltages = self._sample_voltages()

    # -- state -----------------------------------------------------------------------------
    @property
    def ev_current(self) -> float:
        """Current per phase the car draws now, in A."""
        car = self.vehicle
        if not self.charging or car is None or self.offered_current < MIN_CHARGING_CURRENT:
            return 0.0
        amps = min(self.offered_current, car.max_current)
        if car.soc >= 100.0:
            return 0.0
        if car.soc > _TAPER_START_SOC:
            # Constant-voltage phase of a lithium battery: current falls towards full.
            amps *= max(0.05, (100.0 - car.soc) / (100.0 - _TAPER_START_SOC))
        return amps

    @property
    def power_w(self) -> float:
        """Active power imported now, in W."""
        return self.ev_current * sum(self._voltages[: self.phases])

    @property
    def soc(self) -> float | None:
        return None if self.vehicle is None else self.vehicle.soc

    @property
    def ev_full(self) -> bool:
        return self.vehicle is not None and self.vehicle.soc >= 100.0

    # -- time ------------------------------------------------------------------------------
    def advance_to(self, now: datetime) -> None:
        """Integrate power from the last update until `now`."""
        remaining = (now - self._last).total_seconds()
        self._last = max(self._last, now)
        while remaining > 0:
            step = min(remaining, _MAX_STEP_S)
            wh = self.power_w * step / 3600.0
            self.energy_wh += wh
            car = self.vehicle
            if car is not None and wh > 0:
                car.soc = min(100.0, car.soc + 100.0 * wh / car.capacity_wh)
            remaining -= step
        self._voltages = self._sample_voltages()

    def _sample_voltages(self) -> list[float]:
        return [
            self.nominal_voltage
            + (self._rng.uniform(-self._noise, self._noise) if self._noise else 0)
            for _ in PHASE_NAMES
        ]

    # -- meter values ----------------------------------------------------------------------
    def sampled_values(
        self, measurands: tuple[str, ...], context: str = "Sample.Periodic"
    ) -> list[dict[str, Any]]:
        """The SampledValue list (OCPP 1.6 section 7.45) for `measurands`, values as strings."""
        out: list[dict[str, Any]] = []
        amps = self.ev_current
        for measurand in measurands:
            out.extend(self._measurand(measurand, amps, context))
        return out

    def _measurand(self, measurand: str, amps: float, context: str) -> list[dict[str, Any]]:
        def value(
            number: float, unit: str, phase: str | None = None, location: str = "Outlet"
        ) -> dict[str, Any]:
            item: dict[str, Any] = {
                "value": f"{number:.1f}",
                "context": context,
                "format": "Raw",
                "measurand": measurand,
                "location": location,
                "unit": unit,
            }
            if phase is not None:
                item["phase"] = phase
            return item

        phases = PHASE_NAMES[: self.phases]
        match measurand:
            case "Energy.Active.Import.Register":
                return [value(self.energy_wh, "Wh")]
            case "Power.Active.Import":
                return [value(self.power_w, "W")]
            case "Current.Import":
                return [value(amps, "A", phase) for phase in phases]
            case "Voltage":
                return [
                    value(volts, "V", f"{phase}-N")
                    for phase, volts in zip(phases, self._voltages, strict=False)
                ]
            case "SoC":
                return (
                    [] if self.vehicle is None else [value(self.vehicle.soc, "Percent", None, "EV")]
                )
            case "Current.Offered":
                return [value(self.offered_current, "A")]
            case "Temperature":
                # The charger warms with the power it carries.
                return [value(25.0 + self.power_w / 2000.0, "Celsius", None, "Body")]
        return []

    def meter_value(
        self, now: datetime, measurands: tuple[str, ...], context: str = "Sample.Periodic"
    ) -> dict[str, Any]:
        """One MeterValue (timestamp + sampled values) after integrating up to `now`."""
        self.advance_to(now)
        return {"timestamp": iso(now), "sampledValue": self.sampled_values(measurands, context)}
