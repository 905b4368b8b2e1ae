"""Our charging profiles for a current limit: what they look like, and what a charger allows.

The pure part of OCPP 1.6 smart charging (section 3.13) that `smart_charging.CurrentLimiter`
builds on; nothing here sends or waits:

- `Capabilities`: what the charger's configuration keys (sections 3.13.5, 9.1 and 9.4)
  say of its smart charging; `CAPABILITY_KEYS` are the keys to ask for.
- `profile_id`: the ids of our profiles (`PROFILE_ID_BASE + 100 x purpose index +
  connector id`), so a new profile replaces ours instead of piling up (section 5.16.3).
- `build_profile`: the csChargingProfiles object of a limit (sections 7.8, 7.13, 7.14):
  Absolute, a minute in the past, no duration, in A when allowed, else in W with
  numberPhases (section 7.12); W = A x voltage x phases, the caller's figures
  (`measurands.reported_supply`).
- `schedule_limit`: the limit a GetCompositeSchedule answer (section 5.7) puts in force.
- `LimitRefused`: the error when the charger refused every strategy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from .config_keys import list_contains, lookup_int, lookup_list
from .errors import CallErrorCode, CallErrorReceived
from .messages import format_timestamp, parse_timestamp
from .state import ConfigurationValue
from .vocabulary import (
    Action,
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ChargingRateUnitType,
    ConfigurationKey,
    FeatureProfile,
    succeeded,
)

__all__ = [
    "CAPABILITY_KEYS",
    "CHARGE_POINT_MAX_PROFILE",
    "DEFAULT_STACK_LEVEL",
    "MIN_CURRENT",
    "NOMINAL_VOLTAGE",
    "PROFILE_ID_BASE",
    "PURPOSES",
    "SPEC_DEFAULT_PHASES",
    "TX_DEFAULT_PROFILE",
    "TX_PROFILE",
    "Capabilities",
    "LimitRefused",
    "build_profile",
    "profile_id",
    "schedule_limit",
]

# ChargingProfilePurposeType (section 7.10).
CHARGE_POINT_MAX_PROFILE: Final = ChargingProfilePurposeType.charge_point_max_profile
TX_DEFAULT_PROFILE: Final = ChargingProfilePurposeType.tx_default_profile
TX_PROFILE: Final = ChargingProfilePurposeType.tx_profile
# Our purposes in the order they are tried; the index is part of the profile id.
PURPOSES: Final = (TX_DEFAULT_PROFILE, CHARGE_POINT_MAX_PROFILE, TX_PROFILE)

# Profile ids of ours: 1_616_000 + 100 x purpose index + connector id. Far from the small
# ids vendor apps and other central systems use, stable across restarts (so a profile
# left by an earlier run is replaced or cleared, never duplicated).
PROFILE_ID_BASE: Final = 1_616_000
# The least current a car charges with, per phase (IEC 61851-1): a limit below it pauses.
# The one definition, for the limiter, the solar controller and the charger forms.
MIN_CURRENT: Final = 6.0
# The nominal phase voltage that turns amperes into W where no voltage is configured.
NOMINAL_VOLTAGE: Final = 230.0
# Stack level when the charger does not report ChargeProfileMaxStackLevel.
DEFAULT_STACK_LEVEL: Final = 1
# startSchedule this far in the past: no gap while a profile replaces another, and
# tolerant of a charger clock a little behind ours (section 5.16.4 note).
_START_IN_THE_PAST: Final = timedelta(minutes=1)
# Section 7.12: W limits assume this many phases when numberPhases is absent.
SPEC_DEFAULT_PHASES: Final = 3

# Configuration keys (sections 9.1 and 9.4).
NUMBER_OF_CONNECTORS: Final = ConfigurationKey.number_of_connectors
SUPPORTED_FEATURE_PROFILES: Final = ConfigurationKey.supported_feature_profiles
SMART_CHARGING_PROFILE: Final = FeatureProfile.SMART_CHARGING
CHARGE_PROFILE_MAX_STACK_LEVEL: Final = ConfigurationKey.charge_profile_max_stack_level
ALLOWED_CHARGING_RATE_UNIT: Final = ConfigurationKey.charging_schedule_allowed_charging_rate_unit
MAX_CHARGING_PROFILES_INSTALLED: Final = ConfigurationKey.max_charging_profiles_installed
CAPABILITY_KEYS: Final = (
    CHARGE_PROFILE_MAX_STACK_LEVEL,
    ALLOWED_CHARGING_RATE_UNIT,
    MAX_CHARGING_PROFILES_INSTALLED,
    NUMBER_OF_CONNECTORS,
    SUPPORTED_FEATURE_PROFILES,
)
# Section 9.4.2 allows "Current" and "Power"; some firmware writes the unit itself.
_AMPS: Final[str] = ChargingRateUnitType.amps
_WATTS: Final[str] = ChargingRateUnitType.watts
_RATE_UNITS: Final = {"current": _AMPS, "a": _AMPS, "power": _WATTS, "w": _WATTS}


def profile_id(purpose: str, connector_id: int) -> int:
    """The chargingProfileId we use for `purpose` on `connector_id`."""
    return PROFILE_ID_BASE + 100 * PURPOSES.index(purpose) + connector_id


class LimitRefused(CallErrorReceived):
    """The charger refused every strategy for a current limit.

    `attempts` lists (purpose, status) in the order tried; status is the
    ChargingProfileStatus (section 7.11) or the CallError code the charger answered.
    """

    def __init__(self, connector_id: int, amps: float, attempts: list[tuple[str, str]]) -> None:
        """Describe the refusal for the log and the user."""
        if attempts:
            tried = ", ".join(f"{purpose} {status}" for purpose, status in attempts)
        else:
            tried = "the charger supports no charging profile for it"
        not_supported = {
            CallErrorCode.NOT_SUPPORTED,
            CallErrorCode.NOT_IMPLEMENTED,
            ChargingProfileStatus.not_supported,
        }
        code = (
            CallErrorCode.NOT_SUPPORTED
            if all(status in not_supported for _purpose, status in attempts)
            else CallErrorCode.GENERIC_ERROR
        )
        super().__init__(code, f"limit {amps:g} A on connector {connector_id} refused: {tried}")
        self.connector_id = connector_id
        self.amps = amps
        self.attempts = attempts


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the charger says of its smart charging (None: it did not say)."""

    smart_charging: bool | None = None
    max_stack_level: int | None = None
    rate_units: frozenset[str] = frozenset()  # "A" and/or "W"; empty: not reported
    max_profiles: int | None = None
    connectors: int | None = None

    @classmethod
    def from_configuration(cls, configuration: Mapping[str, ConfigurationValue]) -> Capabilities:
        """Read the keys of sections 3.13.5 and 9.4 (and the feature profiles, 9.1)."""
        units = lookup_list(configuration, ALLOWED_CHARGING_RATE_UNIT) or []
        return cls(
            smart_charging=list_contains(
                configuration, SUPPORTED_FEATURE_PROFILES, SMART_CHARGING_PROFILE
            ),
            max_stack_level=lookup_int(configuration, CHARGE_PROFILE_MAX_STACK_LEVEL),
            rate_units=frozenset(
                unit for item in units if (unit := _RATE_UNITS.get(item.casefold())) is not None
            ),
            max_profiles=lookup_int(configuration, MAX_CHARGING_PROFILES_INSTALLED),
            connectors=lookup_int(configuration, NUMBER_OF_CONNECTORS),
        )

    @property
    def rate_unit(self) -> str:
        """The unit our schedules use: A when allowed (or not reported), else W."""
        return _WATTS if self.rate_units == {_WATTS} else _AMPS

    @property
    def stack_level(self) -> int:
        """Our stack level: the highest the charger allows."""
        return DEFAULT_STACK_LEVEL if self.max_stack_level is None else self.max_stack_level


def build_profile(
    purpose: str,
    target: int,
    amps: float,
    capabilities: Capabilities,
    transaction_id: int | None,
    *,
    voltage: float,
    phases: int,
    number_phases: int | None = None,
) -> dict[str, Any]:
    """A csChargingProfiles object (sections 7.8, 7.13, 7.14) limiting `target` to `amps`.

    `voltage` and `phases` turn amperes into W for a charger that only takes W.
    `number_phases` names the phases the charger may use (numberPhases, section 7.14;
    a charger with ConnectorSwitch3to1PhaseSupported switches to them, section 9.4.4);
    in W it also replaces `phases`. None sends none in A.
    """
    unit = capabilities.rate_unit
    period: dict[str, Any] = {"startPeriod": 0}
    if unit == _AMPS:
        period["limit"] = amps
        if number_phases is not None:
            period["numberPhases"] = number_phases
    else:
        phases = number_phases or phases
        period["limit"] = round(amps * voltage * phases, 1)
        period["numberPhases"] = phases
    start = datetime.now(UTC).replace(microsecond=0) - _START_IN_THE_PAST
    profile: dict[str, Any] = {
        "chargingProfileId": profile_id(purpose, target),
        "stackLevel": capabilities.stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": ChargingProfileKindType.absolute,
        "chargingSchedule": {
            "startSchedule": format_timestamp(start),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [period],
        },
    }
    if purpose == TX_PROFILE and transaction_id is not None:
        # Section 5.16: a TxProfile names the transaction it is meant for (one sent
        # with RemoteStartTransaction has none yet, section 5.16.2).
        profile["transactionId"] = transaction_id
    return profile


def schedule_limit(reply: Mapping[str, Any]) -> tuple[float, bool, int | None] | None:
    """The limit a GetCompositeSchedule answer (section 5.7) puts in force now, or None.

    Returned as (limit, in W, numberPhases of its period); None when the charger did not
    accept the request or the schedule holds no period.
    """
    accepted = succeeded(Action.get_composite_schedule, reply.get("status"))
    schedule = reply.get("chargingSchedule") if accepted else None
    if not isinstance(schedule, dict):
        return None
    periods = sorted(
        schedule.get("chargingSchedulePeriod") or (), key=lambda p: p.get("startPeriod", 0)
    )
    start = reply.get("scheduleStart") or schedule.get("startSchedule")
    elapsed = 0.0
    if isinstance(start, str):
        elapsed = max(0.0, (datetime.now(UTC) - parse_timestamp(start)).total_seconds())
    current = next(
        (p for p in reversed(periods) if p.get("startPeriod", 0) <= elapsed),
        periods[0] if periods else None,
    )
    if current is None:
        return None
    phases = current.get("numberPhases")
    return (
        float(current["limit"]),
        schedule.get("chargingRateUnit") == _WATTS,
        None if phases is None else int(phases),
    )
