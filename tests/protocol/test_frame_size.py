"""Messages up to 1 MiB are handled; larger ones close the connection with 1009 (RFC 6455
section 7.4.1), logged once per charger.

A DataTransfer (OCPP 1.6 section 4.3) may carry a large vendor payload and a
GetConfiguration answer (section 6.24) lists up to every key with values of up to 500
characters: both legitimately exceed 64 KiB.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
import pytest
from websockets.exceptions import ConnectionClosed

from custom_components.ocpp_central.protocol.server import MAX_FRAME_SIZE, CentralSystem

from .conftest import (
    CentralFactory,
    RecordingHandler,
    connect_raw,
    ocpp_client,
    recv_json,
    wait_for,
)

SERVER_LOGGER = "custom_components.ocpp_central.protocol.server"
# 400 keys of 450 characters each: about 200 KB in one GetConfiguration answer.
KEYS = {f"VendorKey{number:03d}": "v" * 450 for number in range(400)}


def data_transfer(size: int) -> str:
    """A DataTransfer CALL frame of exactly `size` bytes."""
    head, tail = '[2,"big","DataTransfer",{"vendorId":"V","data":"', '"}]'
    return head + "x" * (size - len(head) - len(tail)) + tail


class LongConfigurationChargePoint(ChargePoint):  # type: ignore[misc]
    @on(Action.get_configuration)  # type: ignore[untyped-decorator]
    def on_get_configuration(self, **kwargs: Any) -> Any:
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": key, "readonly": False, "value": value} for key, value in KEYS.items()
            ]
        )


async def test_large_data_transfer_is_handled(make_central: CentralFactory) -> None:
    central = await make_central(session_factory=RecordingHandler)
    async with connect_raw(central) as websocket:
        await websocket.send(data_transfer(MAX_FRAME_SIZE))
        assert await recv_json(websocket) == [3, "big", {"status": "Accepted"}]
    session = central.sessions["CP1"]
    assert isinstance(session, RecordingHandler)
    assert len(session.calls[0][1]["data"]) > MAX_FRAME_SIZE - 100


async def test_long_get_configuration_answer_is_handled(make_central: CentralFactory) -> None:
    central = await make_central()  # real sessions
    async with ocpp_client(central, handlers=LongConfigurationChargePoint):
        session = central.sessions["CP1"]
        await wait_for(lambda: session.connected)
        result = await session.get_configuration()
    assert {key: value.value for key, value in result.values.items()} == KEYS


async def test_oversized_message_closes_with_1009_logged_once(
    make_central: CentralFactory, caplog: pytest.LogCaptureFixture
) -> None:
    central: CentralSystem = await make_central(session_factory=RecordingHandler)
    for _attempt in range(2):
        async with connect_raw(central) as websocket:
            await websocket.send(data_transfer(MAX_FRAME_SIZE + 1))
            with pytest.raises(ConnectionClosed):
                await recv_json(websocket)
            assert websocket.close_code == 1009
    await wait_for(lambda: central.sessions["CP1"].connection is None)  # type: ignore[attr-defined]
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == SERVER_LOGGER and "larger than" in r.getMessage()
    ]
    assert warnings == [
        f"Charger CP1 sent a message larger than {MAX_FRAME_SIZE} bytes; its connection "
        "was closed (1009, message too big). Logged once per charger"
    ]
