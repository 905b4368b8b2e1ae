"""MeterValues parsing: SampledValues (OCPP 1.6 sections 4.7, 7.31, 7.43, 7.45) to Readings.

This is the hot path of the central system (a charger sends a MeterValues.req every
MeterValueSampleInterval seconds per connector), so it works on plain dicts with
table lookups: no validation models, one timestamp parse per MeterValue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .messages import parse_timestamp
from .state import ChargerState, Reading
from .vocabulary import Location, Measurand, Phase, ReadingContext, UnitOfMeasure, ValueFormat

# OCPP 1.6 section 7.43: the defaults of an optional SampledValue field (plain strings:
# they become readings keys and fields).
DEFAULT_MEASURAND: Final = Measurand.energy_active_import_register.value
DEFAULT_CONTEXT: Final = ReadingContext.sample_periodic.value
DEFAULT_LOCATION: Final = Location.outlet.value
SIGNED_DATA: Final = ValueFormat.signed_data

ENERGY_REGISTER: Final = DEFAULT_MEASURAND
POWER: Final = Measurand.power_active_import.value
# The line phases a per-phase reading of a flow (power, current) is summed or compared over.
LINE_PHASES: Final = (Phase.l1.value, Phase.l2.value, Phase.l3.value)

# The unit a measurand has when the charger leaves `unit` out. Section 7.45 says the
# default is "Wh", which only makes sense for energy: a Current.Import without unit is
# in A, so the other measurands get the base unit of their quantity.
_WH: Final = UnitOfMeasure.wh.value
_VARH: Final = UnitOfMeasure.varh.value
_W: Final = UnitOfMeasure.w.value
_VAR: Final = UnitOfMeasure.var.value
_VA: Final = UnitOfMeasure.va.value
_A: Final = UnitOfMeasure.a.value
_V: Final = UnitOfMeasure.v.value
_CELSIUS: Final = UnitOfMeasure.celsius.value
# Base units 7.45 has no member for.
_PERCENT: Final = "%"
_HZ: Final = "Hz"
_RPM: Final = "RPM"
MEASURAND_UNITS: Final[dict[str, str]] = {
    Measurand.current_export: _A,
    Measurand.current_import: _A,
    Measurand.current_offered: _A,
    Measurand.energy_active_export_register: _WH,
    Measurand.energy_active_import_register: _WH,
    Measurand.energy_reactive_export_register: _VARH,
    Measurand.energy_reactive_import_register: _VARH,
    Measurand.energy_active_export_interval: _WH,
    Measurand.energy_active_import_interval: _WH,
    Measurand.energy_reactive_export_interval: _VARH,
    Measurand.energy_reactive_import_interval: _VARH,
    Measurand.frequency: _HZ,
    Measurand.power_active_export: _W,
    Measurand.power_active_import: _W,
    Measurand.power_factor: "",
    Measurand.power_offered: _W,
    Measurand.power_reactive_export: _VAR,
    Measurand.power_reactive_import: _VAR,
    Measurand.rpm: _RPM,
    Measurand.soc: _PERCENT,
    Measurand.temperature: _CELSIUS,
    Measurand.voltage: _V,
}

# Registers only grow: what is published of them follows `register.EnergyRegister`.
REGISTERS: Final = frozenset(m.value for m in Measurand if m.endswith(".Register"))

# Phase (section 7.30) as it appears at the end of a readings key.
PHASES: Final = frozenset(Phase)

# What a session ends (see `ChargerSession`, "live values end with the session"): flows of
# energy to or from the car, which are 0 once no transaction runs, ...
SESSION_FLOWS: Final = frozenset(
    {
        Measurand.current_import,
        Measurand.current_export,
        Measurand.current_offered,
        Measurand.power_active_import,
        Measurand.power_active_export,
        Measurand.power_reactive_import,
        Measurand.power_reactive_export,
        Measurand.power_offered,
    }
)
# ... and what belongs to the car, unknown once it is no longer charging here.
SESSION_CAR: Final = frozenset({Measurand.soc})


type Conversion = tuple[str, float, float]
"""(base unit, factor, offset): base value = wire value * factor + offset."""

_SAME: Final = 1.0, 0.0
_KILO: Final = 1000.0, 0.0

# Wire unit (section 7.45) -> Conversion. Every conversion is linear, so the hot loop does
# one multiply-add instead of a call. Base units: W, Wh, var, varh, VA, A, V, %, Celsius,
# and the measurand's own unit where 7.45 has none (Hz, RPM).
UNITS: Final[dict[str, Conversion]] = {
    UnitOfMeasure.wh: (_WH, *_SAME),
    UnitOfMeasure.kwh: (_WH, *_KILO),
    UnitOfMeasure.varh: (_VARH, *_SAME),
    UnitOfMeasure.kvarh: (_VARH, *_KILO),
    UnitOfMeasure.w: (_W, *_SAME),
    UnitOfMeasure.kw: (_W, *_KILO),
    UnitOfMeasure.va: (_VA, *_SAME),
    UnitOfMeasure.kva: (_VA, *_KILO),
    UnitOfMeasure.var: (_VAR, *_SAME),
    UnitOfMeasure.kvar: (_VAR, *_KILO),
    UnitOfMeasure.a: (_A, *_SAME),
    UnitOfMeasure.v: (_V, *_SAME),
    UnitOfMeasure.celsius: (_CELSIUS, *_SAME),
    UnitOfMeasure.fahrenheit: (_CELSIUS, 5.0 / 9.0, -32.0 * 5.0 / 9.0),
    UnitOfMeasure.k: (_CELSIUS, 1.0, -273.15),
    UnitOfMeasure.percent: (_PERCENT, *_SAME),
    # Not on the wire, but the base units MEASURAND_UNITS falls back to.
    _PERCENT: (_PERCENT, *_SAME),
    _HZ: (_HZ, *_SAME),
    _RPM: (_RPM, *_SAME),
    "": ("", *_SAME),
}
# The context and location of a reading as one shared string each (section 7.43's values;
# others are kept as sent): a reading holds them for as long as it is the newest, so
# the strings parsed from every message would otherwise stay, two per sampled value.
_SHARED: Final[dict[str, str]] = {
    value: value for value in (*(c.value for c in ReadingContext), *(loc.value for loc in Location))
}
# Firmware that gets the case wrong ("kwh", "KW") is served in lenient mode; the
# conversion is unambiguous, so accept it here as well.
_UNITS_FOLDED: Final = {unit.casefold(): found for unit, found in UNITS.items()}
_UNKNOWN_UNIT_CACHE: dict[str, Conversion] = {}


def _unit(unit: str) -> Conversion:
    """Look up a unit not in UNITS exactly: case-folded, else kept as sent, unscaled."""
    found = _UNKNOWN_UNIT_CACHE.get(unit)
    if found is None:
        found = _UNITS_FOLDED.get(unit.casefold(), (unit, *_SAME))
        if len(_UNKNOWN_UNIT_CACHE) < 64:  # bounded: the unit comes from the charger
            _UNKNOWN_UNIT_CACHE[unit] = found
    return found


def reading_key(measurand: str, phase: str | None) -> str:
    """Return the readings key of a measurand on a phase: "Measurand" or "Measurand.Phase"."""
    return measurand if phase is None else f"{measurand}.{phase}"


def parse_meter_values(
    meter_values: Iterable[dict[str, Any]],
) -> tuple[list[tuple[str, Reading]], int]:
    """Turn MeterValue elements into (key, Reading) pairs in the order sent.

    Values that carry no number (format SignedData, or a value that does not parse)
    are left out; the second item of the result counts them so the caller can log.
    """
    readings: list[tuple[str, Reading]] = []
    skipped = 0
    units = UNITS
    measurand_units = MEASURAND_UNITS
    shared = _SHARED
    for meter_value in meter_values:
        timestamp = parse_timestamp(meter_value.get("timestamp"))
        for sample in meter_value.get("sampledValue", ()):
            if sample.get("format") == SIGNED_DATA:
                skipped += 1
                continue
            try:
                raw = float(sample["value"])
            except KeyError, TypeError, ValueError:
                skipped += 1
                continue
            measurand = sample.get("measurand", DEFAULT_MEASURAND)
            unit = sample.get("unit")
            if unit is None:
                unit = measurand_units.get(measurand, "")
            found = units.get(unit)
            base, factor, offset = found if found is not None else _unit(unit)
            phase = sample.get("phase")
            readings.append(
                (
                    measurand if phase is None else f"{measurand}.{phase}",
                    Reading(
                        raw * factor + offset,
                        base,
                        timestamp,
                        shared.get(context := sample.get("context", DEFAULT_CONTEXT), context),
                        shared.get(location := sample.get("location", DEFAULT_LOCATION), location),
                    ),
                )
            )
    return readings, skipped


def is_register(key: str) -> bool:
    """Whether readings key `key` ("Measurand" or "Measurand.Phase") is an energy register."""
    return key in REGISTERS or key.rpartition(".")[0] in REGISTERS


def measurand_of(key: str) -> str:
    """The measurand of readings key `key`: "Current.Import.L1" -> "Current.Import"."""
    head, _, tail = key.rpartition(".")
    return head if head and tail in PHASES else key


@dataclass(frozen=True, slots=True)
class Measured:
    """A connector's figure of one measurand and the newest reading it was taken from."""

    value: float
    reading: Reading


def total_or_phases(
    readings: Mapping[str, Reading],
    total: str,
    combine: Callable[[list[float]], float],
    *,
    phases_first: bool,
) -> Measured | None:
    """The phase-less `total` reading or `combine` of the per-phase ones: the newer of the two.

    Sent together (the same timestamp), `phases_first` decides: the phase-less value of a
    measurand may be a sum or an average of the phases (section 7.31 leaves it open).
    The newer wins otherwise, e.g. over the 0 a session's end leaves on the phase-less key
    of a charger that then sends phases only. None when the connector has neither.
    """
    phases = [r for phase in LINE_PHASES if (r := readings.get(f"{total}.{phase}")) is not None]
    found = readings.get(total)
    if phases and found is not None:
        newest = max(r.timestamp for r in phases)
        if newest > found.timestamp or (phases_first and newest == found.timestamp):
            found = None
    if found is not None:
        return Measured(found.value, found)
    if not phases:
        return None
    # The first of the newest phase readings: a new MeterValues gives a new one.
    newest_phase = max(phases, key=lambda r: r.timestamp)
    return Measured(combine([r.value for r in phases]), newest_phase)


def active_power(readings: Mapping[str, Reading]) -> Measured | None:
    """A connector's active power drawn, in W: the one rule of the sensor and the controller.

    The charger's Power.Active.Import total or the sum of its L1, L2, L3 readings, the newer
    of the two (the total when both come in one MeterValues: section 7.31 lets a phase-less
    value be the sum). Power is never derived from current x voltage: a charger that sends
    no Power.Active.Import has no power figure (None).
    """
    return total_or_phases(readings, POWER, sum, phases_first=False)


VOLTAGE: Final = Measurand.voltage.value
CURRENT: Final = Measurand.current_import.value


@dataclass(frozen=True, slots=True)
class Supply:
    """The phase voltage and the number of phases a connector reports; None: not reported."""

    voltage: float | None
    phases: int | None

    def watts_per_amp(self, voltage: float, phases: int) -> float:
        """W of one ampere on every phase: the reported figures, `voltage`/`phases` else."""
        return (self.voltage or voltage) * (self.phases or phases)


def _phase_voltage(readings: Mapping[str, Reading], phase: str) -> float | None:
    """Voltage.Lx-N, else Voltage.Lx (section 7.34); None unless a positive figure."""
    found = readings.get(f"{VOLTAGE}.{phase}-N") or readings.get(f"{VOLTAGE}.{phase}")
    return found.value if found is not None and found.value > 0 else None


def phase_voltages(readings: Mapping[str, Reading]) -> list[float]:
    """The voltage of each line phase reported (a 0 V reading, e.g. idle, is no figure)."""
    return [v for phase in LINE_PHASES if (v := _phase_voltage(readings, phase)) is not None]


def _reported_phases(readings: Mapping[str, Reading]) -> int | None:
    count = sum(
        1
        for phase in LINE_PHASES
        if _phase_voltage(readings, phase) is not None or f"{CURRENT}.{phase}" in readings
    )
    return count or None


def _reported_voltage(readings: Mapping[str, Reading]) -> float | None:
    voltages = phase_voltages(readings)
    if voltages:
        return sum(voltages) / len(voltages)
    found = readings.get(VOLTAGE)
    return None if found is None or found.value <= 0 else found.value


def reported_supply(*readings: Mapping[str, Reading]) -> Supply:
    """The voltage and phases a connector reports: the one rule of every W <-> A conversion.

    `readings` are the connector's, then those of connector 0 (the charger's own meter,
    section 4.7); each figure comes from the first that has it. The voltage is the mean of
    the phase voltages (Voltage.L1-N.., else Voltage.L1..; sections 7.31 Voltage, 7.34
    Phase), else the phase-less Voltage. The phases are the line phases with a voltage or
    a Current.Import reading. None where nothing is reported: the configured value (or
    the nominal one) stands in then.
    """
    voltage: float | None = None
    phases: int | None = None
    for found in readings:
        if voltage is None:
            voltage = _reported_voltage(found)
        if phases is None:
            phases = _reported_phases(found)
    return Supply(voltage, phases)


def connector_supply(state: ChargerState, connector_id: int) -> Supply:
    """`reported_supply` of a charger's connector (its readings, then connector 0's)."""
    return reported_supply(state.connector(connector_id).readings, state.connectors[0].readings)
