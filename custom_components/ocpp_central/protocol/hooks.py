"""What a charger session asks of its owner: authorisation, transaction ids and persistence.

`SessionHooks` is the contract (Home Assistant implements it with its store);
`MemoryHooks` keeps everything in memory for tests, benchmarks and standalone use.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from .state import Transaction
from .vocabulary import AuthorizationStatus


class SessionHooks(Protocol):
    """Decisions and storage a `ChargerSession` delegates; all synchronous and quick."""

    def next_transaction_id(self) -> int:
        """Return a transaction id never handed out before, across restarts."""
        ...

    def authorize(self, charge_box_id: str, id_tag: str) -> dict[str, Any]:
        """Return the IdTagInfo (section 7.27) for `id_tag` presented at this charger."""
        ...

    def open_transactions(self, charge_box_id: str) -> list[Transaction]:
        """Return the transactions of this charger still running when last saved."""
        ...

    def transaction_started(self, charge_box_id: str, tx: Transaction) -> None:
        """Record a new transaction."""
        ...

    def transaction_updated(self, charge_box_id: str, tx: Transaction) -> None:
        """Record a new meter register of a running transaction (the owner may debounce)."""
        ...

    def transaction_stopped(self, charge_box_id: str, tx: Transaction) -> None:
        """Record the end of a transaction (stop_time, stop_reason and meter_last set)."""
        ...


class MemoryHooks:
    """In-memory `SessionHooks`: an id-tag table, a counter and the open transactions.

    `tags` maps an id tag to its IdTagInfo, e.g. `{"status": "Blocked"}` or
    `{"status": "Accepted", "expiryDate": "2030-01-01T00:00:00Z"}`. Tags are matched
    case-insensitively (IdToken is a case-insensitive string, section 7.28). An unknown
    tag is Accepted when `accept_unknown`, else Invalid.
    """

    def __init__(
        self,
        tags: dict[str, dict[str, Any]] | None = None,
        accept_unknown: bool = True,
        first_transaction_id: int = 1,
    ) -> None:
        """Start with the given tags, policy and first transaction id."""
        self.tags: dict[str, dict[str, Any]] = {
            tag.casefold(): dict(info) for tag, info in (tags or {}).items()
        }
        self.accept_unknown = accept_unknown
        self._next_id = first_transaction_id
        # charge_box_id -> transaction_id -> the transaction as last recorded.
        self.open: dict[str, dict[int, Transaction]] = {}
        self.stopped: list[tuple[str, Transaction]] = []
        self.updates = 0

    def next_transaction_id(self) -> int:
        """Hand out the counter's value and advance it."""
        transaction_id = self._next_id
        self._next_id += 1
        return transaction_id

    def authorize(self, charge_box_id: str, id_tag: str) -> dict[str, Any]:
        """Look the tag up; an Accepted tag past its expiryDate is Expired."""
        info = self.tags.get(id_tag.casefold())
        if info is None:
            return {
                "status": AuthorizationStatus.accepted
                if self.accept_unknown
                else AuthorizationStatus.invalid
            }
        info = dict(info)
        expiry = info.get("expiryDate")
        if info.get("status") == AuthorizationStatus.accepted and expiry is not None:
            expires = datetime.fromisoformat(expiry)
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            if expires <= datetime.now(UTC):
                info["status"] = AuthorizationStatus.expired
        return info

    def open_transactions(self, charge_box_id: str) -> list[Transaction]:
        """Return copies, as a store would: the caller must not share our records."""
        return [replace(tx) for tx in self.open.get(charge_box_id, {}).values()]

    def transaction_started(self, charge_box_id: str, tx: Transaction) -> None:
        """Keep a copy of the new transaction."""
        self.open.setdefault(charge_box_id, {})[tx.transaction_id] = replace(tx)

    def transaction_updated(self, charge_box_id: str, tx: Transaction) -> None:
        """Replace our copy with the updated one."""
        self.updates += 1
        self.open.setdefault(charge_box_id, {})[tx.transaction_id] = replace(tx)

    def transaction_stopped(self, charge_box_id: str, tx: Transaction) -> None:
        """Move the transaction from open to stopped."""
        self.open.get(charge_box_id, {}).pop(tx.transaction_id, None)
        self.stopped.append((charge_box_id, replace(tx)))
