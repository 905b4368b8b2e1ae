"""Dividing a circuit's current among its connectors, and the solar surplus with it.

Pure (no I/O, no Home Assistant): `LoadBalancer.step` takes what is known now (the
circuit's house load, the solar surplus, each connector's demand) and returns an
`Allocation`: whole amperes per phase for every connector, the phases it charges on
and what limits it. OCPP 1.6 limits are per phase (section 3.13 smart charging,
ChargingSchedulePeriod limit and numberPhases in sections 7.13 and 7.14), so is the
budget here.

Budget. A circuit is fed by a supply of `max_current` A per phase (the main fuse).
With a house meter the budget of each phase is what the rest of the house leaves:
`max_current - house current` (the house current is the meter's minus what the
chargers draw, see `house_rest`). Against a noisy meter the house current in use rises
at once (safety first) but falls only once the meter stayed at least `hysteresis` A
below it for `release_time` seconds, and then only to the highest value seen meanwhile:
noise smaller than the hysteresis never moves the budget. A circuit without a meter
has the static budget `max_current`; a metered circuit whose meter has no value has
`fallback_current` (a safe static share).

Sharing. Connectors that charge or want to (a car is plugged in) are served by
priority (higher first), then equally: within a priority, each is first admitted with
the minimum current (6 A, IEC 61851) while every phase it uses has that much left
(connectors already charging before the newcomers, so no one flaps); who is not
admitted is paused. What is left is handed out one ampere at a time in turn, so equal
connectors differ by at most one ampere. No connector gets more than its cap: the
charger's maximum, the user's limit, what the car takes (a car drawing clearly less
than offered, or SuspendedEV, keeps only what it draws plus `car_headroom`; it gets
its share back once it draws nearly all it is offered) and, in the solar modes, its
share of the surplus.

Solar. The surplus (W, for the connectors in the solar modes together) is shared the
same way, a pool of watts where each ampere costs voltage x phases of that connector.
`solar` charges from surplus only (it starts after `start_delay` s with enough for the
minimum, pauses after `stop_delay` s without); `min_solar` charges at least the
minimum; `fast` at the most the circuit allows; `off` not at all. The surplus in use
moves only when it changed by `solar_hysteresis` W or more, so noise smaller than that
never changes a share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import groupby
import math
from typing import Final

from ..smart_charging import MIN_CURRENT, NOMINAL_VOLTAGE

__all__ = [
    "PHASE_COUNT",
    "Allocation",
    "CircuitSettings",
    "Demand",
    "LimitSource",
    "LoadBalancer",
    "Mode",
    "Share",
    "house_rest",
]

type ConnectorKey = tuple[str, int]  # (charge box id, connector id)
type PhaseCurrents = tuple[float, float, float]

PHASE_COUNT: Final = 3
_SOLAR_POOL: Final = "W"
# A reading this close (A) to the offered current counts as taking all of it.
_TAKES_ALL: Final = 0.5
# A reading this far (A) below the offered current counts as the car limiting itself.
_TAKES_LESS: Final = 1.5


class Mode(StrEnum):
    """What a connector aims for (the values of the `charging_mode` select)."""

    OFF = "off"
    FAST = "fast"
    SOLAR = "solar"
    MIN_SOLAR = "min_solar"


SOLAR_MODES: Final = frozenset({Mode.SOLAR, Mode.MIN_SOLAR})


class LimitSource(StrEnum):
    """What limits a connector now (the `limit_source` sensor)."""

    CHARGER = "charger"  # the charger's (configured) maximum
    USER = "user"  # the limit the user set
    CIRCUIT = "circuit"  # its share of the circuit's budget (or what the car takes)
    SOLAR = "solar"  # its share of the solar surplus
    SCHEDULE = "schedule"  # a charging profile that is not ours
    PAUSED = "paused"  # nothing: charging is paused


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitSettings:
    """A circuit: the supply's maximum per phase and how the budget follows the meter."""

    max_current: float  # A per phase of the supply (the main fuse)
    metered: bool = False  # a house meter gives the budget; without one it is static
    fallback_current: float | None = None  # budget while the meter has no value
    min_current: float = MIN_CURRENT
    hysteresis: float = 1.0  # A: meter noise below this never moves the budget
    release_time: float = 60.0  # s the house current must stay lower before it is used
    car_headroom: float = 1.0  # A above a self-limiting car's draw it keeps
    settle_time: float = 10.0  # s after a change before a reading shows the new current
    start_delay: float = 60.0  # s of enough surplus before `solar` starts
    stop_delay: float = 300.0  # s of too little surplus before `solar` pauses
    solar_hysteresis: float = 200.0  # W

    def __post_init__(self) -> None:
        """Refuse settings that cannot be worked with."""
        if self.max_current <= 0 or self.min_current <= 0:
            raise ValueError("the maximum and minimum currents must be positive")
        if self.fallback_current is not None and self.fallback_current < 0:
            raise ValueError("the fallback current cannot be negative")

    @property
    def safe_budget(self) -> float:
        """The budget per phase while the meter has no value."""
        if self.fallback_current is None:
            # Half the supply: a house rarely draws more than that for long.
            return math.floor(self.max_current / 2)
        return min(self.max_current, self.fallback_current)


@dataclass(frozen=True, slots=True, kw_only=True)
class Demand:
    """One connector as the allocator sees it at a step."""

    key: ConnectorKey
    wants: bool  # a car charges or waits to (plugged in, or a transaction runs)
    max_current: float  # A per phase, the charger's maximum
    priority: int = 0  # higher first
    mode: Mode = Mode.FAST
    phases: int = PHASE_COUNT  # phases it charges on (1 uses L1)
    voltage: float = NOMINAL_VOLTAGE  # V per phase, as the charger reports it
    user_limit: float | None = None
    offered: float | None = None  # A the charger confirmed it offers (None: not known)
    draw: float | None = None  # A the car draws now (the highest phase)
    draw_fresh: bool = False  # the reading shows the car after `offered` took effect
    suspended_ev: bool = False  # the car pauses itself (status SuspendedEV)

    @property
    def watts_per_amp(self) -> float:
        """W one ampere per phase costs on this connector."""
        return self.voltage * self.phases

    def phase_load(self, amps: float) -> PhaseCurrents:
        """The current `amps` puts on L1, L2, L3."""
        return _load(amps, self.phases)


@dataclass(frozen=True, slots=True)
class Share:
    """What one connector gets, and why."""

    key: ConnectorKey
    amps: float  # A per phase; 0 pauses
    phases: int
    source: LimitSource
    charger_max: float
    user_limit: float | None = None
    circuit_share: float | None = None  # A it could have of the circuit's budget
    solar_share: float | None = None  # A its share of the surplus allows (solar modes)
    car_limit: float | None = None  # A the car takes, when it takes less than offered

    @property
    def load(self) -> PhaseCurrents:
        """The current this share puts on L1, L2, L3."""
        return _load(self.amps, self.phases)


@dataclass(frozen=True, slots=True)
class Allocation:
    """The outcome of one step."""

    shares: Mapping[ConnectorKey, Share]
    budget: PhaseCurrents  # A per phase the chargers may take together
    fallback: bool = False  # the meter had no value: the safe static budget
    surplus: float | None = None  # W for the solar modes
    solar_offer: Mapping[ConnectorKey, float] = field(default_factory=dict)  # W each could use

    @property
    def allocated(self) -> PhaseCurrents:
        """The current the shares put on L1, L2, L3 together."""
        return _sum(share.load for share in self.shares.values())


def _load(amps: float, phases: int) -> PhaseCurrents:
    loads = [amps if index < phases else 0.0 for index in range(PHASE_COUNT)]
    return (loads[0], loads[1], loads[2])


def _sum(loads: Iterable[PhaseCurrents]) -> PhaseCurrents:
    total = [0.0] * PHASE_COUNT
    for load in loads:
        for index in range(PHASE_COUNT):
            total[index] += load[index]
    return (total[0], total[1], total[2])


def house_rest(meter: Sequence[float], chargers: Iterable[PhaseCurrents]) -> PhaseCurrents:
    """The current the rest of the house draws: the meter's minus the chargers' (never < 0)."""
    drawn = _sum(chargers)
    rest = [max(0.0, meter[index] - drawn[index]) for index in range(PHASE_COUNT)]
    return (rest[0], rest[1], rest[2])


class _HouseEstimate:
    """The house current in use on one phase: up at once, down only after `release_time`."""

    def __init__(self) -> None:
        self.value: float | None = None
        self._below_since: float | None = None
        self._highest_below = 0.0

    def update(self, now: float, reading: float, hysteresis: float, release: float) -> float:
        if self.value is None or reading >= self.value:
            self.value = reading
            self._below_since = None
        elif reading > self.value - hysteresis:
            self._below_since = None  # noise: keep
        elif self._below_since is None:
            self._below_since, self._highest_below = now, reading
        else:
            self._highest_below = max(self._highest_below, reading)
            if now - self._below_since >= release:
                self.value = self._highest_below
                self._below_since = None
        return self.value


@dataclass(slots=True)
class _Item:
    """A connector in one water-filling: its cost per ampere on each resource."""

    key: ConnectorKey
    priority: int
    cap: float
    costs: dict[str, float]
    floor: float  # admitted with at least this (the minimum current)
    before: bool  # it had current before: admitted first within its priority


def _fill(items: Sequence[_Item], capacity: Mapping[str, float]) -> dict[ConnectorKey, float]:
    """By priority, then equally: admit with the floor, then hand out 1 A in turn."""
    left = dict(capacity)
    result = {item.key: 0.0 for item in items}

    def fits(item: _Item, amps: float) -> bool:
        return all(left[resource] + 1e-9 >= cost * amps for resource, cost in item.costs.items())

    def take(item: _Item, amps: float) -> None:
        for resource, cost in item.costs.items():
            left[resource] -= cost * amps
        result[item.key] += amps

    ordered = sorted(items, key=lambda i: (-i.priority, not i.before, i.key))
    for _priority, group in groupby(ordered, key=lambda i: i.priority):
        admitted = []
        for item in group:
            if item.cap + 1e-9 >= item.floor and fits(item, item.floor):
                take(item, item.floor)
                admitted.append(item)
        growing = admitted
        while growing:
            grown = []
            for item in growing:
                step = min(1.0, item.cap - result[item.key])
                if step > 1e-9 and fits(item, step):
                    take(item, step)
                    grown.append(item)
            growing = grown
    return result


@dataclass(slots=True)
class _SolarState:
    """Per connector in a solar mode: its share, and the start/stop delays running."""

    amps: float = 0.0
    start_since: float | None = None
    stop_since: float | None = None


class LoadBalancer:
    """Steps one circuit: the budget from the meter, then the shares of its connectors."""

    def __init__(self, settings: CircuitSettings) -> None:
        """Start with no history (the first meter value is used as it is)."""
        self.settings = settings
        self._house = [_HouseEstimate() for _ in range(PHASE_COUNT)]
        self._car_caps: dict[ConnectorKey, float] = {}
        self._solar: dict[ConnectorKey, _SolarState] = {}
        self._pool: float | None = None  # W of surplus in use
        self.last: Allocation | None = None

    def update_settings(self, settings: CircuitSettings) -> None:
        """Take new settings from the next step on."""
        self.settings = settings

    def budget(self, now: float, house: Sequence[float] | None) -> tuple[PhaseCurrents, bool]:
        """The budget per phase, and whether it is the fallback (meter without value)."""
        settings = self.settings
        if not settings.metered:
            return (settings.max_current,) * PHASE_COUNT, False
        if house is None:
            for estimate in self._house:
                estimate.value = None  # start afresh when the meter is back
            return (settings.safe_budget,) * PHASE_COUNT, True
        used = [
            estimate.update(now, max(0.0, reading), settings.hysteresis, settings.release_time)
            for estimate, reading in zip(self._house, house, strict=True)
        ]
        budget = [max(0.0, math.floor(settings.max_current - value)) for value in used]
        return (budget[0], budget[1], budget[2]), False

    def step(
        self,
        now: float,
        demands: Sequence[Demand],
        *,
        house: Sequence[float] | None = None,
        surplus: float | None = None,
    ) -> Allocation:
        """Allocate for `now` (seconds): `house` A per phase (rest of the house), `surplus` W."""
        budget, fallback = self.budget(now, house)
        previous = self.last.shares if self.last is not None else {}
        wanting = [d for d in demands if d.wants and d.mode is not Mode.OFF]
        self._forget([d.key for d in wanting])
        caps = {d.key: self._cap(d) for d in wanting}
        solar, offers = self._solar_shares(now, wanting, caps, surplus, previous)
        items = [
            _Item(
                d.key,
                d.priority,
                min(caps[d.key], solar.get(d.key, math.inf)),
                {f"L{index + 1}": 1.0 for index in range(d.phases)},
                self.settings.min_current,
                d.key in previous and previous[d.key].amps > 0,
            )
            for d in wanting
        ]
        capacity = {f"L{index + 1}": budget[index] for index in range(PHASE_COUNT)}
        amps = _fill(items, capacity)
        shares = {d.key: self._share(d, amps.get(d.key, 0.0), solar.get(d.key)) for d in demands}
        self.last = Allocation(shares, budget, fallback, surplus, offers)
        return self.last

    # ------------------------------------------------------------------ caps

    def _forget(self, keys: Iterable[ConnectorKey]) -> None:
        """A connector that no longer wants current starts afresh next time."""
        keep = set(keys)
        for table in (self._car_caps, self._solar):
            for key in [k for k in table if k not in keep]:
                del table[key]

    def _cap(self, demand: Demand) -> float:
        """The most this connector may get: charger, user and what the car takes."""
        cap = demand.max_current
        if demand.user_limit is not None:
            cap = min(cap, demand.user_limit)
        offered = demand.offered or 0.0
        minimum = self.settings.min_current
        if demand.suspended_ev:
            # The car pauses itself: keep the minimum so it can resume, release the rest.
            self._car_caps[demand.key] = minimum
        elif demand.draw is not None and demand.draw_fresh and offered > 0:
            if demand.draw >= offered - _TAKES_ALL:
                self._car_caps.pop(demand.key, None)  # it takes all: its share again
            elif demand.draw < offered - _TAKES_LESS:
                self._car_caps[demand.key] = max(
                    minimum, math.ceil(demand.draw + self.settings.car_headroom)
                )
        car = self._car_caps.get(demand.key)
        return cap if car is None else min(cap, car)

    def _solar_shares(
        self,
        now: float,
        wanting: Sequence[Demand],
        caps: Mapping[ConnectorKey, float],
        surplus: float | None,
        previous: Mapping[ConnectorKey, Share],
    ) -> tuple[dict[ConnectorKey, float], dict[ConnectorKey, float]]:
        """The cap each solar-mode connector's surplus share sets, and the W it could use."""
        solar = [d for d in wanting if d.mode in SOLAR_MODES]
        if not solar:
            return {}, {}
        pool = self._steady_pool(max(0.0, surplus or 0.0))
        items = [
            _Item(
                d.key,
                d.priority,
                caps[d.key],
                {_SOLAR_POOL: d.watts_per_amp},
                self.settings.min_current,
                d.key in previous and previous[d.key].amps > 0,
            )
            for d in solar
        ]
        available = _fill(items, {_SOLAR_POOL: pool})
        unused = pool - sum(available[d.key] * d.watts_per_amp for d in solar)
        offers = {d.key: available[d.key] * d.watts_per_amp + unused for d in solar}
        targets = {
            d.key: self._solar_target(now, d, available[d.key], caps[d.key], surplus is None)
            for d in solar
        }
        return targets, offers

    def _steady_pool(self, surplus: float) -> float:
        """The surplus in use: it moves only when it changed by the hysteresis or more."""
        if self._pool is None or abs(surplus - self._pool) >= self.settings.solar_hysteresis:
            self._pool = surplus
        return self._pool

    def _solar_target(
        self, now: float, demand: Demand, available: float, cap: float, blind: bool
    ) -> float:
        """Follow the surplus share; `solar` starts and pauses after its delays."""
        settings = self.settings
        state = self._solar.setdefault(demand.key, _SolarState())
        minimum = settings.min_current
        if demand.mode is Mode.MIN_SOLAR:
            state.amps = max(minimum, min(cap, math.floor(available)))
            return state.amps
        enough = not blind and available >= minimum
        if state.amps <= 0:
            state.stop_since = None
            if not enough:
                state.start_since = None
                return 0.0
            if state.start_since is None:
                state.start_since = now
            if now - state.start_since < settings.start_delay:
                return 0.0
            state.start_since = None
        elif not enough:
            if state.stop_since is None:
                state.stop_since = now
            if now - state.stop_since >= settings.stop_delay:
                state.stop_since = None
                state.amps = 0.0
                return 0.0
            state.amps = minimum  # keep the minimum until the stop delay ran out
            return minimum
        else:
            state.stop_since = None
        state.amps = max(minimum, min(cap, math.floor(available)))
        return state.amps

    def _share(self, demand: Demand, amps: float, solar: float | None) -> Share:
        car = self._car_caps.get(demand.key)
        share = Share(
            demand.key,
            amps,
            demand.phases,
            LimitSource.PAUSED,
            demand.max_current,
            demand.user_limit,
            solar_share=solar,
            car_limit=car,
        )
        if amps <= 0:
            return share
        source = LimitSource.CIRCUIT
        if demand.user_limit is not None and amps >= demand.user_limit:
            source = LimitSource.USER
        elif amps >= demand.max_current:
            source = LimitSource.CHARGER
        elif solar is not None and amps >= solar and (car is None or solar < car):
            source = LimitSource.SOLAR
        circuit = amps if source is LimitSource.CIRCUIT else None
        return replace(share, source=source, circuit_share=circuit)
