"""MemoryHooks: the in-memory SessionHooks used by tests, benchmarks and standalone runs."""

from __future__ import annotations

from datetime import UTC, datetime

from custom_components.ocpp_central.protocol.hooks import MemoryHooks, SessionHooks
from custom_components.ocpp_central.protocol.state import Transaction


def make_tx(transaction_id: int = 1) -> Transaction:
    return Transaction(
        transaction_id=transaction_id,
        connector_id=1,
        id_tag="TAG",
        meter_start=0.0,
        start_time=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_transaction_ids_count_up_from_the_first() -> None:
    hooks = MemoryHooks(first_transaction_id=41)
    assert [hooks.next_transaction_id() for _ in range(3)] == [41, 42, 43]


def test_authorize_known_unknown_and_expired_tags() -> None:
    hooks = MemoryHooks(
        {
            "Blocked-1": {"status": "Blocked"},
            "old": {"status": "Accepted", "expiryDate": "2020-01-01T00:00:00Z"},
            "naive": {"status": "Accepted", "expiryDate": "2020-01-01T00:00:00"},
            "future": {"status": "Accepted", "expiryDate": "2999-01-01T00:00:00Z"},
            "child": {"status": "Accepted", "parentIdTag": "PARENT"},
        },
        accept_unknown=False,
    )
    # IdToken is case-insensitive (section 7.28).
    assert hooks.authorize("cp", "blocked-1") == {"status": "Blocked"}
    assert hooks.authorize("cp", "old")["status"] == "Expired"
    assert hooks.authorize("cp", "naive")["status"] == "Expired"
    assert hooks.authorize("cp", "future")["status"] == "Accepted"
    assert hooks.authorize("cp", "CHILD") == {"status": "Accepted", "parentIdTag": "PARENT"}
    assert hooks.authorize("cp", "nobody") == {"status": "Invalid"}
    assert MemoryHooks().authorize("cp", "nobody") == {"status": "Accepted"}


def test_answers_are_copies() -> None:
    hooks = MemoryHooks({"a": {"status": "Accepted"}})
    hooks.authorize("cp", "a")["status"] = "Blocked"
    assert hooks.authorize("cp", "a")["status"] == "Accepted"


def test_transactions_are_kept_per_charger_until_stopped() -> None:
    hooks: SessionHooks = MemoryHooks()
    tx = make_tx(7)
    hooks.transaction_started("cp", tx)
    assert hooks.open_transactions("other") == []
    restored = hooks.open_transactions("cp")
    assert restored == [tx]
    assert restored[0] is not tx  # as a store would: no shared objects
    tx.meter_last = 500.0
    hooks.transaction_updated("cp", tx)
    assert hooks.open_transactions("cp")[0].meter_last == 500.0
    tx.stop_reason = "Local"
    hooks.transaction_stopped("cp", tx)
    assert hooks.open_transactions("cp") == []
    assert isinstance(hooks, MemoryHooks)
    assert hooks.updates == 1
    assert hooks.stopped == [("cp", tx)]
