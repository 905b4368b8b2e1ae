"""Smart charging as a charge point does it: install, stack, clear and evaluate charging profiles.

Follows OCPP 1.6 section 3.13 (purposes, stacking, combining) and 5.16 (SetChargingProfile):
- ChargePointMaxProfile only on connector 0; TxProfile only on a connector with an active
  transaction (and the same transactionId when given); TxDefaultProfile on connector 0
  applies to every connector until a connector-specific one replaces it there.
- A new profile replaces an installed one with the same chargingProfileId, or the same
  stackLevel and purpose on the same connector.
- At any time the prevailing profile of a purpose is the valid one with the highest
  stackLevel whose schedule has a period at that time; the limit is the minimum of the
  ChargePointMaxProfile and the TxProfile (or, without one, the TxDefaultProfile).
Limits in W become A through voltage x phases (numberPhases, default 3 per section 7.13).
The ChargePointMaxProfile limit is shared equally by the connectors that are charging.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .clock import iso, parse_iso

CHARGE_POINT_MAX = "ChargePointMaxProfile"
TX_DEFAULT = "TxDefaultProfile"
TX_PROFILE = "TxProfile"
DEFAULT_PHASES = 3  # numberPhases when absent (OCPP 1.6 section 7.13)
_RECURRENCE = {"Daily": timedelta(days=1), "Weekly": timedelta(days=7)}


@dataclass(frozen=True, slots=True)
class Period:
    """One ChargingSchedulePeriod."""

    start: int
    limit: float
    number_phases: int | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """An installed ChargingProfile, parsed from its wire form."""

    connector_id: int
    profile_id: int
    stack_level: int
    purpose: str
    kind: str
    recurrency: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    transaction_id: int | None
    unit: str
    start_schedule: datetime | None
    duration: int | None
    periods: tuple[Period, ...]
    min_rate: float | None = None

    @classmethod
    def from_wire(cls, connector_id: int, wire: dict[str, Any], now: datetime) -> Profile:
        """Parse a csChargingProfiles object (already schema-valid).

        An Absolute profile without startSchedule starts when it is installed, as many
        chargers do.
        """
        schedule = wire["chargingSchedule"]

        def when(key: str, source: dict[str, Any]) -> datetime | None:
            text = source.get(key)
            return None if text is None else parse_iso(str(text))

        start = when("startSchedule", schedule)
        if start is None and wire["chargingProfileKind"] == "Absolute":
            start = now
        return cls(
            connector_id=connector_id,
            profile_id=int(wire["chargingProfileId"]),
            stack_level=int(wire["stackLevel"]),
            purpose=str(wire["chargingProfilePurpose"]),
            kind=str(wire["chargingProfileKind"]),
            recurrency=wire.get("recurrencyKind"),
            valid_from=when("validFrom", wire),
            valid_to=when("validTo", wire),
            transaction_id=wire.get("transactionId"),
            unit=str(schedule["chargingRateUnit"]),
            start_schedule=start,
            duration=schedule.get("duration"),
            periods=tuple(
                Period(int(p["startPeriod"]), float(p["limit"]), p.get("numberPhases"))
                for p in schedule["chargingSchedulePeriod"]
            ),
            min_rate=schedule.get("minChargingRate"),
        )

    def schedule_start(self, when: datetime, origin: datetime) -> datetime | None:
        """Start of the schedule instance in force at `when`; `origin` starts Relative ones."""
        if self.kind == "Relative":
            return origin
        start = self.start_schedule
        if start is None or when < start:
            return start
        step = _RECURRENCE.get(self.recurrency or "") if self.kind == "Recurring" else None
        if step is None:
            return start
        return start + step * ((when - start) // step)

    def period_at(self, when: datetime, origin: datetime) -> Period | None:
        """The schedule period in force at `when`, or None when the profile does not apply."""
        if (self.valid_from is not None and when < self.valid_from) or (
            self.valid_to is not None and when >= self.valid_to
        ):
            return None
        start = self.schedule_start(when, origin)
        if start is None or when < start:
            return None
        offset = (when - start).total_seconds()
        if self.duration is not None and offset >= self.duration:
            return None
        current: Period | None = None
        for period in self.periods:
            if period.start <= offset:
                current = period
        return current

    def breakpoints(self, start: datetime, end: datetime, origin: datetime) -> set[datetime]:
        """Times in [start, end) where this profile's limit may change."""
        points = {t for t in (self.valid_from, self.valid_to) if t is not None}
        step = _RECURRENCE.get(self.recurrency or "") if self.kind == "Recurring" else None
        first = self.schedule_start(start, origin)
        instance = first
        while instance is not None and instance < end:
            points.update(instance + timedelta(seconds=p.start) for p in self.periods)
            if self.duration is not None:
                points.add(instance + timedelta(seconds=self.duration))
            instance = instance + step if step is not None else None
        return {t for t in points if start <= t < end}


def to_amps(limit: float, unit: str, phases: int | None, volts: float) -> float:
    """A schedule limit in A (W are divided by voltage x phases)."""
    if unit == "A":
        return limit
    return limit / (volts * (phases or DEFAULT_PHASES))


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileRules:
    """What the charge point accepts (its Smart Charging configuration keys, section 9.4)."""

    connectors: int
    rate_units: frozenset[str] = frozenset({"A", "W"})
    refuse_tx_default: bool = False
    max_stack_level: int = 8
    max_profiles: int = 16
    max_periods: int = 24
    # ConnectorSwitch3to1PhaseSupported (section 9.4.4): numberPhases in the schedule
    # in force switches the phases the connector uses, during a transaction too.
    phase_switching: bool = False


class ProfileStore:
    """The charging profiles installed on one charge point."""

    def __init__(self, rules: ProfileRules) -> None:
        self.rules = rules
        self.profiles: list[Profile] = []

    def refusal(self, profile: Profile, active_tx: int | None) -> str | None:
        """Why `profile` cannot be installed (a log line), or None when it can."""
        rules = self.rules
        checks = (
            (profile.connector_id > rules.connectors, "no such connector"),
            (profile.unit not in rules.rate_units, f"rate unit {profile.unit} not supported"),
            (profile.purpose == TX_DEFAULT and rules.refuse_tx_default, "TxDefaultProfile refused"),
            (profile.stack_level > rules.max_stack_level, "stack level above the maximum"),
            (len(profile.periods) > rules.max_periods, "too many periods"),
            (not profile.periods or profile.periods[0].start != 0, "first period must start at 0"),
            (
                profile.purpose == CHARGE_POINT_MAX and profile.connector_id != 0,
                "ChargePointMaxProfile only on connector 0",
            ),
            (
                profile.kind == "Recurring"
                and (profile.recurrency is None or profile.start_schedule is None),
                "Recurring needs recurrencyKind and startSchedule",
            ),
        )
        for failed, reason in checks:
            if failed:
                return reason
        if profile.purpose == TX_PROFILE:
            # Section 3.13.1: a TxProfile needs an active transaction on its connector.
            if profile.connector_id == 0 or active_tx is None:
                return "TxProfile without an active transaction"
            if profile.transaction_id is not None and profile.transaction_id != active_tx:
                return "TxProfile for another transaction"
        kept = [p for p in self.profiles if not self._replaced_by(p, profile)]
        if len(kept) >= rules.max_profiles:
            return "too many profiles installed"
        return None

    @staticmethod
    def _replaced_by(old: Profile, new: Profile) -> bool:
        return old.profile_id == new.profile_id or (
            old.purpose == new.purpose
            and old.stack_level == new.stack_level
            and old.connector_id == new.connector_id
        )

    def install(self, profile: Profile) -> None:
        """Install `profile` (check `refusal` first), replacing what it replaces."""
        self.profiles = [p for p in self.profiles if not self._replaced_by(p, profile)]
        self.profiles.append(profile)

    def clear(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> bool:
        """ClearChargingProfile (section 5.5): remove matching profiles; False if none matched."""

        def matches(p: Profile) -> bool:
            if profile_id is not None:
                return p.profile_id == profile_id
            return (
                (connector_id is None or p.connector_id == connector_id)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )

        kept = [p for p in self.profiles if not matches(p)]
        removed = len(kept) != len(self.profiles)
        self.profiles = kept
        return removed

    def end_transaction(self, connector_id: int) -> None:
        """Drop the connector's TxProfiles: they last for one transaction (section 3.13.1)."""
        self.profiles = [
            p
            for p in self.profiles
            if not (p.purpose == TX_PROFILE and p.connector_id == connector_id)
        ]

    def _candidates(self, connector_id: int, purpose: str) -> list[Profile]:
        same = [p for p in self.profiles if p.purpose == purpose]
        if purpose == CHARGE_POINT_MAX:
            return [p for p in same if p.connector_id == 0]
        own = [p for p in same if p.connector_id == connector_id]
        if purpose == TX_DEFAULT and not own:
            return [p for p in same if p.connector_id == 0]
        return own

    def prevailing(
        self, connector_id: int, purpose: str, when: datetime, origin: datetime
    ) -> tuple[Profile, Period] | None:
        """The profile of `purpose` in force at `when` and its current period."""
        for profile in sorted(
            self._candidates(connector_id, purpose), key=lambda p: p.stack_level, reverse=True
        ):
            period = profile.period_at(when, origin)
            if period is not None:
                return profile, period
        return None

    def limit(
        self, connector_id: int, when: datetime, origin: datetime, volts: float, share: int = 1
    ) -> float | None:
        """The current limit in A for `connector_id` at `when` (None: no profile limits it).

        `origin` is when Relative schedules started (the transaction start, or now);
        `share` is how many connectors split the ChargePointMaxProfile limit.
        """
        limits: list[float] = []
        cp_max = self.prevailing(connector_id, CHARGE_POINT_MAX, when, origin)
        if cp_max is not None:
            profile, period = cp_max
            limits.append(to_amps(period.limit, profile.unit, period.number_phases, volts) / share)
        if connector_id > 0:
            tx = self.prevailing(connector_id, TX_PROFILE, when, origin) or self.prevailing(
                connector_id, TX_DEFAULT, when, origin
            )
        else:
            tx = self.prevailing(0, TX_DEFAULT, when, origin)
        if tx is not None:
            profile, period = tx
            limits.append(to_amps(period.limit, profile.unit, period.number_phases, volts))
        return min(limits) if limits else None

    def phases(self, connector_id: int, when: datetime, origin: datetime) -> int | None:
        """numberPhases of the schedule period in force (the fewest of the purposes combined).

        None when no period in force names it (the charger then uses what it can; section
        7.13 assumes 3 for converting W).
        """
        found: list[int] = []
        for purpose in (CHARGE_POINT_MAX, TX_PROFILE, TX_DEFAULT):
            if purpose == TX_DEFAULT and self.prevailing(connector_id, TX_PROFILE, when, origin):
                continue  # a TxProfile overrules the TxDefaultProfile (section 3.13.3)
            prevailing = self.prevailing(connector_id, purpose, when, origin)
            if prevailing is not None and prevailing[1].number_phases is not None:
                found.append(int(prevailing[1].number_phases))
        return min(found) if found else None

    def composite(
        self,
        connector_id: int,
        start: datetime,
        duration: int,
        *,
        unit: str,
        origin: datetime,
        volts: float,
        phases: int,
        hardware_max: float,
    ) -> dict[str, Any]:
        """GetCompositeSchedule (section 5.7): the combined limit over [start, start+duration)."""
        end = start + timedelta(seconds=duration)
        points = {start}
        for profile in self.profiles:
            if profile.connector_id in (0, connector_id):
                points |= profile.breakpoints(start, end, origin)
        periods: list[dict[str, Any]] = []
        for point in sorted(points):
            amps = self.limit(connector_id, point, origin, volts)
            amps = hardware_max if amps is None else min(amps, hardware_max)
            value = round(amps if unit == "A" else amps * volts * phases, 1)
            if periods and periods[-1]["limit"] == value:
                continue
            periods.append({"startPeriod": int((point - start).total_seconds()), "limit": value})
        return {
            "duration": duration,
            "startSchedule": iso(start),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": periods,
        }
