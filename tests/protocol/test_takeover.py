"""A new connection for a chargeBoxId: handed over without a disconnect, or refused.

OCPP-J section 3.1.1: the identity in the URL names the charger; security whitepaper
section 2 (profiles 1 and 2): a charger with a password proves it with HTTP Basic auth.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from websockets.exceptions import ConnectionClosed

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.errors import NotConnectedError
from custom_components.ocpp_central.protocol.server import CentralSystem

from .conftest import (
    CentralFactory,
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
