"""One charger as the central system sees it: OCPP 1.6 message handlers, commands and state.

A `ChargerSession` lives as long as its charger is configured and survives reconnects.
The transport hands it every CALL through `handle_call` (synchronous: the reply goes out
as soon as it returns) and tells it about connections; the session keeps `state`
(`ChargerState`) current and announces changes once per handled message. Anything the
session itself wants to send is scheduled with `connection.after_reply` or a task, so an
incoming message is never held up by a CALL of ours (OCPP-J 1.6 section 4.1.1: one
outstanding CALL per direction; and a charger ignores CALLs before its boot is answered).

No CALL of ours reaches a charger before its BootNotification of this connection has
been answered (OCPP-J 1.6 section 5.4 and OCPP 1.6 section 4.2), except the
TriggerMessages that resynchronise a charger that reconnected without booting. Once the
boot is accepted and answered, or the resync is done, `state.ready` turns True and the
key READY is announced: the signal for everyone else's setup work (local list, limits).
Setup calls are retried a few times (`protocol.retry.SetupRetry`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
import logging
import time
from typing import Any, Final, Protocol

from . import logs
from .config import ChargerConfig
from .config_keys import find, lookup_int
from .errors import CallError, CallErrorCode, NotConnectedError, OcppError
from .hooks import SessionHooks
from .measurands import (
    DEFAULT_LOCATION,
    ENERGY_REGISTER,
    SESSION_CAR,
    SESSION_FLOWS,
    is_register,
    measurand_of,
    parse_meter_values,
)
from .messages import (
    ConfigurationResult,
    DataTransferResult,
    format_timestamp,
    parse_timestamp,
)
from .register import EnergyRegister
from .retry import SetupRetry
from .state import (
    BOOT,
    CONFIGURATION,
    CONNECTED,
    CONNECTORS,
    DIAGNOSTICS_STATUS,
    ENDED_STATUSES,
    EPOCH,
    FIRMWARE_STATUS,
    HEARTBEAT,
    READINGS,
    READY,
    SECURITY_EVENT,
    STATUS,
    TRANSACTION,
    BootInfo,
    ChargerEvent,
    ChargerState,
    ConfigurationValue,
    ConnectorState,
    Reading,
    StateKey,
    Transaction,
)
from .vocabulary import (
    Action,
    AuthorizationStatus,
    AvailabilityType,
    ChargePointStatus,
    ConfigurationKey,
    DataTransferStatus,
    Measurand,
    MessageTrigger,
    ReadingContext,
    Reason,
    RegistrationStatus,
    ResetType,
    UnitOfMeasure,
    succeeded,
)

__all__ = [
    "BootPolicy",
    "ChargerSession",
    "ConfigurationResult",
    "DataTransferResult",
    "Forwarder",
    "SessionConnection",
    "VendorHandler",
]

_LOGGER = logging.getLogger(__name__)

# The actions OCPP 1.6 (and its security whitepaper) defines. A charger sending one we do
# not serve gets NotSupported; any other name gets NotImplemented (OCPP-J 1.6 table 7).
KNOWN_ACTIONS: Final = frozenset(Action)

# IdTagInfo status (section 7.2) -> event_type of an "id_tag" ChargerEvent.
_ID_TAG_EVENTS: Final = {status: status.name for status in AuthorizationStatus}
# Section 6.49: a StopTransaction without reason was stopped "Local".
_DEFAULT_STOP_REASON: Final = Reason.local.value
# ChargePointStatus values (section 7.7) of a connector that is idle: with no transaction
# running, nothing flows to a car (see `_end_live_values`).
_IDLE: Final = frozenset(
    {ChargePointStatus.available, ChargePointStatus.preparing, ChargePointStatus.finishing}
)
_TX_END: Final = ReadingContext.transaction_end.value  # section 7.39
_POWER: Final = Measurand.power_active_import.value
_CURRENT: Final = Measurand.current_import.value
# How much later than the reading it replaces a 0 left by a session's end is timestamped.
_TICK: Final = timedelta(microseconds=1)
# The stop reason we give a transaction closed because a new one started on its connector
# without its StopTransaction (not one of section 7.36's: the charger never said why).
SUPERSEDED: Final = "Superseded"
# Ids of superseded transactions remembered to recognise their late StopTransaction; a
# charger starting without ever stopping must not grow memory.
MAX_SUPERSEDED_REMEMBERED: Final = 32
# How long after an Authorize (or our RemoteStartTransaction) a StartTransaction of the same
# tag at the same charger belongs to it: the driver presents the card, then plugs in, and
# the charger gives up after its ConnectionTimeOut (section 9.1.7), commonly 30 to 180 s.
TAG_WINDOW: Final = 300.0
# Tags remembered per charger for that (a charger cannot have more drivers at once).
MAX_RECENT_TAGS: Final = 16
# ChargePointStatus values (section 7.7) only a connector with a running transaction reports.
_RUNNING_STATUSES: Final = frozenset(
    {
        ChargePointStatus.charging,
        ChargePointStatus.suspended_ev,
        ChargePointStatus.suspended_evse,
    }
)
# Connector ids we accept (section 3.8 numbers them 1..n without gaps). A bound keeps a
# misbehaving charger from creating thousands of connectors, each a set of entities.
MAX_CONNECTOR_ID: Final = 128

type BootPolicy = Callable[[str, BootInfo], str]
"""Decide a BootNotification: (charge_box_id, boot info) -> Accepted, Pending or Rejected."""
type VendorHandler = Callable[[str | None, str | None], DataTransferResult]
"""Answer an incoming DataTransfer of one vendorId: (messageId, data) -> result."""
type Forwarder = Callable[
    [str, dict[str, Any], dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]
]
"""See a charger's CALL after the session answered it: (action, payload, our answer) -> the
answer to send, or an awaitable of it (`protocol.upstream`)."""
type _Handler = Callable[[dict[str, Any], set[StateKey]], dict[str, Any]]


class SessionConnection(Protocol):
    """What a session needs of its connection (implemented by `protocol.connection.Connection`)."""

    # The connection owns the response timeout (its default, or this one per call).
    async def call(
        self,
        action: str,
        payload: dict[str, Any],
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Send a CALL (validated, queued behind earlier ones) and return its result."""
        ...

    def after_reply(self, fn: Callable[[], None]) -> None:
        """Run `fn` once the reply to the CALL being handled has been sent."""
        ...


def _now() -> datetime:
    return datetime.now(UTC)


def _same_tag(a: str, b: str) -> bool:
    """Compare id tags as section 7.28 wants: IdToken is case-insensitive."""
    return a.casefold() == b.casefold()


class _RecentTags:
    """Id tags seen lately at one charger, each with a note; bounded in count and in time."""

    __slots__ = ("_seen", "window")

    def __init__(self, window: float) -> None:
        self.window = window
        self._seen: dict[str, tuple[float, str]] = {}  # casefolded tag -> (when, note)

    def add(self, id_tag: str, note: str) -> None:
        seen = self._seen
        key = id_tag.casefold()
        seen.pop(key, None)  # re-inserted last: the oldest goes first
        seen[key] = (time.monotonic(), note)
        if len(seen) > MAX_RECENT_TAGS:
            del seen[next(iter(seen))]

    def get(self, id_tag: str) -> str | None:
        """The note of `id_tag` if it was seen within the window."""
        found = self._seen.get(id_tag.casefold())
        if found is None or time.monotonic() - found[0] > self.window:
            return None
        return found[1]

    def take(self, id_tag: str) -> str | None:
        """Like `get`, and forget the tag."""
        note = self.get(id_tag)
        self._seen.pop(id_tag.casefold(), None)
        return note


class ChargerSession:
    """The central system's side of one charger (handler contract of `protocol.connection`).

    `boot_policy` decides BootNotifications (default: accept every one). `resync_delay`
    is how long after connecting a charger may take to send a BootNotification before we
    resynchronise it with TriggerMessage (OCPP-J section 5.4: a charger reconnecting
    without reboot sends none). Id tags in `concurrent_tags` may run several
    transactions at once on this charger (e.g. the tag remote starts use); any other tag
    gets ConcurrentTx while it has a transaction running on another connector.

    A tag presented at the charger is announced once (ChargerEvent "id_tag"): by its
    Authorize, or by its StartTransaction when no Authorize of it came within
    `tag_window` seconds (or it came with another verdict, e.g. ConcurrentTx). Tags in
    `remote_tags` (the one remote starts from Home Assistant use) and tags of our own
    RemoteStartTransaction within the window were never presented: no "id_tag" event.
    """

    def __init__(
        self,
        config: ChargerConfig,
        hooks: SessionHooks,
        *,
        boot_policy: BootPolicy | None = None,
        resync_delay: float = 5.0,
        concurrent_tags: Iterable[str] = (),
        remote_tags: Iterable[str] = (),
        tag_window: float = TAG_WINDOW,
    ) -> None:
        """Create the session and restore the transactions `hooks` still has open."""
        self._config = config
        self.hooks = hooks
        self.state = ChargerState(config.charge_box_id)
        self.boot_policy = boot_policy
        self.resync_delay = resync_delay
        self.concurrent_tags: set[str] = {tag.casefold() for tag in concurrent_tags}
        self.remote_tags: set[str] = {tag.casefold() for tag in remote_tags}
        # Tags announced by an Authorize (noted with its status) and tags of our
        # RemoteStartTransaction, for the StartTransaction that follows.
        self._presented = _RecentTags(tag_window)
        self._remote_started = _RecentTags(tag_window)
        self._connection: SessionConnection | None = None
        # Hears every CALL the session answered and may replace the answer (upstream.py).
        self.forwarder: Forwarder | None = None
        self._booted = False  # a BootNotification arrived on the current connection
        self._boot_triggered = False  # we asked for that boot (TriggerMessage)
        self.setup_retry = SetupRetry(config.charge_box_id)
        # Actions a charger in Pending may send because we triggered them (section 4.2).
        self._triggered: set[str] = set()
        self._events: list[ChargerEvent] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._vendors: dict[str, VendorHandler] = {}
        # The open transactions: at most one per connector, its `transaction`. A new start
        # on a connector closes the one before (see `_supersede`).
        self._transactions: dict[int, Transaction] = {}
        # Ids of the latest superseded transactions (insertion-ordered, bounded).
        self._superseded: dict[int, None] = {}
        self._handlers: dict[str, _Handler] = {
            Action.authorize: self._on_authorize,
            Action.boot_notification: self._on_boot_notification,
            Action.data_transfer: self._on_data_transfer,
            Action.diagnostics_status_notification: self._on_diagnostics_status,
            Action.firmware_status_notification: self._on_firmware_status,
            Action.heartbeat: self._on_heartbeat,
            Action.log_status_notification: self._on_diagnostics_status,
            Action.meter_values: self._on_meter_values,
            Action.security_event_notification: self._on_security_event,
            Action.signed_firmware_status_notification: self._on_firmware_status,
            Action.start_transaction: self._on_start_transaction,
            Action.status_notification: self._on_status_notification,
            Action.stop_transaction: self._on_stop_transaction,
        }
        restored: set[StateKey] = set()
        for tx in sorted(hooks.open_transactions(config.charge_box_id), key=_start_order):
            # A store may hold several per connector (written before superseding existed).
            connector = self.state.connector(tx.connector_id)
            self._supersede(connector, restored)
            self._transactions[tx.transaction_id] = tx
            connector.transaction = tx
        # Nobody listens yet; closing a leftover of a past run is no news to announce.
        self._events.clear()

    # ------------------------------------------------------------------ properties

    @property
    def config(self) -> ChargerConfig:
        """The charger's current settings."""
        return self._config

    @property
    def charge_box_id(self) -> str:
        """The charger's identity (last segment of its websocket URL)."""
        return self._config.charge_box_id

    @property
    def connected(self) -> bool:
        """Whether the charger has a connection now."""
        return self._connection is not None

    @property
    def transactions(self) -> dict[int, Transaction]:
        """Open transactions by id, one per connector at most (a copy; the objects are live)."""
        return dict(self._transactions)

    @property
    def tag_window(self) -> float:
        """Seconds a StartTransaction may follow the Authorize or remote start of its tag."""
        return self._presented.window

    @tag_window.setter
    def tag_window(self, seconds: float) -> None:
        self._presented.window = self._remote_started.window = seconds

    def update_config(self, config: ChargerConfig) -> None:
        """Take new settings; changed intervals go to a connected charger at once."""
        if config.charge_box_id != self._config.charge_box_id:
            raise ValueError("update_config cannot change the charge_box_id")
        self._config = config
        # Section 4.2: only a ready charger is talked to; the others get the intervals
        # with their setup once ready.
        if self._connection is not None and self.state.ready:
            self._spawn(self._apply_intervals(self.state.configuration))

    def register_vendor(self, vendor_id: str, handler: VendorHandler) -> Callable[[], None]:
        """Serve incoming DataTransfer for `vendor_id`; return the function that unregisters."""
        self._vendors[vendor_id] = handler

        def unregister() -> None:
            if self._vendors.get(vendor_id) is handler:
                del self._vendors[vendor_id]

        return unregister

    # ------------------------------------------------------------------ connection

    def connection_made(self, connection: SessionConnection) -> None:
        """A charger connected; resynchronise it unless it boots promptly."""
        self._cancel_tasks()
        self._connection = connection
        self._booted = False
        self._boot_triggered = False
        self.state.connected = True
        self.state.ready = False  # not before its boot is answered or the resync is done
        self.state.notify((CONNECTED, READY))
        self._spawn(self._resync_unless_booted(connection))

    def connection_lost(self) -> None:
        """The charger went away: stop what we were doing for it."""
        self._cancel_tasks()
        self._connection = None
        self.state.ready = False
        if self.state.connected:
            self.state.connected = False
            self.state.notify((CONNECTED,))

    def handle_call(
        self, action: str, payload: dict[str, Any]
    ) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        """Answer one CALL of the charger; raise CallError to answer with a CallError.

        The answer is this session's, unless a `forwarder` is set: it gets the CALL and
        our answer and returns the answer to send (or an awaitable of it).
        """
        handler = self._handlers.get(action)
        if handler is None:
            if action in KNOWN_ACTIONS:
                raise CallError(CallErrorCode.NOT_SUPPORTED, f"{action} is not supported")
            # The name is the charger's: at most its start goes back (and none to the log).
            raise CallError(
                CallErrorCode.NOT_IMPLEMENTED, f"unknown action {logs.shorten(action, 40)}"
            )
        if (
            action != Action.boot_notification
            and self.state.registration != RegistrationStatus.accepted
        ):
            self._check_registration(action)
        changed: set[StateKey] = set()
        try:
            response = handler(payload, changed)
        except (KeyError, TypeError, ValueError) as err:
            # Only reachable with unvalidated input: a required field missing or of the
            # wrong type. Answer as OCPP-J table 7 says rather than with InternalError.
            # The exception's text may quote a value (an id tag): only its type is logged.
            logs.problem(
                _LOGGER,
                self.charge_box_id,
                f"bad {action}",
                "Bad %s from %s (%s)",
                action,
                self.charge_box_id,
                type(err).__name__,
            )
            raise CallError(CallErrorCode.FORMATION_VIOLATION, f"{action}: {err!r}") from err
        finally:
            if changed:
                self.state.notify(changed)
            events, self._events = self._events, []
        for event in events:
            self.state.emit(event)
        forwarder = self.forwarder
        if forwarder is not None:
            # Another central system hears of it too and may give the answer (upstream.py).
            return forwarder(action, payload, response)
        return response

    def _check_registration(self, action: str) -> None:
        """Section 4.2: before an Accepted boot a charger sends nothing but BootNotification.

        Except what a TriggerMessage asked for while Pending; a trigger stays granted until
        the next boot, as one may bring several messages (section 5.17). A charger that
        never booted while we ran (a reconnect without reboot) is served.
        """
        registration = self.state.registration
        if registration == RegistrationStatus.rejected or (
            registration == RegistrationStatus.pending and action not in self._triggered
        ):
            raise CallError(CallErrorCode.SECURITY_ERROR, f"{action} before the boot was accepted")

    # ------------------------------------------------------------------ handlers

    def _on_authorize(self, payload: dict[str, Any], changed: set[StateKey]) -> dict[str, Any]:
        """Section 4.1: tell the charger whether the tag may charge."""
        id_tag = payload["idTag"]
        info = self._authorize(id_tag)
        if not self._is_remote(id_tag, consume=False):
            self._tag_event(0, id_tag, info)
            self._presented.add(id_tag, info.get("status", ""))
        return {"idTagInfo": info}

    def _on_boot_notification(
        self, payload: dict[str, Any], changed: set[StateKey]
    ) -> dict[str, Any]:
        """Section 4.2: register the charger; once Accepted, read and align its configuration."""
        info = BootInfo(
            vendor=payload["chargePointVendor"],
            model=payload["chargePointModel"],
            serial_number=payload.get("chargePointSerialNumber"),
            charge_box_serial_number=payload.get("chargeBoxSerialNumber"),
            firmware_version=payload.get("firmwareVersion"),
            iccid=payload.get("iccid"),
            imsi=payload.get("imsi"),
            meter_type=payload.get("meterType"),
            meter_serial_number=payload.get("meterSerialNumber"),
        )
        status = (
            RegistrationStatus.accepted.value
            if self.boot_policy is None
            else self.boot_policy(self.charge_box_id, info)
        )
        self._booted = True
        self._triggered.clear()
        state = self.state
        if state.boot != info or state.registration != status:
            state.boot = info
            state.registration = status
            changed.add(BOOT)
        if state.ready:
            state.ready = False  # a new boot: ready again once it is answered
            changed.add(READY)
        if status == RegistrationStatus.accepted:
            self._after_reply(self._boot_answered)
        # For Pending/Rejected the interval is the wait before the next boot (section 4.2).
        return {
            "status": status,
            "currentTime": format_timestamp(_now()),
            "interval": self._config.heartbeat_interval,
        }

    def _on_data_transfer(self, payload: dict[str, Any], changed: set[StateKey]) -> dict[str, Any]:
        """Section 4.3: hand the data to the vendor's handler, if we have one."""
        handler = self._vendors.get(payload["vendorId"])
        if handler is None:
            # The spec's text says "UnknownVendor"; the enumeration (7.23) is UnknownVendorId.
            return {"status": DataTransferStatus.unknown_vendor_id}
        result = handler(payload.get("messageId"), payload.get("data"))
        response: dict[str, Any] = {"status": result.status}
        if result.data is not None:
            response["data"] = result.data
        return response

    def _on_diagnostics_status(
        self, payload: dict[str, Any], changed: set[StateKey]
    ) -> dict[str, Any]:
        """Section 4.4 (and LogStatusNotification of the security whitepaper)."""
        status = payload["status"]
        if self.state.diagnostics_status != status:
            self.state.diagnostics_status = status
            changed.add(DIAGNOSTICS_STATUS)
        return {}

    def _on_firmware_status(
        self, payload: dict[str, Any], changed: set[StateKey]
    ) -> dict[str, Any]:
        """Section 4.5 (and SignedFirmwareStatusNotification of the security whitepaper)."""
        status = payload["status"]
        if self.state.firmware_status != status:
            self.state.firmware_status = status
            changed.add(FIRMWARE_STATUS)
        return {}

    def _on_heartbeat(self, payload: dict[str, Any], changed: set[StateKey]) -> dict[str, Any]:
        """Section 4.6: note the charger is alive and give it our time."""
        now = _now()
        self.state.last_heartbeat = now
        changed.add(HEARTBEAT)
        return {"currentTime": format_timestamp(now)}

    def _on_meter_values(self, payload: dict[str, Any], changed: set[StateKey]) -> dict[str, Any]:
        """Section 4.7: keep the newest reading per measurand; advance the transaction."""
        connector = self._connector(payload["connectorId"], changed)
        parsed, skipped = parse_meter_values(payload["meterValue"])
        if skipped:
            logs.problem(
                _LOGGER,
                self.charge_box_id,
                "sampled values without a number",
                "%s: %d sampled values without a number",
                self.charge_box_id,
                skipped,
                level=logging.DEBUG,
            )
        transaction_id = payload.get("transactionId")
        # A transactionId names the transaction even when it is not (or no longer) the
        # connector's current one, e.g. restored after a restart or superseded.
        tx = (
            connector.running_transaction
            if transaction_id is None
            else self._transactions.get(transaction_id)
        )
        if self._apply_readings(connector, parsed, tx, changed) and tx is not None:
            self.hooks.transaction_updated(self.charge_box_id, tx)
            changed.add((tx.connector_id, TRANSACTION))
        return {}

    def _on_security_event(self, payload: dict[str, Any], changed: set[StateKey]) -> dict[str, Any]:
        """Security whitepaper: keep the last event (type, timestamp, techInfo as sent)."""
        self.state.last_security_event = dict(payload)
        changed.add(SECURITY_EVENT)
        logs.problem(
            _LOGGER,
            self.charge_box_id,
            "security event",
            "%s security event %s",
            self.charge_box_id,
            payload.get("type"),
            level=logging.INFO,
        )
        return {}

    def _on_start_transaction(
        self, payload: dict[str, Any], changed: set[StateKey]
    ) -> dict[str, Any]:
        """Section 4.8: give the transaction an id and check the tag.

        The transaction is recorded whatever the tag's status: the charger may have
        started it already (offline, or StopTransactionOnInvalidId false) and will send
        its StopTransaction later (section 3.5 and configuration key
        StopTransactionOnInvalidId).
        """
        connector_id = payload["connectorId"]
        id_tag = payload["idTag"]
        meter_start = float(payload["meterStart"])
        start_time = parse_timestamp(payload["timestamp"])
        if connector_id == 0:  # section 6.45: connectorId > 0
            raise CallError(
                CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION, "a transaction needs connectorId > 0"
            )
        connector = self._connector(connector_id, changed)
        info = self._authorize(id_tag)
        current = connector.running_transaction
        if (
            current is not None
            and _same_tag(current.id_tag, id_tag)
            and current.meter_start == meter_start
            and current.start_time == start_time
        ):
            # The same StartTransaction again: our reply got lost and the charger retries
            # (section 4.8). Same transaction, same id; nothing new to record.
            return {"transactionId": current.transaction_id, "idTagInfo": info}
        if info.get("status") == AuthorizationStatus.accepted and self._tag_busy(
            id_tag, connector_id
        ):
            info["status"] = AuthorizationStatus.concurrent_tx
        # A transaction still open here lost its StopTransaction (a reboot, a lost frame):
        # the charger runs one transaction per connector, so this start ends it.
        self._supersede(connector, changed)
        tx = Transaction(
            transaction_id=self.hooks.next_transaction_id(),
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start=meter_start,
            start_time=start_time,
            meter_last=meter_start,
            last_update=start_time,
            reservation_id=payload.get("reservationId"),
        )
        self._transactions[tx.transaction_id] = tx
        connector.transaction = tx
        changed.add((connector_id, TRANSACTION))
        self._record_register(
            connector, meter_start, start_time, ReadingContext.transaction_begin.value, changed
        )
        self.hooks.transaction_started(self.charge_box_id, tx)
        announced = self._presented.take(id_tag)
        if not self._is_remote(id_tag, consume=True) and announced != info.get("status", ""):
            self._tag_event(connector_id, id_tag, info)
        self._events.append(
            ChargerEvent(
                connector_id,
                "session",
                "started",
                {
                    "transaction_id": tx.transaction_id,
                    "id_tag": id_tag,
                    "meter_start": meter_start,
                },
            )
        )
        return {"transactionId": tx.transaction_id, "idTagInfo": info}

    def _on_status_notification(
        self, payload: dict[str, Any], changed: set[StateKey]
    ) -> dict[str, Any]:
        """Section 4.9: status and error of the charger (connector 0) or one connector."""
        connector_id = payload["connectorId"]
        connector = self._connector(connector_id, changed)
        # Section 6.47: without timestamp, the time of receipt.
        connector.status_time = parse_timestamp(payload.get("timestamp"))
        reported = (
            payload["status"],
            payload["errorCode"],
            payload.get("info"),
            payload.get("vendorId"),
            payload.get("vendorErrorCode"),
        )
        known = (
            connector.status,
            connector.error_code,
            connector.info,
            connector.vendor_id,
            connector.vendor_error_code,
        )
        running = connector.running_transaction
        open_tx = connector.transaction
        if reported != known:
            (
                connector.status,
                connector.error_code,
                connector.info,
                connector.vendor_id,
                connector.vendor_error_code,
            ) = reported
            changed.add((connector_id, STATUS))
        if open_tx is not None and open_tx.stop_time is None:
            # The connector says whether its transaction runs: one that ended (a lost
            # StopTransaction) stays open for a StopTransaction still queued; firmware that
            # reports an idle status mid-session and then charges again is followed too.
            if payload["status"] in ENDED_STATUSES:
                open_tx.ended_by_status = True
            elif payload["status"] in _RUNNING_STATUSES:
                open_tx.ended_by_status = False
            if (connector.running_transaction is None) != (running is None):
                changed.add((connector_id, TRANSACTION))
        if (
            payload["status"] in _IDLE
            and connector.running_transaction is None
            and connector_id > 0
        ):
            stamped = payload.get("timestamp")
            self._end_live_values(
                connector, None if stamped is None else connector.status_time, changed
            )
        return {}

    def _on_stop_transaction(
        self, payload: dict[str, Any], changed: set[StateKey]
    ) -> dict[str, Any]:
        """Section 4.10: close the transaction; the central system cannot refuse a stop."""
        id_tag = payload.get("idTag")
        response: dict[str, Any] = {}
        if id_tag is not None:
            response["idTagInfo"] = self._authorize(id_tag)
        meter_stop = float(payload["meterStop"])
        stop_time = parse_timestamp(payload["timestamp"])
        transaction_id = payload["transactionId"]
        tx = self._transactions.pop(transaction_id, None)
        if tx is None:
            # Unknown, superseded or already stopped (a resend after a lost reply):
            # acknowledge it, or the charger would retry it forever (section 4.10). It
            # must not touch the connector, which may run a newer transaction by now.
            if transaction_id in self._superseded:
                del self._superseded[transaction_id]
                logs.problem(
                    _LOGGER,
                    self.charge_box_id,
                    "superseded transaction stopped",
                    "%s: late stop of superseded transaction %s acknowledged",
                    self.charge_box_id,
                    transaction_id,
                    level=logging.INFO,
                )
            else:
                logs.problem(
                    _LOGGER,
                    self.charge_box_id,
                    "unknown transaction stopped",
                    "%s stopped unknown transaction %s",
                    self.charge_box_id,
                    transaction_id,
                )
            return response
        connector = self._connector(tx.connector_id, changed)
        # Section 6.49: transactionData is the session's history; it only fills in what is
        # not known newer (readings apply in timestamp order).
        parsed, _ = parse_meter_values(payload.get("transactionData") or ())
        # Energy = meterStop - meterStart, but never less than a register already seen.
        parsed.append((ENERGY_REGISTER, _register_reading(meter_stop, stop_time, _TX_END)))
        self._apply_readings(connector, parsed, tx, changed)
        tx.stop_time = stop_time
        tx.stop_reason = payload.get("reason", _DEFAULT_STOP_REASON)
        if connector.transaction is tx or connector.transaction is None:
            self._end_live_values(connector, stop_time, changed)
        if connector.transaction is tx:
            connector.transaction = None
        changed.add((tx.connector_id, TRANSACTION))
        self.hooks.transaction_stopped(self.charge_box_id, tx)
        self._stopped_event(tx)
        return response

    # ------------------------------------------------------------------ shared by the handlers

    def _connector(self, connector_id: int, changed: set[StateKey]) -> ConnectorState:
        """Return the connector, announcing it with (0, "connectors") when it is new."""
        connector = self.state.connectors.get(connector_id)
        if connector is None:
            if not 0 <= connector_id <= MAX_CONNECTOR_ID:
                # OCPP-J table 7: well-formed, but the value is out of range.
                raise CallError(
                    CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                    f"connectorId {connector_id} is not in 0..{MAX_CONNECTOR_ID}",
                )
            connector = self.state.connector(connector_id)
            changed.add(CONNECTORS)
        return connector

    def _apply_readings(
        self,
        connector: ConnectorState,
        parsed: list[tuple[str, Reading]],
        tx: Transaction | None,
        changed: set[StateKey],
    ) -> bool:
        """Store readings on the connector in timestamp order; advance `tx` by its register.

        A reading older than the one held for its key is left out (a MeterValues queued
        offline and delivered after newer ones, the history in a StopTransaction); an
        energy register goes through its `EnergyRegister` (never backwards). Return
        whether `tx`'s register moved.
        """
        readings = connector.readings
        registers = connector.registers
        stored = advanced = False
        for key, sample in parsed:
            if key == ENERGY_REGISTER and tx is not None:
                advanced = tx.advance(sample.value, sample.timestamp) or advanced
            previous = readings.get(key)
            if previous is not None and sample.timestamp < previous.timestamp:
                continue
            reading = sample
            if is_register(key):
                register = registers.get(key)
                if register is None:
                    register = registers[key] = EnergyRegister()
                if not register.update(sample.value, sample.timestamp):
                    continue
                value = register.value
                if value is not None and value != sample.value:  # after a meter restart
                    reading = replace(sample, value=value)
            readings[key] = reading
            stored = True
        if stored:
            changed.add((connector.connector_id, READINGS))
        return advanced

    def _record_register(
        self,
        connector: ConnectorState,
        value: float,
        timestamp: datetime,
        context: str,
        changed: set[StateKey],
    ) -> None:
        """Take meterStart/meterStop as a sample of the connector's register.

        A charger that sends no MeterValues still moves the register the Energy dashboard
        reads; the register's rule (`EnergyRegister`) decides, as for any sample.
        """
        self._apply_readings(
            connector,
            [(ENERGY_REGISTER, _register_reading(value, timestamp, context))],
            None,
            changed,
        )

    def _end_live_values(
        self, connector: ConnectorState, moment: datetime | None, changed: set[StateKey]
    ) -> None:
        """No transaction runs on `connector` any more: what flowed to the car is over.

        Most chargers send no last sample (MeterValuesInTxOnly, an empty
        StopTxnSampledData, section 9.1), so power and currents, total and per phase, go
        to 0 and the car's state of charge to unknown; what belongs to the charger
        (voltage, temperature, the energy register) stays. Current.Offered and
        Power.Offered go to 0 too: with no session the charger offers no car anything.
        A charger that never reported its power or current gets 0 for them, nothing else.

        The zeros are timestamped `moment` (the charger's time of the stop or idle
        status) but never before the reading they replace: any later sample of the
        charger wins, an older one (a queued MeterValues) does not bring the value back.
        """
        readings = connector.readings
        ended = False
        for key in [k for k in readings if measurand_of(k) in SESSION_CAR]:
            del readings[key]
            ended = True
        for key, reading in readings.items():
            if measurand_of(key) in SESSION_FLOWS and reading.value != 0:
                after = reading.timestamp + _TICK
                when = after if moment is None or moment < after else moment
                readings[key] = replace(reading, value=0.0, timestamp=when, context=_TX_END)
                ended = True
        # What the dashboard shows of every connector (power, current) reads 0 rather than
        # unknown; nothing else is invented (state of charge, temperature: not reported).
        when = EPOCH if moment is None else moment
        for measurand, unit in ((_POWER, UnitOfMeasure.w.value), (_CURRENT, UnitOfMeasure.a.value)):
            if not any(measurand_of(key) == measurand for key in readings):
                readings[measurand] = Reading(0.0, unit, when, _TX_END, DEFAULT_LOCATION)
                ended = True
        if ended:
            changed.add((connector.connector_id, READINGS))

    def _authorize(self, id_tag: str) -> dict[str, Any]:
        """Return a copy of the hooks' IdTagInfo for `id_tag` (we may change its status)."""
        return dict(self.hooks.authorize(self.charge_box_id, id_tag))

    def _tag_busy(self, id_tag: str, connector_id: int) -> bool:
        """Whether the tag runs a transaction on another connector of this charger.

        A transaction counts only while it may still run: a leftover whose connector
        has since reported a status without a transaction (its StopTransaction lost,
        e.g. across a reboot) must not refuse the tag forever with ConcurrentTx.
        """
        if id_tag.casefold() in self.concurrent_tags:
            return False
        return any(
            tx.connector_id != connector_id and _same_tag(tx.id_tag, id_tag) and self._may_run(tx)
            for tx in self._transactions.values()
        )

    def _may_run(self, tx: Transaction) -> bool:
        """Whether `tx` still runs on its connector (`ConnectorState.running_transaction`)."""
        connector = self.state.connectors.get(tx.connector_id)
        return connector is None or connector.running_transaction is tx

    def _supersede(self, connector: ConnectorState, changed: set[StateKey]) -> None:
        """Close the connector's open transaction: a new one starts there without its stop.

        Its energy is what its last reading showed and it ends at that reading, with
        reason `SUPERSEDED`; the store forgets it. A late StopTransaction for it is still
        acknowledged (section 4.10) but changes nothing.
        """
        old = connector.transaction
        if old is None:
            return
        connector.transaction = None
        self._transactions.pop(old.transaction_id, None)
        old.stop_time = old.last_update or old.start_time
        old.stop_reason = SUPERSEDED
        superseded = self._superseded
        superseded[old.transaction_id] = None
        if len(superseded) > MAX_SUPERSEDED_REMEMBERED:
            del superseded[next(iter(superseded))]
        changed.add((connector.connector_id, TRANSACTION))
        _LOGGER.info(
            "%s: transaction %s on connector %s superseded by a new start",
            self.charge_box_id,
            old.transaction_id,
            connector.connector_id,
        )
        self.hooks.transaction_stopped(self.charge_box_id, old)
        self._stopped_event(old)

    def _stopped_event(self, tx: Transaction) -> None:
        """Announce a closed transaction (stop_time and stop_reason set)."""
        stop_time = tx.stop_time or tx.start_time
        self._events.append(
            ChargerEvent(
                tx.connector_id,
                "session",
                "stopped",
                {
                    "transaction_id": tx.transaction_id,
                    "id_tag": tx.id_tag,
                    "energy_wh": tx.energy,
                    "duration_s": max(0.0, (stop_time - tx.start_time).total_seconds()),
                    "reason": tx.stop_reason,
                },
            )
        )

    def _is_remote(self, id_tag: str, *, consume: bool) -> bool:
        """Whether `id_tag` comes from a remote start rather than a card presented."""
        if id_tag.casefold() in self.remote_tags:
            return True
        recent = self._remote_started
        return (recent.take(id_tag) if consume else recent.get(id_tag)) is not None

    def _tag_event(self, connector_id: int, id_tag: str, info: dict[str, Any]) -> None:
        event_type = _ID_TAG_EVENTS.get(info.get("status", ""), "unknown")
        self._events.append(ChargerEvent(connector_id, "id_tag", event_type, {"id_tag": id_tag}))

    # ------------------------------------------------------------------ background work

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            _LOGGER.error("%s: background task failed", self.charge_box_id, exc_info=error)

    def _cancel_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()

    def after_reply(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start `work` once the reply being built, if any, has gone out.

        For work a change of state calls for: a CALL naming a transaction must not overtake
        the StartTransaction.conf that tells the charger its id (OCPP 1.6 section 4.8).
        Nothing is started while the charger is disconnected.
        """
        self._after_reply(work)

    def _after_reply(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start `work` once the reply being built has gone out."""
        connection = self._connection
        if connection is not None:
            connection.after_reply(lambda: self._spawn(work()))

    async def _try(
        self, action: str, payload: dict[str, Any], problem: str | None = None
    ) -> dict[str, Any] | None:
        """Send a setup CALL of our own, retried; a lasting failure is logged, not raised."""
        return await self._setup(problem or action, lambda: self.call(action, payload))

    async def _setup[T](self, problem: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """Await a setup call with retries; None when it kept failing (logged once)."""
        try:
            return await self.setup_retry.run(problem, call)
        except OcppError:
            return None  # reported by setup_retry (WARNING once per charger and problem)

    def _boot_seen(self) -> bool:
        """Whether a BootNotification arrived on this connection (read after an await)."""
        return self._booted

    def _set_ready(self) -> None:
        """Announce that the connection takes our calls now (see the module docstring)."""
        if not self.state.ready:
            self.state.ready = True
            self.state.notify((READY,))

    async def _boot_answered(self) -> None:
        """Section 4.2: the Accepted boot was answered; now we may talk to the charger."""
        self._set_ready()
        triggered, self._boot_triggered = self._boot_triggered, False
        if triggered:
            # We asked for this boot (a reconnect without reboot): the charger did not
            # restart, so it sends no status of its own; ask for what a user sees.
            await self._trigger_state()
        await self._synchronise()

    async def _trigger_state(self) -> None:
        """TriggerMessage StatusNotification, then MeterValues, for every known connector."""
        targets: list[int | None] = list(self.state.connector_ids) or [None]
        for message in (MessageTrigger.status_notification, MessageTrigger.meter_values):
            for connector_id in targets:
                await self._try(
                    Action.trigger_message,
                    _trigger_payload(message, connector_id),
                    f"TriggerMessage {message}",
                )

    async def _resync_unless_booted(self, connection: SessionConnection) -> None:
        """OCPP-J section 5.4: a reconnect without reboot brings no BootNotification.

        Wait briefly for one; if none comes, ask for what we may have missed while the
        charger was away: its status and meter values, and its identity if unknown.
        Only then is the connection ready for other calls.
        """
        await asyncio.sleep(self.resync_delay)
        if self._booted or self._connection is not connection:
            return
        if self.state.registration in {RegistrationStatus.rejected, RegistrationStatus.pending}:
            return  # section 4.2: it must boot (again); we initiate nothing meanwhile
        if self.state.boot is None:
            reply = await self._try(
                Action.trigger_message, {"requestedMessage": MessageTrigger.boot_notification}
            )
            if reply is not None and succeeded(Action.trigger_message, reply.get("status")):
                # The boot brings the configuration; a triggered one is no reboot, so it
                # brings no StatusNotification (section 5.17): asked for once it is answered.
                self._boot_triggered = True
                return
        await self._trigger_state()
        if self._boot_seen():
            return  # it booted meanwhile: that boot makes it ready (or not)
        self._set_ready()
        await self._synchronise()

    async def _synchronise(self) -> None:
        """Read the charger's configuration, learn its connectors, align our intervals."""
        result = await self._setup(Action.get_configuration, self.get_configuration)
        # Without it the intervals are set without knowing them.
        values = {} if result is None else result.values
        number = lookup_int(values, ConfigurationKey.number_of_connectors)
        if number is not None:
            changed: set[StateKey] = set()
            for connector_id in range(1, min(number, MAX_CONNECTOR_ID) + 1):
                self._connector(connector_id, changed)
            if changed:
                self.state.notify(changed)
        await self._apply_intervals(values)

    async def _apply_intervals(self, known: dict[str, ConfigurationValue]) -> None:
        """ChangeConfiguration of the intervals that differ from our config (section 5.3)."""
        for key, wanted in (
            (ConfigurationKey.heartbeat_interval.value, self._config.heartbeat_interval),
            (ConfigurationKey.meter_value_sample_interval.value, self._config.meter_interval),
        ):
            current = find(known, key)  # keys are CiString50Type (section 9)
            if current is not None and (
                current.readonly or (current.value or "").strip() == str(wanted)
            ):
                continue
            await self._setup(
                f"ChangeConfiguration {key}", partial(self.change_configuration, key, str(wanted))
            )

    # ------------------------------------------------------------------ commands

    async def call(
        self,
        action: str,
        payload: dict[str, Any],
        timeout: float | None = None,  # noqa: ASYNC109 (the connection applies it)
    ) -> dict[str, Any]:
        """Send any CALL to the charger and return its result payload (validated)."""
        connection = self._connection
        if connection is None:
            raise NotConnectedError(f"{self.charge_box_id} is not connected")
        return await connection.call(action, payload, timeout)

    async def _status(self, action: str, payload: dict[str, Any]) -> str:
        return str((await self.call(action, payload))["status"])

    async def cancel_reservation(self, reservation_id: int) -> str:
        """CancelReservation (section 5.1)."""
        return await self._status(Action.cancel_reservation, {"reservationId": reservation_id})

    async def change_availability(self, connector_id: int, operative: bool) -> str:
        """ChangeAvailability (section 5.2): Accepted, Rejected or Scheduled."""
        return await self._status(
            Action.change_availability,
            {
                "connectorId": connector_id,
                "type": AvailabilityType.operative if operative else AvailabilityType.inoperative,
            },
        )

    async def change_configuration(self, key: str, value: str) -> str:
        """ChangeConfiguration (section 5.3); an accepted value goes into the cache."""
        status = await self._status(Action.change_configuration, {"key": key, "value": value})
        if succeeded(Action.change_configuration, status):
            configuration = self.state.configuration
            known = configuration.get(key)
            if known is None or known.value != value:
                configuration[key] = ConfigurationValue(value)
                self.state.notify((CONFIGURATION,))
        return status

    async def clear_cache(self) -> str:
        """ClearCache (section 5.4)."""
        return await self._status(Action.clear_cache, {})

    async def clear_charging_profile(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> str:
        """ClearChargingProfile (section 5.5): Accepted or Unknown."""
        return await self._status(
            Action.clear_charging_profile,
            _without_none(
                id=profile_id,
                connectorId=connector_id,
                chargingProfilePurpose=purpose,
                stackLevel=stack_level,
            ),
        )

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> DataTransferResult:
        """DataTransfer (section 5.6)."""
        reply = await self.call(
            Action.data_transfer, _without_none(vendorId=vendor_id, messageId=message_id, data=data)
        )
        return DataTransferResult(reply["status"], reply.get("data"))

    async def get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None
    ) -> dict[str, Any]:
        """GetCompositeSchedule (section 5.7): the response as sent."""
        return await self.call(
            Action.get_composite_schedule,
            _without_none(
                connectorId=connector_id, duration=duration, chargingRateUnit=charging_rate_unit
            ),
        )

    async def get_configuration(self, keys: list[str] | None = None) -> ConfigurationResult:
        """GetConfiguration (section 5.8); the values also go into `state.configuration`."""
        reply = await self.call(Action.get_configuration, {"key": keys} if keys else {})
        values = {
            item["key"]: ConfigurationValue(item.get("value"), bool(item.get("readonly", False)))
            for item in reply.get("configurationKey", ())
        }
        configuration = self.state.configuration
        if any(configuration.get(key) != value for key, value in values.items()):
            configuration.update(values)
            self.state.notify((CONFIGURATION,))
        return ConfigurationResult(values, list(reply.get("unknownKey", ())))

    async def get_diagnostics(
        self,
        location: str,
        *,
        retries: int | None = None,
        retry_interval: int | None = None,
        start_time: datetime | None = None,
        stop_time: datetime | None = None,
    ) -> str | None:
        """GetDiagnostics (section 5.9): the file name, or None when there is nothing."""
        reply = await self.call(
            Action.get_diagnostics,
            _without_none(
                location=location,
                retries=retries,
                retryInterval=retry_interval,
                startTime=_time_or_none(start_time),
                stopTime=_time_or_none(stop_time),
            ),
        )
        file_name = reply.get("fileName")
        return None if file_name is None else str(file_name)

    async def get_local_list_version(self) -> int:
        """GetLocalListVersion (section 5.10): -1 none supported, 0 empty list."""
        return int((await self.call(Action.get_local_list_version, {}))["listVersion"])

    async def remote_start(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
    ) -> str:
        """RemoteStartTransaction (section 5.11); its Authorize and start present no card."""
        # Noted before sending: the charger may send its Authorize right after its reply.
        self._remote_started.add(id_tag, "remote")
        status = ""
        try:
            status = await self._status(
                Action.remote_start_transaction,
                _without_none(
                    idTag=id_tag, connectorId=connector_id, chargingProfile=charging_profile
                ),
            )
        finally:
            if not succeeded(Action.remote_start_transaction, status):
                # Refused or failed: no start of ours will follow.
                self._remote_started.take(id_tag)
        return status

    async def remote_stop(self, transaction_id: int) -> str:
        """RemoteStopTransaction (section 5.12)."""
        return await self._status(Action.remote_stop_transaction, {"transactionId": transaction_id})

    async def reserve_now(
        self,
        connector_id: int,
        expiry_date: datetime,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
    ) -> str:
        """ReserveNow (section 5.13)."""
        return await self._status(
            Action.reserve_now,
            _without_none(
                connectorId=connector_id,
                expiryDate=format_timestamp(expiry_date),
                idTag=id_tag,
                reservationId=reservation_id,
                parentIdTag=parent_id_tag,
            ),
        )

    async def reset(self, hard: bool) -> str:
        """Reset (section 5.14)."""
        return await self._status(
            Action.reset, {"type": ResetType.hard if hard else ResetType.soft}
        )

    async def send_local_list(
        self, version: int, update_type: str, entries: list[dict[str, Any]]
    ) -> str:
        """SendLocalList (section 5.15); `entries` are AuthorizationData as on the wire."""
        return await self._status(
            Action.send_local_list,
            {"listVersion": version, "updateType": update_type, "localAuthorizationList": entries},
        )

    async def set_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        """SetChargingProfile (section 5.16); `profile` is a ChargingProfile as on the wire."""
        return await self._status(
            Action.set_charging_profile,
            {"connectorId": connector_id, "csChargingProfiles": profile},
        )

    async def trigger_message(self, requested_message: str, connector_id: int | None = None) -> str:
        """TriggerMessage (section 5.17); a Pending charger may then send that message."""
        status = await self._status(
            Action.trigger_message, _trigger_payload(requested_message, connector_id)
        )
        if (
            succeeded(Action.trigger_message, status)
            and self.state.registration == RegistrationStatus.pending
        ):
            self._triggered.add(requested_message)
        return status

    async def unlock_connector(self, connector_id: int) -> str:
        """UnlockConnector (section 5.18): Unlocked, UnlockFailed or NotSupported."""
        return await self._status(Action.unlock_connector, {"connectorId": connector_id})

    async def update_firmware(
        self,
        location: str,
        retrieve_date: datetime,
        *,
        retries: int | None = None,
        retry_interval: int | None = None,
    ) -> None:
        """UpdateFirmware (section 5.19); progress comes as FirmwareStatusNotification."""
        await self.call(
            Action.update_firmware,
            _without_none(
                location=location,
                retrieveDate=format_timestamp(retrieve_date),
                retries=retries,
                retryInterval=retry_interval,
            ),
        )


def _register_reading(value: float, timestamp: datetime, context: str) -> Reading:
    """meterStart/meterStop (whole Wh) as a reading of the active import register."""
    return Reading(value, UnitOfMeasure.wh.value, timestamp, context, DEFAULT_LOCATION)


def _start_order(tx: Transaction) -> datetime:
    return tx.start_time


def _trigger_payload(requested_message: str, connector_id: int | None) -> dict[str, Any]:
    return _without_none(requestedMessage=requested_message, connectorId=connector_id)


def _time_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


def _without_none(**fields: Any) -> dict[str, Any]:
    """Build a payload, leaving out the optional fields not given."""
    return {key: value for key, value in fields.items() if value is not None}
