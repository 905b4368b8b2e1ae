"""A new connection for a chargeBoxId: handed over without a disconnect, or refused.

OCPP-J section 3.1.1: the identity in the URL names the charger; security whitepaper
section 2 (profiles 1 and 2): a charger with a password proves it with HTTP Basic auth.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.errors import NotConnectedError
from custom_components.ocpp_central.protocol.server import CentralSystem

from .conftest import (
    CentralFactory,
    RawSocketClient,
    RecordingHandler,
    basic_auth,
    connect_raw,
    recv_json,
    wait_for,
)

HEARTBEAT = '[2,"hb1","Heartbeat",{}]'
PASSWORD = "s3cret-s3cret-s3cret"


def handler(central: CentralSystem, charge_box_id: str = "CP1") -> RecordingHandler:
    session = central.sessions[charge_box_id]
    assert isinstance(session, RecordingHandler)
    return session


async def test_replacement_hands_the_session_over_without_a_disconnect(
    make_central: CentralFactory,
) -> None:
    central = await make_central(
        [ChargerConfig(charge_box_id="CP1", password=PASSWORD)], session_factory=RecordingHandler
    )
    auth = basic_auth("CP1", PASSWORD)
    session = handler(central)
    async with connect_raw(central, additional_headers=auth) as first:
        await first.send(HEARTBEAT)
        await recv_json(first)
        old = session.connection
        assert old is not None
        # A CALL of ours the charger has not answered, and work scheduled on the connection.
        pending = asyncio.ensure_future(old.call("Reset", {"type": "Soft"}))
        work_cancelled = asyncio.Event()

        async def work() -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                work_cancelled.set()
                raise

        old.after_reply(work)
        await recv_json(first)  # our Reset reached the charger
        async with connect_raw(central, additional_headers=auth) as second:
            await wait_for(lambda: session.connection not in (None, old))
            assert session.events == ["made", "made"]  # no "lost" in between
            with pytest.raises(NotConnectedError):
                await asyncio.wait_for(pending, 5)
            await asyncio.wait_for(work_cancelled.wait(), 5)
            with pytest.raises(ConnectionClosed):
                await recv_json(first)
            await second.send('[2,"hb2","Heartbeat",{}]')
            assert (await recv_json(second))[1] == "hb2"
            assert session.events == ["made", "made"]  # the old one closing is no news
    await wait_for(lambda: session.events == ["made", "made", "lost"])


async def test_close_of_the_new_connection_is_a_disconnect(make_central: CentralFactory) -> None:
    central = await make_central(
        [ChargerConfig(charge_box_id="CP1", password=PASSWORD)], session_factory=RecordingHandler
    )
    auth = basic_auth("CP1", PASSWORD)
    session = handler(central)
    with contextlib.suppress(ConnectionClosed):
        async with connect_raw(central, additional_headers=auth) as first:
            await wait_for(lambda: session.connection is not None)
            async with connect_raw(central, additional_headers=auth):
                await wait_for(lambda: session.events == ["made", "made"])
            await wait_for(lambda: session.events == ["made", "made", "lost"])
            await first.recv()  # closed as well
    assert session.connection is None


async def test_live_charger_without_password_is_not_pushed_off(
    make_central: CentralFactory, caplog: pytest.LogCaptureFixture
) -> None:
    central = await make_central(session_factory=RecordingHandler, takeover_timeout=0.5)
    session = handler(central)
    async with connect_raw(central) as live:  # the client library answers pings
        await wait_for(lambda: session.connection is not None)
        for _attempt in range(2):
            with pytest.raises(InvalidStatus) as refused:
                async with connect_raw(central):
                    pass
            assert refused.value.response.status_code == 409
        await live.send(HEARTBEAT)
        assert (await recv_json(live))[1] == "hb1"
        assert session.events == ["made"]
    refusals = [r for r in caplog.records if "Refused a second connection" in r.getMessage()]
    assert len(refusals) == 1  # logged once
    assert "CP1" in refusals[0].getMessage()
    assert "127.0.0.1" in refusals[0].getMessage()


async def test_talking_charger_that_never_pongs_is_not_pushed_off(
    make_central: CentralFactory,
) -> None:
    central = await make_central(session_factory=RecordingHandler, takeover_timeout=0.5)
    client = await RawSocketClient.open(central)  # never answers pings
    session = handler(central)

    async def talk() -> None:
        for number in range(1000):  # bounded; cancelled once the newcomer is refused
            client.send_text(f'[2,"t{number}","Heartbeat",{{}}]')
            await asyncio.sleep(0.02)

    talker = asyncio.ensure_future(talk())
    try:
        with pytest.raises(InvalidStatus) as refused:
            async with connect_raw(central):
                pass
        assert refused.value.response.status_code == 409
        assert session.events == ["made"]
    finally:
        talker.cancel()
        client.close()


async def test_silent_connection_is_replaced(make_central: CentralFactory) -> None:
    """A half-open connection (a raw client that never answers pings nor talks) yields."""
    central = await make_central(session_factory=RecordingHandler, takeover_timeout=0.2)
    silent = await RawSocketClient.open(central)
    session = handler(central)
    try:
        await wait_for(lambda: session.connection is not None)
        async with connect_raw(central) as newcomer:
            await newcomer.send(HEARTBEAT)
            assert (await recv_json(newcomer))[1] == "hb1"
            assert session.events == ["made", "made"]
    finally:
        silent.close()


async def test_frozen_connection_is_replaced(make_central: CentralFactory) -> None:
    central = await make_central(session_factory=RecordingHandler, takeover_timeout=0.2)
    session = handler(central)
    async with connect_raw(central) as frozen:
        await wait_for(lambda: session.connection is not None)
        frozen.transport.pause_reading()
        async with connect_raw(central) as newcomer:
            await newcomer.send(HEARTBEAT)
            assert (await recv_json(newcomer))[1] == "hb1"
            assert session.events == ["made", "made"]
        frozen.transport.resume_reading()


async def test_charger_with_password_is_replaced_only_after_authentication(
    make_central: CentralFactory,
) -> None:
    """Security whitepaper section 2: the password proves the newcomer is the charger."""
    central = await make_central(
        [ChargerConfig(charge_box_id="CP1", password=PASSWORD)],
        session_factory=RecordingHandler,
        takeover_timeout=0.2,
    )
    session = handler(central)
    async with connect_raw(central, additional_headers=basic_auth("CP1", PASSWORD)) as live:
        await wait_for(lambda: session.connection is not None)
        for headers in ({}, basic_auth("CP1", "wrong")):
            with pytest.raises(InvalidStatus) as refused:
                async with connect_raw(central, additional_headers=headers):
                    pass
            assert refused.value.response.status_code == 401
        await live.send(HEARTBEAT)
        assert (await recv_json(live))[1] == "hb1"
        assert session.events == ["made"]
        # Authenticated: takes over although the current connection answers pings.
        async with connect_raw(central, additional_headers=basic_auth("CP1", PASSWORD)) as new:
            await new.send(HEARTBEAT)
            assert (await recv_json(new))[1] == "hb1"
            assert session.events == ["made", "made"]
            with pytest.raises(ConnectionClosed):
                await recv_json(live)
