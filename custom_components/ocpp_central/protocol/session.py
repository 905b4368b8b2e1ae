"""One charger as the central system sees it: `ChargerSession`, OCPP 1.6 messages and state.

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

`ChargerSession` is the one public class; it is put together from parts, each a small
class in a module of its own, all working on the attributes `SessionCore` sets up:

- `session_core.py`, `SessionCore`: the attributes, `call`, background tasks, `_connector`;
- `session_commands.py`, `CsmsCommands`: the CSMS commands of chapter 5, one method each;
- `session_readiness.py`, `Readiness`: connection made and lost, boot answered, resync,
  the configuration read and the intervals aligned once ready;
- `session_transactions.py`, `Transactions`: the open transactions, the readings that
  advance them, the "session" and "id_tag" events;
- `session_handlers.py`, `ChargerHandlers`: `handle_call` and one handler per message
  of chapter 4 the charger sends;
- `tags.py`, `RecentTags`: the tags lately presented or remote-started.

This module adds what concerns the whole: construction (restoring the transactions a
store still has open), new settings and vendor DataTransfer handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import override

from .config import ChargerConfig
from .messages import ConfigurationResult, DataTransferResult
from .session_commands import CsmsCommands
from .session_core import (
    MAX_CONNECTOR_ID,
    BootPolicy,
    Forwarder,
    SessionConnection,
    VendorHandler,
)
from .session_handlers import KNOWN_ACTIONS, ChargerHandlers
from .session_readiness import Readiness
from .session_transactions import MAX_SUPERSEDED_REMEMBERED, SUPERSEDED, Transactions
from .tags import MAX_RECENT_TAGS, TAG_WINDOW

__all__ = [
    "KNOWN_ACTIONS",
    "MAX_CONNECTOR_ID",
    "MAX_RECENT_TAGS",
    "MAX_SUPERSEDED_REMEMBERED",
    "SUPERSEDED",
    "TAG_WINDOW",
    "BootPolicy",
    "ChargerSession",
    "ConfigurationResult",
    "DataTransferResult",
    "Forwarder",
    "SessionConnection",
    "VendorHandler",
]


class ChargerSession(ChargerHandlers, Readiness, CsmsCommands, Transactions):
    """The central system's side of one charger (handler contract of `protocol.connection`).

    Its constructor is `SessionCore`'s (boot policy, resync delay, the tags that may run
    concurrently or start remotely, the tag window); it then restores the transactions its
    hooks still have open.

    A tag presented at the charger is announced once (ChargerEvent "id_tag"): by its
    Authorize, or by its StartTransaction when no Authorize of it came within
    `tag_window` seconds (or it came with another verdict, e.g. ConcurrentTx). Tags in
    `remote_tags` (the one remote starts from Home Assistant use) and tags of our own
    RemoteStartTransaction within the window were never presented: no "id_tag" event.
    """

    @override
    def _start(self) -> None:
        """Build the handler table and restore the transactions the hooks still have open."""
        self._handlers = self._handler_table()
        self._restore(self.hooks.open_transactions(self.charge_box_id))

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
