"""The charger's messages on their way upstream, and the transaction ids of both sides.

`OutboundQueue` holds what the upstream has not answered yet, bounded and in order (OCPP-J
1.6 section 4.1.1; OCPP 1.6 section 4.8 on transaction messages kept while offline);
`TransactionIds` maps our transaction ids to the upstream's. See `protocol.upstream`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

from .vocabulary import Action

type Payload = dict[str, Any]

# Messages held while the upstream is away: at one MeterValues a minute, most of a day.
QUEUE_LIMIT: Final = 1000
# Upstream transactions remembered (open ones and the latest closed ones).
MAX_TRANSACTIONS: Final = 64
_TRANSACTION_MESSAGES: Final = frozenset({Action.start_transaction, Action.stop_transaction})


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
