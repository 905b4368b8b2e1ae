"""What the central system keeps in memory for each connected charger between its messages.

Measured through the real server over 127.0.0.1: a charger's last message is not held
while it is silent, the CALL ids remembered against duplicates (OCPP-J section 4.1.4:
ids are unique per direction) cost a bounded few tens of kilobytes, and readings share
their context and location strings (section 7.43) instead of keeping the parsed ones.
"""

from __future__ import annotations

import gc
import json
import tracemalloc

from websockets.asyncio.client import ClientConnection

from custom_components.ocpp_central.protocol.rpc import RpcCore
from custom_components.ocpp_central.protocol.server import CentralSystem

from .conftest import CentralFactory, connect_raw, recv_json, wait_for

BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}
# Allocations of the integration's own code (the parsed frames are made in rpc.py).
OURS = (tracemalloc.Filter(inclusive=True, filename_pattern="*/ocpp_central/*"),)


def meter_values(n: int) -> dict[str, object]:
    """A MeterValues.req (section 6.33) with 24 sampled values, as a three-phase charger's."""
    samples = [
        {
            "value": f"{230 + n + i / 10:.1f}",
            "context": "Sample.Periodic",
            "measurand": "Voltage",
            "phase": phase,
            "location": "Outlet",
            "unit": "V",
        }
        for i, phase in enumerate(["L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1"] * 4)
    ]
    return {
        "connectorId": 1,
        "meterValue": [{"timestamp": "2026-12-05T10:00:00Z", "sampledValue": samples}],
    }


async def call(ws: ClientConnection, message_id: str, action: str, payload: object) -> list[object]:
    """Send a CALL as text and return the answer (the central system's own CALLs refused)."""
    await ws.send(json.dumps([2, message_id, action, payload]))
    while True:
        reply: list[object] = await recv_json(ws)
        if reply[0] == 2:
            await ws.send(json.dumps([4, reply[1], "NotSupported", "", {}]))
            continue
        return reply


async def answer_synchronisation(ws: ClientConnection) -> None:
    """Refuse the central system's CALLs after a boot: GetConfiguration and the two
    ChangeConfiguration of the intervals (its readiness work), so nothing follows."""
    for _ in range(3):
        frame: list[object] = await recv_json(ws)
        assert frame[0] == 2
        await ws.send(json.dumps([4, frame[1], "NotSupported", "", {}]))


def payloads_alive() -> int:
    """MeterValues payloads parsed from the wire that are still alive."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is dict and "meterValue" in o)


async def test_last_message_is_not_held_while_the_charger_is_silent(
    make_central: CentralFactory,
) -> None:
    central: CentralSystem = await make_central()
    async with connect_raw(central) as ws:
        assert (await call(ws, "1", "BootNotification", BOOT))[0] == 3
        await answer_synchronisation(ws)
        reply = await call(ws, "2", "MeterValues", meter_values(0))
        assert reply == [3, "2", {}]
        # The readings are kept; the message they came in is let go once answered.
        connector = central.sessions["CP1"].state.connectors[1]
        assert connector.reading("Voltage.L3-L1") == 232.3
        await wait_for(lambda: payloads_alive() == 0)


async def test_readings_share_their_context_and_location(make_central: CentralFactory) -> None:
    central: CentralSystem = await make_central()
    async with connect_raw(central) as ws:
        assert (await call(ws, "1", "BootNotification", BOOT))[0] == 3
        await call(ws, "2", "MeterValues", meter_values(1))
    readings = central.sessions["CP1"].state.connectors[1].readings
    assert len(readings) == 6
    assert {r.context for r in readings.values()} == {"Sample.Periodic"}
    assert {r.location for r in readings.values()} == {"Outlet"}
    # One string object each, whatever the number of readings and messages.
    assert len({id(r.context) for r in readings.values()}) == 1
    assert len({id(r.location) for r in readings.values()}) == 1


# Ids a busy charger sends before and while measuring: the remembered ids are full first.
FILLED = 1100
MEASURED = 1100
# What remembering the last 1,024 ids may keep, the ids' own strings included (a set and a
# deque of them kept some 185 kB for every charger that had sent as many CALLs; a dict
# used as an ordered set keeps about 100 kB).
REMEMBERED_IDS_BYTES = 128_000


async def test_remembered_call_ids_stay_small(make_central: CentralFactory) -> None:
    central: CentralSystem = await make_central()
    async with connect_raw(central) as ws:
        assert (await call(ws, "boot", "BootNotification", BOOT))[0] == 3
        for n in range(FILLED // 2):
            await call(ws, f"w{n}", "Heartbeat", {})
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot().filter_traces(OURS)
            for n in range(FILLED // 2, FILLED + MEASURED):
                await call(ws, f"w{n}", "Heartbeat", {})
            gc.collect()
            after = tracemalloc.take_snapshot().filter_traces(OURS)
        finally:
            tracemalloc.stop()
        # Still a duplicate for the newest ids, and a new id is answered as ever.
        duplicate = await call(ws, f"w{FILLED + MEASURED - 1}", "Heartbeat", {})
        assert duplicate[:3] == [4, f"w{FILLED + MEASURED - 1}", "ProtocolError"]
        assert (await call(ws, "again", "Heartbeat", {}))[0] == 3
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown < REMEMBERED_IDS_BYTES, f"{grown} bytes"


def test_the_oldest_id_is_forgotten_first() -> None:
    """Past the bound the oldest ids go first; the newer ones are still duplicates."""
    core = RpcCore()
    for n in range(1025):
        assert type(core.receive(f'[2,"id{n}","Heartbeat",{{}}]')[0]).__name__ == "IncomingCall"
    # id0 was the oldest of 1,025: forgotten; id1 is still remembered.
    assert type(core.receive('[2,"id0","Heartbeat",{}]')[0]).__name__ == "IncomingCall"
    assert type(core.receive('[2,"id2","Heartbeat",{}]')[0]).__name__ == "ProtocolViolation"
