"""Load management in Home Assistant: circuit subentries in, one `CircuitController` each.

`LoadManagement` (the runtime's `load`) keeps one `CircuitRuntime` per circuit subentry
and brings it in line with the entry whenever the runtime syncs (chargers and circuits
added, changed, removed). A circuit steps its controller once per `CONTROL_PERIOD` (and
when a charging mode or a user's limit changes): the house meter's sensors in, the
chargers' limits out, lowering first (`protocol.load`).

- The meter is three phase current sensors (A), or one power sensor (W, import positive,
  taken as spread evenly over three phases at the nominal voltage), or none (a static
  limit). A sensor without a value makes the circuit fall back to its safe static share.
- The solar surplus comes from the circuit's power sensor, else from the grid power
  sensor of the first charger on it that has its solar controller configured. The
  charging mode of a connector is its charger's `charging_mode` (fast without a solar
  controller); each connector gets its own share. A charger on a circuit has its own
  solar controller stand down (`SolarCharging.managed`): the circuit sets its limits.
  A charger with several connectors on no circuit shares the surplus between them in
  its solar controller (`SolarCharging.shared`); the connector modes and user limits
  go there then.
- A user's limit (the Current limit number) caps its connector inside the circuit.
- `limit_source` tells, for every connector on a circuit or not, what limits it now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
import logging
from typing import TYPE_CHECKING, Any, Final

from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import CALLBACK_TYPE, Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event, async_track_time_interval
from homeassistant.util import dt as dt_util

from .const import (
    CIRCUIT_CURRENT_KEYS,
    CONF_CHARGE_BOX_ID,
    CONF_CHARGERS,
    CONF_CIRCUIT_MAX_CURRENT,
    CONF_CIRCUIT_POWER_ENTITY,
    CONF_FALLBACK_CURRENT,
    CONF_MAX_CURRENT,
    CONF_NAME,
    CONF_PRIORITY,
    DEFAULT_MAX_CURRENT,
    DEFAULT_PRIORITY,
    SUBENTRY_CHARGER,
    SUBENTRY_CIRCUIT,
)
from .protocol.listeners import Listeners
from .protocol.load.allocation import (
    PHASE_COUNT,
    SOLAR_MODES,
    Allocation,
    CircuitSettings,
    LimitSource,
    Mode,
    Share,
)
from .protocol.load.circuit import CircuitController, Member, MemberSettings
from .protocol.load.phase_switch import PhaseMode
from .protocol.smart_charging import NOMINAL_VOLTAGE
from .solar_charging import power_of

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigSubentry

    from .running import Chargers, RunningCharger

_LOGGER = logging.getLogger(__name__)

CONTROL_PERIOD: Final = timedelta(seconds=30)
# Current sensor units, in A.
_CURRENT_FACTORS: Final = {"A": 1.0, "mA": 0.001}

# Attributes of the limit_source sensor.
ATTR_LIMIT: Final = "limit"
ATTR_CHARGER_MAX: Final = "charger_max"
ATTR_USER_LIMIT: Final = "user_limit"
ATTR_CIRCUIT: Final = "circuit"
ATTR_CIRCUIT_SHARE: Final = "circuit_share"
ATTR_SOLAR_SHARE: Final = "solar_share"
ATTR_CAR_LIMIT: Final = "car_limit"
ATTR_PHASES: Final = "phases"


def current_of(hass: HomeAssistant, entity_id: str) -> float | None:
    """A current sensor's value in A; None when it has none."""
    state = hass.states.get(entity_id)
    if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
        return None
    factor = _CURRENT_FACTORS.get(state.attributes.get(ATTR_UNIT_OF_MEASUREMENT, "A"))
    try:
        value = float(state.state)
    except ValueError:
        return None
    return None if factor is None else value * factor


def _mode_of(running: RunningCharger) -> Mode:
    """The charger's charging mode; fast without a configured solar controller."""
    solar = running.solar
    return solar.mode if solar.configured else Mode.FAST


class CircuitRuntime:
    """One circuit subentry: its controller, sensors and the chargers on it."""

    def __init__(
        self,
        hass: HomeAssistant,
        runtime: Chargers,
        subentry: ConfigSubentry,
        phase_modes: Mapping[str, PhaseMode],
        connector_modes: Mapping[tuple[str, int], Mode] | None = None,
    ) -> None:
        """Configure from the subentry; nothing runs before `async_start`."""
        self.hass = hass
        self.runtime = runtime
        self.subentry_id = subentry.subentry_id
        self.data: Mapping[str, Any] = {}
        # Home Assistant's clock, as the solar controller's (delays and hold times).
        self.controller = CircuitController(
            self._settings(subentry.data), clock=lambda: dt_util.utcnow().timestamp()
        )
        self.phase_modes = phase_modes  # the chargers' phase_mode selects, by charge box id
        # A connector's own charging mode (its connector_charging_mode select), where chosen.
        self.connector_modes = connector_modes if connector_modes is not None else {}
        self._listeners: Listeners[[]] = Listeners()
        self._stop: list[CALLBACK_TYPE] = []
        self._members: dict[str, RunningCharger] = {}
        self._mode_listeners: dict[str, CALLBACK_TYPE] = {}
        self._modes_used: dict[str, Mode] = {}  # the charging modes of the last step
        self.update(subentry)

    @property
    def name(self) -> str:
        """The circuit's name."""
        return str(self.data.get(CONF_NAME, ""))

    @property
    def allocation(self) -> Allocation | None:
        """The last allocation."""
        return self.controller.allocation

    @staticmethod
    def _settings(data: Mapping[str, Any]) -> CircuitSettings:
        metered = bool(data.get(CONF_CIRCUIT_POWER_ENTITY)) or all(
            data.get(key) for key in CIRCUIT_CURRENT_KEYS
        )
        fallback = data.get(CONF_FALLBACK_CURRENT)
        return CircuitSettings(
            max_current=float(data[CONF_CIRCUIT_MAX_CURRENT]),
            metered=metered,
            fallback_current=None if fallback is None else float(fallback),
        )

    @callback
    def update(self, subentry: ConfigSubentry) -> None:
        """Take the subentry's (new) data and the chargers as they run now."""
        if dict(subentry.data) != dict(self.data):
            self.data = dict(subentry.data)
            self.controller.balancer.update_settings(self._settings(self.data))
            if self._stop:
                self.async_start()
        self.sync_members()

    @callback
    def sync_members(self) -> None:
        """Put the running chargers listed on the controller; take the others off."""
        wanted = {cbid for cbid in self.data.get(CONF_CHARGERS, ()) if self.runtime.running(cbid)}
        for cbid in [c for c in self._members if c not in wanted]:
            self._release(cbid)
        for cbid in sorted(wanted):
            running = self.runtime.running(cbid)
            assert running is not None
            if self._members.get(cbid) is running:
                self._member_settings(running)
                continue
            self._release(cbid)
            data = self.runtime.entry.subentries[running.subentry_id].data
            member = self.controller.add_member(
                running.session.state, running.limiter, self._settings_of(running, data)
            )
            member.user_limits = self.runtime.store.user_caps(cbid)
            self._members[cbid] = running
            running.solar.managed = True
            self._mode_listeners[cbid] = running.solar.async_add_listener(self._mode_changed)

    def _settings_of(self, running: RunningCharger, data: Mapping[str, Any]) -> MemberSettings:
        solar = running.solar.settings
        return MemberSettings(
            max_current=float(data.get(CONF_MAX_CURRENT, DEFAULT_MAX_CURRENT)),
            priority=int(data.get(CONF_PRIORITY, DEFAULT_PRIORITY)),
            voltage=solar.voltage,
            phases=solar.phases,
            phase_mode=self.phase_modes.get(running.charge_box_id, PhaseMode.AUTO),
        )

    def _member_settings(self, running: RunningCharger) -> None:
        member = self.controller.members[running.charge_box_id]
        data = self.runtime.entry.subentries[running.subentry_id].data
        member.settings = self._settings_of(running, data)

    def _release(self, charge_box_id: str) -> None:
        running = self._members.pop(charge_box_id, None)
        self.controller.remove_member(charge_box_id)
        if (unsubscribe := self._mode_listeners.pop(charge_box_id, None)) is not None:
            unsubscribe()
        if running is not None:
            running.solar.managed = False

    def member(self, charge_box_id: str) -> Member | None:
        """The charger's place on this circuit."""
        return self.controller.members.get(charge_box_id)

    # ------------------------------------------------------------------ life cycle

    @callback
    def async_start(self) -> None:
        """Step once per control period and whenever a sensor of the meter changes value."""
        self.async_stop()
        self._stop.append(
            async_track_time_interval(
                self.hass, self._on_period, CONTROL_PERIOD, name=f"circuit {self.name}"
            )
        )

    @callback
    def async_stop(self) -> None:
        """Stop stepping (the chargers keep their last limits)."""
        for stop in self._stop:
            stop()
        self._stop = []

    @callback
    def async_release_all(self) -> None:
        """Take every charger off (the circuit is removed)."""
        self.async_stop()
        for cbid in list(self._members):
            self._release(cbid)

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        """Call `listener` after each step."""
        return self._listeners.add(listener)

    @callback
    def _mode_changed(self) -> None:
        """A charger's solar controller changed: step now if its charging mode did."""
        if any(
            _mode_of(running) != self._modes_used.get(cbid)
            for cbid, running in self._members.items()
        ):
            self.async_request_step()

    @callback
    def async_request_step(self) -> None:
        """Step soon (a mode or a limit changed) rather than at the next period."""
        self.runtime.entry.async_create_background_task(
            self.hass, self.async_step(), f"circuit {self.name}"
        )

    async def _on_period(self, _now: datetime) -> None:
        await self.async_step()

    # ------------------------------------------------------------------ one step

    def meter(self) -> tuple[float, float, float] | None:
        """The supply's current per phase from the house meter (None: no value)."""
        data = self.data
        if power_entity := data.get(CONF_CIRCUIT_POWER_ENTITY):
            power = power_of(self.hass.states.get(power_entity))
            if power is None:
                return None
            per_phase = max(0.0, power) / (NOMINAL_VOLTAGE * PHASE_COUNT)
            return (per_phase, per_phase, per_phase)
        currents = [current_of(self.hass, data[key]) for key in CIRCUIT_CURRENT_KEYS]
        if any(value is None for value in currents):
            return None
        return (currents[0] or 0.0, currents[1] or 0.0, currents[2] or 0.0)

    def grid_power(self) -> float | None:
        """W imported from the grid (negative: exported), for the solar modes."""
        if power_entity := self.data.get(CONF_CIRCUIT_POWER_ENTITY):
            return power_of(self.hass.states.get(power_entity))
        for running in self._members.values():
            solar = running.solar
            if solar.configured and solar.grid_entity_id is not None:
                power = power_of(self.hass.states.get(solar.grid_entity_id))
                if power is None:
                    return None
                return -power if solar.settings.grid_export_positive else power
        return None

    async def async_step(self) -> None:
        """One control period."""
        for cbid, running in self._members.items():
            member = self.controller.members[cbid]
            mode = self._modes_used[cbid] = _mode_of(running)
            for connector_id in member.connector_ids():
                member.modes[connector_id] = self.connector_modes.get((cbid, connector_id), mode)
        metered = self.controller.settings.metered
        await self.controller.step(
            meter=self.meter() if metered else None, grid_power=self.grid_power()
        )
        self._listeners()


class LoadManagement:
    """Every circuit of one central system."""

    def __init__(self, hass: HomeAssistant, runtime: Chargers) -> None:
        """No circuit before the first `async_sync`."""
        self.hass = hass
        self.runtime = runtime
        self.circuits: dict[str, CircuitRuntime] = {}
        self.phase_modes: dict[str, PhaseMode] = {}
        self.connector_modes: dict[tuple[str, int], Mode] = {}
        self._listeners: Listeners[[CircuitRuntime]] = Listeners()
        self._step_listeners: Listeners[[]] = Listeners()
        self._unsubscribe: dict[str, list[CALLBACK_TYPE]] = {}

    @callback
    def async_sync(self) -> None:
        """Bring the circuits in line with the entry's circuit subentries and chargers."""
        entry = self.runtime.entry
        wanted = {
            sid: sub
            for sid, sub in entry.subentries.items()
            if sub.subentry_type == SUBENTRY_CIRCUIT
        }
        for sid in [s for s in self.circuits if s not in wanted]:
            self.circuits.pop(sid).async_release_all()
            for unsubscribe in self._unsubscribe.pop(sid, []):
                unsubscribe()
            self._notify_step()
        chargers = {
            sub.data.get(CONF_CHARGE_BOX_ID)
            for sub in entry.subentries.values()
            if sub.subentry_type == SUBENTRY_CHARGER
        }
        for subentry in wanted.values():
            listed = list(subentry.data.get(CONF_CHARGERS, ()))
            kept = [cbid for cbid in listed if cbid in chargers]
            if kept != listed:
                # A charger removed from the central system leaves its circuit too
                # (this update comes back here through the update listener).
                self.hass.config_entries.async_update_subentry(
                    entry, subentry, data={**subentry.data, CONF_CHARGERS: kept}
                )
        for sid, subentry in wanted.items():
            circuit = self.circuits.get(sid)
            if circuit is not None:
                circuit.update(subentry)
                self._follow_sensors(circuit)  # the meter's sensors may have changed
                continue
            circuit = self.circuits[sid] = CircuitRuntime(
                self.hass, self.runtime, subentry, self.phase_modes, self.connector_modes
            )
            circuit.async_start()
            circuit.async_add_listener(self._notify_step)
            self._follow_sensors(circuit)
            self._listeners(circuit)

    def _follow_sensors(self, circuit: CircuitRuntime) -> None:
        """A meter sensor that loses its value makes the circuit fall back at once."""
        for unsubscribe in self._unsubscribe.pop(circuit.subentry_id, []):
            unsubscribe()

        @callback
        def on_sensor(event: Event[EventStateChangedData]) -> None:
            new = event.data["new_state"]
            if new is None or new.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
                circuit.async_request_step()

        entities = [
            e
            for e in (
                *(circuit.data.get(k) for k in CIRCUIT_CURRENT_KEYS),
                circuit.data.get(CONF_CIRCUIT_POWER_ENTITY),
            )
            if e
        ]
        if entities:
            self._unsubscribe.setdefault(circuit.subentry_id, []).append(
                async_track_state_change_event(self.hass, entities, on_sensor)
            )

    @callback
    def async_add_circuit_listener(
        self, listener: Callable[[CircuitRuntime], None]
    ) -> CALLBACK_TYPE:
        """Call `listener` for every circuit now and for each one added later."""
        remove = self._listeners.add(listener)
        for circuit in self.circuits.values():
            listener(circuit)
        return remove

    @callback
    def async_add_step_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        """Call `listener` after every step of any circuit (and when one is removed)."""
        return self._step_listeners.add(listener)

    def _notify_step(self) -> None:
        self._step_listeners()

    @callback
    def async_stop(self) -> None:
        """Stop every circuit."""
        for circuit in self.circuits.values():
            circuit.async_stop()
        for unsubscribes in self._unsubscribe.values():
            for unsubscribe in unsubscribes:
                unsubscribe()
        self._unsubscribe.clear()

    def circuit_of(self, charge_box_id: str) -> CircuitRuntime | None:
        """The circuit a charger is on."""
        return next(
            (c for c in self.circuits.values() if c.member(charge_box_id) is not None), None
        )

    # ------------------------------------------------------------------ user actions

    async def async_set_user_limit(
        self, charge_box_id: str, connector_id: int, amps: float
    ) -> bool:
        """Cap a connector on a circuit at `amps`; False when the charger is on none."""
        circuit = self.circuit_of(charge_box_id)
        store = self.runtime.store
        if circuit is None:
            running = self.runtime.running(charge_box_id)
            if running is None or running.solar.shared is None:
                return False
            # Connectors sharing the surplus on no circuit: the cap is part of the share.
            await running.solar.async_set_user_limit(connector_id, amps)
            store.set_user_cap(
                charge_box_id, connector_id, running.solar.user_limits.get(connector_id)
            )
            return True
        member = circuit.member(charge_box_id)
        assert member is not None
        if amps >= member.settings.max_current:
            member.user_limits.pop(connector_id, None)
        else:
            member.user_limits[connector_id] = amps
        # Kept across restarts, as a limit set without a circuit is.
        store.set_user_cap(charge_box_id, connector_id, member.user_limits.get(connector_id))
        await circuit.async_step()
        return True

    def phase_mode(self, charge_box_id: str) -> PhaseMode:
        """The charger's phase mode (auto when never chosen)."""
        return self.phase_modes.get(charge_box_id, PhaseMode.AUTO)

    @callback
    def async_set_phase_mode(self, charge_box_id: str, mode: PhaseMode) -> None:
        """Choose the phases of a charger that can switch; it acts at once.

        On a circuit the circuit steps; on none the charger's solar controller does.
        """
        self.phase_modes[charge_box_id] = mode
        if (circuit := self.circuit_of(charge_box_id)) is not None:
            circuit.sync_members()
            circuit.async_request_step()
        elif (running := self.runtime.running(charge_box_id)) is not None:
            self.hass.async_create_task(
                running.solar.async_run(), f"phase mode {charge_box_id}", eager_start=True
            )

    def connector_mode(self, charge_box_id: str, connector_id: int) -> Mode:
        """The charging mode a connector on a circuit follows: its own, else its charger's."""
        chosen = self.connector_modes.get((charge_box_id, connector_id))
        if chosen is not None:
            return chosen
        running = self.runtime.running(charge_box_id)
        return Mode.FAST if running is None else _mode_of(running)

    @callback
    def async_set_connector_mode(self, charge_box_id: str, connector_id: int, mode: Mode) -> None:
        """Choose one connector's charging mode; its circuit acts at once."""
        self.connector_modes[(charge_box_id, connector_id)] = mode
        if (circuit := self.circuit_of(charge_box_id)) is not None:
            circuit.async_request_step()
        elif (running := self.runtime.running(charge_box_id)) is not None:
            # On no circuit: the charger's solar controller shares among its connectors.
            running.solar.async_set_connector_mode(connector_id, mode)

    def phases(self, charge_box_id: str) -> int | None:
        """The phases a charger that can switch was last set to."""
        circuit = self.circuit_of(charge_box_id)
        if circuit is None:
            running = self.runtime.running(charge_box_id)
            if running is None or not running.solar.configured:
                return None
            # On no circuit: the sharing of several connectors, or the one controller.
            shared = running.solar.shared
            member = None if shared is None else shared.members.get(charge_box_id)
            if member is None:
                return running.solar.phase_switch.phases
        else:
            member = circuit.member(charge_box_id)
        if member is None or not member.switches:
            return None
        return min(switch.phases for switch in member.switches.values())

    def acts_on_phases(self, charge_box_id: str) -> bool:
        """Whether something chooses the charger's phases: its circuit or its solar controller."""
        if self.circuit_of(charge_box_id) is not None:
            return True
        running = self.runtime.running(charge_box_id)
        return running is not None and running.solar.configured

    # ------------------------------------------------------------------ limit source

    def limit_source(
        self, charge_box_id: str, connector_id: int
    ) -> tuple[LimitSource | None, dict[str, Any]]:
        """What limits a connector now, and the numbers behind it."""
        running = self.runtime.running(charge_box_id)
        if running is None:
            return None, {}
        circuit = self.circuit_of(charge_box_id)
        allocation = None if circuit is None else circuit.allocation
        share = None if allocation is None else allocation.shares.get((charge_box_id, connector_id))
        if circuit is not None and share is not None:
            return share.source, _share_attributes(circuit.name, share)
        shared = running.solar.shared
        allocation = None if shared is None or running.solar.managed else shared.allocation
        share = None if allocation is None else allocation.shares.get((charge_box_id, connector_id))
        if share is not None:
            # Connectors sharing the surplus on no circuit (`SolarCharging.shared`).
            return share.source, _share_attributes(None, share)
        return self._alone(running, connector_id)

    def _alone(
        self, running: RunningCharger, connector_id: int
    ) -> tuple[LimitSource | None, dict[str, Any]]:
        """The source of a connector on no circuit: the limit in force and who set it."""
        data = self.runtime.entry.subentries[running.subentry_id].data
        charger_max = float(data.get(CONF_MAX_CURRENT, DEFAULT_MAX_CURRENT))
        limit = running.session.state.connector(connector_id).current_limit
        attributes = {ATTR_LIMIT: limit, ATTR_CHARGER_MAX: charger_max}
        solar = running.solar
        if limit is None or limit >= charger_max:
            return LimitSource.CHARGER, attributes
        if limit <= 0:
            return LimitSource.PAUSED, attributes
        if solar.configured and solar.mode in SOLAR_MODES:
            return LimitSource.SOLAR, attributes
        if running.limiter.wanted(connector_id) is not None:
            return LimitSource.USER, attributes | {ATTR_USER_LIMIT: limit}
        # In force, but not set by us: a charging profile of the charger's own or of
        # another system, read with GetCompositeSchedule.
        return LimitSource.SCHEDULE, attributes


def _share_attributes(circuit: str | None, share: Share) -> dict[str, Any]:
    return {
        ATTR_LIMIT: share.amps,
        ATTR_CHARGER_MAX: share.charger_max,
        ATTR_USER_LIMIT: share.user_limit,
        ATTR_CIRCUIT: circuit,
        ATTR_CIRCUIT_SHARE: share.circuit_share,
        ATTR_SOLAR_SHARE: share.solar_share,
        ATTR_CAR_LIMIT: share.car_limit,
        ATTR_PHASES: share.phases,
    }
