"""Current limits that real chargers obey, through OCPP 1.6 smart charging (section 3.13).

`CurrentLimiter.set_limit(connector_id, amps)` turns "at most this many amperes" into
charging profiles (SetChargingProfile, section 5.16; ChargingProfile types in 7.8-7.14):

1. Capabilities come from the charger's Smart Charging configuration keys (sections
   3.13.5 and 9.4), read once per connection from `state.configuration` (asking
   GetConfiguration for the ones missing): SupportedFeatureProfiles (no SmartCharging:
   nothing is sent), ChargeProfileMaxStackLevel, ChargingScheduleAllowedChargingRateUnit,
   MaxChargingProfilesInstalled and NumberOfConnectors.
2. Strategies, in order, each remembered as refused for the rest of the connection
   once the charger rejects it:
   - TxDefaultProfile on the connector (section 3.13.1): applies to the running
     transaction and to the next ones (errata 3.8), and survives reboots (errata 3.37);
   - ChargePointMaxProfile on connector 0, only for a single-connector charger (on a
     charger with more connectors it would limit them all together, section 3.13.3);
   - TxProfile on the connector's running transaction, with its transactionId
     (section 5.16.3); it ends with the transaction, and the limit is sent again when
     the next transaction starts.
   Every profile is Absolute with a startSchedule a minute in the past, so no gap of
   default behaviour opens while it replaces the previous one (section 5.16.4 note),
   without duration (it holds until replaced), in A when the charger allows it, else in
   W: amperes x voltage x phases with numberPhases set (section 7.12), the voltage and
   phases the connector reports (`measurands.reported_supply`), else the configured ones.
3. Profiles are ours by id and stack level. Ids are `PROFILE_ID_BASE + 100 x purpose
   index + connector id` (see `profile_id`), so the same request replaces our previous
   profile (section 5.16.3: same chargingProfileId) instead of piling up. The stack
   level is the charger's ChargeProfileMaxStackLevel (our limit prevails over lower
   profiles of the same purpose, section 3.13.2), or `DEFAULT_STACK_LEVEL` when the
   charger does not say. Once a strategy is accepted, our profiles of the other
   strategies are cleared by id (ClearChargingProfile, section 5.5): none is left stale.
4. 0 A pauses charging (a limit of 0 in the schedule); any request below `min_current`
   (default 6 A, the IEC 61851 minimum) pauses as well, since a car cannot charge below it.
5. Coalescing: a connector receives at most one new limit per `min_interval` seconds
   (default 10). Requests arriving meanwhile wait; the latest wins and every waiting
   caller gets the value the charger accepted. A request for the limit already in force
   sends nothing.

The accepted limit is stored in `ConnectorState.current_limit` and announced with the
key `(connector_id, "current_limit")`.

6. Limits survive restarts on both sides. `restore` takes the limits set before a Home
   Assistant restart (shown at once, sent again once the charger is ready). Each time
   the charger's connection becomes ready (`READY`: after every accepted boot, when
   profiles may have been lost), every limit we set is applied again and verified
   with GetCompositeSchedule (section 5.7) where the charger does smart charging; a
   connector we never limited shows the limit its composite schedule puts in force.
   `current_limit` is then the effective limit. `on_accepted(connector_id, amps)` hears
   of every limit the charger accepted (to persist it).
7. `start_profile(connector_id)`: the TxProfile a RemoteStartTransaction carries
   (sections 5.11 and 5.16.2) so a transaction starts within the limit set.
8. Phases: `set_limit(connector_id, amps, phases=1)` also sets numberPhases in the
   schedule period (section 7.14; absent means 3, section 7.13), which switches a
   charger that supports it between one and three phases (ConnectorSwitch3to1PhaseSupported,
   section 9.4.4). A limit without `phases` leaves numberPhases out (A) as before.

The profiles themselves (their form, ids, the charger's capabilities, reading a
composite schedule) are built in `protocol.charging_profiles`; this module holds the
limiter's state machine: strategies, coalescing, re-applying and verifying when ready.
It is longer than our usual 600 lines on purpose: it is one class whose parts share the
state of one connection (what is installed, refused, wanted, waiting), and cut apart they
would each need all of it. `CurrentLimiter`'s public API (`set_limit`, `restore`,
`start_profile`, `composite_schedule`, `close`, `state`, `on_accepted`) is what load
management across chargers builds on (`protocol.load`, with `phases` and `wanted`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
import logging
import math
import time
from typing import Any, Final, Protocol

from .charging_profiles import (
    CAPABILITY_KEYS,
    CHARGE_POINT_MAX_PROFILE,
    DEFAULT_STACK_LEVEL,
    MIN_CURRENT,
    NOMINAL_VOLTAGE,
    PROFILE_ID_BASE,
    PURPOSES,
    SPEC_DEFAULT_PHASES,
    TX_DEFAULT_PROFILE,
    TX_PROFILE,
    Capabilities,
    LimitRefused,
    build_profile,
    profile_id,
    schedule_limit,
)
from .config_keys import lookup
from .errors import CallErrorReceived, CallTimeoutError, OcppError
from .measurands import Supply, connector_supply
from .messages import ConfigurationResult
from .retry import SetupRetry
from .state import (
    BOOT,
    CONFIGURATION,
    CONNECTED,
    CURRENT_LIMIT,
    READY,
    TRANSACTION,
    ChargerState,
    ConnectorState,
)
from .vocabulary import Action, succeeded

__all__ = [
    "CAPABILITY_KEYS",
    "CHARGE_POINT_MAX_PROFILE",
    "DEFAULT_STACK_LEVEL",
    "MIN_CURRENT",
    "NOMINAL_VOLTAGE",
    "PROFILE_ID_BASE",
    "TX_DEFAULT_PROFILE",
    "TX_PROFILE",
    "Capabilities",
    "CurrentLimiter",
    "LimitRefused",
    "LimitSession",
    "profile_id",
]

_LOGGER = logging.getLogger(__name__)

_MAX_CONNECTOR_ID: Final = 99

# How long a composite schedule we ask for lasts (we only read what is in force now).
_COMPOSITE_DURATION: Final = 60
# A composite limit this far from ours (in A, after a W conversion) is not ours.
_VERIFY_TOLERANCE: Final = 1.0


type Clock = Callable[[], float]
type Sleep = Callable[[float], Awaitable[None]]
type AcceptedHook = Callable[[int, float], None]


class LimitSession(Protocol):
    """What the limiter needs of a `protocol.session.ChargerSession`."""

    @property
    def state(self) -> ChargerState:
        """Everything known of the charger."""
        ...

    @property
    def setup_retry(self) -> SetupRetry:
        """Retries and once-only reporting of setup calls."""
        ...

    async def get_configuration(self, keys: list[str] | None = None) -> ConfigurationResult:
        """GetConfiguration (section 5.8); fills `state.configuration`."""
        ...

    async def set_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        """SetChargingProfile (section 5.16): Accepted, Rejected or NotSupported."""
        ...

    async def clear_charging_profile(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> str:
        """ClearChargingProfile (section 5.5): Accepted or Unknown."""
        ...

    async def get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None
    ) -> dict[str, Any]:
        """GetCompositeSchedule (section 5.7): the response as sent."""
        ...


@dataclass(frozen=True, slots=True)
class _Installed:
    """Our profile in force on a connector."""

    purpose: str
    amps: float
    transaction_id: int | None = None  # TxProfile only
    phases: int | None = None  # numberPhases sent; None: not sent (A) or derived (W)


@dataclass(slots=True)
class _Slot:
    """Coalescing of one connector's requests."""

    wanted: float | None = None  # the latest request not sent yet
    waiters: list[asyncio.Future[float]] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None
    next_send: float = -math.inf


def _running_transaction_id(connector: ConnectorState) -> int | None:
    tx = connector.running_transaction
    return None if tx is None else tx.transaction_id


class CurrentLimiter:
    """Sets the current limit of a charger's connectors through charging profiles.

    `min_interval`: seconds between two limits sent to one connector (coalescing).
    `min_current`: requests below it (but above 0) pause charging.
    Amperes become W for chargers that only take W with the voltage and phases the
    connector reports (`measurands.reported_supply`); `voltage` and `phases` stand in
    while it reports none (`phases` None: 3, as section 7.12 assumes). `clock` and
    `sleep` are the time source and the wait used by coalescing (tests pass their own).
    """

    def __init__(
        self,
        session: LimitSession,
        *,
        min_interval: float = 10.0,
        min_current: float = MIN_CURRENT,
        voltage: float = NOMINAL_VOLTAGE,
        phases: int | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        on_accepted: AcceptedHook | None = None,
    ) -> None:
        """Watch the charger's connection; limits are sent when asked for and when ready."""
        self._session = session
        self._on_accepted = on_accepted
        self.min_interval = min_interval
        self.min_current = min_current
        self.voltage = voltage
        self.phases = phases
        self._clock = clock
        self._sleep = sleep
        self._capabilities: Capabilities | None = None
        self._asked_configuration = False
        self._refused: set[str] = set()  # purposes the charger refused on this connection
        self._installed: dict[int, _Installed] = {}
        self._swept: set[int] = set()  # connectors whose possible stale profiles are cleared
        # Purposes of ours that may be installed, per connector we limit (a
        # ChargePointMaxProfile is on connector 0 but counted for the connector it limits).
        self._ours: dict[int, set[str]] = {}
        self._wanted: dict[int, float] = {}  # the last limit asked for, per connector
        self._wanted_phases: dict[int, int] = {}  # numberPhases asked for, per connector
        self._slots: dict[int, _Slot] = {}
        self._watched: set[int] = set()
        self._lapsed: set[int] = set()  # connectors whose TxProfile ended with the transaction
        # Profiles sent (SetChargingProfile), for diagnostics and tests.
        self.profiles_sent = 0
        self._ready_task: asyncio.Task[None] | None = None
        self._warned: set[int] = set()  # connectors whose limit was not verified
        state = session.state
        self._unsubscribe = [
            state.subscribe((CONNECTED, BOOT), self._forget_connection),
            state.subscribe((CONFIGURATION,), self._forget_capabilities),
            state.subscribe((READY,), self._ready),
        ]

    @property
    def state(self) -> ChargerState:
        """The charger's state (where accepted limits are kept)."""
        return self._session.state

    def close(self) -> None:
        """Stop watching the charger and drop requests not sent yet."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._ready_task is not None:
            self._ready_task.cancel()
        for slot in self._slots.values():
            if slot.worker is not None:
                slot.worker.cancel()
            for waiter in slot.waiters:
                waiter.cancel()
        self._slots.clear()

    async def set_limit(
        self, connector_id: int, amps: float, *, phases: int | None = None
    ) -> float:
        """Limit `connector_id` to `amps` (0: pause); return the limit the charger accepted.

        `phases` (1, 2 or 3) puts numberPhases into the schedule (sections 7.13, 7.14):
        the phases the charger may use; None sends none (the charger uses what it can).
        Coalesced: waits while the connector's last limit is younger than
        `min_interval`, and returns the result of the latest request by then.
        Raises `LimitRefused` when the charger refuses every strategy, and
        `NotConnectedError`, `CallTimeoutError`, `CallErrorReceived` as commands do.
        """
        if connector_id < 0 or connector_id > _MAX_CONNECTOR_ID:
            raise ValueError(f"no connector {connector_id}")
        if not math.isfinite(amps) or amps < 0:
            raise ValueError(f"a current limit is a number of amperes >= 0, not {amps!r}")
        if phases is not None and phases not in (1, 2, 3):
            raise ValueError(f"numberPhases is 1, 2 or 3, not {phases!r}")
        if phases is None:
            self._wanted_phases.pop(connector_id, None)
        else:
            self._wanted_phases[connector_id] = phases
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._request(connector_id, amps, waiter)
        return await waiter

    def wanted(self, connector_id: int) -> float | None:
        """The limit last asked for on the connector (None: never limited by us)."""
        return self._wanted.get(connector_id)

    def restore(self, limits: Mapping[int, float]) -> None:
        """Take limits set before a restart: shown now, sent once the charger is ready."""
        for connector_id, amps in limits.items():
            if 0 <= connector_id <= _MAX_CONNECTOR_ID and math.isfinite(amps) and amps >= 0:
                self._wanted.setdefault(connector_id, amps)
                if self.state.connector(connector_id).current_limit is None:
                    self._publish(connector_id, self._normalise(amps))

    async def start_profile(self, connector_id: int) -> dict[str, Any] | None:
        """The TxProfile for a RemoteStartTransaction on `connector_id`, or None.

        Section 5.16.2: a RemoteStartTransaction may carry a TxProfile (without
        transactionId: the transaction does not exist yet) so the transaction starts
        within the limit set for the connector (or the charger, connector 0). None when no
        limit is set or the charger does no smart charging.
        """
        amps = self._wanted.get(connector_id, self._wanted.get(0))
        if amps is None:
            return None
        capabilities = await self._read_capabilities()
        if capabilities.smart_charging is False or TX_PROFILE in self._refused:
            return None
        return self._profile(
            TX_PROFILE,
            connector_id,
            self._normalise(amps),
            capabilities,
            None,
            phases=self._wanted_phases.get(connector_id),
        )

    async def composite_schedule(self, connector_id: int, duration: int = 3600) -> dict[str, Any]:
        """GetCompositeSchedule (section 5.7) in the unit our profiles use: what is in force."""
        capabilities = await self._read_capabilities()
        return await self._session.get_composite_schedule(
            connector_id, duration, capabilities.rate_unit
        )

    # ------------------------------------------------------------------ coalescing

    def _request(
        self, connector_id: int, amps: float, waiter: asyncio.Future[float] | None = None
    ) -> None:
        self._wanted[connector_id] = amps
        self._watch(connector_id)
        slot = self._slots.setdefault(connector_id, _Slot())
        slot.wanted = amps
        if waiter is not None:
            slot.waiters.append(waiter)
        if slot.worker is None:
            slot.worker = asyncio.get_running_loop().create_task(
                self._work(connector_id, slot), name=f"current limit {connector_id}"
            )

    async def _work(self, connector_id: int, slot: _Slot) -> None:
        """Send the latest request once the connector's interval allows it, until none is left."""
        waiters: list[asyncio.Future[float]] = []
        try:
            while slot.wanted is not None:
                delay = slot.next_send - self._clock()
                # The limit in force already needs no new profile, so no wait either.
                if delay > 0 and not self._in_force(connector_id, slot.wanted):
                    await self._sleep(delay)
                    continue
                # Hold a connected charger's limits until its boot is answered (OCPP-J
                # 5.4); a disconnected one goes on: the command fails NotConnectedError.
                await self.state.until_ready()
                amps, waiters = slot.wanted, slot.waiters
                slot.wanted, slot.waiters = None, []
                sent_before = self.profiles_sent
                try:
                    accepted = await self._apply(connector_id, amps)
                except OcppError as err:
                    _settle(waiters, error=err)
                else:
                    _settle(waiters, result=accepted)
                if self.profiles_sent != sent_before:
                    slot.next_send = self._clock() + self.min_interval
                waiters = []
        finally:
            # Cancelled (close) or a bug: nobody may wait forever.
            for waiter in (*waiters, *slot.waiters):
                if not waiter.done():
                    waiter.cancel()
            slot.waiters = []
            slot.worker = None

    # ------------------------------------------------------------------ strategy

    async def _apply(self, connector_id: int, amps: float) -> float:
        """Install the limit with the first strategy the charger accepts; return it."""
        capabilities = await self._read_capabilities()
        amps = self._normalise(amps)
        connector = self.state.connector(connector_id)
        transaction_id = _running_transaction_id(connector)
        phases = self._wanted_phases.get(connector_id)
        if self._in_force(connector_id, amps):
            return amps
        if capabilities.smart_charging is False:
            raise LimitRefused(connector_id, amps, [])
        attempts: list[tuple[str, str]] = []
        strategies = self._strategies(connector_id, capabilities)
        for purpose in strategies:
            if purpose in self._refused:
                attempts.append((purpose, "refused before"))
                continue
            if purpose == TX_PROFILE and transaction_id is None:
                # Section 3.13.1: a TxProfile needs a running transaction.
                attempts.append((purpose, "no transaction"))
                continue
            await self._make_room(capabilities, connector_id, purpose)
            status = await self._send(
                purpose, connector_id, amps, capabilities, transaction_id, phases=phases
            )
            attempts.append((purpose, status))
            if not succeeded(Action.set_charging_profile, status):
                if purpose != TX_PROFILE:  # a TxProfile may pass with the next transaction
                    self._refused.add(purpose)
                continue
            self._installed[connector_id] = _Installed(
                purpose, amps, transaction_id if purpose == TX_PROFILE else None, phases
            )
            await self._clear_others(connector_id, purpose, strategies)
            self._publish(connector_id, amps)
            if self._on_accepted is not None:
                self._on_accepted(connector_id, amps)
            return amps
        raise LimitRefused(connector_id, amps, attempts)

    def _in_force(self, connector_id: int, amps: float) -> bool:
        installed = self._installed.get(connector_id)
        return (
            installed is not None
            and installed.amps == self._normalise(amps)
            and installed.phases == self._wanted_phases.get(connector_id)
        )

    def _normalise(self, amps: float) -> float:
        """Below the minimum current a car cannot charge: pause. One decimal (section 7.14)."""
        if amps < self.min_current:
            return 0.0
        return round(amps, 1)

    def _strategies(self, connector_id: int, capabilities: Capabilities) -> tuple[str, ...]:
        if connector_id == 0:
            return (TX_DEFAULT_PROFILE, CHARGE_POINT_MAX_PROFILE)
        connectors = capabilities.connectors or len(self.state.connector_ids)
        if connectors <= 1:
            return PURPOSES
        return (TX_DEFAULT_PROFILE, TX_PROFILE)

    async def _send(
        self,
        purpose: str,
        connector_id: int,
        amps: float,
        capabilities: Capabilities,
        transaction_id: int | None,
        *,
        phases: int | None = None,
    ) -> str:
        """SetChargingProfile; a CallError answer counts as a refusal named by its code."""
        target = 0 if purpose == CHARGE_POINT_MAX_PROFILE else connector_id
        profile = self._profile(purpose, target, amps, capabilities, transaction_id, phases=phases)
        self.profiles_sent += 1
        try:
            return await self._session.set_charging_profile(target, profile)
        except CallErrorReceived as err:
            _LOGGER.info("%s: %s refused: %s", self.state.charge_box_id, purpose, err)
            return str(err.code)

    def _profile(
        self,
        purpose: str,
        target: int,
        amps: float,
        capabilities: Capabilities,
        transaction_id: int | None,
        *,
        phases: int | None = None,
    ) -> dict[str, Any]:
        """A csChargingProfiles object for `amps` on `target` (`build_profile`)."""
        return build_profile(
            purpose,
            target,
            amps,
            capabilities,
            transaction_id,
            voltage=self._voltage(target),
            phases=self._phases(target),
            number_phases=phases,
        )

    def _supply(self, connector_id: int) -> Supply:
        # Connector 0's figures are the charger's own (a ChargePointMaxProfile's target).
        return connector_supply(self.state, connector_id)

    def _voltage(self, connector_id: int) -> float:
        """Volts for W: the connector's reported voltage, else the setting."""
        return self._supply(connector_id).voltage or self.voltage

    def _phases(self, connector_id: int) -> int:
        """Phases for W: the connector's reported phases, else the setting, else 3."""
        return self._supply(connector_id).phases or self.phases or SPEC_DEFAULT_PHASES

    async def _make_room(self, capabilities: Capabilities, connector_id: int, purpose: str) -> None:
        """Clear our other profiles first when the charger could not hold one more."""
        limit = capabilities.max_profiles
        ours = self._ours.setdefault(connector_id, set())
        if limit is None or purpose in ours:
            return  # replacing a profile of ours takes no room
        if sum(len(purposes) for purposes in self._ours.values()) < limit:
            return
        for old in sorted(ours):
            await self._clear(old, connector_id)
        ours.clear()
        self._installed.pop(connector_id, None)

    async def _clear_others(
        self, connector_id: int, kept: str, strategies: tuple[str, ...]
    ) -> None:
        """Clear our profiles of the other strategies on this connector (never stale).

        The first time on a connection every other strategy is cleared, since an earlier
        run may have left one; later only the ones we installed.
        """
        ours = self._ours.setdefault(connector_id, set())
        stale = ours if connector_id in self._swept else {*ours, *strategies}
        self._swept.add(connector_id)
        for purpose in sorted(stale - {kept}):
            await self._clear(purpose, connector_id)
        ours.clear()
        ours.add(kept)

    async def _clear(self, purpose: str, connector_id: int) -> None:
        target = 0 if purpose == CHARGE_POINT_MAX_PROFILE else connector_id
        try:
            await self._session.clear_charging_profile(profile_id=profile_id(purpose, target))
        except (CallErrorReceived, CallTimeoutError) as err:
            _LOGGER.info("%s: clearing %s failed: %s", self.state.charge_box_id, purpose, err)

    def _publish(self, connector_id: int, amps: float | None) -> None:
        connector = self.state.connector(connector_id)
        if connector.current_limit != amps:
            connector.current_limit = amps
            self.state.notify(((connector_id, CURRENT_LIMIT),))

    # ------------------------------------------------------------------ capabilities

    async def _read_capabilities(self) -> Capabilities:
        """The capabilities of this connection, asking GetConfiguration once if keys are missing."""
        if self._capabilities is not None:
            return self._capabilities
        configuration = self.state.configuration
        missing = [key for key in CAPABILITY_KEYS if lookup(configuration, key) is None]
        if missing and not self._asked_configuration:
            self._asked_configuration = True
            try:
                await self._session.get_configuration(missing)
            except (CallErrorReceived, CallTimeoutError) as err:
                _LOGGER.info("%s: GetConfiguration failed: %s", self.state.charge_box_id, err)
        self._capabilities = Capabilities.from_configuration(self.state.configuration)
        return self._capabilities

    # ------------------------------------------------------------------ state changes

    def _forget_connection(self) -> None:
        """A (re)connection or a reboot: capabilities and refusals may have changed.

        The charger keeps its profiles (errata 3.37), but a firmware that lost them must
        get the limit again: the next request is sent even if it is unchanged.
        """
        self._capabilities = None
        self._asked_configuration = False
        self._refused.clear()
        self._installed.clear()
        self._swept.clear()

    def _forget_capabilities(self) -> None:
        self._capabilities = None

    def _ready(self) -> None:
        """The charger takes our calls (again): re-apply and verify, or read what is in force."""
        if not self.state.ready:
            return
        if self._ready_task is not None:
            self._ready_task.cancel()
        self._ready_task = asyncio.get_running_loop().create_task(
            self._after_ready(), name=f"current limits {self.state.charge_box_id}"
        )

    async def _after_ready(self) -> None:
        try:
            capabilities = await self._read_capabilities()
            if capabilities.smart_charging is False:
                return
            # GetCompositeSchedule only to a charger that says it does smart charging:
            # one that ignores the message would hold up every other call meanwhile.
            verify = capabilities.smart_charging is True
            count = capabilities.connectors or len(self.state.connector_ids) or 1
            connectors = {*range(1, count + 1)} if verify else set()
            for connector_id in sorted({*connectors, *self._wanted}):
                await self._session.setup_retry.run(
                    "current limit", partial(self._settle, connector_id, verify=verify)
                )
        except OcppError as err:
            # Not connected any more, or not answering after the retries (reported by
            # setup_retry): the next ready tries again.
            _LOGGER.debug("%s: current limits not restored: %s", self.state.charge_box_id, err)

    async def _settle(self, connector_id: int, *, verify: bool) -> None:
        """Apply our limit again (profiles may be lost in a reboot) and check what is in force."""
        wanted = self._wanted.get(connector_id)
        accepted: float | None = None
        if wanted is not None:
            try:
                accepted = await self.set_limit(connector_id, wanted)
            except LimitRefused as err:
                self._warn(connector_id, f"the limit set before was refused: {err}")
                return
        installed = self._installed.get(connector_id)
        if not verify or (installed is not None and installed.purpose == TX_PROFILE):
            return  # section 3.13.1: no TxProfile in a composite without its transaction
        effective = await self._effective_limit(connector_id)
        if effective is None:
            return
        if accepted is not None and abs(effective - accepted) > _VERIFY_TOLERANCE:
            self._warn(
                connector_id,
                f"{accepted:g} A was accepted, but its schedule puts {effective:g} A in force",
            )
        else:
            self._warned.discard(connector_id)
        self._publish(connector_id, effective)

    def _warn(self, connector_id: int, text: str) -> None:
        if connector_id in self._warned:
            _LOGGER.debug("%s connector %s: %s", self.state.charge_box_id, connector_id, text)
            return
        self._warned.add(connector_id)
        _LOGGER.warning("Charger %s connector %s: %s", self.state.charge_box_id, connector_id, text)

    async def _effective_limit(self, connector_id: int) -> float | None:
        """The limit in A the composite schedule puts in force now (section 5.7), or None."""
        try:
            reply = await self.composite_schedule(connector_id, _COMPOSITE_DURATION)
        except CallErrorReceived as err:
            _LOGGER.debug("%s: no composite schedule: %s", self.state.charge_box_id, err)
            return None
        in_force = schedule_limit(reply)
        if in_force is None:
            return None
        limit, in_watts, phases = in_force
        if in_watts:
            limit /= self._voltage(connector_id) * (phases or self._phases(connector_id))
        return self._normalise(limit)

    def _watch(self, connector_id: int) -> None:
        """Follow the connector's transactions (a TxProfile ends with its transaction)."""
        if connector_id in self._watched or connector_id == 0:
            return
        self._watched.add(connector_id)
        self._unsubscribe.append(
            self.state.subscribe(
                ((connector_id, TRANSACTION),), lambda: self._transaction_changed(connector_id)
            )
        )

    def _transaction_changed(self, connector_id: int) -> None:
        installed = self._installed.get(connector_id)
        running = _running_transaction_id(self.state.connector(connector_id))
        if (
            installed is not None
            and installed.purpose == TX_PROFILE
            and installed.transaction_id != running
        ):
            # Our TxProfile ended with its transaction (section 3.13.1): no limit of ours
            # is in force until the next transaction gets it again.
            del self._installed[connector_id]
            self._ours.get(connector_id, set()).discard(TX_PROFILE)
            self._publish(connector_id, None)
            self._lapsed.add(connector_id)
        if running is not None and connector_id in self._lapsed:
            self._lapsed.discard(connector_id)
            if (wanted := self._wanted.get(connector_id)) is not None:
                self._request(connector_id, wanted)


def _settle(
    waiters: list[asyncio.Future[float]],
    *,
    result: float | None = None,
    error: BaseException | None = None,
) -> None:
    for waiter in waiters:
        if waiter.done():
            continue  # the caller gave up waiting
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(0.0 if result is None else result)
