"""Dead links are noticed while TCP stays open: frozen chargers and silent ones.

OCPP-J section 5.3 (and errata 3.9): the central system pings; a charger that answers pings
is judged by its pongs, one that never does by its own traffic (OCPP 1.6 section 4.6: it
sends something at least every heartbeat interval). Every bound here is set by the test.
"""

from __future__ import annotations

import asyncio
import contextlib

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.connection import (
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    Liveness,
    silence_limit,
)
from custom_components.ocpp_central.protocol.errors import NotConnectedError
from custom_components.ocpp_central.protocol.server import CentralSystem

from .conftest import (
    CentralFactory,
    RawSocketClient,
    RecordingHandler,
    connect_raw,
    recv_json,
    wait_for,
)

HEARTBEAT = '[2,"hb1","Heartbeat",{}]'


def handler(central: CentralSystem, charge_box_id: str = "CP1") -> RecordingHandler:
    session = central.sessions[charge_box_id]
    assert isinstance(session, RecordingHandler)
    return session


def test_default_keepalive_notices_a_dead_link_within_90_seconds() -> None:
    # The last pong is at most one interval plus one timeout old when we give up.
    assert DEFAULT_PING_INTERVAL + DEFAULT_PING_TIMEOUT <= 90
    assert silence_limit(300, 60) == 660
    assert silence_limit(300, None) is None
    assert silence_limit(0, 60) is None


async def test_frozen_charger_with_our_data_queued_is_noticed(
    make_central: CentralFactory,
) -> None:
    """A frozen charger stops reading: our writes back up, and so would a plain ping.

    The keepalive bounds the ping too, so the charger is shown disconnected anyway, and
    the stuck CALL fails with NotConnectedError.
    """
    central = await make_central(
        session_factory=RecordingHandler, ping_interval=0.05, ping_timeout=0.2, close_timeout=0.5
    )
    async with connect_raw(central, max_size=None) as websocket:
        await websocket.send(HEARTBEAT)
        await recv_json(websocket)
        await asyncio.sleep(0.2)  # the client library answers a few pings: a pinging charger
        session = handler(central)
        connection = session.connection
        assert connection is not None
        websocket.transport.pause_reading()  # the charger's process freezes
        # A long CALL of ours fills the socket buffers towards the frozen charger.
        stuck = asyncio.ensure_future(
            connection.call("DataTransfer", {"vendorId": "V", "data": "x" * 8_000_000})
        )
        await wait_for(lambda: session.connection is None)
        assert session.events == ["made", "lost"]
        async with asyncio.timeout(5):
            with contextlib.suppress(NotConnectedError):
                await stuck
            assert isinstance(stuck.exception(), NotConnectedError)
        websocket.transport.resume_reading()


async def test_silent_charger_that_never_answers_pings_is_closed(
    make_central: CentralFactory,
) -> None:
    """A raw client completes the handshake, never answers a ping and falls silent."""
    central = await make_central(
        [ChargerConfig(charge_box_id="CP1", heartbeat_interval=1)],
        session_factory=RecordingHandler,
        ping_interval=0.05,
        silence_margin=0.2,
    )
    client = await RawSocketClient.open(central)
    try:
        client.send_text(HEARTBEAT)
        assert (await asyncio.wait_for(client.read_text(), 5)).startswith('[3,"hb1"')
        session = handler(central)
        await wait_for(lambda: session.events == ["made", "lost"])
    finally:
        client.close()


async def test_silence_rule_applies_without_pings(make_central: CentralFactory) -> None:
    central = await make_central(
        [ChargerConfig(charge_box_id="CP1", heartbeat_interval=1)],
        session_factory=RecordingHandler,
        ping_interval=None,
        silence_margin=0.2,
    )
    client = await RawSocketClient.open(central)
    try:
        session = handler(central)
        await wait_for(lambda: session.events == ["made", "lost"])
        # No ping was ever sent: the first frame is the close frame.
        opcode, payload = await asyncio.wait_for(client.read_frame(), 5)
        assert (opcode, payload[:2]) == (0x8, (1011).to_bytes(2))
    finally:
        client.close()


async def test_no_silence_rule_without_margin_or_pings(make_central: CentralFactory) -> None:
    central = await make_central(
        [ChargerConfig(charge_box_id="CP1", heartbeat_interval=1)],
        session_factory=RecordingHandler,
        ping_interval=None,
        silence_margin=None,
    )
    client = await RawSocketClient.open(central)
    try:
        client.send_text(HEARTBEAT)
        assert (await asyncio.wait_for(client.read_text(), 5)).startswith('[3,"hb1"')
        assert handler(central).connection is not None
    finally:
        client.close()


async def test_talking_charger_that_never_pongs_survives_a_ping_round(
    make_central: CentralFactory,
) -> None:
    """No pong, but messages: alive (and the unanswered pings do not pile up)."""
    central = await make_central(
        session_factory=RecordingHandler, ping_interval=0.02, ping_timeout=0.05
    )
    client = await RawSocketClient.open(central)
    try:
        for number in range(10):  # bounded: ten exchanges while pings go unanswered
            client.send_text(f'[2,"hb{number}","Heartbeat",{{}}]')
            assert (await asyncio.wait_for(client.read_text(), 5)).startswith(f'[3,"hb{number}"')
            await asyncio.sleep(0.03)
        connection = handler(central).connection
        assert connection is not None
        assert len(connection.websocket.pending_pings) <= 1
    finally:
        client.close()


async def test_probe_of_a_closed_connection_is_silent(central: CentralSystem) -> None:
    async with connect_raw(central) as websocket:
        await wait_for(lambda: handler(central).connection is not None)
        connection = handler(central).connection
        assert connection is not None
        await websocket.close()
        await wait_for(lambda: handler(central).connection is None)
    assert await connection.probe(1.0) is Liveness.SILENT
