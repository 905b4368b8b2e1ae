"""A broken or hostile charger's cost is bounded by us, not by what it sends.

Through the real `CentralSystem` on 127.0.0.1: CallError replies stay under
`MAX_CALL_ERROR_SIZE` whatever the CALL held (OCPP-J 1.6 section 4.2.3 sets no length, so
we set one), their message id is the CALL's id as a string (section 4.1.3), log lines are
few and short however many bad frames come, and no id tag, password or Authorization
header reaches a log line at any level (security whitepaper, section 1.3: id tags are
personal data).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection

from custom_components.ocpp_central.protocol import logs
from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.errors import (
    MAX_CALL_ERROR_SIZE,
    MAX_ERROR_DESCRIPTION,
    MAX_ERROR_DETAILS,
    CallError,
    CallErrorCode,
    bounded_description,
    bounded_details,
)
from custom_components.ocpp_central.protocol.hooks import MemoryHooks
from custom_components.ocpp_central.protocol.server import CentralSystem
from custom_components.ocpp_central.protocol.session import ChargerSession

from .conftest import CentralFactory, RecordingHandler, basic_auth, connect_raw, recv_json

PACKAGE = "custom_components.ocpp_central"
# An id tag nobody else would write: a log line holding it leaks it.
SECRET_TAG = "SECRETTAG0123456789"
PASSWORD = "correct-horse-battery-staple"


def package_log_bytes(caplog: pytest.LogCaptureFixture) -> int:
    """Bytes of the messages the integration logged (as a handler would write them)."""
    return sum(
        len(record.getMessage().encode()) + 1
        for record in caplog.records
        if record.name.startswith(PACKAGE)
    )


def server_side_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every line the server side logged (ours and its websockets'), tracebacks included."""
    handler = logging.Formatter()
    lines = []
    for record in caplog.records:
        if record.name.startswith("websockets.client"):
            continue  # the test's own client
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append(handler.formatException(record.exc_info))
    return lines


async def exchange(websocket: ClientConnection, frame: str | bytes) -> tuple[bytes, Any]:
    """Send one text frame, return the next reply as received and parsed."""
    await websocket.send(frame if isinstance(frame, str) else frame.decode())
    async with asyncio.timeout(5):
        raw = await websocket.recv(decode=False)
    return raw, orjson.loads(raw)


async def assert_heartbeat_answered(websocket: ClientConnection) -> None:
    _raw, reply = await exchange(websocket, '[2,"hb","Heartbeat",{}]')
    assert reply[:2] == [3, "hb"]


# -- replies -------------------------------------------------------------------------------


async def test_unknown_actions_with_huge_names_get_short_replies_and_few_log_lines(
    make_central: CentralFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """1,000 CALLs named with 50 kB each: today each reply and log line echoed the name."""
    central = await make_central()
    caplog.set_level(logging.DEBUG, logger=PACKAGE)
    async with connect_raw(central) as websocket:
        for n in range(1000):
            action = f"{n}" + "A" * 50_000
            raw, reply = await exchange(websocket, f'[2,"u{n}","{action}",{{}}]')
            assert len(raw) < MAX_CALL_ERROR_SIZE
            assert reply[:3] == [4, f"u{n}", CallErrorCode.NOT_IMPLEMENTED.value]
        await assert_heartbeat_answered(websocket)
    assert package_log_bytes(caplog) < 2_000
    ours = [record for record in caplog.records if record.name.startswith(PACKAGE)]
    assert all(len(record.getMessage()) <= logs.MAX_LINE for record in ours)


async def test_a_handlers_long_description_and_details_are_cut(
    make_central: CentralFactory,
) -> None:
    """Whatever a handler puts in its CallError, the reply stays within the bounds."""
    central = await make_central(session_factory=RecordingHandler)
    session = central.sessions["CP1"]
    assert isinstance(session, RecordingHandler)

    def refuse(payload: dict[str, Any]) -> dict[str, Any]:
        raise CallError(
            CallErrorCode.GENERIC_ERROR,
            "\u20ac\u0001" * 40_000,  # multi-byte and escaped characters
            {"echo": payload["data"]},
        )

    session.answers["DataTransfer"] = refuse
    async with connect_raw(central) as websocket:
        data = "d" * 60_000
        raw, reply = await exchange(
            websocket, orjson.dumps([2, "d1", "DataTransfer", {"vendorId": "v", "data": data}])
        )
    assert len(raw) < MAX_CALL_ERROR_SIZE
    assert reply[:3] == [4, "d1", "GenericError"]
    assert len(orjson.dumps(reply[3])) - 2 <= MAX_ERROR_DESCRIPTION
    assert reply[3].endswith("...")
    assert reply[4] == {}


def test_description_bound_is_in_json_bytes() -> None:
    for text in [
        "x" * 10_000,
        "\u20ac" * 10_000,
        "\u0001" * 10_000,
        '"\\' * 5_000,
        "\U0001f50c" * 99,
    ]:
        bounded = bounded_description(text)
        assert len(orjson.dumps(bounded)) - 2 <= MAX_ERROR_DESCRIPTION
        assert text.startswith(bounded.removesuffix("..."))
    assert bounded_description("short") == "short"
    assert bounded_details({"a": 1}) == {"a": 1}
    assert bounded_details({"a": "b" * MAX_ERROR_DETAILS}) == {}
    assert bounded_details(None) == {}


async def test_numeric_id_is_answered_as_a_string(make_central: CentralFactory) -> None:
    """OCPP-J section 4.1.3: the MessageId is a string; firmware numbering its messages
    gets its number back as one (today the number itself came back)."""
    central = await make_central()
    async with connect_raw(central) as websocket:
        raw, reply = await exchange(websocket, '[2,17,"Heartbeat",{}]')
        assert reply[:3] == [4, "17", "FormationViolation"]
        assert len(raw) < MAX_CALL_ERROR_SIZE
        await assert_heartbeat_answered(websocket)


async def test_overlong_id_is_not_echoed(
    make_central: CentralFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """An id beyond section 4.1.4's 36 characters is logged, not echoed back in full."""
    central = await make_central()
    async with connect_raw(central) as websocket:
        await websocket.send(f'[2,"{"i" * 60_000}","Heartbeat",{{}}]')
        # The next reply answers the Heartbeat: nothing came for the long id.
        await assert_heartbeat_answered(websocket)
    assert any("long id" in record.getMessage() for record in caplog.records)


# -- log lines -----------------------------------------------------------------------------


async def test_bad_frames_are_logged_once_per_kind_then_counted(
    make_central: CentralFactory,
    caplog: pytest.LogCaptureFixture,
    fresh_problem_log: logs.ProblemLog,
) -> None:
    """5,000 frames of four kinds: four lines, not 5,000 (today: one warning per kind and
    a debug line per frame, and the first line held 200 characters of each frame)."""
    central = await make_central()
    caplog.set_level(logging.DEBUG, logger=PACKAGE)
    kinds = ["not json " + "x" * 1000, "[]", '[9,"x"]', '[3,"nobody",{}]']
    async with connect_raw(central) as websocket:
        for n in range(5000):
            await websocket.send(kinds[n % len(kinds)])
        await assert_heartbeat_answered(websocket)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(PACKAGE)]
    assert len(lines) == len(kinds), lines
    assert package_log_bytes(caplog) < 2_000
    assert len(fresh_problem_log) == len(kinds)


def test_problem_log_counts_repeats_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    problems = logs.ProblemLog(interval=60.0, clock=lambda: now[0])
    logger = logging.getLogger(f"{PACKAGE}.test")
    caplog.set_level(logging.INFO, logger=PACKAGE)
    for second in range(150):  # one problem a second for 150 s
        now[0] = float(second)
        problems.log(logger, logging.WARNING, "CP1", "not JSON", "CP1: not JSON: %s", second)
        problems.log(logger, logging.WARNING, "CP2", "not JSON", "CP2: not JSON: %s", second)
    cp1 = [r.getMessage() for r in caplog.records if r.getMessage().startswith("CP1")]
    assert cp1 == [
        "CP1: not JSON: 0",
        "CP1: not JSON: 60 (59 more in the last 60 s)",
        "CP1: not JSON: 120 (59 more in the last 60 s)",
    ]
    ours = [r for r in caplog.records if r.name == logger.name]
    assert len(ours) == 6  # the other charger has a limit of its own
    # A kind that stopped logs its next problem at once, with what was counted meanwhile.
    now[0] = 1000.0
    assert problems.log(logger, logging.WARNING, "CP1", "not JSON", "CP1: again")
    assert caplog.records[-1].getMessage() == "CP1: again (29 more in the last 880 s)"


def test_problem_log_remembers_a_bounded_number_of_kinds(caplog: pytest.LogCaptureFixture) -> None:
    problems = logs.ProblemLog(capacity=100)
    logger = logging.getLogger(f"{PACKAGE}.test")
    caplog.set_level(logging.INFO, logger=PACKAGE)
    for n in range(10_000):
        problems.log(logger, logging.WARNING, f"CP{n}", "kind", "CP%s: problem", n)
    assert len(problems) == 100


def test_lines_are_cut(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger(f"{PACKAGE}.test")
    caplog.set_level(logging.INFO, logger=PACKAGE)
    logs.problem(logger, "CP1", "long", "CP1: %s", "y" * 100_000)
    (record,) = [r for r in caplog.records if r.name == logger.name]
    assert len(record.getMessage()) <= logs.MAX_LINE
    assert len(logs.quote("z" * 100_000)) <= logs.MAX_QUOTED
    assert len(logs.quote(b"z" * 100_000)) <= logs.MAX_QUOTED


# -- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ('[2,"1","Authorize",{"idTag":"ABC123"}]', "ABC123"),
        ('{"idTag" : "ABC123", "x": 1}', "ABC123"),
        ("{'idTag': 'ABC123'}", "ABC123"),
        ("Authorize(id_tag='ABC123')", "ABC123"),
        ('{"parentIdTag":"ABC123"}', "ABC123"),
        ('{"idTagInfo":{"status":"Accepted","parentIdTag":"ABC123"}}', "ABC123"),
        ("StartTransaction: idTag: 'ABC123ABC123ABC123ABC123' is too long", "ABC123"),
        ('{"idTag":"ABC123', "ABC123"),  # cut inside the value
        ('{"idTag":"AB\\"C123"}', "C123"),
        ("< Authorization: Basic Q1AxOnNlY3JldA==", "Q1AxOnNlY3JldA=="),
        ("authorization=Bearer abc.def", "abc.def"),
        ('{"password": "hunter22"}', "hunter22"),
        ("ocpp_password=hunter22", "hunter22"),
        ("AuthorizationKey: 0123abcd", "0123abcd"),
    ],
)
def test_redact_hides_secret_values(text: str, hidden: str) -> None:
    redacted = logs.redact(text)
    assert hidden not in redacted
    assert "***" in redacted


def test_redact_keeps_what_is_not_secret() -> None:
    text = '[3,"1",{"idTagInfo":{"status":"Accepted"}}] StartTransaction: meterStart: 12'
    assert logs.redact(text) == text


async def test_no_id_tag_in_any_log_line_at_any_level(
    make_central: CentralFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A rejected StartTransaction (today logged at WARNING with 200 characters of its
    frame), a malformed one, an over-long tag and a tag in an answer we got wrong."""
    central = await make_central(session_factory=RecordingHandler)
    session = central.sessions["CP1"]
    assert isinstance(session, RecordingHandler)
    # Our own answer breaks the schema: the failure is logged with the CALL.
    session.answers["Authorize"] = {"idTagInfo": {"status": "Bogus"}}
    caplog.set_level(logging.DEBUG)
    start = {"connectorId": 1, "idTag": SECRET_TAG, "meterStart": 0, "timestamp": "yesterday"}
    frames = [
        orjson.dumps([2, "s1", "StartTransaction", start]),
        orjson.dumps([2, "s2", "StartTransaction", {"idTag": SECRET_TAG}]),
        orjson.dumps([2, "s3", "Authorize", {"idTag": SECRET_TAG * 3}]),
        orjson.dumps([2, "s4", "Authorize", {"idTag": SECRET_TAG}]),
        orjson.dumps([2, "s5", "Authorize", {"idTag": SECRET_TAG, "x": 1}]),
        orjson.dumps([2, "s6", "StartTransaction", {**start, "idTag": 7}])[:-3],  # not JSON
    ]
    async with connect_raw(central) as websocket:
        for frame in frames:
            await websocket.send(frame.decode())
            await recv_json(websocket)
    lines = server_side_lines(caplog)
    assert any("StartTransaction" in line for line in lines)
    assert any("our answer to Authorize is invalid" in line for line in lines)
    leaks = [line for line in lines if SECRET_TAG in line or SECRET_TAG[:12] in line]
    assert leaks == []


async def test_lenient_quirks_are_logged_without_the_value(
    make_central: CentralFactory, caplog: pytest.LogCaptureFixture
) -> None:
    central = await make_central(
        [ChargerConfig(charge_box_id="CP1", lenient=True)], session_factory=RecordingHandler
    )
    caplog.set_level(logging.DEBUG)
    async with connect_raw(central) as websocket:
        for n in range(50):
            frame = orjson.dumps([2, f"a{n}", "Authorize", {"idTag": SECRET_TAG * 2}])
            await websocket.send(frame.decode())
            assert (await recv_json(websocket))[0] == 3  # accepted, cut to 20 characters
    lines = server_side_lines(caplog)
    quirks = [line for line in lines if "lenient mode" in line]
    assert quirks == [
        "Charger CP1 sent an over-long string in Authorize idTag (accepted in lenient mode)"
    ]
    assert [line for line in lines if SECRET_TAG[:12] in line] == []


async def test_no_password_or_authorization_header_in_any_log_line(
    make_central: CentralFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The websockets library logs request headers at DEBUG: its lines are redacted too."""
    central = await make_central([ChargerConfig(charge_box_id="CP1", password=PASSWORD)])
    caplog.set_level(logging.DEBUG)
    good = basic_auth("CP1", PASSWORD)
    wrong = basic_auth("CP1", "wrong-" + PASSWORD)
    async with connect_raw(central, additional_headers=good) as websocket:
        await assert_heartbeat_answered(websocket)
    with pytest.raises(Exception, match="401"):
        async with connect_raw(central, additional_headers=wrong):
            pass
    lines = server_side_lines(caplog)
    assert any("Authorization" in line for line in lines), "no header line was logged"
    assert any("failed HTTP Basic authentication" in line for line in lines)
    for secret in (PASSWORD, good["Authorization"].split()[1], wrong["Authorization"].split()[1]):
        assert [line for line in lines if secret in line] == []


async def test_websockets_lines_are_cut(
    make_central: CentralFactory, caplog: pytest.LogCaptureFixture
) -> None:
    central: CentralSystem = await make_central()
    caplog.set_level(logging.DEBUG, logger="websockets.server")
    async with connect_raw(central, additional_headers={"X-Long": "h" * 5000}) as websocket:
        await assert_heartbeat_answered(websocket)
    server_lines = [r.getMessage() for r in caplog.records if r.name == "websockets.server"]
    assert any(line.startswith("< X-Long") for line in server_lines)
    assert all(len(line) <= logs.MAX_LINE for line in server_lines)


async def test_boot_then_heartbeat_still_work_with_logs_redacted(
    make_central: CentralFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Redaction changes what is logged, never what is answered."""
    central = await make_central(session_factory=RecordingHandler)
    caplog.set_level(logging.DEBUG)
    boot = {"chargePointVendor": "V", "chargePointModel": "M"}
    async with connect_raw(central) as websocket:
        _raw, reply = await exchange(websocket, orjson.dumps([2, "b", "BootNotification", boot]))
        assert reply[0] == 3
        assert reply[2]["status"] == "Accepted"
        _raw, reply = await exchange(
            websocket, orjson.dumps([2, "a", "Authorize", {"idTag": SECRET_TAG}])
        )
        assert reply[:2] == [3, "a"]


def test_session_names_at_most_the_start_of_an_unknown_action() -> None:
    """Without a validator (the session used on its own) the session answers unknown
    actions itself: its description quotes only the start of the name."""
    session = ChargerSession(ChargerConfig(charge_box_id="CP1"), MemoryHooks())
    with pytest.raises(CallError) as refused:
        session.handle_call("Z" * 50_000, {})
    assert refused.value.code == CallErrorCode.NOT_IMPLEMENTED
    assert len(refused.value.description) < 60


def test_a_long_traceback_keeps_its_end(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger(f"{PACKAGE}.test")
    caplog.set_level(logging.INFO, logger=PACKAGE)
    try:
        raise ValueError("q" * 10_000 + f" idTag: {SECRET_TAG} the end")
    except ValueError as error:
        logs.problem(logger, "CP1", "bug", "CP1: handling failed", exc_info=error)
    (record,) = [r for r in caplog.records if r.name == logger.name]
    message = record.getMessage()
    assert len(message) <= logs.MAX_LINE + logs.MAX_TRACEBACK + 10
    assert message.endswith("the end")
    assert SECRET_TAG not in message
