"""Keep your backend: forward one charger to an upstream central system, as that charger.

`UpstreamLink` opens an OCPP-J 1.6 client connection to another central system (the
charger's cloud backend) in the charger's name and relays between the two sides, while
the charger's own connection to this central system stays what it is:

- **Handshake** (OCPP-J 1.6 section 3): the URL is the upstream's address with the charge
  point identity as last path segment, percent-encoded (3.1.1); the subprotocol is
  `ocpp1.6` (3.1.2), and an upstream that does not agree to it is not talked to. HTTP
  Basic authentication with the identity as user name (security whitepaper, profiles 1
  and 2); `wss://` verifies the upstream's certificate and host name.
- **Reconnect** with backoff: `min_backoff` doubled after every failed attempt up to
  `max_backoff`, with jitter; back to `min_backoff` once a boot was accepted. HTTP 401,
  403 or 404 make the status REFUSED (the credentials or identity are wrong), every other
  failure UNREACHABLE; `long_unreachable` turns True after `unreachable_after` seconds
  without a connection. The link keeps trying either way.
- **Heartbeats** (section 4.6): the charger's go up while online; when nothing was sent for
  the upstream's interval the link sends one, but only while the charger is connected.
- **Boot first** (OCPP 1.6 section 4.2): on every connection the link sends the charger's
  latest BootNotification and nothing else (except answers to the upstream's calls)
  until the upstream accepted it; Pending and Rejected are retried after the interval
  the upstream gave. A reboot of the charger is forwarded in order like any message.
- **Charger to upstream**: every CALL the charger sends and this central system answered
  (`ChargerSession.forwarder`) is copied into a FIFO `OutboundQueue` and delivered one at
  a time in order (OCPP-J 4.1.1), each removed only when the upstream answered it, so
  a connection lost mid-delivery resends it after the reconnect. A CallError answer drops
  the message (it would be refused again), logged. While the upstream is away the queue
  holds the messages, as a charger queues its own (OCPP 1.6 section 4.8 on transaction
  messages), and is persisted by the owner (`snapshot`, `restore`, `on_save`). It is
  bounded (`queue_limit`); when full, the oldest MeterValues goes first, then the oldest
  message that is not a Start/StopTransaction, and only then the oldest message.
  Authorize and Heartbeat are not queued while the upstream is away (their answer would
  be meaningless later), nor is BootNotification (the latest is sent on the connection).
- **Who answers the charger**: this central system always answers at once, except in
  mode FULL while the upstream is online (connected and its boot accepted): then
  Authorize, StartTransaction and StopTransaction wait for the upstream's answer at most
  `answer_timeout` seconds (`ANSWER_TIMEOUT`, 5 s), and the upstream's `idTagInfo`
  (sections 6.2, 6.46, 6.50) goes to the charger, so its authorisation and billing
  decide. Without an answer in time, or while the upstream is offline, the local policy
  answers: the charger's connection never waits on the upstream for long. Tags in
  `local_tags` (this central system's own remote starts) are always answered locally.
- **Transaction ids**: the charger always gets this central system's transaction id, so
  the local state and the charger agree whatever the upstream does. The upstream's id
  from its StartTransaction.conf is mapped to it (`TransactionIds`), and every later
  MeterValues and StopTransaction of that transaction goes upstream with the upstream's
  id (a transaction started offline is mapped once its queued start was answered); the
  upstream's RemoteStopTransaction and TxProfiles are mapped back. A StopTransaction of a
  transaction the upstream never accepted is dropped, a MeterValues of one goes without
  transactionId (section 6.31 allows that).
- **Upstream to charger**: in mode FULL the upstream's commands (chapter 5) reach the
  charger through the session's methods (so the local state follows: the remote-start tag,
  the configuration cache) and the charger's answer or CallError goes back. In mode
  OBSERVE every upstream command is answered with the CallError SecurityError (OCPP-J
  4.2.3 table 7: the upstream lacks the authority), and a CALL that is not a command
  with NotSupported.
- **Charging profiles**: this central system's current limits use the profile ids from
  `smart_charging.PROFILE_ID_BASE` at the charger's highest stack level. An upstream
  SetChargingProfile with an id in that range is Rejected; one at our stack level or
  above is installed one level below (a same purpose and stack level would replace ours,
  section 3.13.2); the limit of ours prevails within a purpose, and across purposes the
  lower limit applies (section 3.13.4). An upstream ClearChargingProfile clears only the
  profiles the upstream installed through the link (tracked by id, persisted): by id
  when it names one (not ours), else those matching its criteria; none matching: Unknown.
- **Message ids** never collide: every id we send upstream is made by the link's own
  `RpcCore` with the prefix "up-" (hexadecimal on the charger's side), and neither side
  ever sees an id of the other.

Where the parts live: what the user sets and the link's states in `upstream_config`, the
queue and the transaction ids in `upstream_queue`, the upstream's commands on the charger
in `upstream_commands`. This module is the link itself (connection, boot first, delivery,
who answers the charger), a little over 600 lines because its half of the docstring above is
the contract of the whole feature.
"""

from __future__ import annotations

import asyncio
from base64 import b64encode
from collections.abc import Awaitable, Callable, Iterable, Mapping
import logging
import random
import ssl
from typing import Any, Final

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from . import logs
from .connection import (
    CLOSE_NORMAL,
    CLOSE_TIMEOUT,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    Connection,
)
from .errors import (
    CallError,
    CallErrorCode,
    CallErrorReceived,
    CallTimeoutError,
    NotConnectedError,
    OcppError,
    ValidationFailed,
)
from .rpc import RpcCore
from .schemas import V16, Validator, async_load_schemas
from .session import ChargerSession
from .tasks import TaskSet
from .upstream_commands import UpstreamCommands, reserved_profile_id
from .upstream_config import UpstreamConfig, UpstreamMode, UpstreamStatus, valid_upstream_url
from .upstream_queue import QUEUE_LIMIT, OutboundQueue, Outgoing, Payload, TransactionIds
from .vocabulary import (
    Action,
    RegistrationStatus,
)

_LOGGER = logging.getLogger(__name__)


SUBPROTOCOL: Final = Subprotocol("ocpp1.6")
# How long the charger's Authorize, StartTransaction and StopTransaction wait for the
# upstream's answer in mode FULL before the local policy answers (the charger's own
# response timeout is commonly 30 s or more; its connection must never feel the upstream).
ANSWER_TIMEOUT: Final = 5.0
MIN_BACKOFF: Final = 5.0
MAX_BACKOFF: Final = 300.0
# Offline this long, the owner tells the user (a repair issue).
UNREACHABLE_AFTER: Final = 3600.0
# Waited before a boot is sent again when the upstream's Pending/Rejected names no interval.
DEFAULT_BOOT_RETRY: Final = 60.0
# Times a message is sent before it is dropped when the upstream never answers it.
MAX_ATTEMPTS: Final = 3
# HTTP statuses that mean the upstream refuses this identity or these credentials.
REFUSING_STATUSES: Final = frozenset({401, 403, 404})
STORE_VERSION: Final = 1

# Actions a charger sends (OCPP 1.6 chapter 4 and the security whitepaper); every other
# action is a command of a central system (chapter 5). DataTransfer goes both ways.
CHARGER_ACTIONS: Final = frozenset(
    {
        Action.authorize,
        Action.boot_notification,
        Action.diagnostics_status_notification,
        Action.firmware_status_notification,
        Action.heartbeat,
        Action.meter_values,
        Action.start_transaction,
        Action.status_notification,
        Action.stop_transaction,
        Action.security_event_notification,
        Action.signed_firmware_status_notification,
        Action.log_status_notification,
        Action.sign_certificate,
    }
)
# What the upstream answers in mode FULL (its answer decides for the charger).
ANSWERED_UPSTREAM: Final = frozenset(
    {Action.authorize, Action.start_transaction, Action.stop_transaction}
)
# Not worth sending later: the charger's answer was given, time has moved on.
_ONLINE_ONLY: Final = frozenset({Action.authorize, Action.heartbeat})


type StatusListener = Callable[[], None]


class UpstreamLink(UpstreamCommands):
    """One charger forwarded to its upstream central system (see the module docstring).

    `start()` attaches to the charger's `session` (as its `forwarder`) and connects;
    `stop()` detaches and closes. `on_status()` hears every change of `status`,
    `online` and `long_unreachable`; `on_save()` every change of what `snapshot()`
    returns (queue, transaction ids, boot, the upstream's profiles), for the owner to
    persist and to give back to `restored` after a restart.
    """

    def __init__(
        self,
        config: UpstreamConfig,
        session: ChargerSession,
        *,
        ssl_context: ssl.SSLContext | None = None,
        restored: Mapping[str, Any] | None = None,
        answer_timeout: float = ANSWER_TIMEOUT,
        queue_limit: int = QUEUE_LIMIT,
        min_backoff: float = MIN_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        unreachable_after: float = UNREACHABLE_AFTER,
        open_timeout: float = 10.0,
        response_timeout: float = 30.0,
        ping_interval: float | None = DEFAULT_PING_INTERVAL,
        on_status: StatusListener | None = None,
        on_save: StatusListener | None = None,
        local_tags: Iterable[str] = (),
    ) -> None:
        """Prepare the link; nothing connects before `start()`.

        `ssl_context` replaces the default verifying context for wss:// (tests trust
        their own certificate with it). Id tags in `local_tags` (this central system's
        own, for its remote starts) are answered by the local policy in mode FULL too:
        the upstream gets the copy but cannot stop a start it never asked for.
        """
        self.config = config
        self.session = session
        self.ssl_context = ssl_context
        self.answer_timeout = answer_timeout
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.unreachable_after = unreachable_after
        self.open_timeout = open_timeout
        self.response_timeout = response_timeout
        self.ping_interval = ping_interval
        self.on_status = on_status
        self.on_save = on_save
        self.local_tags = frozenset(tag.casefold() for tag in local_tags)
        self.queue = OutboundQueue(queue_limit)
        self.transactions = TransactionIds()
        # The upstream's charging profiles installed through us: id -> criteria fields.
        self.profiles: dict[int, Payload] = {}
        self.boot: Payload | None = None
        self.status = UpstreamStatus.CONNECTING
        self.refused_code: int | None = None  # the HTTP status of the last refusal
        self.long_unreachable = False
        self.heartbeat_interval = 0.0
        self._offline_since: float | None = asyncio.get_running_loop().time()
        self._accepted = False  # the upstream accepted a boot on this connection
        self._boot_known = asyncio.Event()
        self._wake = asyncio.Event()  # a boot to send again at once (a charger reboot)
        self._connection: Connection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._tasks = TaskSet(self._task_failed)
        if restored:
            self._restore(restored)

    # ------------------------------------------------------------------ state

    @property
    def online(self) -> bool:
        """Connected and its boot accepted: messages flow and, in FULL, it answers."""
        return self.status is UpstreamStatus.ONLINE

    @property
    def connected(self) -> bool:
        """Whether a connection to the upstream is open (booted or not)."""
        return self._connection is not None

    def snapshot(self) -> Payload:
        """What survives a restart, as JSON-ready data (give it back as `restored`)."""
        return {
            "version": STORE_VERSION,
            "queue": [item.to_json() for item in self.queue],
            "transactions": self.transactions.pairs(),
            "boot": self.boot,
            "profiles": [[known, dict(fields)] for known, fields in self.profiles.items()],
        }

    def diagnostics(self) -> Payload:
        """The link's state for a diagnostics download: no payload, id tag or password."""
        queued: dict[str, int] = {}
        for item in self.queue:
            queued[item.action] = queued.get(item.action, 0) + 1
        return {
            "mode": self.config.mode.value,
            "status": self.status.value,
            "refused_code": self.refused_code,
            "long_unreachable": self.long_unreachable,
            "queued": queued,
            "dropped": self.queue.dropped,
            "transactions": self.transactions.pairs(),
            "profiles": sorted(self.profiles),
        }

    def _restore(self, data: Mapping[str, Any]) -> None:
        for raw in data.get("queue") or ():
            item = Outgoing.from_json(raw)
            if item is not None:
                self.queue.put(item)
        for pair in data.get("transactions") or ():
            if isinstance(pair, list) and len(pair) == 2 and all(isinstance(n, int) for n in pair):
                self.transactions.add(pair[0], pair[1])
        boot = data.get("boot")
        if isinstance(boot, dict):
            self.boot = boot
            self._boot_known.set()
        for entry in data.get("profiles") or ():
            if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int):
                self.profiles[entry[0]] = dict(entry[1]) if isinstance(entry[1], dict) else {}

    def _saved(self) -> None:
        if self.on_save is not None:
            self.on_save()

    def _set_status(self, status: UpstreamStatus, refused_code: int | None = None) -> None:
        loop = asyncio.get_running_loop()
        if status is UpstreamStatus.ONLINE:
            self._offline_since = None
            long_unreachable = False
        else:
            if self._offline_since is None:
                self._offline_since = loop.time()
            long_unreachable = loop.time() - self._offline_since >= self.unreachable_after
        if (status, refused_code, long_unreachable) == (
            self.status,
            self.refused_code,
            self.long_unreachable,
        ):
            return
        self.status, self.refused_code, self.long_unreachable = (
            status,
            refused_code,
            long_unreachable,
        )
        if self.on_status is not None:
            self.on_status()

    # ------------------------------------------------------------------ life

    def start(self) -> None:
        """Attach to the session and keep a connection to the upstream."""
        self.session.forwarder = self.forward
        if self.boot is None and self.session.state.boot is not None:
            # The charger booted before the link existed: its boot as it was reported.
            boot = self.session.state.boot
            self.boot = _without_none(
                chargePointVendor=boot.vendor,
                chargePointModel=boot.model,
                chargePointSerialNumber=boot.serial_number,
                chargeBoxSerialNumber=boot.charge_box_serial_number,
                firmwareVersion=boot.firmware_version,
                iccid=boot.iccid,
                imsi=boot.imsi,
                meterType=boot.meter_type,
                meterSerialNumber=boot.meter_serial_number,
            )
            self._boot_known.set()
        self._runner = asyncio.get_running_loop().create_task(
            self._run(), name=f"upstream {self.config.charge_box_id}"
        )

    async def stop(self) -> None:
        """Detach from the session and close the connection; waiting answers fall back."""
        if self.session.forwarder == self.forward:
            self.session.forwarder = None
        runner, self._runner = self._runner, None
        connection = self._connection
        if connection is not None:
            await connection.close(CLOSE_NORMAL, "forwarding stopped")
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        await self._tasks.cancel_and_wait()
        for item in self.queue:
            item.settle(None)

    async def _run(self) -> None:
        """Connect, serve, and connect again with backoff, until stopped."""
        validator = Validator(await async_load_schemas(version=V16), charge_box_id=self._name)
        delay = self.min_backoff
        while True:
            connection = await self._connect(validator)
            if connection is not None:
                await connection.run()
                if self._accepted:
                    delay = self.min_backoff
                self._accepted = False
            if self.status not in {UpstreamStatus.REFUSED, UpstreamStatus.UNREACHABLE}:
                self._set_status(UpstreamStatus.CONNECTING)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.max_backoff)

    async def _connect(self, validator: Validator) -> Connection | None:
        """Open the websocket (OCPP-J section 3); None after a failure (status set)."""
        config = self.config
        headers = {}
        if config.password is not None:
            token = b64encode(f"{config.charge_box_id}:{config.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        endpoint = config.endpoint
        context: ssl.SSLContext | None = None
        if endpoint.startswith("wss:"):
            context = self.ssl_context or ssl.create_default_context()
        try:
            websocket = await connect(
                endpoint,
                subprotocols=[SUBPROTOCOL],
                additional_headers=headers,
                ssl=context,
                open_timeout=self.open_timeout,
                ping_interval=None,  # the Connection's own keepalive
                ping_timeout=None,
                close_timeout=CLOSE_TIMEOUT,
                compression=None,
                max_size=1024 * 1024,
                proxy=None,
                logger=logs.RedactingLogger(logging.getLogger("websockets.client")),
            )
        except InvalidStatus as error:
            code = error.response.status_code
            if code in REFUSING_STATUSES:
                self._warn("refused", "%s: the upstream refused the connection (HTTP %s)", code)
                self._set_status(UpstreamStatus.REFUSED, code)
            else:
                self._warn("unreachable", "%s: the upstream answered HTTP %s", code)
                self._set_status(UpstreamStatus.UNREACHABLE)
            return None
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as error:
            self._warn("unreachable", "%s: cannot reach the upstream: %s", error)
            self._set_status(UpstreamStatus.UNREACHABLE)
            return None
        if websocket.subprotocol != SUBPROTOCOL:
            # OCPP-J 3.2: it does not speak 1.6 (or does not say so).
            self._warn("no ocpp1.6", "%s: the upstream did not agree to %s", SUBPROTOCOL)
            await websocket.close(CLOSE_NORMAL, f"{SUBPROTOCOL} required")
            self._set_status(UpstreamStatus.REFUSED)
            return None
        return Connection(
            websocket,
            self,
            RpcCore(validator, side="up-"),
            charge_box_id=self._name,
            response_timeout=self.response_timeout,
            ping_interval=self.ping_interval,
            ping_timeout=DEFAULT_PING_TIMEOUT,
            # The upstream's commands wait for the charger; the charger's messages must
            # not wait for them (in FULL their answers are bounded by answer_timeout).
            calls_wait_for_replies=False,
        )

    @property
    def _name(self) -> str:
        """The charger as named in log lines: its identity and the upstream's."""
        return f"{self.session.charge_box_id} (upstream {self.config.charge_box_id})"

    def _warn(self, kind: str, message: str, *args: object) -> None:
        logs.problem(_LOGGER, self._name, f"upstream {kind}", message, self._name, *args)

    # ------------------------------------------------------------------ the upstream connection

    def connection_made(self, connection: Connection) -> None:
        """Connected: boot, then deliver the queue (a task of its own)."""
        self._connection = connection
        self._accepted = False
        self._set_status(UpstreamStatus.PENDING)
        self._sender = self._spawn(self._deliver(connection))

    def connection_lost(self) -> None:
        """The upstream connection ended: what waits for an answer falls back at once."""
        self._connection = None
        self._accepted = False
        if self._sender is not None:
            self._sender.cancel()
            self._sender = None
        self._set_status(UpstreamStatus.CONNECTING)
        for item in self.queue:
            item.settle(None)

    def handle_call(self, action: str, payload: Payload) -> Awaitable[Payload]:
        """A CALL of the upstream: a command for the charger (mode FULL) or refused."""
        if action in CHARGER_ACTIONS:
            raise CallError(CallErrorCode.NOT_SUPPORTED, f"{action} is sent by a charger")
        if self.config.mode is UpstreamMode.OBSERVE:
            raise CallError(
                CallErrorCode.SECURITY_ERROR,
                "observe mode: commands of this central system do not reach the charger",
            )
        return self._command(action, payload)

    # ------------------------------------------------------------------ charger -> upstream

    def forward(
        self, action: str, payload: Payload, answer: Payload
    ) -> Payload | Awaitable[Payload]:
        """The session's forwarder: copy the charger's CALL upstream; maybe await its answer."""
        if action == Action.boot_notification:
            self.boot = dict(payload)
            self._boot_known.set()
            self._wake.set()  # a Pending/Rejected wait ends: this boot goes now
            if self._accepted:
                # A reboot: the upstream hears it, in order, and must accept it again.
                self._enqueue(Outgoing(action, dict(payload)))
            self._saved()
            return answer
        if action in _ONLINE_ONLY and not self.online:
            return answer
        local_tx = answer.get("transactionId") if action == Action.start_transaction else None
        item = Outgoing(action, dict(payload), local_tx)
        decides = (
            self.config.mode is UpstreamMode.FULL
            and action in ANSWERED_UPSTREAM
            and self.online
            and str(payload.get("idTag", "")).casefold() not in self.local_tags
        )
        if decides:
            item.waiter = asyncio.get_running_loop().create_future()
        self._enqueue(item)
        if decides:
            return self._upstream_answer(item, answer)
        return answer

    def _enqueue(self, item: Outgoing) -> None:
        dropped = self.queue.put(item)
        if dropped is not None:
            dropped.settle(None)
            self._warn(
                "queue full",
                "%s: upstream queue full (%d messages); dropped a %s",
                self.queue.limit,
                dropped.action,
            )
        self._saved()

    async def _upstream_answer(self, item: Outgoing, local: Payload) -> Payload:
        """The answer for the charger: the upstream's idTagInfo if it comes in time."""
        waiter = item.waiter
        assert waiter is not None
        done, _ = await asyncio.wait({waiter}, timeout=self.answer_timeout)
        reply = waiter.result() if done else None
        if reply is None or "idTagInfo" not in reply:
            _LOGGER.debug("%s: %s answered locally", self._name, item.action)
            return local
        return {**local, "idTagInfo": reply["idTagInfo"]}

    async def _deliver(self, connection: Connection) -> None:
        """Boot until accepted, then send the queue in order; heartbeats when idle."""
        try:
            while True:
                if not self._accepted:
                    await self._boot(connection)
                    continue
                item = self.queue.head_now()
                if item is None:
                    await self._idle()
                    continue
                await self._send(connection, item)
        except NotConnectedError:
            return  # connection_lost follows (or came)

    async def _boot(self, connection: Connection) -> None:
        """Section 4.2: BootNotification until Accepted, waiting the interval in between."""
        await self._boot_known.wait()
        assert self.boot is not None
        head = self.queue.head_now()
        if head is not None and head.action == Action.boot_notification:
            self.queue.done(head)  # this boot is the one we send now
        self._wake.clear()
        try:
            reply = await connection.call(Action.boot_notification, self.boot)
        except (CallErrorReceived, CallTimeoutError, ValidationFailed) as error:
            self._warn("boot failed", "%s: BootNotification failed: %s", error)
            await self._pause(DEFAULT_BOOT_RETRY)
            return
        interval = float(reply.get("interval") or 0)
        if reply["status"] == RegistrationStatus.accepted:
            self.heartbeat_interval = interval
            self._accepted = True
            self._set_status(UpstreamStatus.ONLINE)
            _LOGGER.info(
                "%s: connected to the upstream, %d queued messages to deliver",
                self._name,
                len(self.queue),
            )
            return
        self._warn("boot pending", "%s: the upstream answered the boot %s", reply["status"])
        await self._pause(interval or DEFAULT_BOOT_RETRY)

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds`, or less if the charger booted meanwhile."""
        self._wake.clear()
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _idle(self) -> None:
        """Wait for a message; send a Heartbeat when none came for the upstream's interval.

        Section 4.6: the upstream expects a message every heartbeat interval; the
        charger's own heartbeats go to this central system at its interval. None while
        the charger is offline: an upstream that watches heartbeats then sees it offline.
        """
        interval = self.heartbeat_interval or None
        try:
            async with asyncio.timeout(interval):
                await self.queue.head()
        except TimeoutError:
            connection = self._connection
            if connection is not None and self.session.connected:
                try:
                    await connection.call(Action.heartbeat, {})
                except (CallErrorReceived, CallTimeoutError, ValidationFailed) as error:
                    self._warn("heartbeat", "%s: Heartbeat failed: %s", error)

    async def _send(self, connection: Connection, item: Outgoing) -> None:
        """Send the head of the queue; remove it once answered (or given up)."""
        payload = self._mapped(item)
        if payload is None:
            self.queue.done(item)
            item.settle(None)
            self._saved()
            return
        item.attempts += 1
        try:
            reply = await connection.call(item.action, payload)
        except CallTimeoutError:
            if item.attempts < MAX_ATTEMPTS:
                return  # sent again (OCPP 1.6 section 4.8: transaction messages are retried)
            self._warn("no answer", "%s: the upstream never answered a %s; dropped", item.action)
            reply = None
        except (CallErrorReceived, ValidationFailed) as error:
            self._warn("refused message", "%s: the upstream refused a %s: %s", item.action, error)
            reply = None
        if reply is not None:
            self._answered(item, reply)
        if item.action == Action.boot_notification and reply is not None:
            if reply.get("status") != RegistrationStatus.accepted:
                self._accepted = False
                self._set_status(UpstreamStatus.PENDING)
            else:
                self.heartbeat_interval = float(reply.get("interval") or 0)
        self.queue.done(item)
        item.settle(reply)
        self._saved()

    def _mapped(self, item: Outgoing) -> Payload | None:
        """The payload as the upstream must see it: its transaction ids; None to drop."""
        payload = item.payload
        if item.action not in {Action.stop_transaction, Action.meter_values}:
            return payload
        local = payload.get("transactionId")
        if local is None:
            return payload
        upstream = self.transactions.upstream(local)
        if upstream is not None:
            return {**payload, "transactionId": upstream}
        if item.action == Action.stop_transaction:
            self._warn(
                "unknown transaction",
                "%s: the upstream does not know transaction %s; its StopTransaction is dropped",
                local,
            )
            return None
        return {key: value for key, value in payload.items() if key != "transactionId"}

    def _answered(self, item: Outgoing, reply: Payload) -> None:
        if item.action == Action.start_transaction and item.local_tx is not None:
            self.transactions.add(item.local_tx, int(reply["transactionId"]))

    # ------------------------------------------------------------------ tasks

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        return self._tasks.start(coro)

    def _task_failed(self, error: BaseException) -> None:
        if isinstance(error, OcppError):
            _LOGGER.debug("%s: %s", self._name, error)
        else:
            _LOGGER.error("%s: upstream task failed", self._name, exc_info=error)


def _without_none(**fields: Any) -> Payload:
    return {key: value for key, value in fields.items() if value is not None}


__all__ = [
    "ANSWERED_UPSTREAM",
    "ANSWER_TIMEOUT",
    "QUEUE_LIMIT",
    "OutboundQueue",
    "Outgoing",
    "TransactionIds",
    "UpstreamConfig",
    "UpstreamLink",
    "UpstreamMode",
    "UpstreamStatus",
    "reserved_profile_id",
    "valid_upstream_url",
]
