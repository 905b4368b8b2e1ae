"""One circuit's load management over live chargers: state in, ordered limits out.

`CircuitController` holds the chargers on a circuit (each with its `ChargerState`,
`CurrentLimiter` and settings). `step(meter=..., grid_power=...)` is one control
period:

1. Each connector's demand is read from what the charger reported (OCPP 1.6 sections
   4.7 MeterValues and 4.9 StatusNotification): it wants current while a transaction
   runs or a car is plugged in (Preparing, Charging, SuspendedEV, SuspendedEVSE); the
   car's draw is the highest Current.Import phase, its voltage and phases those the
   charger reports (`measurands.reported_supply`: the configured values stand in while
   the charger reports none); idle
   connectors get 0 A so that a car arriving cannot take more than the budget before
   its share is sent (at the next period).
2. The house current is the meter's per phase minus what the chargers draw
   (`allocation.house_rest`); the solar surplus is the grid export plus what the
   connectors in the solar modes draw now.
3. `LoadBalancer` allocates; chargers that can switch phases (ConnectorSwitch3to1PhaseSupported,
   section 9.4.4) get their phases from `PhaseSwitch` (numberPhases, section 7.14).
4. `LimitApplier` sends the limits, lowering first (section 3.13 profiles take effect
   one charger at a time).

A step still waiting for chargers when the next is due is not started twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
import logging
import math
import time
from typing import Final

from ..config_keys import lookup_bool
from ..measurands import connector_supply
from ..smart_charging import NOMINAL_VOLTAGE, CurrentLimiter
from ..state import BOOT, CONNECTED, ChargerState, ConnectorState, Reading
from ..vocabulary import ChargePointStatus, ConfigurationKey, Measurand, Phase
from .allocation import (
    PHASE_COUNT,
    SOLAR_MODES,
    Allocation,
    CircuitSettings,
    ConnectorKey,
    Demand,
    LoadBalancer,
    Mode,
    PhaseCurrents,
    house_rest,
)
from .apply import ApplyResult, LimitApplier, Target
from .phase_switch import PhaseMode, PhaseSwitch, PhaseSwitchSettings

__all__ = ["CircuitController", "Member", "MemberSettings", "supports_phase_switching"]

_LOGGER = logging.getLogger(__name__)

PHASE_SWITCH_KEY: Final = ConfigurationKey.connector_switch_3to1_phase_supported
# Statuses (section 7.7) in which a car is there and charges or wants to.
_WANTING: Final = frozenset(
    {
        ChargePointStatus.preparing,
        ChargePointStatus.charging,
        ChargePointStatus.suspended_ev,
        ChargePointStatus.suspended_evse,
    }
)
_PHASES: Final = (Phase.l1, Phase.l2, Phase.l3)
_CURRENT: Final = str(Measurand.current_import)
_POWER: Final = str(Measurand.power_active_import)


def supports_phase_switching(state: ChargerState) -> bool:
    """Whether the charger says it switches phases during a transaction (section 9.4.4)."""
    return lookup_bool(state.configuration, PHASE_SWITCH_KEY) is True


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberSettings:
    """A charger's place on the circuit (its subentry's options)."""

    max_current: float  # A per phase the charger may give
    priority: int = 0
    voltage: float = NOMINAL_VOLTAGE  # used while the charger reports no voltage
    phases: int = PHASE_COUNT  # used while the charger reports no phase voltages
    phase_mode: PhaseMode = PhaseMode.AUTO


@dataclass(slots=True)
class Member:
    """A charger on the circuit."""

    state: ChargerState
    limiter: CurrentLimiter
    settings: MemberSettings
    modes: dict[int, Mode] = field(default_factory=dict)  # per connector; default fast
    user_limits: dict[int, float] = field(default_factory=dict)  # per connector
    switches: dict[int, PhaseSwitch] = field(default_factory=dict)
    unsubscribe: Callable[[], None] | None = None

    @property
    def charge_box_id(self) -> str:
        """The charger's id."""
        return self.state.charge_box_id

    def connector_ids(self) -> list[int]:
        """The connectors (1..n) known of the charger."""
        known = [c for c in self.state.connector_ids if c > 0]
        return known or [1]

    def mode(self, connector_id: int) -> Mode:
        """The connector's charging mode."""
        return self.modes.get(connector_id, Mode.FAST)


@dataclass(slots=True)
class _Track:
    """What the controller remembers of one connector between steps."""

    in_force: Target | None = None  # the limit the charger confirmed last
    changed_at: float = -math.inf  # when it confirmed another one
    reading: Reading | None = None  # the Current.Import reading by then
    transaction_id: int | None = None
    session_start: float | None = None


def _phase_currents(connector: ConnectorState) -> list[float]:
    return [v for phase in _PHASES if (v := connector.reading(f"{_CURRENT}.{phase}")) is not None]


def _current_reading(connector: ConnectorState) -> Reading | None:
    for key in (f"{_CURRENT}.{Phase.l1}", _CURRENT):
        if (found := connector.readings.get(key)) is not None:
            return found
    return None


class CircuitController:
    """Load management of one circuit."""

    def __init__(
        self,
        settings: CircuitSettings,
        *,
        phase_settings: PhaseSwitchSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """An empty circuit; `add_member` puts chargers on it."""
        self.balancer = LoadBalancer(settings)
        self.applier = LimitApplier()
        self.phase_settings = phase_settings or PhaseSwitchSettings(
            min_current=settings.min_current
        )
        self.members: dict[str, Member] = {}
        self.last_result: ApplyResult | None = None
        self._clock = clock
        self._tracks: dict[ConnectorKey, _Track] = {}
        self._running = False

    @property
    def settings(self) -> CircuitSettings:
        """The circuit's settings."""
        return self.balancer.settings

    @property
    def busy(self) -> bool:
        """Whether a step is still waiting for the chargers (the next one is skipped)."""
        return self._running

    @property
    def allocation(self) -> Allocation | None:
        """The last allocation (None before the first step)."""
        return self.balancer.last

    def add_member(
        self, state: ChargerState, limiter: CurrentLimiter, settings: MemberSettings
    ) -> Member:
        """Put a charger on the circuit (replacing an earlier entry of the same id)."""
        self.remove_member(state.charge_box_id)
        member = Member(state, limiter, settings)
        member.unsubscribe = state.subscribe(
            (CONNECTED, BOOT), lambda: self.applier.forget(state.charge_box_id)
        )
        self.members[state.charge_box_id] = member
        return member

    def remove_member(self, charge_box_id: str) -> None:
        """Take a charger off the circuit (its last limit stays in force)."""
        member = self.members.pop(charge_box_id, None)
        if member is not None and member.unsubscribe is not None:
            member.unsubscribe()
        self.applier.forget(charge_box_id)
        for key in [k for k in self._tracks if k[0] == charge_box_id]:
            del self._tracks[key]

    # ------------------------------------------------------------------ one period

    async def step(
        self, *, meter: Sequence[float] | None = None, grid_power: float | None = None
    ) -> Allocation | None:
        """One control period: `meter` A per phase at the supply, `grid_power` W imported."""
        if self._running:
            return self.allocation
        self._running = True
        try:
            now = self._clock()
            demands = self._demands(now)
            house = None if meter is None else house_rest(meter, self._draws(demands))
            surplus = None if grid_power is None else self._surplus(grid_power, demands)
            allocation = self.balancer.step(now, demands, house=house, surplus=surplus)
            if self._switch_phases(now, allocation):
                # Shares in W follow the phases: allocate again with the new ones.
                allocation = self.balancer.step(
                    now, self._demands(now), house=house, surplus=surplus
                )
            targets = {
                key: Target(share.amps, self._phases_sent(key))
                for key, share in allocation.shares.items()
            }
            charger_max = {key: self.members[key[0]].settings.max_current for key in targets}
            limiters = {
                cbid: member.limiter
                for cbid, member in self.members.items()
                if member.state.connected
            }
            self.last_result = await self.applier.apply(targets, limiters, charger_max)
            self._note_in_force(now)
            return allocation
        finally:
            self._running = False

    def _note_in_force(self, now: float) -> None:
        """Remember when each connector's confirmed limit changed (a car needs time)."""
        for key, track in self._tracks.items():
            confirmed = self.applier.confirmed.get(key)
            if confirmed != track.in_force:
                track.in_force, track.changed_at = confirmed, now
                member = self.members.get(key[0])
                if member is not None:
                    track.reading = _current_reading(member.state.connector(key[1]))

    def _phases_sent(self, key: ConnectorKey) -> int | None:
        switch = self.members[key[0]].switches.get(key[1])
        return None if switch is None else switch.phases

    def _demands(self, now: float) -> list[Demand]:
        demands = []
        for member in self.members.values():
            switching = supports_phase_switching(member.state)
            for connector_id in member.connector_ids():
                demands.append(self._demand(now, member, connector_id, switching=switching))
        return demands

    def _demand(self, now: float, member: Member, connector_id: int, *, switching: bool) -> Demand:
        key = (member.charge_box_id, connector_id)
        connector = member.state.connector(connector_id)
        track = self._tracks.setdefault(key, _Track())
        running = connector.running_transaction
        transaction_id = None if running is None else running.transaction_id
        if transaction_id != track.transaction_id:
            track.transaction_id = transaction_id
            track.session_start = None if transaction_id is None else now
        settings = member.settings
        supply = connector_supply(member.state, connector_id)
        if switching:
            switch = member.switches.setdefault(connector_id, PhaseSwitch(self.phase_settings))
            phases = switch.phases
        else:
            member.switches.pop(connector_id, None)
            phases = supply.phases or settings.phases
        currents = _phase_currents(connector)
        total = connector.reading(_CURRENT)
        draw = max(currents) if currents else total
        reading = _current_reading(connector)
        fresh = (
            reading is not None
            and reading is not track.reading
            and now - track.changed_at >= self.settings.settle_time
        )
        wants = running is not None or connector.status in _WANTING
        return Demand(
            key=key,
            wants=wants,
            max_current=settings.max_current,
            priority=settings.priority,
            mode=member.mode(connector_id),
            phases=phases,
            voltage=supply.voltage or settings.voltage,
            user_limit=member.user_limits.get(connector_id),
            offered=None if track.in_force is None else track.in_force.amps,
            draw=draw,
            draw_fresh=fresh,
            suspended_ev=connector.status == ChargePointStatus.suspended_ev,
        )

    def _draws(self, demands: Iterable[Demand]) -> list[PhaseCurrents]:
        """What each connector draws on L1, L2, L3 now (its reported phase currents)."""
        loads: list[PhaseCurrents] = []
        for demand in demands:
            connector = self.members[demand.key[0]].state.connector(demand.key[1])
            currents = [connector.reading(f"{_CURRENT}.{phase}") or 0.0 for phase in _PHASES]
            if not any(currents) and demand.draw:
                loads.append(demand.phase_load(demand.draw))
            else:
                loads.append((currents[0], currents[1], currents[2]))
        return loads

    def _surplus(self, grid_power: float, demands: Iterable[Demand]) -> float:
        """W the solar modes may use: the export plus what they draw now."""
        drawn = 0.0
        for demand in demands:
            if demand.mode not in SOLAR_MODES:
                continue
            connector = self.members[demand.key[0]].state.connector(demand.key[1])
            power = connector.reading(_POWER)
            if power is None and demand.draw is not None:
                power = demand.draw * demand.watts_per_amp
            drawn += max(0.0, power or 0.0)
        return drawn - grid_power

    def _switch_phases(self, now: float, allocation: Allocation) -> bool:
        """Decide the phases of the chargers that can switch; whether any changed."""
        changed = False
        for member in self.members.values():
            for connector_id, switch in member.switches.items():
                key = (member.charge_box_id, connector_id)
                before = switch.phases
                track = self._tracks.get(key)
                switch.decide(
                    now,
                    supported=True,
                    phase_mode=member.settings.phase_mode,
                    mode=member.mode(connector_id),
                    offer=allocation.solar_offer.get(key),
                    session_start=None if track is None else track.session_start,
                )
                changed |= switch.phases != before
        return changed
