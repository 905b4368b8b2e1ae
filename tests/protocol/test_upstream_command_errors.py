"""What the upstream hears when its command cannot be carried out (OCPP-J 1.6 section 4.2.3).

The charger's own CallError goes back as it came; a charger that is not connected gives
GenericError naming that. The charger is the project's simulator (built on the `ocpp`
package), the upstream the `ocpp` package's ChargePoint, over 127.0.0.1.
"""

from __future__ import annotations

from ocpp.exceptions import GenericError, NotImplementedError as OcppNotImplemented
from ocpp.v16 import call
import pytest

from custom_components.ocpp_central.protocol.server import CentralSystem

from .upstream_backend import (  # noqa: F401 - fixtures
    CHARGER,
    Backend,
    backend_fixture,
    charger,
    eventually,
    forwarded,
    hub_fixture,
)


async def test_the_chargers_call_error_goes_back_upstream(
    hub: CentralSystem, backend: Backend
) -> None:
    """The simulator implements no ExtendedTriggerMessage (security whitepaper 4.5.1)."""
    async with forwarded(hub, backend) as link, charger(hub) as sim:
        await eventually(lambda: link.online)
        upstream = backend.charge_points[CHARGER]
        with pytest.raises(OcppNotImplemented):
            await upstream.call(
                call.ExtendedTriggerMessage(requested_message="Heartbeat"), suppress=False
            )
        assert sim.connected


async def test_a_command_for_a_charger_gone_is_a_generic_error(
    hub: CentralSystem, backend: Backend
) -> None:
    async with forwarded(hub, backend) as link:
        async with charger(hub):
            await eventually(lambda: link.online)
        session = hub.sessions[CHARGER]
        await eventually(lambda: not session.state.connected)
        upstream = backend.charge_points[CHARGER]
        with pytest.raises(GenericError, match="not connected"):
            await upstream.call(call.Reset(type="Soft"), suppress=False)
