"""Keep your backend: the parts without a network (queue, id mapping, addresses, store).

OCPP 1.6 section 4.8 (transaction messages are queued while offline and delivered in
order), OCPP-J 1.6 section 3.1.1 (the identity is the URL's last path segment).
"""

from __future__ import annotations

from typing import Any

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.hooks import MemoryHooks
from custom_components.ocpp_central.protocol.session import ChargerSession
from custom_components.ocpp_central.protocol.smart_charging import PROFILE_ID_BASE
from custom_components.ocpp_central.protocol.upstream import (
    OutboundQueue,
    Outgoing,
    TransactionIds,
    UpstreamConfig,
    UpstreamLink,
    reserved_profile_id,
    valid_upstream_url,
)


def item(action: str, **payload: Any) -> Outgoing:
    return Outgoing(action, payload)


def test_full_queue_drops_meter_values_first_then_other_messages_then_the_oldest() -> None:
    """Transaction messages are the last to go; the head (maybe in flight) never goes."""
    queue = OutboundQueue(limit=4)
    head = item("MeterValues", n=0)
    for message in (
        head,
        item("StartTransaction"),
        item("MeterValues", n=1),
        item("StatusNotification"),
    ):
        assert queue.put(message) is None
    dropped = queue.put(item("StopTransaction"))
    assert dropped is not None
    assert (dropped.action, dropped.payload) == ("MeterValues", {"n": 1})
    dropped = queue.put(item("StartTransaction"))
    assert dropped is not None
    assert dropped.action == "StatusNotification"
    dropped = queue.put(item("StopTransaction"))
    assert dropped is not None
    assert dropped.action == "StartTransaction"  # only transaction messages left
    assert queue.head_now() is head
    assert [m.action for m in queue] == [
        "MeterValues",
        "StopTransaction",
        "StartTransaction",
        "StopTransaction",
    ]
    assert queue.dropped == 3
    queue.done(head)
    assert len(queue) == 3
    queue.done(head)  # not the head any more: nothing happens
    assert len(queue) == 3


def test_transaction_ids_map_both_ways_and_stay_bounded() -> None:
    ids = TransactionIds(limit=2)
    ids.add(1, 5000)
    ids.add(2, 5001)
    ids.add(1, 6000)  # a repeated start got another id upstream
    assert ids.upstream(1) == 6000
    assert ids.local(5000) is None
    assert ids.local(6000) == 1
    ids.add(3, 5002)
    assert ids.upstream(2) is None
    assert ids.local(5001) is None
    assert ids.pairs() == [[1, 6000], [3, 5002]]


def test_endpoint_appends_the_percent_encoded_identity() -> None:
    """OCPP-J 3.1.1: ws://host/path/<identity>, percent-encoded ("RDAM 123")."""
    config = UpstreamConfig(url="wss://backend.example/ocpp/", charge_box_id="RDAM 123")
    assert config.endpoint == "wss://backend.example/ocpp/RDAM%20123"
    given = UpstreamConfig(url="ws://backend.example/ocpp/RDAM%20123", charge_box_id="RDAM 123")
    assert given.endpoint == "ws://backend.example/ocpp/RDAM%20123"
    query = UpstreamConfig(url="wss://backend.example/ocpp?site=7", charge_box_id="CP1")
    assert query.endpoint == "wss://backend.example/ocpp/CP1?site=7"
    bare = UpstreamConfig(url="ws://backend.example", charge_box_id="CP1")
    assert bare.endpoint == "ws://backend.example/CP1"


def test_upstream_urls_must_be_websocket_urls_with_a_host() -> None:
    assert valid_upstream_url("ws://backend.example/ocpp")
    assert valid_upstream_url("wss://backend.example:8443/ocpp")
    assert not valid_upstream_url("https://backend.example/ocpp")
    assert not valid_upstream_url("ws:///ocpp")
    assert not valid_upstream_url("wss://[::1/ocpp")
    assert not valid_upstream_url("wss://user:secret@backend.example/ocpp")
    assert not valid_upstream_url("ws://backend.example:99999/ocpp")


def test_reserved_profile_ids_are_the_limiters() -> None:
    assert reserved_profile_id(PROFILE_ID_BASE)
    assert reserved_profile_id(PROFILE_ID_BASE + 201)
    assert not reserved_profile_id(PROFILE_ID_BASE + 300)
    assert not reserved_profile_id(1)


async def test_restore_takes_what_it_can_read_and_skips_the_rest() -> None:
    """A damaged store loses what cannot be read, never the rest."""
    session = ChargerSession(ChargerConfig(charge_box_id="CP"), MemoryHooks())
    restored = {
        "queue": [
            {"action": "StartTransaction", "payload": {"idTag": "A"}, "local_tx": 7},
            {"action": 3, "payload": {}},
            "junk",
            {"action": "MeterValues", "payload": {"connectorId": 1}, "local_tx": "x"},
        ],
        "transactions": [[7, 5000], [1], "x", [1, "2"]],
        "boot": {"chargePointVendor": "V", "chargePointModel": "M"},
        "profiles": [[7, {"connectorId": 1}], [8, "junk"], ["x", {}]],
    }
    config = UpstreamConfig(url="ws://h/o", charge_box_id="CP")
    link = UpstreamLink(config, session, restored=restored)
    assert [(m.action, m.local_tx) for m in link.queue] == [
        ("StartTransaction", 7),
        ("MeterValues", None),
    ]
    assert link.transactions.pairs() == [[7, 5000]]
    assert link.profiles == {7: {"connectorId": 1}, 8: {}}
    snapshot = link.snapshot()
    assert snapshot["boot"] == {"chargePointVendor": "V", "chargePointModel": "M"}
    assert snapshot["queue"][0] == {
        "action": "StartTransaction",
        "payload": {"idTag": "A"},
        "local_tx": 7,
    }
    assert snapshot["profiles"] == [[7, {"connectorId": 1}], [8, {}]]
