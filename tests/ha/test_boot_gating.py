"""Home Assistant's setup work waits for the charger's boot to be answered.

OCPP-J 1.6 section 5.4: a charger may ignore CALLs before its BootNotification is
answered, and an ignored CALL holds up every other one for the response timeout. The
local-list check (GetConfiguration) used to go out as the WebSocket opened.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
import orjson
import websockets

from .conftest import WAIT, ConfigEntryFactory, setup_entry, wait_until

BOOT = {"chargePointVendor": "Vendor", "chargePointModel": "Model"}


async def recv(ws: websockets.ClientConnection) -> list[Any]:
    message: list[Any] = orjson.loads(await ws.recv(decode=True))
    return message


async def test_first_call_only_after_the_boot_is_answered(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, free_port: int
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1"], id_tags=["TAG1"])
    runtime = await setup_entry(hass, entry)
    session = runtime.central.sessions["CP1"]
    session.resync_delay = 3600  # this charger boots
    async with websockets.connect(
        f"ws://127.0.0.1:{free_port}/ocpp/CP1",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        open_timeout=WAIT,
    ) as ws:
        await wait_until(lambda: session.state.connected)
        await hass.async_block_till_done()  # whatever the connection started has run
        await ws.send(orjson.dumps([2, "boot-1", "BootNotification", BOOT]).decode())
        first = await recv(ws)
        assert first[:2] == [3, "boot-1"], first
        # Then the setup: the session's configuration read, then the local-list check.
        second = await recv(ws)
        assert second[0] == 2
        assert second[2] == "GetConfiguration"
