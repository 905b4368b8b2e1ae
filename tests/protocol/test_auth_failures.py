"""Failed HTTP Basic authentication (security whitepaper section 2): logged rate-limited,
slowed down per address, and no credential in any log line."""

from __future__ import annotations

import asyncio
import base64
import logging

import pytest
from websockets.exceptions import InvalidStatus

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.server import AuthFailures, CentralSystem

from .conftest import CentralFactory, RecordingHandler, basic_auth, connect_raw, recv_json, wait_for

PASSWORD = "correct-horse-battery"
WRONG = "wrong-horse-battery-staple"
SERVER_LOGGER = "custom_components.ocpp_central.protocol.server"


async def start(make_central: CentralFactory, failures: AuthFailures) -> CentralSystem:
    return await make_central(
        [ChargerConfig(charge_box_id="CP1", password=PASSWORD)],
        session_factory=RecordingHandler,
        auth_failures=failures,
    )


async def fail(central: CentralSystem, **kwargs: object) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect_raw(central, additional_headers=basic_auth("CP1", WRONG), **kwargs):
            pass
    assert refused.value.response.status_code == 401


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == SERVER_LOGGER]


async def test_failures_logged_once_per_interval_with_a_count(
    make_central: CentralFactory, caplog: pytest.LogCaptureFixture
) -> None:
    central = await start(make_central, AuthFailures(log_interval=1.0, base_delay=0.0))
    for _attempt in range(5):
        await fail(central)
    first = [m for m in messages(caplog) if "failed HTTP Basic authentication from" in m]
    assert len(first) == 1
    assert "CP1" in first[0]
    assert "127.0.0.1" in first[0]

    def counted() -> int:
        return sum(
            int(m.split(": ", 1)[1].split(" ", 1)[0])
            for m in messages(caplog)
            if "failed HTTP Basic authentication attempts in the last 1 s" in m
        )

    await wait_for(lambda: counted() == 4)  # the other four, summed up per interval


async def test_repeated_failures_from_one_address_are_slowed_down(
    make_central: CentralFactory,
) -> None:
    failures = AuthFailures(base_delay=0.2, max_delay=0.8)
    central = await start(make_central, failures)
    await fail(central)  # waits 0.2 s
    await fail(central)  # waits 0.4 s
    assert failures.failures("127.0.0.1") == 2
    # The third waits 0.8 s before its 401: not answered within half of that.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.4):
            await fail(central)
    assert failures.failures("127.0.0.1") == 3
    # Another address is not held up by this one's failures.
    await fail(central, local_addr=("127.0.0.2", 0))
    assert failures.failures("127.0.0.2") == 1
    # The right password is admitted from the slowed-down address.
    async with connect_raw(central, additional_headers=basic_auth("CP1", PASSWORD)) as ws:
        await ws.send('[2,"hb1","Heartbeat",{}]')
        assert (await recv_json(ws))[1] == "hb1"


async def test_address_bookkeeping_is_bounded(make_central: CentralFactory) -> None:
    failures = AuthFailures(base_delay=0.0, max_addresses=2)
    central = await start(make_central, failures)
    for address in ("127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.4"):
        await fail(central, local_addr=(address, 0))
    # 127.0.0.3 failed least recently and was forgotten first.
    assert [failures.failures(a) for a in ("127.0.0.2", "127.0.0.3", "127.0.0.4")] == [2, 0, 1]


async def test_no_credentials_in_any_log_line(
    make_central: CentralFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # websockets' debug output lists request headers
    central = await start(make_central, AuthFailures(log_interval=0.2, base_delay=0.0))
    for _attempt in range(3):
        await fail(central)
    async with connect_raw(central, additional_headers=basic_auth("CP1", PASSWORD)) as ws:
        await ws.send('[2,"hb1","Heartbeat",{}]')
        await recv_json(ws)
    await wait_for(lambda: any("in the last 0.2 s" in m for m in messages(caplog)))
    # Every line but the test client's own (the charger's side is not ours to redact).
    text = "\n".join(
        f"{r.name} {r.getMessage()}" for r in caplog.records if r.name != "websockets.client"
    )
    assert "websockets.server < GET /ocpp/CP1" in text  # the handshake, at debug level
    assert "< Authorization: ***" in text  # redacted by protocol.logs
    for secret in (PASSWORD, WRONG):
        assert secret not in text
        assert base64.b64encode(f"CP1:{secret}".encode()).decode() not in text


async def test_quiet_interval_ends_the_count_and_old_failures_are_forgotten(
    make_central: CentralFactory, caplog: pytest.LogCaptureFixture
) -> None:
    failures = AuthFailures(log_interval=0.1, base_delay=0.0, forget_after=0.2)
    central = await start(make_central, failures)
    await fail(central)
    await asyncio.sleep(0.4)  # a whole interval without failure, and past forget_after
    await fail(central)
    first = [m for m in messages(caplog) if "failed HTTP Basic authentication from" in m]
    assert len(first) == 2  # the second failure starts a new count, logged at once
    assert not [m for m in messages(caplog) if "attempts in the last" in m]
    assert failures.failures("127.0.0.1") == 1  # the first one was forgotten
