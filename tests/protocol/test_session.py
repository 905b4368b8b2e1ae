"""ChargerSession through its handler contract: every OCPP 1.6 action it serves and every command.

The connection is a small stand-in with the contract's `call` and `after_reply`; every
payload crossing it (our CALLs and the charger's results, and every reply the session
builds) is checked against the official OCPP 1.6 JSON schemas shipped in the `ocpp` package.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
import json
from pathlib import Path
from typing import Any

import jsonschema
import ocpp.v16
import pytest

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.errors import (
    CallError,
    CallErrorCode,
    CallErrorReceived,
    CallTimeoutError,
    NotConnectedError,
)
from custom_components.ocpp_central.protocol.hooks import MemoryHooks
from custom_components.ocpp_central.protocol.messages import (
    ConfigurationResult,
    DataTransferResult,
)
from custom_components.ocpp_central.protocol.session import ChargerSession
from custom_components.ocpp_central.protocol.state import (
    BOOT,
    CONFIGURATION,
    CONNECTED,
    CONNECTORS,
    DIAGNOSTICS_STATUS,
    FIRMWARE_STATUS,
    HEARTBEAT,
    SECURITY_EVENT,
    BootInfo,
    ChargerEvent,
    ConfigurationValue,
    StateKey,
    Transaction,
)

SCHEMAS = Path(ocpp.v16.__file__).parent / "schemas"
CBID = "CP-1"
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)

# What a charger that accepts everything answers (schema-valid for each action).
DEFAULT_REPLIES: dict[str, dict[str, Any]] = {
    "GetConfiguration": {"configurationKey": []},
    "GetDiagnostics": {},
    "GetLocalListVersion": {"listVersion": 0},
    "UpdateFirmware": {},
}

type Reply = dict[str, Any] | Exception | Callable[[dict[str, Any]], dict[str, Any]]


@cache
def schema(name: str) -> jsonschema.protocols.Validator:
    data = json.loads((SCHEMAS / f"{name}.json").read_text())
    validator_class = jsonschema.validators.validator_for(data)
    return validator_class(data, format_checker=validator_class.FORMAT_CHECKER)


def check(name: str, payload: dict[str, Any]) -> None:
    """Fail the test when `payload` breaks the official schema `name`."""
    schema(name).validate(payload)


def ts(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class FakeConnection:
    """The connection contract: `call` (validated both ways here) and `after_reply`."""

    def __init__(self, replies: dict[str, Reply] | None = None) -> None:
        self.replies: dict[str, Reply] = replies or {}
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.timeouts: list[float | None] = []
        self.after: list[Callable[[], None]] = []

    async def call(
        self,
        action: str,
        payload: dict[str, Any],
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        check(action, payload)
        self.sent.append((action, payload))
        self.timeouts.append(timeout)
        reply = self.replies.get(action, DEFAULT_REPLIES.get(action, {"status": "Accepted"}))
        if isinstance(reply, Exception):
            raise reply
        result = reply(payload) if callable(reply) else reply
        check(f"{action}Response", result)
        return result

    def after_reply(self, fn: Callable[[], None]) -> None:
        self.after.append(fn)

    def reply_sent(self) -> None:
        """What the real connection does once a reply went out: run the callbacks."""
        callbacks, self.after = self.after, []
        for fn in callbacks:
            fn()

    def actions(self) -> list[str]:
        return [action for action, _ in self.sent]


class Recorder:
    """Collects the keys of each notification and every event of one session."""

    def __init__(self, session: ChargerSession, keys: list[StateKey]) -> None:
        self.keys = keys
        self.notifications = 0
        self.events: list[ChargerEvent] = []
        session.state.subscribe(keys, self._changed)
        session.state.subscribe_events(self.events.append)

    def _changed(self) -> None:
        self.notifications += 1


async def settle() -> None:
    """Let background tasks run (bounded: a fixed number of loop turns)."""
    for _ in range(50):
        await asyncio.sleep(0)


def handle(session: ChargerSession, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Handle a CALL as the connection would: valid request in, valid reply out, callbacks."""
    check(action, payload)
    reply = session.handle_call(action, payload)
    check(f"{action}Response", reply)
    connection = session._connection
    if isinstance(connection, FakeConnection):
        connection.reply_sent()
    return reply


SESSIONS: list[ChargerSession] = []


@pytest.fixture(autouse=True)
def _disconnect_sessions() -> Iterator[None]:
    """End every session's background work with the test, as a closing connection does."""
    yield
    for session in SESSIONS:
        session.connection_lost()
    SESSIONS.clear()


def make_session(hooks: MemoryHooks | None = None, **config: Any) -> ChargerSession:
    session = ChargerSession(ChargerConfig(charge_box_id=CBID, **config), hooks or MemoryHooks())
    SESSIONS.append(session)
    return session


def boot_payload(**extra: Any) -> dict[str, Any]:
    return {"chargePointVendor": "Vendor", "chargePointModel": "Model", **extra}


def start_payload(
    connector_id: int = 1, id_tag: str = "TAG", meter_start: int = 1000, at: datetime = T0
) -> dict[str, Any]:
    return {
        "connectorId": connector_id,
        "idTag": id_tag,
        "meterStart": meter_start,
        "timestamp": ts(at),
    }


def meter_payload(
    connector_id: int,
    samples: list[dict[str, Any]],
    transaction_id: int | None = None,
    at: datetime = T0,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "connectorId": connector_id,
        "meterValue": [{"timestamp": ts(at), "sampledValue": samples}],
    }
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    return payload


def stop_payload(
    transaction_id: int, meter_stop: int, at: datetime = T0 + timedelta(hours=1), **extra: Any
) -> dict[str, Any]:
    return {"transactionId": transaction_id, "meterStop": meter_stop, "timestamp": ts(at), **extra}


def configuration(values: dict[str, str], unknown: list[str] | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "configurationKey": [
            {"key": key, "readonly": key == "NumberOfConnectors", "value": value}
            for key, value in values.items()
        ]
    }
    if unknown:
        reply["unknownKey"] = unknown
    return reply


# ---------------------------------------------------------------- BootNotification


async def test_boot_is_accepted_with_our_interval_and_utc_time() -> None:
    session = make_session(heartbeat_interval=120)
    connection = FakeConnection()
    session.connection_made(connection)
    recorder = Recorder(session, [BOOT])
    reply = handle(session, "BootNotification", boot_payload(firmwareVersion="1.2", meterType="M"))
    assert reply["status"] == "Accepted"
    assert reply["interval"] == 120
    assert reply["currentTime"].endswith("Z")
    assert abs(datetime.fromisoformat(reply["currentTime"]) - datetime.now(UTC)) < timedelta(
        minutes=1
    )
    assert session.state.boot == BootInfo("Vendor", "Model", firmware_version="1.2", meter_type="M")
    assert session.state.registration == "Accepted"
    assert recorder.notifications == 1
    # The same boot again changes nothing that anybody shows.
    handle(session, "BootNotification", boot_payload(firmwareVersion="1.2", meterType="M"))
    assert recorder.notifications == 1


async def test_after_an_accepted_boot_configuration_is_read_and_aligned() -> None:
    connection = FakeConnection(
        {
            "GetConfiguration": configuration(
                {
                    "NumberOfConnectors": "3",
                    "HeartbeatInterval": "300",
                    "MeterValueSampleInterval": "60",
                },
                unknown=[],
            )
        }
    )
    session = make_session(heartbeat_interval=300, meter_interval=15)
    session.connection_made(connection)
    recorder = Recorder(session, [CONNECTORS, CONFIGURATION])
    session.handle_call("BootNotification", boot_payload())
    await settle()
    # Nothing goes out before the reply to the boot did (section 4.2).
    assert connection.sent == []
    connection.reply_sent()
    await settle()
    assert connection.sent == [
        ("GetConfiguration", {}),
        ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "15"}),
    ]
    assert session.state.connector_ids == [1, 2, 3]
    assert session.state.configuration["NumberOfConnectors"] == ConfigurationValue("3", True)
    assert session.state.configuration["MeterValueSampleInterval"].value == "15"
    assert recorder.notifications == 3  # configuration read, connectors, interval changed


async def test_configuration_sync_survives_refusals() -> None:
    connection = FakeConnection(
        {
            "GetConfiguration": CallErrorReceived(CallErrorCode.NOT_SUPPORTED),
            "ChangeConfiguration": CallTimeoutError("no answer"),
        }
    )
    session = make_session()
    session.setup_retry.delays = ()  # one try each here; retries: test_boot_gating.py
    session.connection_made(connection)
    handle(session, "BootNotification", boot_payload())
    await settle()
    # Nothing known, so both intervals are sent; the failures are only logged.
    assert connection.actions() == [
        "GetConfiguration",
        "ChangeConfiguration",
        "ChangeConfiguration",
    ]
    assert session.state.connector_ids == []
    assert session.state.configuration == {}


async def test_boot_policy_pending_refuses_other_calls_until_triggered() -> None:
    decisions: list[tuple[str, BootInfo]] = []

    def policy(charge_box_id: str, info: BootInfo) -> str:
        decisions.append((charge_box_id, info))
        return "Pending"

    session = make_session(heartbeat_interval=77)
    session.boot_policy = policy
    connection = FakeConnection()
    session.connection_made(connection)
    reply = handle(session, "BootNotification", boot_payload())
    assert reply["status"] == "Pending"
    assert reply["interval"] == 77
    assert decisions == [(CBID, BootInfo("Vendor", "Model"))]
    await settle()
    assert connection.sent == []  # no configuration sync for a Pending charger
    # Section 4.2: nothing but BootNotification before it is accepted.
    with pytest.raises(CallError) as refused:
        session.handle_call("Heartbeat", {})
    assert refused.value.code is CallErrorCode.SECURITY_ERROR
    # Unless we asked for it with TriggerMessage (for all connectors: several messages).
    assert await session.trigger_message("StatusNotification") == "Accepted"
    for connector_id in (0, 1, 2):
        handle(
            session,
            "StatusNotification",
            {"connectorId": connector_id, "errorCode": "NoError", "status": "Available"},
        )
    with pytest.raises(CallError):
        session.handle_call("Heartbeat", {})
    # A new boot starts over.
    handle(session, "BootNotification", boot_payload())
    with pytest.raises(CallError):
        session.handle_call(
            "StatusNotification", {"connectorId": 0, "errorCode": "NoError", "status": "Available"}
        )


async def test_boot_policy_rejected_refuses_everything_but_boot() -> None:
    session = ChargerSession(
        ChargerConfig(charge_box_id=CBID), MemoryHooks(), boot_policy=lambda _id, _info: "Rejected"
    )
    SESSIONS.append(session)
    session.connection_made(FakeConnection())
    assert handle(session, "BootNotification", boot_payload())["status"] == "Rejected"
    for action, payload in [
        ("Heartbeat", {}),
        ("Authorize", {"idTag": "T"}),
        ("MeterValues", meter_payload(1, [{"value": "1"}])),
    ]:
        with pytest.raises(CallError) as refused:
            session.handle_call(action, payload)
        assert refused.value.code is CallErrorCode.SECURITY_ERROR
    assert session.state.connector_ids == []
    # A later accepted boot lets it in.
    session.boot_policy = None
    assert handle(session, "BootNotification", boot_payload())["status"] == "Accepted"
    handle(session, "Heartbeat", {})


# ---------------------------------------------------------------- reconnect without boot


async def test_reconnect_without_boot_is_served_and_resynchronised() -> None:
    session = make_session()
    session.resync_delay = 0
    first = FakeConnection()
    session.connection_made(first)
    handle(session, "BootNotification", boot_payload())
    for connector_id in (0, 1, 2):
        handle(
            session,
            "StatusNotification",
            {"connectorId": connector_id, "errorCode": "NoError", "status": "Available"},
        )
    await settle()
    session.connection_lost()
    assert not session.connected

    second = FakeConnection(
        {
            "GetConfiguration": configuration(
                {"HeartbeatInterval": "300", "MeterValueSampleInterval": "30"}
            )
        }
    )
    session.connection_made(second)
    # OCPP-J 5.4: no BootNotification after a reconnect; the charger is served at once.
    assert handle(session, "Heartbeat", {})["currentTime"].endswith("Z")
    await settle()
    assert second.sent == [
        ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}),
        ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 2}),
        ("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1}),
        ("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 2}),
        ("GetConfiguration", {}),
    ]


async def test_unknown_charger_reconnecting_is_asked_to_boot() -> None:
    session = make_session()
    session.resync_delay = 0
    connection = FakeConnection()
    session.connection_made(connection)
    await settle()
    assert connection.sent == [("TriggerMessage", {"requestedMessage": "BootNotification"})]


async def test_resync_without_known_connectors_or_boot_trigger() -> None:
    session = make_session()
    session.resync_delay = 0
    connection = FakeConnection(
        {
            "TriggerMessage": lambda p: {
                "status": "Rejected" if p["requestedMessage"] == "BootNotification" else "Accepted"
            },
            "GetConfiguration": configuration({"NumberOfConnectors": "2"}),
        }
    )
    session.connection_made(connection)
    await settle()
    assert connection.sent[:3] == [
        ("TriggerMessage", {"requestedMessage": "BootNotification"}),
        ("TriggerMessage", {"requestedMessage": "StatusNotification"}),
        ("TriggerMessage", {"requestedMessage": "MeterValues"}),
    ]
    assert session.state.connector_ids == [1, 2]


async def test_a_prompt_boot_cancels_the_resync() -> None:
    session = make_session()
    session.resync_delay = 0.01
    connection = FakeConnection()
    session.connection_made(connection)
    handle(session, "BootNotification", boot_payload())
    await asyncio.sleep(0.05)
    await settle()
    assert "TriggerMessage" not in connection.actions()


async def test_connection_events() -> None:
    session = make_session()
    recorder = Recorder(session, [CONNECTED])
    session.connection_lost()  # never connected: nothing to say
    assert recorder.notifications == 0
    connection = FakeConnection()
    session.connection_made(connection)
    assert (session.connected, session.state.connected) == (True, True)
    session.connection_lost()
    assert (session.connected, session.state.connected) == (False, False)
    assert recorder.notifications == 2
    await settle()
    assert connection.sent == []  # the pending resync was cancelled
    with pytest.raises(NotConnectedError):
        await session.clear_cache()


# ---------------------------------------------------------------- simple notifications


async def test_heartbeat_records_time() -> None:
    session = make_session()
    recorder = Recorder(session, [HEARTBEAT])
    reply = handle(session, "Heartbeat", {})
    assert session.state.last_heartbeat is not None
    assert reply["currentTime"].endswith("Z")
    assert recorder.notifications == 1


async def test_firmware_and_diagnostics_status() -> None:
    session = make_session()
    recorder = Recorder(session, [FIRMWARE_STATUS, DIAGNOSTICS_STATUS])
    handle(session, "FirmwareStatusNotification", {"status": "Downloading"})
    handle(session, "FirmwareStatusNotification", {"status": "Downloading"})
    handle(session, "DiagnosticsStatusNotification", {"status": "Uploaded"})
    assert session.state.firmware_status == "Downloading"
    assert session.state.diagnostics_status == "Uploaded"
    assert recorder.notifications == 2
    # The security whitepaper's signed variants update the same fields.
    handle(session, "SignedFirmwareStatusNotification", {"status": "InvalidSignature"})
    handle(session, "LogStatusNotification", {"status": "Uploading", "requestId": 3})
    assert session.state.firmware_status == "InvalidSignature"
    assert session.state.diagnostics_status == "Uploading"


async def test_security_event_is_recorded() -> None:
    session = make_session()
    recorder = Recorder(session, [SECURITY_EVENT])
    payload = {"type": "FirmwareUpdated", "timestamp": ts(T0), "techInfo": "v2"}
    assert handle(session, "SecurityEventNotification", payload) == {}
    assert session.state.last_security_event == payload
    assert recorder.notifications == 1


async def test_status_notification_for_charger_and_connectors() -> None:
    session = make_session()
    recorder = Recorder(session, [CONNECTORS, (0, "status"), (2, "status")])
    handle(
        session,
        "StatusNotification",
        {"connectorId": 0, "errorCode": "NoError", "status": "Available"},
    )
    payload = {
        "connectorId": 2,
        "errorCode": "GroundFailure",
        "status": "Faulted",
        "info": "RCD tripped",
        "vendorId": "com.example",
        "vendorErrorCode": "E42",
        "timestamp": ts(T0),
    }
    handle(session, "StatusNotification", payload)
    connector = session.state.connectors[2]
    assert (connector.status, connector.error_code, connector.info) == (
        "Faulted",
        "GroundFailure",
        "RCD tripped",
    )
    assert (connector.vendor_id, connector.vendor_error_code) == ("com.example", "E42")
    assert connector.status_time == T0
    assert session.state.connector_ids == [2]  # connectors come from any connectorId
    assert recorder.notifications == 2
    # A repeat changes nothing, so nobody hears of it; the time is still kept.
    handle(session, "StatusNotification", {**payload, "timestamp": ts(T0 + timedelta(1))})
    assert recorder.notifications == 2
    assert connector.status_time == T0 + timedelta(1)
    handle(
        session,
        "StatusNotification",
        {"connectorId": 2, "errorCode": "NoError", "status": "Available"},
    )
    assert (connector.status, connector.info, connector.vendor_id) == ("Available", None, None)
    assert recorder.notifications == 3


# ---------------------------------------------------------------- Authorize and DataTransfer


@pytest.mark.parametrize(
    ("tags", "accept_unknown", "status", "event_type"),
    [
        ({}, True, "Accepted", "accepted"),
        ({}, False, "Invalid", "invalid"),
        ({"TAG": {"status": "Blocked"}}, True, "Blocked", "blocked"),
        (
            {"TAG": {"status": "Accepted", "expiryDate": "2001-01-01T00:00:00Z"}},
            True,
            "Expired",
            "expired",
        ),
    ],
)
async def test_authorize(
    tags: dict[str, dict[str, Any]], accept_unknown: bool, status: str, event_type: str
) -> None:
    session = make_session(MemoryHooks(tags, accept_unknown=accept_unknown))
    recorder = Recorder(session, [])
    reply = handle(session, "Authorize", {"idTag": "tag"})
    assert reply["idTagInfo"]["status"] == status
    assert recorder.events == [ChargerEvent(0, "id_tag", event_type, {"id_tag": "tag"})]


async def test_authorize_with_a_status_we_do_not_know() -> None:
    session = make_session(MemoryHooks({"odd": {"status": "Weird"}}))
    recorder = Recorder(session, [])
    session.handle_call("Authorize", {"idTag": "odd"})
    assert recorder.events[0].event_type == "unknown"


async def test_data_transfer_goes_to_the_vendor_handler() -> None:
    session = make_session()
    seen: list[tuple[str | None, str | None]] = []

    def vendor(message_id: str | None, data: str | None) -> DataTransferResult:
        seen.append((message_id, data))
        return DataTransferResult("Accepted", data.upper() if data else None)

    unregister = session.register_vendor("com.example", vendor)
    reply = handle(
        session, "DataTransfer", {"vendorId": "com.example", "messageId": "m", "data": "x"}
    )
    assert reply == {"status": "Accepted", "data": "X"}
    assert handle(session, "DataTransfer", {"vendorId": "com.example"}) == {"status": "Accepted"}
    assert seen == [("m", "x"), (None, None)]
    assert handle(session, "DataTransfer", {"vendorId": "org.other"}) == {
        "status": "UnknownVendorId"
    }
    session.register_vendor("org.other", vendor)
    unregister()
    unregister()  # twice is harmless
    assert handle(session, "DataTransfer", {"vendorId": "com.example"})["status"] == (
        "UnknownVendorId"
    )
    assert handle(session, "DataTransfer", {"vendorId": "org.other"})["status"] == "Accepted"


# ---------------------------------------------------------------- bad input and unknown actions


@pytest.mark.parametrize(
    ("action", "code"),
    [
        ("FlyToTheMoon", CallErrorCode.NOT_IMPLEMENTED),
        ("Reset", CallErrorCode.NOT_SUPPORTED),  # a Central System action sent by a charger
        ("SignCertificate", CallErrorCode.NOT_SUPPORTED),
    ],
)
async def test_unserved_actions(action: str, code: CallErrorCode) -> None:
    with pytest.raises(CallError) as refused:
        make_session().handle_call(action, {})
    assert refused.value.code is code


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("StartTransaction", {"connectorId": 1, "idTag": "T", "timestamp": ts(T0)}),
        ("MeterValues", {"connectorId": 1}),
        ("StopTransaction", {"transactionId": 1, "meterStop": "many", "timestamp": ts(T0)}),
        ("BootNotification", {"chargePointVendor": "V"}),
    ],
)
async def test_malformed_payloads_get_formation_violation(
    action: str, payload: dict[str, Any]
) -> None:
    # Normally the schema check answers first; the session stays safe without it.
    with pytest.raises(CallError) as refused:
        make_session().handle_call(action, payload)
    assert refused.value.code is CallErrorCode.FORMATION_VIOLATION


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("StatusNotification", {"connectorId": -1, "errorCode": "NoError", "status": "Available"}),
        ("StatusNotification", {"connectorId": 129, "errorCode": "NoError", "status": "Available"}),
        ("MeterValues", meter_payload(100000, [{"value": "1"}])),
        ("StartTransaction", start_payload(connector_id=0)),
    ],
)
async def test_connector_ids_out_of_range(action: str, payload: dict[str, Any]) -> None:
    session = make_session()
    with pytest.raises(CallError) as refused:
        session.handle_call(action, payload)
    assert refused.value.code is CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    assert session.state.connector_ids == []
    assert session.transactions == {}


# ---------------------------------------------------------------- transactions


async def test_start_and_stop_a_transaction() -> None:
    hooks = MemoryHooks(first_transaction_id=100)
    session = make_session(hooks)
    recorder = Recorder(session, [(1, "transaction"), CONNECTORS])
    reply = handle(session, "StartTransaction", start_payload(meter_start=1000))
    assert reply == {"transactionId": 100, "idTagInfo": {"status": "Accepted"}}
    tx = session.state.connectors[1].transaction
    assert tx is not None
    assert (tx.transaction_id, tx.id_tag, tx.meter_start, tx.start_time) == (100, "TAG", 1000, T0)
    assert hooks.open[CBID][100] == tx
    assert recorder.notifications == 1
    assert [(e.kind, e.event_type, e.data) for e in recorder.events] == [
        ("id_tag", "accepted", {"id_tag": "TAG"}),
        ("session", "started", {"transaction_id": 100, "id_tag": "TAG", "meter_start": 1000}),
    ]
    recorder.events.clear()

    reply = handle(session, "StopTransaction", stop_payload(100, 4500, idTag="tag"))
    assert reply == {"idTagInfo": {"status": "Accepted"}}
    assert session.state.connectors[1].transaction is None
    assert hooks.open[CBID] == {}
    _, stopped = hooks.stopped[0]
    assert (stopped.meter_last, stopped.energy, stopped.stop_reason) == (4500, 3500, "Local")
    assert recorder.events == [
        ChargerEvent(
            1,
            "session",
            "stopped",
            {
                "transaction_id": 100,
                "id_tag": "TAG",
                "energy_wh": 3500.0,
                "duration_s": 3600.0,
                "reason": "Local",
            },
        )
    ]
    assert recorder.notifications == 2
    assert session.transactions == {}


async def test_meter_start_zero_is_valid() -> None:
    session = make_session()
    handle(session, "StartTransaction", start_payload(meter_start=0))
    handle(
        session,
        "MeterValues",
        meter_payload(1, [{"value": "0.75", "unit": "kWh"}], transaction_id=1),
    )
    tx = session.state.connectors[1].transaction
    assert tx is not None
    assert tx.energy == 750.0
    handle(session, "StopTransaction", stop_payload(1, 1250, reason="EVDisconnected"))
    assert tx.energy == 1250.0
    assert tx.stop_reason == "EVDisconnected"


async def test_refused_tag_still_gets_a_recorded_transaction() -> None:
    hooks = MemoryHooks({"BAD": {"status": "Blocked"}})
    session = make_session(hooks)
    recorder = Recorder(session, [])
    reply = handle(session, "StartTransaction", start_payload(id_tag="bad"))
    assert reply == {"transactionId": 1, "idTagInfo": {"status": "Blocked"}}
    assert 1 in hooks.open[CBID]
    assert [e.event_type for e in recorder.events] == ["blocked", "started"]
    # The charger may go on (StopTransactionOnInvalidId false); its stop closes it.
    handle(session, "StopTransaction", stop_payload(1, 1500, reason="DeAuthorized"))
    assert hooks.stopped[0][1].energy == 500


async def test_concurrent_transactions_of_one_tag() -> None:
    session = make_session()
    handle(session, "StartTransaction", start_payload(1, "TAG"))
    recorder = Recorder(session, [])
    reply = handle(session, "StartTransaction", start_payload(2, "tag"))
    assert reply["idTagInfo"]["status"] == "ConcurrentTx"
    assert reply["transactionId"] == 2  # still recorded
    assert recorder.events[0].event_type == "concurrent_tx"
    # A tag allowed to run several (e.g. the one remote starts use) is not refused.
    session.concurrent_tags.add("tag")
    reply = handle(session, "StartTransaction", start_payload(3, "TAG"))
    assert reply["idTagInfo"]["status"] == "Accepted"


async def test_start_transaction_resent_gets_the_same_id() -> None:
    hooks = MemoryHooks()
    session = make_session(hooks)
    first = handle(session, "StartTransaction", start_payload())
    recorder = Recorder(session, [(1, "transaction")])
    again = handle(session, "StartTransaction", start_payload())
    assert again == first
    assert hooks.next_transaction_id() == 2
    assert recorder.notifications == 0


async def test_a_new_start_on_a_busy_connector_supersedes_the_old() -> None:
    hooks = MemoryHooks()
    session = make_session(hooks)
    handle(session, "StartTransaction", start_payload(meter_start=100))
    # The stop of transaction 1 was lost (or is still queued in the charger).
    handle(session, "StartTransaction", start_payload(meter_start=900, at=T0 + timedelta(hours=2)))
    tx = session.state.connectors[1].transaction
    assert tx is not None
    assert tx.transaction_id == 2
    assert sorted(session.transactions) == [2]
    assert hooks.stopped[0][1].stop_reason == "Superseded"
    handle(session, "StopTransaction", stop_payload(1, 800))
    assert session.state.connectors[1].transaction is tx
    assert len(hooks.stopped) == 1


async def test_stop_of_an_unknown_transaction_is_acknowledged() -> None:
    session = make_session(MemoryHooks(accept_unknown=False))
    recorder = Recorder(session, [])
    assert handle(session, "StopTransaction", stop_payload(999, 10)) == {}
    assert handle(session, "StopTransaction", stop_payload(999, 10, idTag="x")) == {
        "idTagInfo": {"status": "Invalid"}
    }
    assert recorder.events == []


async def test_stop_applies_transaction_data() -> None:
    hooks = MemoryHooks()
    session = make_session(hooks)
    handle(session, "StartTransaction", start_payload(meter_start=0))
    handle(
        session, "MeterValues", meter_payload(1, [{"value": "100"}], 1, T0 + timedelta(minutes=5))
    )
    handle(
        session,
        "MeterValues",
        meter_payload(
            1,
            [{"measurand": "Power.Active.Import", "unit": "W", "value": "7000"}],
            transaction_id=1,
            at=T0 + timedelta(minutes=50),
        ),
    )
    transaction_data = [
        {
            "timestamp": ts(T0 + timedelta(minutes=m)),
            "sampledValue": [
                {"value": str(v), "context": "Sample.Periodic"},
                {"measurand": "Power.Active.Import", "unit": "W", "value": str(p)},
                {"measurand": "SoC", "unit": "Percent", "value": str(m), "location": "EV"},
            ],
        }
        for m, v, p in ((10, 1000, 6000), (20, 2100, 6500))
    ]
    handle(
        session,
        "StopTransaction",
        stop_payload(1, 2000, reason="Local", transactionData=transaction_data),
    )
    _, tx = hooks.stopped[0]
    # transactionData saw 2100 Wh; a lower meterStop does not take energy back.
    assert tx.meter_last == 2100
    readings = session.state.connectors[1].readings
    # Once stopped, the car's SoC is unknown and nothing flows (not the history's 6500 W).
    assert "SoC" not in readings
    assert readings["Power.Active.Import"].value == 0
    assert readings["Energy.Active.Import.Register"].value == 2100


async def test_restart_mid_transaction() -> None:
    hooks = MemoryHooks()
    session = make_session(hooks)
    handle(session, "StartTransaction", start_payload(2, meter_start=5000))
    handle(session, "MeterValues", meter_payload(2, [{"value": "6000"}], transaction_id=1))
    del session  # the central system restarts; the store (hooks) keeps the transaction

    restarted = make_session(hooks)
    tx = restarted.state.connectors[2].transaction
    assert tx is not None
    assert (tx.transaction_id, tx.meter_start, tx.meter_last) == (1, 5000, 6000)
    # The charger never rebooted: it just carries on.
    handle(
        restarted,
        "MeterValues",
        meter_payload(2, [{"value": "7.5", "unit": "kWh"}], transaction_id=1),
    )
    assert tx.meter_last == 7500
    recorder = Recorder(restarted, [])
    handle(restarted, "StopTransaction", stop_payload(1, 8000))
    assert recorder.events[0].data["energy_wh"] == 3000
    assert hooks.stopped[0][1].energy == 3000
    assert restarted.state.connectors[2].transaction is None
    # New ids keep counting from where the store was.
    assert handle(restarted, "StartTransaction", start_payload(1))["transactionId"] == 2


async def test_restore_puts_the_latest_transaction_on_its_connector() -> None:
    hooks = MemoryHooks()
    for transaction_id, hours in ((8, 2), (7, 0)):
        hooks.transaction_started(
            CBID,
            Transaction(
                transaction_id=transaction_id,
                connector_id=1,
                id_tag="T",
                meter_start=0,
                start_time=T0 + timedelta(hours=hours),
            ),
        )
    session = make_session(hooks)
    tx = session.state.connectors[1].transaction
    assert tx is not None
    assert tx.transaction_id == 8
    # The older one was left over from before superseding closed them: closed on restore.
    assert sorted(session.transactions) == [8]
    assert [(t.transaction_id, t.stop_reason) for _, t in hooks.stopped] == [(7, "Superseded")]


# ---------------------------------------------------------------- MeterValues


async def test_meter_values_readings_and_one_notification() -> None:
    hooks = MemoryHooks()
    session = make_session(hooks)
    handle(session, "StartTransaction", start_payload(meter_start=1000))
    recorder = Recorder(session, [(1, "readings"), (1, "transaction"), CONNECTORS])
    samples = [
        {"measurand": "Energy.Active.Import.Register", "unit": "kWh", "value": "1.5"},
        {"measurand": "Power.Active.Import", "unit": "kW", "value": "11"},
        *(
            {"measurand": "Current.Import", "phase": p, "unit": "A", "value": "16"}
            for p in ("L1", "L2", "L3")
        ),
        *(
            {"measurand": "Voltage", "phase": p, "unit": "V", "value": "230"}
            for p in ("L1-N", "L2-N", "L3-N")
        ),
        {"measurand": "Temperature", "unit": "Fahrenheit", "value": "95", "location": "Body"},
        {"measurand": "SoC", "unit": "Percent", "value": "80", "location": "EV"},
    ]
    assert handle(session, "MeterValues", meter_payload(1, samples)) == {}
    connector = session.state.connectors[1]
    assert connector.reading("Energy.Active.Import.Register") == 1500
    assert connector.reading("Power.Active.Import") == 11000
    assert connector.reading("Current.Import.L2") == 16
    assert connector.reading("Voltage.L3-N") == 230
    assert connector.reading("Temperature") == pytest.approx(35)
    assert connector.reading("SoC") == 80
    assert connector.reading("Frequency") is None
    assert connector.readings["Temperature"].location == "Body"
    assert recorder.notifications == 1
    tx = connector.transaction
    assert tx is not None
    assert tx.energy == 500
    assert tx.last_update == T0
    assert hooks.updates == 1


async def test_register_going_backwards_does_not_lower_energy() -> None:
    hooks = MemoryHooks()
    session = make_session(hooks)
    handle(session, "StartTransaction", start_payload(meter_start=1000))
    later = T0 + timedelta(minutes=10)
    handle(session, "MeterValues", meter_payload(1, [{"value": "3000"}], 1, at=later))
    recorder = Recorder(session, [(1, "readings"), (1, "transaction")])
    # A resend of an older sample (reply lost) and a glitch: neither takes energy back.
    handle(session, "MeterValues", meter_payload(1, [{"value": "2000"}], 1, at=T0))
    handle(session, "MeterValues", meter_payload(1, [{"value": "2500"}], 1, at=later))
    tx = session.state.connectors[1].transaction
    assert tx is not None
    assert tx.energy == 2000
    assert session.state.connectors[1].reading("Energy.Active.Import.Register") == 3000
    assert recorder.notifications == 0
    assert hooks.updates == 1
    handle(session, "StopTransaction", stop_payload(1, 2900))
    assert hooks.stopped[0][1].energy == 2000


async def test_meter_values_of_charger_and_other_connectors() -> None:
    session = make_session()
    handle(session, "StartTransaction", start_payload(1, meter_start=0))
    recorder = Recorder(session, [CONNECTORS, (0, "readings"), (3, "readings")])
    handle(
        session,
        "MeterValues",
        meter_payload(0, [{"value": "50000", "location": "Inlet"}]),
    )
    handle(session, "MeterValues", meter_payload(3, [{"value": "10", "unit": "kWh"}]))
    assert session.state.connectors[0].reading("Energy.Active.Import.Register") == 50000
    assert session.state.connectors[3].reading("Energy.Active.Import.Register") == 10000
    assert session.state.connector_ids == [1, 3]
    tx = session.state.connectors[1].transaction
    assert tx is not None
    assert tx.meter_last == 0  # other connectors' meters are not this transaction's
    assert recorder.notifications == 2


async def test_meter_values_of_an_unknown_transaction_still_store_readings() -> None:
    session = make_session()
    handle(
        session,
        "MeterValues",
        meter_payload(1, [{"value": "5", "format": "SignedData"}, {"value": "x"}]),
    )
    handle(session, "MeterValues", meter_payload(1, [{"value": "10"}], transaction_id=42))
    assert session.state.connectors[1].reading("Energy.Active.Import.Register") == 10


async def test_three_connector_charger() -> None:
    hooks = MemoryHooks()
    session = make_session(hooks)
    connection = FakeConnection({"GetConfiguration": configuration({"NumberOfConnectors": "3"})})
    session.connection_made(connection)
    handle(session, "BootNotification", boot_payload())
    await settle()
    assert session.state.connector_ids == [1, 2, 3]
    for connector_id in (1, 2, 3):
        handle(
            session,
            "StatusNotification",
            {"connectorId": connector_id, "errorCode": "NoError", "status": "Preparing"},
        )
        handle(
            session,
            "StartTransaction",
            start_payload(connector_id, f"TAG{connector_id}", meter_start=connector_id * 1000),
        )
    for connector_id in (1, 2, 3):
        handle(
            session,
            "MeterValues",
            meter_payload(
                connector_id,
                [{"value": str(connector_id * 1000 + 100 * connector_id)}],
                connector_id,
            ),
        )
    for connector_id in (3, 1, 2):
        handle(
            session,
            "StopTransaction",
            stop_payload(connector_id, connector_id * 1000 + 200 * connector_id),
        )
    assert {tx.connector_id: tx.energy for _, tx in hooks.stopped} == {1: 200, 2: 400, 3: 600}
    assert all(session.state.connectors[c].transaction is None for c in (1, 2, 3))


# ---------------------------------------------------------------- update_config


async def test_update_config_applies_intervals_at_once_when_connected() -> None:
    session = make_session(heartbeat_interval=300, meter_interval=30)
    session.update_config(ChargerConfig(charge_box_id=CBID, heartbeat_interval=60))
    assert session.config.heartbeat_interval == 60  # offline: kept for the next boot
    connection = FakeConnection(
        {
            "GetConfiguration": configuration(
                {"HeartbeatInterval": "60", "MeterValueSampleInterval": "30"}
            )
        }
    )
    session.connection_made(connection)
    reply = handle(session, "BootNotification", boot_payload())
    assert reply["interval"] == 60
    await settle()
    assert connection.actions() == ["GetConfiguration"]  # nothing differs
    session.update_config(
        ChargerConfig(charge_box_id=CBID, heartbeat_interval=60, meter_interval=10)
    )
    await settle()
    assert connection.sent[1:] == [
        ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "10"})
    ]
    with pytest.raises(ValueError, match="charge_box_id"):
        session.update_config(ChargerConfig(charge_box_id="other"))


async def test_background_bug_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    session = make_session()
    connection = FakeConnection({"GetConfiguration": lambda _p: {"configurationKey": 5}})
    session.connection_made(connection)
    handle(session, "BootNotification", boot_payload())
    await settle()
    assert "background task failed" in caplog.text


# ---------------------------------------------------------------- commands


async def connected(
    replies: dict[str, Reply] | None = None,
) -> tuple[ChargerSession, FakeConnection]:
    session = make_session()
    connection = FakeConnection(replies)
    session.connection_made(connection)
    session._cancel_tasks()  # no resync in the way of the calls under test
    return session, connection


@pytest.mark.parametrize(
    ("command", "action", "request_payload", "reply", "result"),
    [
        (
            lambda s: s.cancel_reservation(5),
            "CancelReservation",
            {"reservationId": 5},
            {"status": "Rejected"},
            "Rejected",
        ),
        (
            lambda s: s.change_availability(0, False),
            "ChangeAvailability",
            {"connectorId": 0, "type": "Inoperative"},
            {"status": "Scheduled"},
            "Scheduled",
        ),
        (
            lambda s: s.change_availability(2, True),
            "ChangeAvailability",
            {"connectorId": 2, "type": "Operative"},
            {"status": "Accepted"},
            "Accepted",
        ),
        (
            lambda s: s.change_configuration("MeterValuesSampledData", "Power.Active.Import"),
            "ChangeConfiguration",
            {"key": "MeterValuesSampledData", "value": "Power.Active.Import"},
            {"status": "RebootRequired"},
            "RebootRequired",
        ),
        (lambda s: s.clear_cache(), "ClearCache", {}, {"status": "Accepted"}, "Accepted"),
        (
            lambda s: s.clear_charging_profile(),
            "ClearChargingProfile",
            {},
            {"status": "Unknown"},
            "Unknown",
        ),
        (
            lambda s: s.clear_charging_profile(
                profile_id=3, connector_id=1, purpose="TxDefaultProfile", stack_level=2
            ),
            "ClearChargingProfile",
            {
                "id": 3,
                "connectorId": 1,
                "chargingProfilePurpose": "TxDefaultProfile",
                "stackLevel": 2,
            },
            {"status": "Accepted"},
            "Accepted",
        ),
        (
            lambda s: s.data_transfer("com.example"),
            "DataTransfer",
            {"vendorId": "com.example"},
            {"status": "UnknownVendorId"},
            DataTransferResult("UnknownVendorId"),
        ),
        (
            lambda s: s.data_transfer("com.example", "msg", "data"),
            "DataTransfer",
            {"vendorId": "com.example", "messageId": "msg", "data": "data"},
            {"status": "Accepted", "data": "back"},
            DataTransferResult("Accepted", "back"),
        ),
        (
            lambda s: s.get_composite_schedule(1, 3600),
            "GetCompositeSchedule",
            {"connectorId": 1, "duration": 3600},
            {"status": "Rejected"},
            {"status": "Rejected"},
        ),
        (
            lambda s: s.get_composite_schedule(1, 60, "A"),
            "GetCompositeSchedule",
            {"connectorId": 1, "duration": 60, "chargingRateUnit": "A"},
            {
                "status": "Accepted",
                "connectorId": 1,
                "scheduleStart": "2026-11-21T10:00:00Z",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
                },
            },
            {
                "status": "Accepted",
                "connectorId": 1,
                "scheduleStart": "2026-11-21T10:00:00Z",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
                },
            },
        ),
        (
            lambda s: s.get_configuration(["HeartbeatInterval", "Nope"]),
            "GetConfiguration",
            {"key": ["HeartbeatInterval", "Nope"]},
            {
                "configurationKey": [
                    {"key": "HeartbeatInterval", "readonly": False, "value": "60"}
                ],
                "unknownKey": ["Nope"],
            },
            ConfigurationResult({"HeartbeatInterval": ConfigurationValue("60")}, ["Nope"]),
        ),
        (
            lambda s: s.get_configuration(),
            "GetConfiguration",
            {},
            {"configurationKey": [{"key": "AuthorizationKey", "readonly": False}]},
            ConfigurationResult({"AuthorizationKey": ConfigurationValue(None)}, []),
        ),
        (
            lambda s: s.get_diagnostics("ftp://127.0.0.1/diag"),
            "GetDiagnostics",
            {"location": "ftp://127.0.0.1/diag"},
            {},
            None,
        ),
        (
            lambda s: s.get_diagnostics(
                "ftp://127.0.0.1/diag",
                retries=2,
                retry_interval=30,
                start_time=T0,
                stop_time=T0 + timedelta(days=1),
            ),
            "GetDiagnostics",
            {
                "location": "ftp://127.0.0.1/diag",
                "retries": 2,
                "retryInterval": 30,
                "startTime": "2026-11-21T10:00:00.000Z",
                "stopTime": "2026-11-22T10:00:00.000Z",
            },
            {"fileName": "diag.zip"},
            "diag.zip",
        ),
        (
            lambda s: s.get_local_list_version(),
            "GetLocalListVersion",
            {},
            {"listVersion": -1},
            -1,
        ),
        (
            lambda s: s.remote_start("HomeAssistant"),
            "RemoteStartTransaction",
            {"idTag": "HomeAssistant"},
            {"status": "Accepted"},
            "Accepted",
        ),
        (
            lambda s: s.remote_start(
                "TAG",
                2,
                {
                    "chargingProfileId": 1,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "TxProfile",
                    "chargingProfileKind": "Relative",
                    "chargingSchedule": {
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
                    },
                },
            ),
            "RemoteStartTransaction",
            {
                "idTag": "TAG",
                "connectorId": 2,
                "chargingProfile": {
                    "chargingProfileId": 1,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "TxProfile",
                    "chargingProfileKind": "Relative",
                    "chargingSchedule": {
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
                    },
                },
            },
            {"status": "Rejected"},
            "Rejected",
        ),
        (
            lambda s: s.remote_stop(17),
            "RemoteStopTransaction",
            {"transactionId": 17},
            {"status": "Accepted"},
            "Accepted",
        ),
        (
            lambda s: s.reserve_now(1, T0, "TAG", 9, "PARENT"),
            "ReserveNow",
            {
                "connectorId": 1,
                "expiryDate": "2026-11-21T10:00:00.000Z",
                "idTag": "TAG",
                "reservationId": 9,
                "parentIdTag": "PARENT",
            },
            {"status": "Occupied"},
            "Occupied",
        ),
        (lambda s: s.reset(True), "Reset", {"type": "Hard"}, {"status": "Accepted"}, "Accepted"),
        (lambda s: s.reset(False), "Reset", {"type": "Soft"}, {"status": "Rejected"}, "Rejected"),
        (
            lambda s: s.send_local_list(
                3, "Full", [{"idTag": "A", "idTagInfo": {"status": "Accepted"}}, {"idTag": "B"}]
            ),
            "SendLocalList",
            {
                "listVersion": 3,
                "updateType": "Full",
                "localAuthorizationList": [
                    {"idTag": "A", "idTagInfo": {"status": "Accepted"}},
                    {"idTag": "B"},
                ],
            },
            {"status": "VersionMismatch"},
            "VersionMismatch",
        ),
        (
            lambda s: s.set_charging_profile(
                0,
                {
                    "chargingProfileId": 2,
                    "stackLevel": 1,
                    "chargingProfilePurpose": "ChargePointMaxProfile",
                    "chargingProfileKind": "Absolute",
                    "chargingSchedule": {
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
                    },
                },
            ),
            "SetChargingProfile",
            {
                "connectorId": 0,
                "csChargingProfiles": {
                    "chargingProfileId": 2,
                    "stackLevel": 1,
                    "chargingProfilePurpose": "ChargePointMaxProfile",
                    "chargingProfileKind": "Absolute",
                    "chargingSchedule": {
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
                    },
                },
            },
            {"status": "NotSupported"},
            "NotSupported",
        ),
        (
            lambda s: s.trigger_message("Heartbeat"),
            "TriggerMessage",
            {"requestedMessage": "Heartbeat"},
            {"status": "NotImplemented"},
            "NotImplemented",
        ),
        (
            lambda s: s.trigger_message("MeterValues", 2),
            "TriggerMessage",
            {"requestedMessage": "MeterValues", "connectorId": 2},
            {"status": "Accepted"},
            "Accepted",
        ),
        (
            lambda s: s.unlock_connector(1),
            "UnlockConnector",
            {"connectorId": 1},
            {"status": "UnlockFailed"},
            "UnlockFailed",
        ),
        (
            lambda s: s.update_firmware("https://127.0.0.1/fw.bin", T0),
            "UpdateFirmware",
            {"location": "https://127.0.0.1/fw.bin", "retrieveDate": "2026-11-21T10:00:00.000Z"},
            {},
            None,
        ),
        (
            lambda s: s.update_firmware(
                "https://127.0.0.1/fw.bin", T0, retries=3, retry_interval=60
            ),
            "UpdateFirmware",
            {
                "location": "https://127.0.0.1/fw.bin",
                "retrieveDate": "2026-11-21T10:00:00.000Z",
                "retries": 3,
                "retryInterval": 60,
            },
            {},
            None,
        ),
        (
            lambda s: s.call("ClearCache", {}, timeout=5),
            "ClearCache",
            {},
            {"status": "Rejected"},
            {"status": "Rejected"},
        ),
    ],
)
async def test_commands(
    command: Callable[[ChargerSession], Any],
    action: str,
    request_payload: dict[str, Any],
    reply: dict[str, Any],
    result: Any,
) -> None:
    session, connection = await connected({action: reply})
    assert await command(session) == result
    assert connection.sent == [(action, request_payload)]
    # Not connected: the same command fails at once, with nothing sent.
    session.connection_lost()
    with pytest.raises(NotConnectedError):
        await command(session)


async def test_configuration_cache_follows_commands() -> None:
    session, _ = await connected(
        {
            "GetConfiguration": configuration({"HeartbeatInterval": "300"}),
            "ChangeConfiguration": lambda p: {
                "status": "Rejected" if p["key"] == "Locked" else "Accepted"
            },
        }
    )
    recorder = Recorder(session, [CONFIGURATION])
    await session.get_configuration()
    await session.get_configuration()  # the same again: no notification
    assert recorder.notifications == 1
    assert await session.change_configuration("HeartbeatInterval", "60") == "Accepted"
    assert await session.change_configuration("HeartbeatInterval", "60") == "Accepted"
    assert await session.change_configuration("Locked", "1") == "Rejected"
    assert session.state.configuration["HeartbeatInterval"].value == "60"
    assert "Locked" not in session.state.configuration
    assert recorder.notifications == 2


async def test_command_errors_reach_the_caller() -> None:
    session, _ = await connected(
        {
            "Reset": CallErrorReceived(CallErrorCode.NOT_SUPPORTED, "no"),
            "UnlockConnector": CallTimeoutError("slow"),
        }
    )
    with pytest.raises(CallErrorReceived):
        await session.reset(hard=False)
    with pytest.raises(CallTimeoutError):
        await session.unlock_connector(1)


async def test_resync_survives_a_charger_refusing_triggers() -> None:
    session = make_session()
    session.resync_delay = 0
    connection = FakeConnection(
        {"TriggerMessage": CallErrorReceived(CallErrorCode.NOT_IMPLEMENTED, "no triggers")}
    )
    session.connection_made(connection)
    await settle()
    # Boot, status and meter values asked for; each refusal only logged; then the sync.
    assert connection.actions() == [
        "TriggerMessage",
        "TriggerMessage",
        "TriggerMessage",
        "GetConfiguration",
        "ChangeConfiguration",
        "ChangeConfiguration",
    ]


async def test_meter_start_and_stop_move_the_register_of_a_quiet_charger() -> None:
    session = make_session()
    recorder = Recorder(session, [(1, "readings")])
    handle(session, "StartTransaction", start_payload(meter_start=10000))
    connector = session.state.connectors[1]
    register = connector.readings["Energy.Active.Import.Register"]
    assert (register.value, register.context, register.timestamp) == (
        10000,
        "Transaction.Begin",
        T0,
    )
    handle(session, "StopTransaction", stop_payload(1, 12500))
    register = connector.readings["Energy.Active.Import.Register"]
    assert (register.value, register.context) == (12500, "Transaction.End")
    assert recorder.notifications == 2
    # A late stop of an older transaction with a lower register does not move it back.
    handle(session, "StartTransaction", start_payload(meter_start=9000, at=T0 - timedelta(days=1)))
    assert connector.reading("Energy.Active.Import.Register") == 12500
    handle(session, "StopTransaction", stop_payload(2, 9500, at=T0 - timedelta(hours=20)))
    assert connector.reading("Energy.Active.Import.Register") == 12500
    assert recorder.notifications == 2


async def test_a_rejected_charger_is_left_alone() -> None:
    session = make_session()
    session.boot_policy = lambda _id, _info: "Rejected"
    session.resync_delay = 0
    connection = FakeConnection()
    session.connection_made(connection)
    handle(session, "BootNotification", boot_payload())
    session.connection_lost()
    connection = FakeConnection()
    session.connection_made(connection)  # reconnects without booting again
    session.update_config(ChargerConfig(charge_box_id=CBID, heartbeat_interval=10))
    await settle()
    assert connection.sent == []  # section 4.2: the Central System initiates nothing


async def test_a_triggered_boot_is_followed_by_the_state_it_does_not_bring() -> None:
    """A boot we asked for (TriggerMessage, section 5.17) is no reboot: the charger sends no
    StatusNotification of its own, so once the boot is answered we ask for the status and
    meter values (a Home Assistant restart must not leave the status unknown)."""
    session = make_session()
    session.resync_delay = 0
    connection = FakeConnection({"GetConfiguration": configuration({"NumberOfConnectors": "1"})})
    session.connection_made(connection)
    await settle()
    assert connection.sent == [("TriggerMessage", {"requestedMessage": "BootNotification"})]
    handle(session, "BootNotification", boot_payload())
    await settle()
    assert connection.sent[1:3] == [
        ("TriggerMessage", {"requestedMessage": "StatusNotification"}),
        ("TriggerMessage", {"requestedMessage": "MeterValues"}),
    ]
    assert ("GetConfiguration", {}) in connection.sent
    # A boot of the charger's own (a reboot) brings its statuses: nothing is triggered.
    again = FakeConnection({"GetConfiguration": configuration({"NumberOfConnectors": "1"})})
    session.resync_delay = 3600
    session.connection_made(again)
    handle(session, "BootNotification", boot_payload())
    await settle()
    assert not [c for c in again.sent if c[0] == "TriggerMessage"]
