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
"""

from __future__ import annotations

import asyncio
from base64 import b64encode
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
import logging
import random
import ssl
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit, urlunsplit

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
from .smart_charging import PROFILE_ID_BASE, Capabilities
from .vocabulary import (
    Action,
    ChargingProfileStatus,
    ClearChargingProfileStatus,
    RegistrationStatus,
    RemoteStartStopStatus,
)

_LOGGER = logging.getLogger(__name__)

type Payload = dict[str, Any]

SUBPROTOCOL: Final = Subprotocol("ocpp1.6")
# How long the charger's Authorize, StartTransaction and StopTransaction wait for the
# upstream's answer in mode FULL before the local policy answers (the charger's own
# response timeout is commonly 30 s or more; its connection must never feel the upstream).
ANSWER_TIMEOUT: Final = 5.0
# Messages held while the upstream is away: at one MeterValues a minute, most of a day.
QUEUE_LIMIT: Final = 1000
MIN_BACKOFF: Final = 5.0
MAX_BACKOFF: Final = 300.0
# Offline this long, the owner tells the user (a repair issue).
UNREACHABLE_AFTER: Final = 3600.0
# Waited before a boot is sent again when the upstream's Pending/Rejected names no interval.
DEFAULT_BOOT_RETRY: Final = 60.0
# Times a message is sent before it is dropped when the upstream never answers it.
MAX_ATTEMPTS: Final = 3
# Upstream transactions remembered (open ones and the latest closed ones).
MAX_TRANSACTIONS: Final = 64
# Profiles of the upstream tracked for its ClearChargingProfile.
MAX_PROFILES: Final = 64
# Our profile ids (smart_charging.profile_id: 100 per purpose, three purposes).
_OUR_PROFILE_IDS: Final = range(PROFILE_ID_BASE, PROFILE_ID_BASE + 300)
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
_TRANSACTION_MESSAGES: Final = frozenset({Action.start_transaction, Action.stop_transaction})


class UpstreamMode(StrEnum):
    """Who is in charge of the charger (see the module docstring)."""

    FULL = "full"  # the upstream authorises, bills and may command the charger
    OBSERVE = "observe"  # the upstream gets copies; its commands are refused


class UpstreamStatus(StrEnum):
    """The link's state, as shown to the user."""

    CONNECTING = "connecting"  # no connection yet, or trying again after one ended
    PENDING = "pending"  # connected, the boot not (yet) accepted
    ONLINE = "online"  # connected and the boot accepted: messages flow
    REFUSED = "refused"  # the upstream answered 401, 403 or 404
    UNREACHABLE = "unreachable"  # any other failure to connect


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamConfig:
    """Where and how to forward one charger."""

    url: str  # ws:// or wss://; the identity is appended as last path segment
    charge_box_id: str  # the identity at the upstream (commonly the charger's own)
    password: str | None = None
    mode: UpstreamMode = UpstreamMode.FULL

    @property
    def endpoint(self) -> str:
        """The URL to connect to: `url` + "/" + percent-encoded identity (OCPP-J 3.1.1).

        A URL whose path already ends with the identity is taken as it is; a query
        string stays at the end.
        """
        parts = urlsplit(self.url.strip())
        path = parts.path.rstrip("/")
        if unquote(path.rpartition("/")[2]) != self.charge_box_id:
            path = f"{path}/{quote(self.charge_box_id, safe='')}"
        return urlunsplit(parts._replace(path=path))


def valid_upstream_url(url: str) -> bool:
    """Whether `url` can name an upstream: ws:// or wss:// with a host.

    Credentials in the URL (user:password@) are refused: the password has a field of its
    own, kept out of the URL that log lines and diagnostics show.
    """
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return False
    return (
        parts.scheme in {"ws", "wss"}
        and bool(parts.hostname)
        and port_ok
        and "@" not in parts.netloc
    )


@dataclass(slots=True)
class Outgoing:
    """One charger message on its way upstream.

    `local_tx` is our transaction id of a StartTransaction (from our answer), to map the
    upstream's id to; `waiter` (not persisted) gets the upstream's answer, or None.
    """

    action: str
    payload: Payload
    local_tx: int | None = None
    attempts: int = 0
    waiter: asyncio.Future[Payload | None] | None = field(default=None, compare=False)

    def settle(self, answer: Payload | None) -> None:
        """Hand the upstream's answer (None: none) to whoever waits for it."""
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    def to_json(self) -> Payload:
        data: Payload = {"action": self.action, "payload": self.payload}
        if self.local_tx is not None:
            data["local_tx"] = self.local_tx
        return data

    @classmethod
    def from_json(cls, data: object) -> Outgoing | None:
        if not isinstance(data, dict):
            return None
        action, payload, local_tx = data.get("action"), data.get("payload"), data.get("local_tx")
        if not isinstance(action, str) or not isinstance(payload, dict):
            return None
        return cls(action, payload, local_tx if isinstance(local_tx, int) else None)


class OutboundQueue:
    """The bounded FIFO of charger messages not yet answered by the upstream.

    The head may be in flight (`head()` peeks, `done()` removes it once answered), so it
    is never dropped. When the queue is over `limit`, one message goes: the oldest
    MeterValues, else the oldest that is not a StartTransaction or StopTransaction, else
    the oldest.
    """

    def __init__(self, limit: int = QUEUE_LIMIT) -> None:
        """Hold at most `limit` messages."""
        self.limit = max(limit, 1)
        self._items: deque[Outgoing] = deque()
        self._filled = asyncio.Event()
        self.dropped = 0

    def __len__(self) -> int:
        """How many messages wait (the one in flight included)."""
        return len(self._items)

    def __iter__(self) -> Any:
        """The messages in order."""
        return iter(self._items)

    def put(self, item: Outgoing) -> Outgoing | None:
        """Append `item`; return the message dropped to make room, if one was."""
        items = self._items
        items.append(item)
        self._filled.set()
        if len(items) <= self.limit:
            return None
        victim = self._pick_victim()
        items.remove(victim)
        self.dropped += 1
        return victim

    def _pick_victim(self) -> Outgoing:
        candidates = list(self._items)[1:]  # the head may be in flight
        for keep in (
            lambda item: item.action != Action.meter_values,
            lambda item: item.action in _TRANSACTION_MESSAGES,
        ):
            for item in candidates:
                if not keep(item):
                    return item
        return candidates[0]

    async def head(self) -> Outgoing:
        """The oldest message, waiting for one."""
        while not self._items:
            self._filled.clear()
            await self._filled.wait()
        return self._items[0]

    def head_now(self) -> Outgoing | None:
        """The oldest message, if any."""
        return self._items[0] if self._items else None

    def done(self, item: Outgoing) -> None:
        """`item` (the head) was answered or given up: remove it."""
        if self._items and self._items[0] is item:
            self._items.popleft()


class TransactionIds:
    """Our transaction ids and the upstream's, both ways; the latest `limit` kept."""

    def __init__(self, limit: int = MAX_TRANSACTIONS) -> None:
        """Keep at most `limit` pairs."""
        self.limit = limit
        self._upstream: dict[int, int] = {}  # ours -> upstream's
        self._local: dict[int, int] = {}  # upstream's -> ours

    def add(self, local: int, upstream: int) -> None:
        """Map our `local` id to the upstream's `upstream` id."""
        old = self._upstream.pop(local, None)
        if old is not None:
            self._local.pop(old, None)
        self._upstream[local] = upstream
        self._local[upstream] = local
        while len(self._upstream) > self.limit:
            first = next(iter(self._upstream))
            self._local.pop(self._upstream.pop(first), None)

    def upstream(self, local: int) -> int | None:
        """The upstream's id of our transaction `local`."""
        return self._upstream.get(local)

    def local(self, upstream: int) -> int | None:
        """Our id of the upstream's transaction `upstream`."""
        return self._local.get(upstream)

    def pairs(self) -> list[list[int]]:
        """[ours, upstream's] pairs, oldest first (for the store)."""
        return [[local, upstream] for local, upstream in self._upstream.items()]


type StatusListener = Callable[[], None]


class UpstreamLink:
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
        self._tasks: set[asyncio.Task[Any]] = set()
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
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
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

    # ------------------------------------------------------------------ upstream -> charger

    async def _command(self, action: str, payload: Payload) -> Payload:
        """Carry out the upstream's command on the charger and return the charger's answer."""
        session = self.session
        try:
            if action == Action.remote_start_transaction:
                return await self._remote_start(payload)
            if action == Action.remote_stop_transaction:
                local = self.transactions.local(payload["transactionId"])
                if local is None:
                    return {"status": RemoteStartStopStatus.rejected}
                return {"status": await session.remote_stop(local)}
            if action == Action.set_charging_profile:
                return await self._set_profile(payload)
            if action == Action.clear_charging_profile:
                return await self._clear_profiles(payload)
            if action == Action.change_configuration:
                key, value = payload["key"], payload["value"]
                return {"status": await session.change_configuration(key, value)}
            return await session.call(action, payload)
        except CallErrorReceived as error:
            raise CallError(error.code, error.description, error.details) from None
        except CallTimeoutError:
            raise CallError(CallErrorCode.GENERIC_ERROR, "the charger did not answer") from None
        except NotConnectedError:
            raise CallError(CallErrorCode.GENERIC_ERROR, "the charger is not connected") from None
        except ValidationFailed as error:
            raise CallError(CallErrorCode.INTERNAL_ERROR, f"charger's answer: {error}") from None

    async def _remote_start(self, payload: Payload) -> Payload:
        profile = payload.get("chargingProfile")
        if profile is not None:
            profile = self._guarded(profile)
            if profile is None:
                return {"status": RemoteStartStopStatus.rejected}
        status = await self.session.remote_start(
            payload["idTag"], payload.get("connectorId"), profile
        )
        return {"status": status}

    def _guarded(self, profile: Payload) -> Payload | None:
        """The upstream's profile as it may reach the charger, or None to refuse it."""
        if profile["chargingProfileId"] in _OUR_PROFILE_IDS:
            return None
        ours = Capabilities.from_configuration(self.session.state.configuration).stack_level
        profile = dict(profile)
        if profile["stackLevel"] >= ours:
            profile["stackLevel"] = max(ours - 1, 0)
        upstream_tx = profile.get("transactionId")
        if upstream_tx is not None:
            local = self.transactions.local(upstream_tx)
            if local is None:
                return None
            profile["transactionId"] = local
        return profile

    async def _set_profile(self, payload: Payload) -> Payload:
        profile = self._guarded(payload["csChargingProfiles"])
        if profile is None:
            return {"status": ChargingProfileStatus.rejected}
        connector_id = payload["connectorId"]
        status = await self.session.set_charging_profile(connector_id, profile)
        if status == ChargingProfileStatus.accepted:
            self.profiles.pop(profile["chargingProfileId"], None)
            self.profiles[profile["chargingProfileId"]] = {
                "connectorId": connector_id,
                "chargingProfilePurpose": profile["chargingProfilePurpose"],
                "stackLevel": payload["csChargingProfiles"]["stackLevel"],
            }
            while len(self.profiles) > MAX_PROFILES:
                del self.profiles[next(iter(self.profiles))]
            self._saved()
        return {"status": status}

    async def _clear_profiles(self, payload: Payload) -> Payload:
        """Section 5.5, limited to the upstream's own profiles (see the module docstring)."""
        profile_id = payload.get("id")
        if profile_id is not None:
            if profile_id in _OUR_PROFILE_IDS:
                return {"status": ClearChargingProfileStatus.unknown}
            status = await self.session.clear_charging_profile(profile_id=profile_id)
            if self.profiles.pop(profile_id, None) is not None:
                self._saved()
            return {"status": status}
        matching = [
            known
            for known, fields in self.profiles.items()
            if all(
                payload.get(key) is None or payload[key] == fields.get(key)
                for key in ("connectorId", "chargingProfilePurpose", "stackLevel")
            )
        ]
        cleared = False
        for known in matching:
            status = await self.session.clear_charging_profile(profile_id=known)
            cleared = cleared or status == ClearChargingProfileStatus.accepted
            del self.profiles[known]
        if matching:
            self._saved()
        return {
            "status": ClearChargingProfileStatus.accepted
            if cleared
            else ClearChargingProfileStatus.unknown
        }

    # ------------------------------------------------------------------ tasks

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            if isinstance(error, OcppError):
                _LOGGER.debug("%s: %s", self._name, error)
            else:
                _LOGGER.error("%s: upstream task failed", self._name, exc_info=error)


def _without_none(**fields: Any) -> Payload:
    return {key: value for key, value in fields.items() if value is not None}


def reserved_profile_id(profile_id: int) -> bool:
    """Whether `profile_id` is one of this central system's own (never the upstream's)."""
    return profile_id in _OUR_PROFILE_IDS


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
