"""The sans-I/O RPC core (OCPP-J 1.6 section 4): every CallError case, ids, answers."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from custom_components.ocpp_central.protocol.errors import CallErrorCode, ValidationFailed
from custom_components.ocpp_central.protocol.rpc import (
    IncomingCall,
    IncomingError,
    IncomingResult,
    InvalidResult,
    ProtocolViolation,
    RpcCore,
)
from custom_components.ocpp_central.protocol.schemas import Schemas, Validator

BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}


@pytest.fixture
def core(schemas: Schemas) -> RpcCore:
    return RpcCore(Validator(schemas, charge_box_id="CP1"))


def reply_of(core: RpcCore, frame: str | bytes) -> list[Any] | None:
    (event,) = core.receive(frame)
    assert isinstance(event, ProtocolViolation), event
    return None if event.reply is None else orjson.loads(event.reply)


# OCPP-J 1.6 section 4.2.3 table 7, one row per way a CALL can be refused.
@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('[2,"1","NoSuchAction",{}]', "NotImplemented"),
        ('[2,"1","Heartbeat",[]]', "FormationViolation"),
        ('[2,"1","Heartbeat"]', "FormationViolation"),
        ('[2,"1","Heartbeat",{},{}]', "FormationViolation"),
        ('[2,"1",7,{}]', "FormationViolation"),
        ('[2,"1","Heartbeat",{', "FormationViolation"),  # not JSON, id recovered
        ('[2,"1","BootNotification",{"chargePointVendor":"V"}]', "OccurenceConstraintViolation"),
        (
            '[2,"1","MeterValues",{"connectorId":1,"meterValue":[]}]',
            "OccurenceConstraintViolation",
        ),
        (
            '[2,"1","StatusNotification",{"connectorId":"1","errorCode":"NoError",'
            '"status":"Available"}]',
            "TypeConstraintViolation",
        ),
        (
            '[2,"1","StatusNotification",{"connectorId":1,"errorCode":"NoError",'
            '"status":"Sleeping"}]',
            "PropertyConstraintViolation",
        ),
        ('[2,"1","Authorize",{"idTag":"' + "x" * 21 + '"}]', "PropertyConstraintViolation"),
        ('[2,"1","Heartbeat",{"extra":1}]', "PropertyConstraintViolation"),
        (
            '[2,"1","StartTransaction",{"connectorId":1,"idTag":"T","meterStart":0,'
            '"timestamp":"yesterday"}]',
            "PropertyConstraintViolation",
        ),
    ],
)
def test_call_refused_with_the_spec_code(core: RpcCore, frame: str, code: str) -> None:
    reply = reply_of(core, frame)
    assert reply is not None
    assert reply[0] == 4
    assert reply[2] == code
    assert isinstance(reply[3], str)
    assert reply[4] == {}
    assert reply[1] == orjson.loads(frame)[1] if frame.endswith("]") else reply[1] == "1"


def test_duplicate_incoming_id_is_a_protocol_error(core: RpcCore) -> None:
    (first,) = core.receive('[2,"1","Heartbeat",{}]')
    assert isinstance(first, IncomingCall)
    reply = reply_of(core, '[2,"1","Heartbeat",{}]')
    assert reply is not None
    assert reply[:3] == [4, "1", "ProtocolError"]


def test_remembered_ids_are_bounded(core: RpcCore) -> None:
    for number in range(1100):
        core.receive(f'[2,"{number}","Heartbeat",{{}}]')
    (again,) = core.receive('[2,"0","Heartbeat",{}]')  # long forgotten: accepted
    assert isinstance(again, IncomingCall)
    assert reply_of(core, '[2,"1099","Heartbeat",{}]') is not None


@pytest.mark.parametrize(
    "frame",
    [
        "not json at all",
        "{}",
        "[]",
        '"text"',
        '[9,"1","Heartbeat",{}]',  # unknown message type: ignored (section 4.1.3)
        '["2","1","Heartbeat",{}]',
        '[3,"nobody",{}]',
        '[4,"nobody","GenericError","",{}]',
        '[3,"1",{',  # a broken CallResult is never answered
        '[2, null, "Heartbeat", {}]',
        # Longer than section 4.1.4 allows: echoing it would make the reply unbounded.
        '[2,"' + "x" * 37 + '","Heartbeat",{}]',
    ],
)
def test_garbage_is_ignored_without_reply(core: RpcCore, frame: str) -> None:
    assert reply_of(core, frame) is None


def test_numeric_id_is_echoed_as_a_string(core: RpcCore) -> None:
    """OCPP-J 4.1.3: the MessageId is a string; a number is answered as its digits."""
    assert reply_of(core, '[2,5,"Heartbeat",{}]') == [4, "5", "FormationViolation", "bad id", {}]


def test_binary_frames_are_refused_in_strict_mode(core: RpcCore) -> None:
    reply = reply_of(core, b'[2,"b1","Heartbeat",{}]')
    assert reply is not None
    assert reply[:3] == [4, "b1", "FormationViolation"]
    assert reply_of(core, b"\x00\x01") is None


def test_binary_frames_are_read_in_lenient_mode(schemas: Schemas) -> None:
    core = RpcCore(Validator(schemas, lenient=True))
    (event,) = core.receive(b'[2,"b1","Heartbeat",{}]')
    assert event == IncomingCall("b1", "Heartbeat", {})


def test_null_payload_means_empty(core: RpcCore) -> None:
    (event,) = core.receive('[2,"1","Heartbeat",null]')
    assert event == IncomingCall("1", "Heartbeat", {})


def test_without_validator_any_action_passes() -> None:
    core = RpcCore()
    (event,) = core.receive('[2,"1","Anything",{"x":1}]')
    assert event == IncomingCall("1", "Anything", {"x": 1})
    message_id, frame = core.call_frame("Whatever", {})
    assert orjson.loads(core.result_frame(event, {"y": 2})) == [3, "1", {"y": 2}]
    assert orjson.loads(frame)[2] == "Whatever"
    (answer,) = core.receive(orjson.dumps([3, message_id, {"z": 1}]).decode())
    assert answer == IncomingResult(message_id, "Whatever", {"z": 1})


def test_our_call_and_its_result(core: RpcCore) -> None:
    message_id, frame = core.call_frame("Reset", {"type": "Soft"})
    assert len(message_id) <= 36
    assert orjson.loads(frame) == [2, message_id, "Reset", {"type": "Soft"}]
    assert core.outstanding == message_id
    with pytest.raises(RuntimeError):
        core.call_frame("Reset", {"type": "Hard"})  # one outstanding CALL (section 4.1.1)
    (event,) = core.receive(f'[3,"{message_id}",{{"status":"Accepted"}}]')
    assert event == IncomingResult(message_id, "Reset", {"status": "Accepted"})
    assert core.outstanding is None
    next_id, _frame = core.call_frame("ClearCache", {})
    assert next_id != message_id


def test_our_call_is_validated_before_sending(core: RpcCore) -> None:
    with pytest.raises(ValidationFailed) as failed:
        core.call_frame("Reset", {"type": "Medium"})
    assert failed.value.code is CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    with pytest.raises(ValidationFailed) as unknown:
        core.call_frame("Teleport", {})
    assert unknown.value.code is CallErrorCode.NOT_IMPLEMENTED
    assert core.outstanding is None


def test_our_result_is_validated(core: RpcCore) -> None:
    (call,) = core.receive('[2,"1","Heartbeat",{}]')
    assert isinstance(call, IncomingCall)
    with pytest.raises(ValidationFailed):
        core.result_frame(call, {"currentTime": "now"})
    assert orjson.loads(core.result_frame(call, {"currentTime": "2026-11-21T10:00:00Z"})) == [
        3,
        "1",
        {"currentTime": "2026-11-21T10:00:00Z"},
    ]


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ('{"status":"Maybe"}', CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION),
        ("[]", CallErrorCode.FORMATION_VIOLATION),
        ('{"status":"Accepted"},1', CallErrorCode.FORMATION_VIOLATION),
    ],
)
def test_invalid_result_fails_our_call(core: RpcCore, answer: str, code: CallErrorCode) -> None:
    message_id, _frame = core.call_frame("Reset", {"type": "Soft"})
    (event,) = core.receive(f'[3,"{message_id}",{answer}]')
    assert isinstance(event, InvalidResult)
    assert event.error.code is code


def test_null_result_is_an_empty_payload(core: RpcCore) -> None:
    message_id, _frame = core.call_frame("ClearCache", {})
    (event,) = core.receive(f'[3,"{message_id}",null]')
    assert isinstance(event, InvalidResult)  # ClearCacheResponse requires status
    message_id, _frame = core.call_frame("DataTransfer", {"vendorId": "V"})
    (event,) = core.receive(f'[3,"{message_id}",{{"status":"Accepted"}}]')
    assert isinstance(event, IncomingResult)


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ('"NotSupported","nope",{"a":1}', (CallErrorCode.NOT_SUPPORTED, "nope", {"a": 1})),
        ('"FormatViolation","x",{}', (CallErrorCode.FORMATION_VIOLATION, "x", {})),
        ('"OccurrenceConstraintViolation"', (CallErrorCode.OCCURENCE_CONSTRAINT_VIOLATION, "", {})),
        ('"Weird","text",[]', (CallErrorCode.GENERIC_ERROR, "Weird: text", {})),
        ("42", (CallErrorCode.GENERIC_ERROR, "42", {})),
    ],
)
def test_call_error_answers_are_read_liberally(
    core: RpcCore, tail: str, expected: tuple[CallErrorCode, str, dict[str, Any]]
) -> None:
    message_id, _frame = core.call_frame("Reset", {"type": "Soft"})
    (event,) = core.receive(f'[4,"{message_id}",{tail}]')
    assert event == IncomingError(message_id, "Reset", *expected)


def test_late_answer_is_dropped(core: RpcCore) -> None:
    message_id, _frame = core.call_frame("Reset", {"type": "Soft"})
    core.cancel_call()
    core.cancel_call()  # nothing outstanding: no-op
    (event,) = core.receive(f'[3,"{message_id}",{{"status":"Accepted"}}]')
    assert isinstance(event, ProtocolViolation)
    assert event.kind == "late answer"
    assert event.reply is None


def test_error_frame_shape() -> None:
    frame = RpcCore.error_frame("7", CallErrorCode.GENERIC_ERROR)
    assert orjson.loads(frame) == [4, "7", "GenericError", "", {}]


def test_violation_messages_are_bounded(core: RpcCore) -> None:
    (event,) = core.receive("x" * 10_000)
    assert isinstance(event, ProtocolViolation)
    assert len(event.log_message) < 300
