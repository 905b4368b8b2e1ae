"""What every part of a `ChargerSession` shares: its state, its connection, its tasks.

`SessionCore` holds the attributes of one charger's session (see `protocol.session` for
the parts built on it) and the few things every part uses: sending a CALL (`call`),
starting background work (`_spawn`, `after_reply`) and finding a connector
(`_connector`). It decides nothing about OCPP messages itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterable
import logging
from typing import Any, Final, Protocol

from .config import ChargerConfig
from .errors import CallError, CallErrorCode, NotConnectedError
from .hooks import SessionHooks
from .messages import DataTransferResult
from .retry import SetupRetry
from .state import (
    CONNECTORS,
    BootInfo,
    ChargerEvent,
    ChargerState,
    ConnectorState,
    StateKey,
    Transaction,
)
from .tags import TAG_WINDOW, RecentTags
from .tasks import TaskSet

__all__ = [
    "MAX_CONNECTOR_ID",
    "BootPolicy",
    "Forwarder",
    "SessionConnection",
    "SessionCore",
    "VendorHandler",
]

_LOGGER = logging.getLogger(__name__)

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


class SessionCore:
    """The state and plumbing of one charger's session (the parts: `protocol.session`).

    `boot_policy` decides BootNotifications (default: accept every one). `resync_delay`
    is how long after connecting a charger may take to send a BootNotification before we
    resynchronise it with TriggerMessage (OCPP-J section 5.4: a charger reconnecting
    without reboot sends none). Id tags in `concurrent_tags` may run several
    transactions at once on this charger (e.g. the tag remote starts use); any other tag
    gets ConcurrentTx while it has a transaction running on another connector.
    Tags in `remote_tags` (the one remote starts from Home Assistant use) are never
    announced as presented; `tag_window` is how long an Authorize or remote start of a
    tag belongs to its StartTransaction (`protocol.tags`).
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
        """Set up the state, then `_start`; nothing is sent."""
        self._config = config
        self.hooks = hooks
        self.state = ChargerState(config.charge_box_id)
        self.boot_policy = boot_policy
        self.resync_delay = resync_delay
        self.concurrent_tags: set[str] = {tag.casefold() for tag in concurrent_tags}
        self.remote_tags: set[str] = {tag.casefold() for tag in remote_tags}
        # Tags announced by an Authorize (noted with its status) and tags of our
        # RemoteStartTransaction, for the StartTransaction that follows.
        self._presented = RecentTags(tag_window)
        self._remote_started = RecentTags(tag_window)
        self._connection: SessionConnection | None = None
        # Hears every CALL the session answered and may replace the answer (upstream.py).
        self.forwarder: Forwarder | None = None
        self._booted = False  # a BootNotification arrived on the current connection
        self._boot_triggered = False  # we asked for that boot (TriggerMessage)
        self.setup_retry = SetupRetry(config.charge_box_id)
        # Actions a charger in Pending may send because we triggered them (section 4.2).
        self._triggered: set[str] = set()
        self._events: list[ChargerEvent] = []
        self._tasks = TaskSet(self._task_failed)
        self._vendors: dict[str, VendorHandler] = {}
        # The open transactions: at most one per connector, its `transaction`. A new start
        # on a connector closes the one before (see `_supersede`).
        self._transactions: dict[int, Transaction] = {}
        # Ids of the latest superseded transactions (insertion-ordered, bounded).
        self._superseded: dict[int, None] = {}
        self._start()

    def _start(self) -> None:
        """Finish construction once the state exists (the session restores transactions)."""

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

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.start(coro)

    def _task_failed(self, error: BaseException) -> None:
        _LOGGER.error("%s: background task failed", self.charge_box_id, exc_info=error)

    def _cancel_tasks(self) -> None:
        self._tasks.cancel()

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
