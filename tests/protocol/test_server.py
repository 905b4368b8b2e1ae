"""The WebSocket server: OCPP-J handshake (section 3), auth, TLS, replacement, keepalive."""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.server import (
    CentralSystem,
    basic_auth_matches,
    charge_box_id_from_path,
)

from .conftest import (
    CentralFactory,
    RawSocketClient,
    RecordingHandler,
    basic_auth,
    connect_raw,
    ocpp_client,
    recv_json,
    tls_context,
    wait_for,
)

HEARTBEAT = '[2,"hb1","Heartbeat",{}]'


def handler(central: CentralSystem, charge_box_id: str = "CP1") -> RecordingHandler:
    session = central.sessions[charge_box_id]
    assert isinstance(session, RecordingHandler)
    return session


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ocpp/CP1", "CP1"),
        ("/ocpp/CP1/", "CP1"),
        ("/CP1", "CP1"),
        ("/ocpp/RDAM%20123", "RDAM 123"),  # OCPP-J 3.1.1 example 2
        ("/ocpp/CP%2F1", "CP/1"),
        ("/a/b/CP1?x=1", "CP1"),
        ("/ocpp/%C3%A9t%C3%A9", "été"),
        ("/", None),
        ("/ocpp/", "ocpp"),
        ("//", None),
        ("/ocpp/" + "x" * 48, "x" * 48),
        ("/ocpp/" + "x" * 49, None),
        ("/ocpp/CP%0A1", None),
        ("/ocpp/CP%7F", None),
        ("/ocpp/%FF", None),
    ],
)
def test_charge_box_id_from_path(path: str, expected: str | None) -> None:
    assert charge_box_id_from_path(path) == expected


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (basic_auth("CP1", "s3cret")["Authorization"], True),
        ("basic " + basic_auth("CP1", "s3cret")["Authorization"][6:], True),
        (basic_auth("CP1", "wrong")["Authorization"], False),
        (basic_auth("CP2", "s3cret")["Authorization"], False),
        ("Basic !!!", False),
        ("Bearer abc", False),
        ("Basic " + "Q1Ax", False),  # "CP1" without a colon
        (None, False),
    ],
)
def test_basic_auth_matches(header: str | None, ok: bool) -> None:
    assert basic_auth_matches(header, "CP1", "s3cret") is ok


async def test_boot_with_the_ocpp_package_client(central: CentralSystem) -> None:
    async with ocpp_client(central) as client:
        result = await client.call(
            call.BootNotification(charge_point_vendor="V", charge_point_model="M")
        )
        assert result.status == "Accepted"
        assert handler(central).calls[0][0] == "BootNotification"


async def test_percent_encoded_identity_and_trailing_slash(make_central: CentralFactory) -> None:
    central = await make_central(["RDAM 123"], session_factory=RecordingHandler)
    async with connect_raw(central, "RDAM%20123/") as websocket:
        await websocket.send(HEARTBEAT)
        assert (await recv_json(websocket))[0] == 3


@pytest.mark.parametrize(
    ("path", "status"),
    [("/", 400), ("/ocpp/" + "x" * 49, 400), ("/ocpp/CP%01", 400), ("/ocpp/CP9", 404)],
)
async def test_refused_handshakes(central: CentralSystem, path: str, status: int) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect_raw(central, path=path):
            pass
    assert refused.value.response.status_code == status


async def test_unknown_charger_admitted_for_discovery(make_central: CentralFactory) -> None:
    asked: list[str] = []

    def unknown(charge_box_id: str) -> bool:
        asked.append(charge_box_id)
        return charge_box_id == "NEW"

    central = await make_central([], session_factory=RecordingHandler, unknown_charger=unknown)
    with pytest.raises(InvalidStatus):
        async with connect_raw(central, "OTHER"):
            pass
    async with connect_raw(central, "NEW") as websocket:
        await websocket.send(HEARTBEAT)
        assert (await recv_json(websocket))[0] == 3
    assert asked == ["OTHER", "NEW"]
    assert handler(central, "NEW").config == ChargerConfig(charge_box_id="NEW")


@pytest.mark.parametrize(
    ("headers", "admitted"),
    [
        (basic_auth("CP1", "s3cret"), True),
        (basic_auth("CP1", "wrong"), False),
        (basic_auth("CP2", "s3cret"), False),
        ({}, False),
    ],
)
async def test_basic_auth_profile_1(
    make_central: CentralFactory, headers: dict[str, str], admitted: bool
) -> None:
    central = await make_central(
        [ChargerConfig(charge_box_id="CP1", password="s3cret")], session_factory=RecordingHandler
    )
    if admitted:
        async with connect_raw(central, additional_headers=headers) as websocket:
            await websocket.send(HEARTBEAT)
            assert (await recv_json(websocket))[0] == 3
        return
    with pytest.raises(InvalidStatus) as refused:
        async with connect_raw(central, additional_headers=headers):
            pass
    assert refused.value.response.status_code == 401
    assert refused.value.response.headers["WWW-Authenticate"].startswith("Basic ")


async def test_tls_with_basic_auth_profile_2(make_central: CentralFactory) -> None:
    central = await make_central(
        [ChargerConfig(charge_box_id="CP1", password="s3cret")],
        session_factory=RecordingHandler,
        ssl_context=tls_context(),
    )
    async with ocpp_client(central, additional_headers=basic_auth("CP1", "s3cret")) as client:
        result = await client.call(call.Heartbeat())
        assert result.current_time


async def test_no_subprotocol_is_served_as_1_6(central: CentralSystem) -> None:
    async with connect_raw(central, subprotocols=None) as websocket:
        assert websocket.subprotocol is None
        await websocket.send(HEARTBEAT)
        assert (await recv_json(websocket))[0] == 3


async def test_subprotocol_preferred_among_several(central: CentralSystem) -> None:
    async with connect_raw(central, subprotocols=["ocpp2.0.1", "ocpp1.6"]) as websocket:
        assert websocket.subprotocol == "ocpp1.6"


async def test_other_subprotocols_only_are_refused(central: CentralSystem) -> None:
    # OCPP-J 3.2: complete the handshake without the header, then close at once.
    async with connect_raw(central, subprotocols=["ocpp2.0.1"]) as websocket:
        assert websocket.subprotocol is None
        with pytest.raises(ConnectionClosed):
            await websocket.recv()
        assert websocket.close_code == 1002
    assert handler(central).events == []


async def test_new_connection_replaces_the_old_one(make_central: CentralFactory) -> None:
    # An authenticated newcomer takes over a live connection (without a password it must
    # not: see test_takeover.py).
    central = await make_central(
        [ChargerConfig(charge_box_id="CP1", password="s3cret")], session_factory=RecordingHandler
    )
    auth = basic_auth("CP1", "s3cret")
    session = handler(central)
    async with connect_raw(central, additional_headers=auth) as first:
        await first.send(HEARTBEAT)
        await recv_json(first)
        async with connect_raw(central, additional_headers=auth) as second:
            with pytest.raises(ConnectionClosed):
                await first.recv()
            await second.send('[2,"hb2","Heartbeat",{}]')
            assert (await recv_json(second))[1] == "hb2"
            assert session.events == ["made", "made"]  # handed over, no disconnect between
            assert central.sessions["CP1"] is session
    await wait_for(lambda: session.events[-1] == "lost")


async def test_password_change_closes_only_that_charger(make_central: CentralFactory) -> None:
    central = await make_central(["CP1", "CP2"], session_factory=RecordingHandler)
    async with connect_raw(central, "CP1") as one, connect_raw(central, "CP2") as two:
        await wait_for(lambda: handler(central, "CP2").connection is not None)
        session = central.set_charger(ChargerConfig(charge_box_id="CP1", password="new"))
        assert session is handler(central, "CP1")
        with pytest.raises(ConnectionClosed):
            await one.recv()
        central.set_charger(ChargerConfig(charge_box_id="CP2", heartbeat_interval=60))
        await two.send(HEARTBEAT)
        assert (await recv_json(two))[0] == 3
    assert handler(central, "CP2").config.heartbeat_interval == 60
    with pytest.raises(InvalidStatus):
        async with connect_raw(central, "CP1"):
            pass


async def test_remove_charger_closes_its_connection(central: CentralSystem) -> None:
    async with connect_raw(central) as websocket:
        await wait_for(lambda: handler(central).connection is not None)
        await central.remove_charger("CP1")
        with pytest.raises(ConnectionClosed):
            await websocket.recv()
    assert "CP1" not in central.sessions
    await central.remove_charger("CP1")  # unknown now: nothing to do


async def test_stop_closes_connections(make_central: CentralFactory) -> None:
    central = await make_central(session_factory=RecordingHandler)
    async with connect_raw(central) as websocket:
        await wait_for(lambda: handler(central).connection is not None)
        await central.stop()
        with pytest.raises(ConnectionClosed):
            await websocket.recv()
    assert handler(central).events == ["made", "lost"]


async def test_port_in_use_raises(make_central: CentralFactory) -> None:
    central = await make_central(session_factory=RecordingHandler)
    other = CentralSystem(host="127.0.0.1", port=central.port, hooks=central.hooks)
    with pytest.raises(OSError):
        await other.start()
    assert other.port == central.port


async def test_oversize_frame_closes_with_1009(make_central: CentralFactory) -> None:
    central = await make_central(session_factory=RecordingHandler, max_frame_size=1024)
    async with connect_raw(central) as websocket:
        await websocket.send(
            '[2,"big","DataTransfer",{"vendorId":"V","data":"' + "x" * 2000 + '"}]'
        )
        with pytest.raises(ConnectionClosed):
            await websocket.recv()
        assert websocket.close_code == 1009


async def test_ping_disabled_sends_no_pings(make_central: CentralFactory) -> None:
    central = await make_central(session_factory=RecordingHandler, ping_interval=None)
    client = await RawSocketClient.open(central)
    try:
        client.send_text(HEARTBEAT)
        # The first frame after our CALL is its answer, not a ping.
        opcode, payload = await asyncio.wait_for(client.read_frame(), 5)
        assert (opcode, payload[:4]) == (0x1, b'[3,"')
        client.send_text('[2,"hb2","Heartbeat",{}]')
        opcode, _payload = await asyncio.wait_for(client.read_frame(), 5)
        assert opcode == 0x1
    finally:
        client.close()


async def test_charger_that_never_answers_pings_stays_connected(
    make_central: CentralFactory,
) -> None:
    central = await make_central(session_factory=RecordingHandler, ping_interval=0.02)
    client = await RawSocketClient.open(central)
    try:
        pings = 0
        while pings < 8:  # bounded: eight unanswered pings
            opcode, _payload = await asyncio.wait_for(client.read_frame(), 5)
            pings += opcode == 0x9
        client.send_text(HEARTBEAT)
        assert (await asyncio.wait_for(client.read_text(), 5)).startswith('[3,"hb1"')
    finally:
        client.close()


async def test_silent_charger_that_answered_pings_is_closed(make_central: CentralFactory) -> None:
    central = await make_central(session_factory=RecordingHandler, ping_interval=0.02)
    async with connect_raw(central) as websocket:
        await websocket.send(HEARTBEAT)
        await recv_json(websocket)
        await asyncio.sleep(0.1)  # a few pings answered by the client library
        # Now the charger falls silent: its pongs stop reaching us.
        session = handler(central)
        assert session.connection is not None
        websocket.transport.pause_reading()
        await wait_for(lambda: session.connection is None)
        websocket.transport.resume_reading()


class RespondingChargePoint(ChargePoint):  # type: ignore[misc]
    @on("Reset")  # type: ignore[untyped-decorator]
    def on_reset(self, type: str, **kwargs: Any) -> Any:
        return call_result.Reset(status="Accepted")


async def test_our_call_answered_by_the_ocpp_package(central: CentralSystem) -> None:
    async with ocpp_client(central, handlers=RespondingChargePoint):
        await wait_for(lambda: handler(central).connection is not None)
        connection = handler(central).connection
        assert connection is not None
        assert await connection.call("Reset", {"type": "Soft"}) == {"status": "Accepted"}


async def test_default_session_factory_is_the_charger_session(
    make_central: CentralFactory,
) -> None:
    from custom_components.ocpp_central.protocol.session import ChargerSession

    central = await make_central()
    assert isinstance(central.sessions["CP1"], ChargerSession)
    async with ocpp_client(central) as client:
        result = await client.call(
            call.BootNotification(charge_point_vendor="V", charge_point_model="M")
        )
        assert result.status == "Accepted"
