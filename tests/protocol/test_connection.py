"""The asyncio Connection over loopback: replies, our CALL queue, timeouts, after_reply."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import orjson
import pytest

from custom_components.ocpp_central.protocol.connection import Connection, _fail
from custom_components.ocpp_central.protocol.errors import (
    CallErrorReceived,
    CallTimeoutError,
    NotConnectedError,
    ValidationFailed,
)
from custom_components.ocpp_central.protocol.server import CentralSystem

from .conftest import CentralFactory, RecordingHandler, connect_raw, recv_json, wait_for


def session(central: CentralSystem) -> RecordingHandler:
    found = central.sessions["CP1"]
    assert isinstance(found, RecordingHandler)
    return found


async def connection_of(central: CentralSystem) -> Connection:
    await wait_for(lambda: session(central).connection is not None)
    connection = session(central).connection
    assert connection is not None
    return connection


async def test_handler_bug_answers_internal_error_and_keeps_the_connection(
    central: CentralSystem, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(payload: dict[str, Any]) -> dict[str, Any]:
        raise ZeroDivisionError

    session(central).answers["Heartbeat"] = broken
    async with connect_raw(central) as websocket:
        await websocket.send('[2,"1","Heartbeat",{}]')
        assert (await recv_json(websocket))[:3] == [4, "1", "InternalError"]
        assert "ZeroDivisionError" in caplog.text  # logged with its traceback
        await websocket.send(
            '[2,"2","StatusNotification",'
            '{"connectorId":1,"errorCode":"NoError","status":"Available"}]'
        )
        assert await recv_json(websocket) == [3, "2", {}]


async def test_known_but_unsupported_action(central: CentralSystem) -> None:
    async with connect_raw(central) as websocket:
        await websocket.send('[2,"1","Reset",{"type":"Soft"}]')
        assert (await recv_json(websocket))[:3] == [4, "1", "NotSupported"]


async def test_invalid_answer_of_ours_becomes_internal_error(central: CentralSystem) -> None:
    session(central).answers["Heartbeat"] = {"currentTime": "soon"}
    async with connect_raw(central) as websocket:
        await websocket.send('[2,"1","Heartbeat",{}]')
        assert (await recv_json(websocket))[:3] == [4, "1", "InternalError"]


async def test_garbage_and_binary_frames_never_close_the_connection(
    central: CentralSystem,
) -> None:
    async with connect_raw(central) as websocket:
        for garbage in ["", "nonsense", "[]", "[7]", '[3,"x",{}]', "{"]:
            await websocket.send(garbage)
        await websocket.send(b"\x00\xff binary")
        await websocket.send(b'[2,"b","Heartbeat",{}]')
        assert (await recv_json(websocket))[:3] == [4, "b", "FormationViolation"]
        await websocket.send('[2,"ok","Heartbeat",{}]')
        assert (await recv_json(websocket))[:2] == [3, "ok"]


async def test_our_calls_queue_in_order_one_at_a_time(central: CentralSystem) -> None:
    async with connect_raw(central) as websocket:
        connection = await connection_of(central)
        calls = [
            asyncio.create_task(
                connection.call("ChangeConfiguration", {"key": f"K{n}", "value": "1"})
            )
            for n in range(3)
        ]
        for number in range(3):
            frame = await recv_json(websocket)
            assert frame[2:] == ["ChangeConfiguration", {"key": f"K{number}", "value": "1"}]
            # Nothing else arrives while this CALL is outstanding (OCPP-J 4.1.1).
            with pytest.raises(TimeoutError):
                await recv_json(websocket, timeout=0.05)
            await websocket.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())
        assert await asyncio.gather(*calls) == [{"status": "Accepted"}] * 3


async def test_timeout_then_late_result_is_dropped(
    make_central: CentralFactory, caplog: pytest.LogCaptureFixture
) -> None:
    central = await make_central(session_factory=RecordingHandler, response_timeout=0.05)
    async with connect_raw(central) as websocket:
        connection = await connection_of(central)
        with pytest.raises(CallTimeoutError):
            await connection.call("ClearCache", {})
        late = await recv_json(websocket)
        with caplog.at_level(logging.WARNING):
            await websocket.send(orjson.dumps([3, late[1], {"status": "Accepted"}]).decode())
            await websocket.send('[2,"1","Heartbeat",{}]')
            assert (await recv_json(websocket))[0] == 3
        assert "late answer" in caplog.text
        # The next CALL works normally, with a per-call timeout.
        task = asyncio.create_task(connection.call("ClearCache", {}, timeout=5))
        frame = await recv_json(websocket)
        await websocket.send(orjson.dumps([3, frame[1], {"status": "Rejected"}]).decode())
        assert await task == {"status": "Rejected"}


async def test_call_error_and_invalid_result_raise(central: CentralSystem) -> None:
    async with connect_raw(central) as websocket:
        connection = await connection_of(central)
        task = asyncio.create_task(connection.call("ClearCache", {}))
        frame = await recv_json(websocket)
        await websocket.send(orjson.dumps([4, frame[1], "NotSupported", "no", {}]).decode())
        with pytest.raises(CallErrorReceived) as refused:
            await task
        assert (refused.value.code, refused.value.description) == ("NotSupported", "no")
        task = asyncio.create_task(connection.call("ClearCache", {}))
        frame = await recv_json(websocket)
        await websocket.send(orjson.dumps([3, frame[1], {"status": "Perhaps"}]).decode())
        with pytest.raises(ValidationFailed):
            await task
        with pytest.raises(ValidationFailed):
            await connection.call("ClearCache", {"unexpected": 1})


async def test_disconnect_fails_pending_and_later_calls(central: CentralSystem) -> None:
    async with connect_raw(central) as websocket:
        connection = await connection_of(central)
        task = asyncio.create_task(connection.call("ClearCache", {}))
        await recv_json(websocket)
    with pytest.raises(NotConnectedError):
        await task
    with pytest.raises(NotConnectedError):
        await connection.call("ClearCache", {})
    assert not connection.connected


async def test_a_failed_call_nobody_awaits_any_more_is_not_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A disconnect fails the pending call just as its caller is cancelled, or as the loop
    shuts down before the caller wakes: the error must not be logged as never retrieved."""
    waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    _fail(waiter, NotConnectedError("CP1: disconnected"))
    del waiter
    gc.collect()
    await asyncio.sleep(0)
    assert "never retrieved" not in caplog.text


async def test_after_reply_runs_after_the_reply_is_sent(central: CentralSystem) -> None:
    order: list[str] = []

    async def follow_up() -> None:
        order.append("follow-up started")
        assert connection is not None
        await connection.call("TriggerMessage", {"requestedMessage": "StatusNotification"})

    def plain() -> None:
        order.append("plain")

    handler = session(central)
    handler.scheduled = [follow_up, plain]
    async with connect_raw(central) as websocket:
        connection = await connection_of(central)
        await websocket.send(
            '[2,"boot","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]'
        )
        first = await recv_json(websocket)
        second = await recv_json(websocket)
        # The charger sees our answer to its BootNotification first, then our CALL.
        assert first[:2] == [3, "boot"]
        assert second[2] == "TriggerMessage"
        # Our outstanding CALL does not block the charger's next message.
        await websocket.send('[2,"hb","Heartbeat",{}]')
        assert (await recv_json(websocket))[:2] == [3, "hb"]
        await websocket.send(orjson.dumps([3, second[1], {"status": "Accepted"}]).decode())
        await wait_for(lambda: not connection._tasks)
    assert order == ["plain", "follow-up started"]


async def test_after_reply_outside_a_reply_starts_at_once(central: CentralSystem) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("bug in scheduled work")

    async def failing() -> None:
        raise CallTimeoutError("no answer")

    async def crashing() -> None:
        raise KeyError("bug")

    async with connect_raw(central):
        connection = await connection_of(central)
        connection.after_reply(lambda: ran.append("now"))
        connection.after_reply(broken)  # logged, the connection goes on
        connection.after_reply(failing)
        connection.after_reply(crashing)
        assert ran == ["now"]
        await wait_for(lambda: not connection._tasks)
        await connection.close()
        connection.after_reply(lambda: ran.append("never"))  # detached: dropped
    assert ran == ["now"]
