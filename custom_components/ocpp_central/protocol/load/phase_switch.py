"""When a charger that can switch should charge on one phase or on three.

OCPP 1.6 lets a schedule period name the phases a charger may use (numberPhases,
sections 7.13 and 7.14; absent means 3). Switching during a transaction is only for
chargers that report ConnectorSwitch3to1PhaseSupported true (section 9.4.4), and the
specification warns that some cars do not take it well (section 3.13.7): so switches
are rare and deliberate.

`PhaseSwitch.decide` per connector, each control step:
- a charger that cannot switch is left alone (None: no numberPhases is sent);
- `phase_mode` "1" or "3" fixes the phases (the user's override, applied at once);
- `auto`: `fast` charges on three phases; the solar modes go to one phase when the
  surplus it could use cannot carry three phases at the minimum current
  (3 x 6 A x 230 V, about 4.1 kW) and back to three once it can, plus `hysteresis` W;
- an automatic switch waits `min_interval` seconds after the previous one, and never
  happens in the first `session_grace` seconds of a transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from ..smart_charging import MIN_CURRENT, NOMINAL_VOLTAGE
from .allocation import PHASE_COUNT, SOLAR_MODES, Mode

__all__ = ["PhaseMode", "PhaseSwitch", "PhaseSwitchSettings"]

ONE_PHASE: Final = 1


class PhaseMode(StrEnum):
    """The `phase_mode` select of a charger that can switch."""

    AUTO = "auto"
    ONE = "1"
    THREE = "3"


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseSwitchSettings:
    """How eagerly phases are switched."""

    min_current: float = MIN_CURRENT
    hysteresis: float = 400.0  # W above the three-phase minimum before switching back
    min_interval: float = 300.0  # s between two automatic switches
    session_grace: float = 60.0  # s after a transaction starts without a switch

    def three_phase_minimum(self, voltage: float = NOMINAL_VOLTAGE) -> float:
        """The W three phases take at the minimum current."""
        return PHASE_COUNT * self.min_current * voltage


class PhaseSwitch:
    """The phases of one connector of a charger that can switch."""

    def __init__(self, settings: PhaseSwitchSettings | None = None) -> None:
        """Start on three phases, as a charger does without numberPhases."""
        self.settings = settings or PhaseSwitchSettings()
        self.phases = PHASE_COUNT
        self.last_switch: float | None = None
        self.switches = 0

    def decide(
        self,
        now: float,
        *,
        supported: bool,
        phase_mode: PhaseMode,
        mode: Mode,
        offer: float | None,
        voltage: float = NOMINAL_VOLTAGE,
        session_start: float | None = None,
    ) -> int | None:
        """The phases to charge on (None: leave the charger alone).

        `offer`: the surplus W this connector could use now (solar modes);
        `session_start`: when the running transaction started (None: none runs).
        """
        if not supported:
            return None
        wanted = self._wanted(phase_mode, mode, offer, voltage)
        if wanted == self.phases:
            return self.phases
        if phase_mode is PhaseMode.AUTO:
            settings = self.settings
            if self.last_switch is not None and now - self.last_switch < settings.min_interval:
                return self.phases
            if session_start is not None and now - session_start < settings.session_grace:
                return self.phases
        self.phases = wanted
        self.last_switch = now
        self.switches += 1
        return self.phases

    def _wanted(
        self, phase_mode: PhaseMode, mode: Mode, offer: float | None, voltage: float
    ) -> int:
        if phase_mode is PhaseMode.ONE:
            return ONE_PHASE
        if phase_mode is PhaseMode.THREE or mode not in SOLAR_MODES:
            return PHASE_COUNT
        if offer is None:
            return self.phases  # no surplus known: stay
        threshold = self.settings.three_phase_minimum(voltage)
        if self.phases == PHASE_COUNT:
            return ONE_PHASE if offer < threshold else PHASE_COUNT
        return PHASE_COUNT if offer >= threshold + self.settings.hysteresis else ONE_PHASE
