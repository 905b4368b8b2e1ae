"""A simulated OCPP 1.6J charge point: connection, boot, connectors, transactions and meter values.

The OCPP-J framing, schema validation and routing come from the `ocpp` package's
`ChargePoint` (an implementation independent of the central system under test); the
answers to the central system's calls live in `handlers.py`.

Time is read from a `Clock`; with a `ManualClock` and `meter_interval=0` nothing happens
in the background except reading frames, so tests step the charger explicitly:
`clock.advance(60)`, `await charger.send_meter_values(1)`. Every background task is
owned by the charger and cancelled by `close()`.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
import contextlib
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
import logging
import ssl
from typing import Any, Self
from urllib.parse import quote

from ocpp.exceptions import OCPPError
from ocpp.v16 import call
import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from .clock import Clock, WallClock, iso
from .configuration import Configuration, default_configuration
from .handlers import Link
from .model import DEFAULT_MEASURANDS, MIN_CHARGING_CURRENT, ConnectorModel, Vehicle
from .profiles import Profile, ProfileRules, ProfileStore
from .state import (
    ActiveTransaction,
    Connector,
    NotConnectedError,
    ReceivedProfile,
    Reservation,
    SimulatorError,
    TransactionRefused,
)

LOG = logging.getLogger("simulator")
SUBPROTOCOL = Subprotocol("ocpp1.6")
ACCEPTED = "Accepted"
# Reconnect back-off after a lost connection doubles up to this many seconds.
_RECONNECT_MAX = 30.0
# What a failed (re)connection attempt raises: refused, unreachable, slow, or dropped early.
CONNECT_ERRORS = (OSError, websockets.InvalidHandshake, TimeoutError, NotConnectedError)
# How long the reader waits for our code to digest a reply before it handles the next frame.
_DIGEST_TIMEOUT = 5.0


@dataclass(slots=True)
class _Recorder:
    """Every CALL the central system sent us, in order, with a way to wait for the next."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, action: str, payload: dict[str, Any]) -> None:
        self.calls.append((action, payload))
        self.changed.set()


class SimulatedCharger:
    """One simulated charge point. Use as `async with SimulatedCharger(url, "CP-1") as cp:`."""

    def __init__(
        self,
        url: str,
        charge_box_id: str,
        *,
        password: str | None = None,
        ca_file: str | None = None,
        verify_tls: bool = True,
        connectors: int = 1,
        meter_interval: int = 0,
        heartbeat: bool = True,
        rate_unit: str = "AW",
        refuse_tx_default: bool = False,
        max_stack_level: int = 8,
        max_profiles: int = 16,
        max_periods: int = 24,
        phase_switching: bool = False,
        max_current: float = 32.0,
        phases: int = 3,
        voltage: float = 230.0,
        noise: float = 0.0,
        energy_wh: float = 0.0,
        measurands: tuple[str, ...] = DEFAULT_MEASURANDS,
        authorize_remote: bool = True,
        local_auth_list: bool = True,
        vendor: str = "OpenSim",
        model: str = "SimWallbox",
        serial_number: str | None = None,
        firmware_version: str = "1.0.0",
        boot_retry_interval: float | None = None,
        reconnect: bool = False,
        reconnect_delay: float = 1.0,
        response_timeout: float = 30.0,
        clock: Clock | None = None,
        vehicle: Callable[[], Vehicle] = Vehicle,
    ) -> None:
        """Describe the charger; nothing connects until `connect()` (or `async with`).

        `meter_interval` 0 sends MeterValues only when asked (or when the central system
        sets MeterValueSampleInterval); `heartbeat=False` never sends Heartbeats on its own.
        `rate_unit` is "A", "W" or "AW": the ChargingScheduleAllowedChargingRateUnit.
        `boot_retry_interval` overrides the interval a Pending/Rejected boot waits;
        `reconnect` reconnects (after `reconnect_delay`, doubling) when the connection drops.
        `phase_switching` reports ConnectorSwitch3to1PhaseSupported (section 9.4.4) and
        charges on the phases numberPhases of the schedule in force allows (section 7.14).
        """
        self.url = url
        self.charge_box_id = charge_box_id
        self.password = password
        self.ca_file = ca_file
        self.verify_tls = verify_tls
        self.max_current = max_current
        self.phases = phases
        self.voltage = voltage
        self.vendor = vendor
        self.model_name = model
        self.serial_number = serial_number or f"SIM-{charge_box_id}"
        self.firmware_version = firmware_version
        self.boot_retry_interval = boot_retry_interval
        self.reconnect = reconnect
        self.reconnect_delay = reconnect_delay
        self.response_timeout = response_timeout
        self.clock: Clock = clock if clock is not None else WallClock()
        self.vehicle_factory = vehicle
        self.heartbeats = heartbeat
        units = frozenset(u for u in rate_unit.upper() if u in "AW")
        if not units:
            raise ValueError(f"rate_unit must be A, W or AW, not {rate_unit!r}")
        self.rules = ProfileRules(
            connectors=connectors,
            rate_units=units,
            refuse_tx_default=refuse_tx_default,
            max_stack_level=max_stack_level,
            max_profiles=max_profiles,
            max_periods=max_periods,
            phase_switching=phase_switching,
        )
        self.profiles = ProfileStore(self.rules)
        self.configuration: Configuration = default_configuration(
            rules=self.rules,
            meter_interval=meter_interval,
            measurands=measurands,
            authorize_remote=authorize_remote,
            local_auth_list=local_auth_list,
        )
        self.configuration.on_change = self._configuration_changed
        now = self.clock.now()
        self.connectors: dict[int, Connector] = {
            n: Connector(
                n,
                ConnectorModel(
                    phases=phases,
                    voltage=voltage,
                    energy_wh=energy_wh,
                    noise=noise,
                    seed=hash((charge_box_id, n)),
                    now=now,
                ),
            )
            for n in range(1, connectors + 1)
        }
        # Connector 0: the charge point as a whole.
        self.status = "Available"
        self.operative = True
        self.registration: str | None = None  # RegistrationStatus of the last BootNotification
        self.boot_count = 0  # accepted boots since the object was made (resets count too)
        self.heartbeat_interval = 0
        self.firmware_status = "Idle"
        self.diagnostics_status = "Idle"
        self.local_list_version = 0
        self.local_list: dict[str, dict[str, Any]] = {}  # idTag -> IdTagInfo
        self.auth_cache: dict[str, dict[str, Any]] = {}
        self.profiles_received: list[ReceivedProfile] = []
        # (time, connector id, phases) of every change of the phases a connector uses.
        self.phase_switches: list[tuple[datetime, int, int]] = []
        # Called after each recompute (a profile installed or cleared, time, status):
        # what the connectors offer now is in `connector(n).model.offered_current`.
        self.on_recompute: Callable[[SimulatedCharger], None] | None = None
        self.subprotocol: str | None = None
        self._recorder = _Recorder()
        self._accepted = False  # boot accepted in this power cycle
        self._ws: ClientConnection | None = None
        self._link: Link | None = None
        self._lost = asyncio.Event()
        self._closing = False
        self._rebooting = False
        self._online = False  # connect() completed at least once
        self._boot_now = asyncio.Event()
        self._retry_after = 0.0  # interval of the last Pending/Rejected boot
        self.firmware_step = 0.0  # seconds between firmware/diagnostics status notifications
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._meter_task: asyncio.Task[None] | None = None
        self._exchange_lock = asyncio.Lock()
        self._reply_digested = asyncio.Event()
        self._awaiting_reply = False
        self._state_changed = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._link is not None and not self._lost.is_set()

    @property
    def meter_interval(self) -> int:
        return self.configuration.integer("MeterValueSampleInterval")

    def connector(self, connector_id: int) -> Connector:
        """Connector `connector_id` (1..n); KeyError for others."""
        return self.connectors[connector_id]

    async def connect(self) -> None:
        """Open the websocket, boot until Accepted, report every connector's status, start loops.

        Raises the websockets handshake error (e.g. `InvalidStatus` with 401 or 404) when
        the central system refuses the connection.
        """
        self._closing = False
        await self._open()
        try:
            if not self._accepted:
                await self._boot_until_accepted()
                await self._announce_all()
        except BaseException:
            await self._close_socket()
            raise
        self._online = True
        self._restart_heartbeat()
        self._restart_meter_loop()

    async def close(self) -> None:
        """Stop every background task and close the connection."""
        self._closing = True
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._close_socket()

    async def reboot(self, kind: str = "Hard") -> None:
        """Reset (OCPP 1.6 section 5.14): stop transactions, drop the connection, boot again."""
        for connector in self.connectors.values():
            if connector.transaction is not None:
                with contextlib.suppress(NotConnectedError):
                    await self.stop_transaction(connector.connector_id, f"{kind}Reset")
        self._rebooting = True
        try:
            self._cancel_loops()
            await self._close_socket()
            self._accepted = False
            self.registration = None
            self.auth_cache.clear()
        finally:
            self._rebooting = False
        LOG.info("%s rebooting (%s reset)", self.charge_box_id, kind)
        await self.connect()

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.charge_box_id} {name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            if isinstance(error, NotConnectedError):
                LOG.info("%s: %s stopped: not connected", self.charge_box_id, task.get_name())
            else:
                LOG.error("%s failed", task.get_name(), exc_info=error)

    def _cancel_loops(self) -> None:
        for task in (self._heartbeat_task, self._meter_task):
            if task is not None:
                task.cancel()
        self._heartbeat_task = self._meter_task = None

    # -- connection --------------------------------------------------------------------------
    def _endpoint(self) -> str:
        return f"{self.url.rstrip('/')}/{quote(self.charge_box_id, safe='')}"

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.url.startswith("wss://"):
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def _open(self) -> None:
        headers: dict[str, str] = {}
        if self.password is not None:
            # Security profile 1/2: HTTP Basic with the chargeBoxId as user name.
            token = base64.b64encode(f"{self.charge_box_id}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        ws = await connect(
            self._endpoint(),
            subprotocols=[SUBPROTOCOL],
            additional_headers=headers,
            ssl=self._ssl_context(),
            open_timeout=10,
        )
        self.subprotocol = ws.subprotocol
        lost = asyncio.Event()
        link = Link(self, ws, response_timeout=self.response_timeout)
        self._ws, self._link, self._lost = ws, link, lost
        LOG.info("%s connected to %s (%s)", self.charge_box_id, self._endpoint(), ws.subprotocol)
        self._reader = self._spawn(self._read(link, lost), "reader")
        self._notify_state()

    async def _read(self, link: Link, lost: asyncio.Event) -> None:
        try:
            await link.start()
        except websockets.ConnectionClosed as closed:
            LOG.info("%s disconnected: %s", self.charge_box_id, closed)
        finally:
            lost.set()
            if self._link is link:
                self._link = None
            self._notify_state()
        # Reconnect only what connect() brought up completely; its caller handles the rest.
        if self.reconnect and self._online and not self._closing and not self._rebooting:
            self._spawn(self._reconnect(), "reconnect")

    async def _reconnect(self) -> None:
        delay = self.reconnect_delay
        while not self._closing:
            await asyncio.sleep(delay)
            try:
                await self.connect()
            except CONNECT_ERRORS as error:
                LOG.warning("%s reconnect failed: %s", self.charge_box_id, error)
                delay = min(delay * 2, _RECONNECT_MAX)
            else:
                return

    async def _close_socket(self) -> None:
        ws, reader = self._ws, self._reader
        self._ws = self._link = self._reader = None
        if ws is not None:
            await ws.close()
        if reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    # -- exchanging messages -----------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _exchange(self, payload: Any) -> AsyncIterator[Any]:
        """Send a CALL and yield its result; frames that follow the reply wait until we exit.

        A real charger digests a reply before it reads the next frame, so a central
        system may send SetChargingProfile right after StartTransaction.conf, or
        ChangeConfiguration right after BootNotification.conf, and see it applied on
        top of what the reply set up. The reader waits on `_reply_digested`.
        """
        async with self._exchange_lock:
            link, lost = self._link, self._lost
            if link is None or lost.is_set():
                raise NotConnectedError(self.charge_box_id)
            action = type(payload).__name__
            LOG.debug("%s -> %s", self.charge_box_id, action)
            self._reply_digested.clear()
            self._awaiting_reply = True
            try:
                result = await self._await_reply(link, lost, payload)
                yield result
            finally:
                self._awaiting_reply = False
                self._reply_digested.set()

    async def _await_reply(self, link: Link, lost: asyncio.Event, payload: Any) -> Any:
        reply = asyncio.ensure_future(link.call(payload, suppress=False))
        dropped = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait({reply, dropped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            dropped.cancel()
            if not reply.done():
                reply.cancel()
        if reply.cancelled():
            raise NotConnectedError(self.charge_box_id)
        try:
            return reply.result()
        except websockets.ConnectionClosed as closed:
            raise NotConnectedError(self.charge_box_id) from closed

    async def digest_reply(self) -> None:
        """Called by the reader after routing a reply: wait until our code has used it."""
        if self._awaiting_reply:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reply_digested.wait(), _DIGEST_TIMEOUT)

    async def _call(self, payload: Any) -> Any:
        async with self._exchange(payload) as result:
            return result

    def record_call(self, action: str, payload: dict[str, Any]) -> None:
        """Remember a CALL from the central system (done by the link before handling it)."""
        LOG.info("%s <- %s %s", self.charge_box_id, action, payload)
        self._recorder.add(action, payload)

    @property
    def calls_received(self) -> list[tuple[str, dict[str, Any]]]:
        """Every CALL the central system sent, as (action, payload on the wire)."""
        return self._recorder.calls

    async def wait_for_call(
        self, action: str, count: int = 1, seconds: float = 5.0
    ) -> dict[str, Any]:
        """Wait until `count` CALLs of `action` arrived; return the payload of the last one."""
        async with asyncio.timeout(seconds):
            while True:
                found = [p for a, p in self._recorder.calls if a == action]
                if len(found) >= count:
                    return found[-1]
                self._recorder.changed.clear()
                await self._recorder.changed.wait()

    async def wait_until(self, predicate: Callable[[], bool], seconds: float | None = 5.0) -> None:
        """Wait until `predicate()` holds; it is checked whenever the charger's state changes."""
        async with asyncio.timeout(seconds):
            while not predicate():
                self._state_changed.clear()
                await self._state_changed.wait()

    def _notify_state(self) -> None:
        self._state_changed.set()

    # -- boot and heartbeat ------------------------------------------------------------------
    async def boot(self) -> str:
        """Send one BootNotification (section 4.2); return the RegistrationStatus."""
        payload = call.BootNotification(
            charge_point_model=self.model_name,
            charge_point_vendor=self.vendor,
            charge_point_serial_number=self.serial_number,
            firmware_version=self.firmware_version,
            meter_type="SimMeter",
        )
        async with self._exchange(payload) as result:
            self.registration = str(result.status)
            if self.registration == ACCEPTED:
                self._accepted = True
                self.boot_count += 1
                if result.interval > 0:
                    self.heartbeat_interval = int(result.interval)
                    self.configuration.set("HeartbeatInterval", str(self.heartbeat_interval))
                    self._restart_heartbeat()
            else:
                self._retry_after = float(result.interval)
            self._notify_state()
        LOG.info("%s boot %s (interval %s)", self.charge_box_id, result.status, result.interval)
        return self.registration

    async def _boot_until_accepted(self) -> None:
        # Section 4.2: while Pending or Rejected, send nothing but BootNotification, after
        # the interval the central system gave (or at once when it triggers one).
        while await self.boot() != ACCEPTED:
            wait = self.boot_retry_interval
            if wait is None:
                wait = self._retry_after or 10.0
            self._boot_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._boot_now.wait(), wait)

    async def heartbeat(self) -> str:
        """Send a Heartbeat; return the central system's currentTime."""
        result = await self._call(call.Heartbeat())
        return str(result.current_time)

    def _restart_heartbeat(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            self._heartbeat_task = None
        interval = self.configuration.integer("HeartbeatInterval")
        if self.heartbeats and interval > 0 and self._link is not None:
            self._heartbeat_task = self._spawn(self._every(interval, self.heartbeat), "heartbeat")

    def _restart_meter_loop(self) -> None:
        if self._meter_task is not None:
            self._meter_task.cancel()
            self._meter_task = None
        interval = self.meter_interval
        if interval > 0 and self._link is not None:
            self._meter_task = self._spawn(self._every(interval, self._periodic_sample), "meter")

    async def _every(self, seconds: float, action: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await action()
            except NotConnectedError:
                continue  # offline: try again next time, like the firmware's timer would
            except TimeoutError:
                LOG.warning("%s: no reply in time", self.charge_box_id)

    async def _periodic_sample(self) -> None:
        await self.tick()
        for connector in self.connectors.values():
            if connector.transaction is not None:
                await self.send_meter_values(connector.connector_id)

    def _configuration_changed(self, key: str) -> None:
        if key == "HeartbeatInterval":
            self.heartbeat_interval = self.configuration.integer(key)
            self._restart_heartbeat()
        elif key == "MeterValueSampleInterval":
            self._restart_meter_loop()

    # -- status ------------------------------------------------------------------------------
    def _derived_status(self, c: Connector) -> str:
        if c.fault is not None:
            return "Faulted"
        if c.transaction is not None:
            if c.model.offered_current < MIN_CHARGING_CURRENT:
                return "SuspendedEVSE"
            return "SuspendedEV" if c.model.ev_full else "Charging"
        if not (c.operative and self.operative):
            return "Unavailable"
        if c.plugged:
            return "Finishing" if c.finishing else "Preparing"
        return "Reserved" if c.reservation is not None else "Available"

    def recompute(self) -> list[int]:
        """Apply the time and the charging profiles to every connector.

        Integrates energy up to now with the old current, re-evaluates the limit, drops
        expired reservations, and returns the connectors (0..n) whose status changed
        (already updated here; the caller sends the StatusNotifications).
        """
        now = self.clock.now()
        charging = max(1, sum(1 for c in self.connectors.values() if c.transaction is not None))
        changed: list[int] = []
        status0 = "Available" if self.operative else "Unavailable"
        if status0 != self.status:
            self.status = status0
            changed.append(0)
        for c in self.connectors.values():
            c.model.advance_to(now)
            if c.reservation is not None and c.reservation.expiry <= now:
                LOG.info(
                    "%s reservation %s expired", self.charge_box_id, c.reservation.reservation_id
                )
                c.reservation = None
            origin = c.transaction.start if c.transaction is not None else now
            c.current_limit = self.profiles.limit(
                c.connector_id, now, origin, self.voltage, charging
            )
            offered = (
                self.max_current
                if c.current_limit is None
                else min(c.current_limit, self.max_current)
            )
            if c.transaction is None or offered < MIN_CHARGING_CURRENT:
                offered = 0.0
            c.model.offered_current = offered
            self._apply_phases(c, now, origin)
            status = self._derived_status(c)
            if status != c.status:
                c.status = status
                changed.append(c.connector_id)
        self._notify_state()
        if self.on_recompute is not None:
            self.on_recompute(self)
        return changed

    def _apply_phases(self, c: Connector, now: datetime, origin: datetime) -> None:
        """Use the phases numberPhases allows (section 7.14), if this charger can switch."""
        if not self.rules.phase_switching:
            return
        allowed = self.profiles.phases(c.connector_id, now, origin)
        phases = self.phases if allowed is None else max(1, min(self.phases, allowed))
        if phases != c.model.phases:
            c.model.phases = phases
            self.phase_switches.append((now, c.connector_id, phases))
            LOG.info("%s connector %s uses %s phase(s)", self.charge_box_id, c.connector_id, phases)

    async def send_status(self, connector_id: int) -> None:
        """Send a StatusNotification with the current status of `connector_id` (0: the charger)."""
        if connector_id == 0:
            status, error = self.status, "NoError"
        else:
            c = self.connectors[connector_id]
            status, error = c.status, c.fault or "NoError"
        await self._call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code=error,
                status=status,
                timestamp=iso(self.clock.now()),
            )
        )
        LOG.info("%s connector %s %s", self.charge_box_id, connector_id, status)

    async def send_statuses(self, connector_ids: Iterable[int]) -> None:
        for connector_id in connector_ids:
            await self.send_status(connector_id)

    async def _announce_all(self) -> None:
        self.recompute()
        await self.send_statuses(range(len(self.connectors) + 1))

    async def tick(self) -> None:
        """Let time act (schedules, reservations, a full battery) and report status changes."""
        await self.send_statuses(self.recompute())

    async def set_status(
        self,
        connector_id: int,
        status: str,
        error_code: str = "NoError",
        info: str | None = None,
    ) -> None:
        """Force a connector's status and send it, e.g. ("Faulted", "GroundFailure").

        "Faulted" stays until another status is set; other statuses hold until the
        charger's own state changes them.
        """
        c = self.connectors[connector_id]
        c.fault = error_code if status == "Faulted" else None
        c.status = status
        c.error_code = error_code
        await self._call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code=error_code,
                status=status,
                timestamp=iso(self.clock.now()),
                info=info,
            )
        )
        self._notify_state()

    # -- cable and authorisation -------------------------------------------------------------
    async def plug_in(self, connector_id: int = 1, vehicle: Vehicle | None = None) -> None:
        """Plug a car in (status Preparing)."""
        c = self.connectors[connector_id]
        c.plugged = True
        c.finishing = False
        c.model.vehicle = vehicle if vehicle is not None else self.vehicle_factory()
        await self.tick()

    async def unplug(self, connector_id: int = 1) -> None:
        """Unplug the car; a running transaction stops with reason EVDisconnected."""
        c = self.connectors[connector_id]
        if c.transaction is not None:
            await self.stop_transaction(connector_id, "EVDisconnected", unplug=False)
        c.plugged = False
        c.finishing = False
        c.model.vehicle = None
        if c.inoperative_after_tx:
            c.operative, c.inoperative_after_tx = False, False
        await self.tick()

    async def authorize(self, id_tag: str) -> str:
        """Authorize `id_tag` (section 4.1); local list and cache first when allowed (3.4, 3.5)."""
        config = self.configuration
        known = self.local_list.get(id_tag) or (
            self.auth_cache.get(id_tag) if config.boolean("AuthorizationCacheEnabled") else None
        )
        if (
            known is not None
            and known.get("status") == ACCEPTED
            and config.boolean("LocalPreAuthorize")
        ):
            return ACCEPTED
        result = await self._call(call.Authorize(id_tag=id_tag))
        info: dict[str, Any] = result.id_tag_info
        if config.boolean("AuthorizationCacheEnabled"):
            self.auth_cache[id_tag] = info
        return str(info["status"])

    # -- transactions ------------------------------------------------------------------------
    def _check_can_start(self, c: Connector, id_tag: str) -> None:
        if c.fault is not None:
            raise TransactionRefused("Faulted")
        if c.transaction is not None:
            raise TransactionRefused(c.status)
        if not (c.operative and self.operative):
            raise TransactionRefused("Unavailable")
        reservation = c.reservation
        if reservation is not None and id_tag not in (
            reservation.id_tag,
            reservation.parent_id_tag,
        ):
            raise TransactionRefused("Reserved")

    async def start_transaction(
        self,
        connector_id: int = 1,
        id_tag: str = "SIMTAG",
        *,
        authorize: bool = True,
        vehicle: Vehicle | None = None,
    ) -> int:
        """Plug in (if needed), Authorize, StartTransaction; return the transaction id.

        Raises `TransactionRefused` when the connector cannot start or the id tag is not
        accepted; a StartTransaction.conf with a refused tag stops the transaction again
        with reason DeAuthorized when StopTransactionOnInvalidId is true (section 5.3).
        """
        c = self.connectors[connector_id]
        self._check_can_start(c, id_tag)
        plugged_here = not c.plugged
        if plugged_here:
            await self.plug_in(connector_id, vehicle)
        if authorize:
            status = await self.authorize(id_tag)
            if status != ACCEPTED:
                if plugged_here:
                    await self.unplug(connector_id)
                raise TransactionRefused(status)
        now = self.clock.now()
        c.model.advance_to(now)
        meter_start = int(c.model.energy_wh)
        reservation = c.reservation
        payload = call.StartTransaction(
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start=meter_start,
            timestamp=iso(now),
            reservation_id=None if reservation is None else reservation.reservation_id,
        )
        async with self._exchange(payload) as result:
            tag_status = str(result.id_tag_info["status"])
            c.transaction = ActiveTransaction(
                int(result.transaction_id),
                id_tag,
                meter_start,
                now,
                None if reservation is None else reservation.reservation_id,
            )
            c.reservation = None
            c.model.charging = True
            self._install_pending_profile(c)
            changed = self.recompute()
        LOG.info(
            "%s transaction %s started on %s for %s (%s)",
            self.charge_box_id,
            result.transaction_id,
            connector_id,
            id_tag,
            tag_status,
        )
        await self.send_statuses(changed)
        if tag_status != ACCEPTED and self.configuration.boolean("StopTransactionOnInvalidId"):
            await self.stop_transaction(connector_id, "DeAuthorized")
            raise TransactionRefused(tag_status)
        return c.transaction.transaction_id

    def _install_pending_profile(self, c: Connector) -> None:
        # Section 5.16.2: a RemoteStartTransaction profile applies to the new transaction.
        wire, c.pending_profile = c.pending_profile, None
        if wire is not None and c.transaction is not None:
            profile = dataclasses.replace(
                Profile.from_wire(c.connector_id, wire, self.clock.now()),
                transaction_id=c.transaction.transaction_id,
            )
            if self.profiles.refusal(profile, c.transaction.transaction_id) is None:
                self.profiles.install(profile)

    async def stop_transaction(
        self,
        connector_id: int = 1,
        reason: str = "Local",
        *,
        id_tag: str | None = None,
        unplug: bool = True,
    ) -> None:
        """StopTransaction with `reason` and transactionData (section 5.3 / StopTxnSampledData).

        The connector goes to Finishing, and to Available when `unplug` (the driver
        takes the cable).
        """
        c = self.connectors[connector_id]
        tx = c.transaction
        if tx is None:
            raise SimulatorError(f"no transaction on connector {connector_id}")
        now = self.clock.now()
        c.model.advance_to(now)
        stop_data = self.configuration.items("StopTxnSampledData")
        begin = {
            "timestamp": iso(tx.start),
            "sampledValue": [
                {
                    "value": f"{tx.meter_start:.1f}",
                    "context": "Transaction.Begin",
                    "measurand": "Energy.Active.Import.Register",
                    "unit": "Wh",
                }
            ],
        }
        end = c.model.meter_value(now, stop_data, "Transaction.End")
        await self._call(
            call.StopTransaction(
                meter_stop=int(c.model.energy_wh),
                timestamp=iso(now),
                transaction_id=tx.transaction_id,
                reason=reason,
                id_tag=id_tag,
                transaction_data=[begin, end] if stop_data else None,
            )
        )
        LOG.info(
            "%s transaction %s stopped (%s), %.0f Wh",
            self.charge_box_id,
            tx.transaction_id,
            reason,
            c.model.energy_wh - tx.meter_start,
        )
        c.transaction = None
        c.model.charging = False
        c.finishing = True
        self.profiles.end_transaction(connector_id)
        await self.tick()
        if unplug:
            await self.unplug(connector_id)
        elif c.inoperative_after_tx:
            c.operative, c.inoperative_after_tx = False, False
            await self.tick()

    async def send_meter_values(
        self, connector_id: int = 1, *, context: str = "Sample.Periodic"
    ) -> dict[str, Any]:
        """Sample the connector now and send MeterValues (section 4.7); return the MeterValue."""
        changed = self.recompute()
        c = self.connectors[connector_id]
        value = c.model.meter_value(
            self.clock.now(), self.configuration.items("MeterValuesSampledData"), context
        )
        await self._call(
            call.MeterValues(
                connector_id=connector_id,
                meter_value=[value],
                transaction_id=c.transaction_id,
            )
        )
        LOG.info(
            "%s connector %s: %.0f W, %.1f A offered, %.0f Wh, SoC %s",
            self.charge_box_id,
            connector_id,
            c.model.power_w,
            c.model.offered_current,
            c.model.energy_wh,
            "-" if c.soc is None else f"{c.soc:.0f} %",
        )
        await self.send_statuses(changed)
        return value

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> tuple[str, str | None]:
        """DataTransfer to the central system (section 4.3); return (status, data)."""
        result = await self._call(
            call.DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data)
        )
        return str(result.status), result.data

    async def send_firmware_status(self, status: str) -> None:
        self.firmware_status = status
        await self._call(call.FirmwareStatusNotification(status=status))

    async def send_diagnostics_status(self, status: str) -> None:
        self.diagnostics_status = status
        await self._call(call.DiagnosticsStatusNotification(status=status))

    def wake_boot(self) -> None:
        """Send the next BootNotification now instead of after the retry interval."""
        self._boot_now.set()

    def spawn_followup(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run work a CSMS call asked for, after its reply went out (see handlers.Link)."""
        self._spawn(coro, name)


__all__ = [
    "ActiveTransaction",
    "Connector",
    "NotConnectedError",
    "OCPPError",
    "ReceivedProfile",
    "Reservation",
    "SimulatedCharger",
    "SimulatorError",
    "TransactionRefused",
]
