"""Runs one charger's solar surplus controller in Home Assistant: sensor states in, limits out.

`SolarCharging` is the thin adapter around `surplus_controller.SurplusController`: it turns the
state changes of the configured grid (and battery) power sensors into samples, records
when the charger's power reading arrives, steps the controller once per control period
and asks the charger's `CurrentLimiter` for the target whenever the limit the charger
accepted differs from it. Entities (the `charging_mode` select, the controller sensors)
read `mode` and `decision` and follow `async_add_listener`.

The runtime keeps one `SolarCharging` per charger in `runtime.solar` (by charge box id).
It controls only once a grid power sensor is configured (`configured`); the entities of
a charger appear then (`async_setup_solar_entities`).

A charger with one connector is driven by the surplus controller alone (its `decision`).
A charger with several connectors that is on no circuit shares the surplus between
them the way a circuit does: the charger is the only member of a `CircuitController` of
its own (`shared`, unmetered, its budget the charger's maximum on every connector), whose
allocator serves the connectors by priority then equally, each in its own charging mode
(`connector_modes`, the `connector_charging_mode` selects; the charger's `mode` where none
was chosen). The surplus controller still reads the sensors: its `net_import` (the mean
grid import since the last step, the home battery's term taken off) is the circuit's
grid power.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
import logging
from typing import Any, Final

from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfPower,
)
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.helpers.event import async_track_state_change_event, async_track_time_interval
from homeassistant.util import dt as dt_util

from .protocol.errors import OcppError
from .protocol.listeners import Listeners
from .protocol.load.allocation import CircuitSettings, Mode
from .protocol.load.circuit import CircuitController, MemberSettings, supports_phase_switching
from .protocol.load.phase_switch import PhaseMode, PhaseSwitch
from .protocol.measurands import Supply, active_power, connector_supply
from .protocol.smart_charging import CurrentLimiter
from .protocol.state import READINGS, ChargerState, Reading
from .surplus_controller import (
    CONF_BATTERY_POWER_ENTITY,
    CONF_GRID_POWER_ENTITY,
    ChargingMode,
    ChargingPower,
    Decision,
    Sample,
    SolarSettings,
    SurplusController,
)

_LOGGER = logging.getLogger(__name__)

# The connector the controller drives (home chargers have one).
DEFAULT_CONNECTOR: Final = 1
# Power sensor units, in W.
_POWER_FACTORS: Final = {
    UnitOfPower.WATT: 1.0,
    UnitOfPower.KILO_WATT: 1000.0,
    UnitOfPower.MEGA_WATT: 1_000_000.0,
}


def power_of(state: State | None) -> float | None:
    """A power sensor's value in W; None when it has none (unavailable, unknown, not a number)."""
    if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
        return None
    factor = _POWER_FACTORS.get(state.attributes.get(ATTR_UNIT_OF_MEASUREMENT, UnitOfPower.WATT))
    try:
        value = float(state.state)
    except ValueError:
        return None
    return None if factor is None else value * factor


class SolarCharging:
    """The surplus controller of one charger, fed by Home Assistant sensors."""

    def __init__(
        self,
        hass: HomeAssistant,
        state: ChargerState,
        limiter: CurrentLimiter,
        options: Mapping[str, Any],
        *,
        connector_id: int = DEFAULT_CONNECTOR,
        mode: ChargingMode = ChargingMode.SOLAR,
    ) -> None:
        """Configure from the charger subentry's options; nothing runs before `async_start`."""
        self.hass = hass
        self.state = state
        self.limiter = limiter
        self.connector_id = connector_id
        self.controller = SurplusController(SolarSettings.from_options(options), mode)
        self.grid_entity_id: str | None = options.get(CONF_GRID_POWER_ENTITY) or None
        self.battery_entity_id: str | None = options.get(CONF_BATTERY_POWER_ENTITY) or None
        self.decision: Decision | None = None
        self.last_error: str | None = None
        self._listeners: Listeners[[]] = Listeners()
        self._stop: list[CALLBACK_TYPE] = []
        self._power_reading: Reading | None = None
        self._power_time: float | None = None
        self._running = False
        # The charger is on a circuit: load management sets its limits (and reads `mode`).
        self.managed = False
        # Several connectors on no circuit: their own modes and the circuit that shares.
        self.connector_modes: dict[int, Mode] = {}
        self.user_limits: dict[int, float] = {}
        self.shared: CircuitController | None = None
        # One connector of a charger that can switch phases (OCPP 1.6 section 9.4.4): its
        # phases, and the user's phase_mode select (set by the runtime; auto without one).
        self.phase_switch = PhaseSwitch()
        self.phase_mode_of: Callable[[], PhaseMode] = lambda: PhaseMode.AUTO
        self._phases_sent: int | None = None

    @property
    def configured(self) -> bool:
        """Whether a grid power sensor is configured: only then does the controller act."""
        return self.grid_entity_id is not None

    @property
    def mode(self) -> ChargingMode:
        """The charging mode."""
        return self.controller.mode

    @property
    def settings(self) -> SolarSettings:
        """The controller's settings."""
        return self.controller.settings

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        """Call `listener` after each control step, mode or configuration change."""
        return self._listeners.add(listener)

    def _notify(self) -> None:
        self._listeners()

    # ------------------------------------------------------------------ life cycle

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Follow the sensors and step once per control period; return the stop function."""
        self.async_stop()
        if not self.configured:
            return self.async_stop
        entity_ids = [e for e in (self.grid_entity_id, self.battery_entity_id) if e]
        self._record_sample()
        self._record_power()
        self._stop = [
            async_track_state_change_event(self.hass, entity_ids, self._on_sensor),
            self.state.subscribe(((self.connector_id, READINGS),), self._record_power),
            async_track_time_interval(
                self.hass,
                self._on_period,
                timedelta(seconds=self.settings.period),
                name=f"solar surplus {self.state.charge_box_id}",
            ),
        ]
        return self.async_stop

    @callback
    def async_stop(self) -> None:
        """Stop following the sensors (the charger keeps the last limit)."""
        for stop in self._stop:
            stop()
        self._stop = []

    @callback
    def async_update_options(self, options: Mapping[str, Any]) -> None:
        """Take a charger subentry's new options without losing the mode."""
        self.controller.update_settings(SolarSettings.from_options(options))
        self.grid_entity_id = options.get(CONF_GRID_POWER_ENTITY) or None
        self.battery_entity_id = options.get(CONF_BATTERY_POWER_ENTITY) or None
        if self._stop or self.configured:
            self.async_start()
        self._notify()

    @property
    def several_connectors(self) -> bool:
        """Whether the charger has more than one connector (they share the surplus)."""
        return len(self.state.connector_ids) > 1

    def connector_mode(self, connector_id: int) -> Mode:
        """A connector's charging mode: its own where chosen, else the charger's."""
        return self.connector_modes.get(connector_id, self.mode)

    @callback
    def async_set_connector_mode(self, connector_id: int, mode: Mode) -> None:
        """Choose one connector's charging mode; act on it at once."""
        self.connector_modes[connector_id] = mode
        self._notify()
        if self._stop:
            self.hass.async_create_task(self.async_run(), f"solar {self.state.charge_box_id}")

    async def async_set_user_limit(self, connector_id: int, amps: float) -> None:
        """Cap a connector's share (a user's limit); at or above the maximum: no cap."""
        if amps >= self.settings.max_current:
            self.user_limits.pop(connector_id, None)
        else:
            self.user_limits[connector_id] = amps
        await self.async_run()

    @callback
    def async_set_mode(self, mode: ChargingMode) -> None:
        """Switch modes and act on it at once rather than at the next period."""
        self.controller.set_mode(mode)
        self._notify()
        if self._stop:
            self.hass.async_create_task(self.async_run(), f"solar {self.state.charge_box_id}")

    # ------------------------------------------------------------------ inputs

    @callback
    def _on_sensor(self, _event: Event[EventStateChangedData]) -> None:
        self._record_sample()

    def _record_sample(self) -> None:
        states = self.hass.states
        battery = None
        if self.battery_entity_id is not None:
            battery = power_of(states.get(self.battery_entity_id))
        grid = None if self.grid_entity_id is None else power_of(states.get(self.grid_entity_id))
        self.controller.add_sample(Sample(dt_util.utcnow().timestamp(), grid, battery))

    def _record_power(self) -> None:
        """Note when a new power reading arrived (the charger's own clock may be off)."""
        power = active_power(self.state.connector(self.connector_id).readings)
        if power is not None and power.reading is not self._power_reading:
            self._power_reading = power.reading
            self._power_time = dt_util.utcnow().timestamp()

    def _charging_power(self) -> ChargingPower | None:
        # The power sensor's figure (`measurands.active_power`: one rule for both).
        power = active_power(self.state.connector(self.connector_id).readings)
        if power is None or self._power_time is None:
            return None
        return ChargingPower(power.value, self._power_time)

    # ------------------------------------------------------------------ control

    async def _on_period(self, _now: datetime) -> None:
        await self.async_run()

    async def async_run(self) -> None:
        """One control step: decide, and send the target if the charger has another limit."""
        if self._running:
            return  # the previous step still waits
        if not self.configured or self.managed:
            # Nothing to control, or a circuit does: what the sharing knew is stale then.
            self._drop_shared()
            return
        self._running = True
        try:
            if self.several_connectors:
                await self._share()
                return
            self._drop_shared()
            now = dt_util.utcnow().timestamp()
            supply = connector_supply(self.state, self.connector_id)
            phases = self._phases(now, supply)
            if phases is not None:
                supply = Supply(supply.voltage, phases)
            decision = self.controller.step(now, self._charging_power(), supply)
            self.decision = decision
            # Show the decision now: the limiter may hold the limit back for a while (it
            # spaces the limits it sends), and the answer only changes `last_error`.
            self._notify()
            connector = self.state.connector(self.connector_id)
            if connector.current_limit == decision.target and phases == self._phases_sent:
                # In force, e.g. applied again by the limiter when the charger reconnected.
                self.last_error = None
            elif self.state.connected:
                try:
                    await self.limiter.set_limit(self.connector_id, decision.target, phases=phases)
                    self._phases_sent = phases
                except OcppError as err:
                    self.last_error = str(err)
                    _LOGGER.warning(
                        "%s: limit %s A not set: %s",
                        self.state.charge_box_id,
                        decision.target,
                        err,
                    )
                else:
                    self.last_error = None
        finally:
            self._running = False
            self._notify()

    def _phases(self, now: float, supply: Supply) -> int | None:
        """The phases for a charger that can switch (None: it cannot, send no numberPhases).

        Decided by `PhaseSwitch` (the rule circuits use) from the surplus of the last
        control step: one phase when it cannot carry three at the minimum current, back
        to three with hysteresis, never within the first minute of a session or sooner
        than the minimum interval after the last switch; `phase_mode` 1 or 3 overrides.
        """
        if not supports_phase_switching(self.state):
            return None
        last = self.decision
        tx = self.state.connector(self.connector_id).running_transaction
        return self.phase_switch.decide(
            now,
            supported=True,
            phase_mode=self.phase_mode_of(),
            mode=self.mode,
            offer=None if last is None else last.surplus,
            voltage=supply.voltage or self.settings.voltage,
            session_start=None if tx is None else tx.start_time.timestamp(),
        )

    def _drop_shared(self) -> None:
        if self.shared is not None:
            self.shared.remove_member(self.state.charge_box_id)
            self.shared = None

    def _circuit_settings(self) -> CircuitSettings:
        settings = self.settings
        return CircuitSettings(
            # No supply to protect: every connector may have the charger's maximum.
            max_current=settings.max_current * len(self.state.connector_ids),
            min_current=settings.min_current,
            start_delay=settings.start_delay,
            stop_delay=settings.stop_delay,
            solar_hysteresis=settings.hysteresis,
        )

    async def _share(self) -> None:
        """One step of the connectors sharing the surplus (several connectors, no circuit)."""
        settings = self.settings
        now = dt_util.utcnow().timestamp()
        shared = self.shared
        if shared is None:
            shared = self.shared = CircuitController(
                self._circuit_settings(), clock=lambda: dt_util.utcnow().timestamp()
            )
        else:
            shared.balancer.update_settings(self._circuit_settings())
        member = shared.members.get(self.state.charge_box_id)
        member_settings = MemberSettings(
            max_current=settings.max_current, voltage=settings.voltage, phases=settings.phases
        )
        if member is None or member.limiter is not self.limiter:
            member = shared.add_member(self.state, self.limiter, member_settings)
        member.settings = member_settings
        member.modes = {c: self.connector_mode(c) for c in member.connector_ids()}
        member.user_limits = dict(self.user_limits)
        self.decision = None
        await shared.step(grid_power=self.controller.net_import(now))
        result = shared.last_result
        unconfirmed = [] if result is None else [key[1] for key in result.unconfirmed]
        self.last_error = f"limit not set on connector {unconfirmed}" if unconfirmed else None
