"""An upstream command waits for a charger that is still connecting (OCPP-J 1.6 section 5.4).

A charger refuses CALLs before its BootNotification is answered (OCPP 1.6 section 4.2): the
central system's own commands wait for readiness, and so do the upstream's in mode FULL.
One that does not become ready in time is answered with GenericError (OCPP-J 4.2.3).
The charger is the project's simulator, the upstream the `ocpp` package over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from typing import Any

from ocpp.exceptions import GenericError
from ocpp.v16 import call
import pytest

from custom_components.ocpp_central.protocol import upstream_commands
from custom_components.ocpp_central.protocol.server import CentralSystem
from custom_components.ocpp_central.protocol.session import ChargerSession
from simulator.charger import SimulatedCharger

from .conftest import HOST
from .upstream_backend import (  # noqa: F401 - fixtures
    CHARGER,
    Backend,
    backend_fixture,
    eventually,
    forwarded,
    hub_fixture,
)


def _pending_until(session: ChargerSession, accepted: list[bool]) -> None:
    """Answer the charger's boots Pending until `accepted[0]` turns True."""

    def policy(_charge_box_id: str, _info: Any) -> str:
        return "Accepted" if accepted[0] else "Pending"

    session.boot_policy = policy


@contextlib.asynccontextmanager
async def booting(hub: CentralSystem, retry: float) -> AsyncIterator[SimulatedCharger]:
    """The simulated charger connecting in the background, booting until Accepted."""
    sim = SimulatedCharger(f"ws://{HOST}:{hub.port}", CHARGER, boot_retry_interval=retry)
    connecting = asyncio.create_task(sim.connect())
    try:
        yield sim
    finally:
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await connecting
        await sim.close()


async def test_upstream_command_waits_until_the_charger_is_ready(
    hub: CentralSystem, backend: Backend
) -> None:
    session = hub.sessions[CHARGER]
    assert isinstance(session, ChargerSession)
    accepted = [False]
    _pending_until(session, accepted)
    async with (
        forwarded(hub, backend) as link,
        booting(hub, retry=0.5) as sim,
    ):
        await eventually(lambda: link.online)
        assert session.state.connected
        assert not session.state.ready
        upstream = backend.charge_points[CHARGER]
        command = asyncio.create_task(
            upstream.call(call.ChangeConfiguration(key="HeartbeatInterval", value="120"))
        )
        await asyncio.sleep(0.3)
        assert not command.done()
        assert "ChangeConfiguration" not in [action for action, _ in sim.calls_received]

        accepted[0] = True
        reply = await asyncio.wait_for(command, 10)
        assert reply.status == "Accepted"
        assert session.state.ready
        assert ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}) in (
            sim.calls_received
        )


async def test_upstream_command_to_a_charger_never_ready_is_a_generic_error(
    hub: CentralSystem, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream_commands, "READY_WAIT", 0.2)
    session = hub.sessions[CHARGER]
    assert isinstance(session, ChargerSession)
    _pending_until(session, [False])
    async with forwarded(hub, backend) as link, booting(hub, retry=30) as sim:
        await eventually(lambda: link.online)
        upstream = backend.charge_points[CHARGER]
        with pytest.raises(GenericError):
            await upstream.call(call.Reset(type="Soft"), suppress=False)
        assert "Reset" not in [action for action, _ in sim.calls_received]
