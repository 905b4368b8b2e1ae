"""The per-version seam: subprotocol, schema set and session come from one `OcppVersion`.

Through a real central system on 127.0.0.1. The transport knows no version of its own:
a server given another version record negotiates that version's subprotocol, closes a
charger offering only others with that name (OCPP-J 1.6 section 3.2), validates with the
version's schemas and builds the version's sessions.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from custom_components.ocpp_central.protocol.schemas import V16
from custom_components.ocpp_central.protocol.server import SUBPROTOCOL
from custom_components.ocpp_central.protocol.session import ChargerSession
from custom_components.ocpp_central.protocol.versions import (
    OCPP16,
    VERSIONS,
    OcppVersion,
    SessionFactory,
)

from .conftest import CentralFactory, RecordingHandler, connect_raw, recv_json

HEARTBEAT = '[2,"hb-1","Heartbeat",{}]'
# A version record of our own: the 1.6 schemas under another subprotocol name.
OTHER = OcppVersion(Subprotocol("ocpp1.6-other"), V16, cast(SessionFactory, RecordingHandler))


def test_ocpp_1_6_is_the_default_version() -> None:
    assert OCPP16.subprotocol == SUBPROTOCOL == "ocpp1.6"
    assert OCPP16.session_factory is ChargerSession
    assert VERSIONS == {"ocpp1.6": OCPP16}


async def test_the_default_server_builds_1_6_sessions(make_central: CentralFactory) -> None:
    central = await make_central()
    assert central.version is OCPP16
    assert isinstance(central.sessions["CP1"], ChargerSession)


async def test_a_server_speaks_the_version_it_is_given(make_central: CentralFactory) -> None:
    central = await make_central(version=OTHER)
    session: Any = central.sessions["CP1"]
    assert isinstance(session, RecordingHandler)
    async with connect_raw(central, subprotocols=["ocpp1.6", "ocpp1.6-other"]) as websocket:
        assert websocket.subprotocol == "ocpp1.6-other"
        await websocket.send(HEARTBEAT)
        assert (await recv_json(websocket))[0] == 3
    assert session.calls == [("Heartbeat", {})]


async def test_a_charger_without_the_version_is_closed_naming_it(
    make_central: CentralFactory,
) -> None:
    central = await make_central(version=OTHER)
    async with connect_raw(central, subprotocols=["ocpp1.6"]) as websocket:
        assert websocket.subprotocol is None
        with pytest.raises(ConnectionClosed):
            await websocket.recv()
        assert websocket.close_code == 1002
        assert websocket.close_reason == "ocpp1.6-other required"
