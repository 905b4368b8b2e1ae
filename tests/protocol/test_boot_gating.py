"""No CALL before the boot is answered; setup calls retried and reported once.

OCPP-J 1.6 section 5.4 and OCPP 1.6 section 4.2: a charger may ignore or refuse CALLs
that reach it before its BootNotification is answered, and one ignored CALL holds up
every later one for the response timeout. The session announces READY once the boot is
answered (or a charger reconnecting without boot is resynchronised); setup calls are
retried a few times and a lasting failure is a WARNING once per charger and problem.

The charger here is a bare WebSocket client over 127.0.0.1, so the test sees every
frame in the order it arrives.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection

from custom_components.ocpp_central.protocol.server import CentralSystem
from custom_components.ocpp_central.protocol.session import ChargerSession
from custom_components.ocpp_central.protocol.smart_charging import CurrentLimiter
from custom_components.ocpp_central.protocol.state import READY

from .conftest import CentralFactory, connect_raw, recv_json, wait_for

BOOT = {"chargePointVendor": "Vendor", "chargePointModel": "Model"}
CONFIGURATION = [
    {"key": "numberofconnectors", "readonly": True, "value": "2"},  # CiString50Type
    {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
    {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"},
]


async def start(
    make_central: CentralFactory, **kwargs: Any
) -> tuple[CentralSystem, ChargerSession]:
    central = await make_central(**kwargs)
    session = central.sessions["CP1"]
    assert isinstance(session, ChargerSession)
    session.setup_retry.delays = (0.01, 0.01)
    return central, session


async def send(ws: ClientConnection, message: list[Any]) -> None:
    await ws.send(orjson.dumps(message).decode())


async def answer_next(ws: ClientConnection, action: str, payload: dict[str, Any]) -> list[Any]:
    """Receive the next CALL, check it is `action`, answer it with `payload`."""
    message = await recv_json(ws)
    assert [message[0], message[2]] == [2, action], message
    await send(ws, [3, message[1], payload])
    return list(message)


async def test_nothing_reaches_the_charger_before_its_boot_is_answered(
    make_central: CentralFactory,
) -> None:
    _central, session = await start(make_central)
    session.resync_delay = 3600  # the charger will boot
    readiness: list[tuple[bool, bool]] = []
    session.state.subscribe(
        [READY], lambda: readiness.append((session.state.ready, session.state.connected))
    )
    async with connect_raw(_central) as ws:
        await wait_for(lambda: session.connected)
        assert not session.state.ready
        await send(ws, [2, "boot-1", "BootNotification", BOOT])
        # The first frame the charger gets is the answer to its boot, not a CALL of ours.
        reply = await recv_json(ws)
        assert reply[:2] == [3, "boot-1"]
        assert reply[2]["status"] == "Accepted"
        await wait_for(lambda: session.state.ready)
        # Then the setup: configuration (keys in any case), the intervals that differ.
        await answer_next(ws, "GetConfiguration", {"configurationKey": CONFIGURATION})
        change = await answer_next(ws, "ChangeConfiguration", {"status": "Accepted"})
        assert change[3] == {"key": "MeterValueSampleInterval", "value": "30"}
        await wait_for(lambda: session.state.connector_ids == [1, 2])
    await wait_for(lambda: not session.connected)
    assert not session.state.ready
    assert (True, True) in readiness


async def test_a_second_boot_makes_the_connection_ready_again(
    make_central: CentralFactory,
) -> None:
    central, session = await start(make_central)
    session.resync_delay = 3600
    readiness: list[bool] = []
    session.state.subscribe([READY], lambda: readiness.append(session.state.ready))
    async with connect_raw(central) as ws:
        await send(ws, [2, "boot-1", "BootNotification", BOOT])
        assert (await recv_json(ws))[:2] == [3, "boot-1"]
        await answer_next(ws, "GetConfiguration", {"configurationKey": CONFIGURATION})
        await answer_next(ws, "ChangeConfiguration", {"status": "Accepted"})
        # The charger rebooted without closing the connection: setup again.
        await send(ws, [2, "boot-2", "BootNotification", BOOT])
        assert (await recv_json(ws))[:2] == [3, "boot-2"]
        await answer_next(ws, "GetConfiguration", {"configurationKey": CONFIGURATION})
    assert readiness[-3:] == [True, False, True]


async def test_reconnect_without_boot_is_ready_after_the_resync(
    make_central: CentralFactory,
) -> None:
    central, session = await start(make_central)
    session.resync_delay = 0
    async with connect_raw(central) as ws:
        # Never booted while we ran: we ask for its boot first; it refuses.
        trigger = await answer_next(ws, "TriggerMessage", {"status": "Rejected"})
        assert trigger[3] == {"requestedMessage": "BootNotification"}
        assert not session.state.ready
        await answer_next(ws, "TriggerMessage", {"status": "Accepted"})
        assert not session.state.ready
        last = await answer_next(ws, "TriggerMessage", {"status": "Accepted"})
        assert last[3] == {"requestedMessage": "MeterValues"}
        await wait_for(lambda: session.state.ready)
        await answer_next(ws, "GetConfiguration", {"configurationKey": CONFIGURATION})


async def test_a_pending_charger_is_not_ready(make_central: CentralFactory) -> None:
    central, session = await start(make_central)
    session.resync_delay = 3600
    session.boot_policy = lambda _id, _info: "Pending"
    async with connect_raw(central) as ws:
        await send(ws, [2, "boot-1", "BootNotification", BOOT])
        assert (await recv_json(ws))[2]["status"] == "Pending"
        await send(ws, [2, "beat-1", "Heartbeat", {}])
        # Section 4.2: a Pending charger gets no setup; its Heartbeat is refused.
        assert (await recv_json(ws))[:3] == [4, "beat-1", "SecurityError"]
    assert not session.state.ready


async def test_setup_call_retried_after_a_timeout(
    make_central: CentralFactory, caplog: pytest.LogCaptureFixture
) -> None:
    central, session = await start(make_central, response_timeout=0.2)
    session.resync_delay = 3600
    async with connect_raw(central) as ws:
        await send(ws, [2, "boot-1", "BootNotification", BOOT])
        assert (await recv_json(ws))[:2] == [3, "boot-1"]
        ignored = await recv_json(ws)  # busy after booting: no answer
        assert ignored[2] == "GetConfiguration"
        retried = await answer_next(ws, "GetConfiguration", {"configurationKey": CONFIGURATION})
        assert retried[1] != ignored[1]
        await answer_next(ws, "ChangeConfiguration", {"status": "Accepted"})
        await wait_for(lambda: session.state.connector_ids == [1, 2])
    # It worked in the end: nothing for the user to act on.
    assert not [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("custom_components.")
    ]


async def test_lasting_failure_is_a_warning_once_per_charger_and_problem(
    make_central: CentralFactory, caplog: pytest.LogCaptureFixture
) -> None:
    central, session = await start(make_central, response_timeout=0.2)
    session.resync_delay = 3600
    for boot_id in ("boot-1", "boot-2"):
        async with connect_raw(central) as ws:
            await send(ws, [2, boot_id, "BootNotification", BOOT])
            assert (await recv_json(ws))[:2] == [3, boot_id]
            tries = [await recv_json(ws) for _ in range(3)]  # never answered
            assert [message[2] for message in tries] == ["GetConfiguration"] * 3
            # Given up on it: the intervals still go out.
            await answer_next(ws, "ChangeConfiguration", {"status": "Accepted"})
            await answer_next(ws, "ChangeConfiguration", {"status": "Accepted"})
        await wait_for(lambda: not session.connected)
    # The integration's own lines (asyncio's slow-callback notes on a busy machine aside).
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("custom_components.")
    ]
    assert warnings == ["Charger CP1: GetConfiguration failed: CP1: no answer to GetConfiguration"]


async def test_not_supported_is_not_retried(make_central: CentralFactory) -> None:
    central, session = await start(make_central)
    session.resync_delay = 3600
    async with connect_raw(central) as ws:
        await send(ws, [2, "boot-1", "BootNotification", BOOT])
        assert (await recv_json(ws))[:2] == [3, "boot-1"]
        message = await recv_json(ws)
        assert message[2] == "GetConfiguration"
        await send(ws, [4, message[1], "NotSupported", "", {}])
        # Straight on to the intervals: asking again cannot change the answer.
        assert (await recv_json(ws))[2] == "ChangeConfiguration"


ANSWERS: dict[str, dict[str, Any]] = {
    "GetConfiguration": {
        "configurationKey": [
            *CONFIGURATION,
            {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core,SmartCharging"},
        ]
    },
    "ChangeConfiguration": {"status": "Accepted"},
    "SetChargingProfile": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Unknown"},
    "GetCompositeSchedule": {"status": "Rejected"},
}


async def test_a_limit_asked_for_before_the_boot_waits_for_it(
    make_central: CentralFactory,
) -> None:
    central, session = await start(make_central)
    session.resync_delay = 3600
    limiter = CurrentLimiter(session, min_interval=0)
    try:
        async with connect_raw(central) as ws:
            await wait_for(lambda: session.connected)
            pending = asyncio.get_running_loop().create_task(limiter.set_limit(1, 10))
            await send(ws, [2, "boot-1", "BootNotification", BOOT])
            assert (await recv_json(ws))[:2] == [3, "boot-1"]  # nothing of ours before it
            actions: list[str] = []
            while not pending.done():
                message = await recv_json(ws)
                actions.append(message[2])
                await send(ws, [3, message[1], ANSWERS[message[2]]])
            assert await pending == 10
            assert "SetChargingProfile" in actions
    finally:
        limiter.close()
