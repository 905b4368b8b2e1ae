"""Keep your backend: the less happy paths, over 127.0.0.1 like the main tests.

OCPP 1.6 section 4.2 (a Pending boot, nothing else before Accepted), 4.6 (heartbeats),
5.3 (ChangeConfiguration), 5.16 (TxProfiles name a transaction); OCPP-J 1.6 sections 3.2
(the subprotocol), 4.2.3 (CallError codes); and the connection's deferred answers.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from ocpp.exceptions import (
    GenericError,
    NotImplementedError as OcppNotImplemented,
    NotSupportedError,
)
from ocpp.v16 import call
import pytest
from websockets.asyncio.server import serve

from custom_components.ocpp_central.protocol.errors import CallError, CallErrorCode
from custom_components.ocpp_central.protocol.server import CentralSystem
from custom_components.ocpp_central.protocol.smart_charging import CAPABILITY_KEYS, profile_id
from custom_components.ocpp_central.protocol.upstream import UpstreamMode, UpstreamStatus

from .conftest import connect_raw, recv_json
from .upstream_backend import (  # noqa: F401 - fixtures
    CHARGER,
    HOST,
    Backend,
    backend_fixture,
    charger,
    eventually,
    forwarded,
    hub_fixture,
    installed_on,
)

TX_PROFILE = {
    "chargingProfileId": 42,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8}],
    },
}


async def test_pending_boot_holds_messages_until_accepted_then_heartbeats(
    hub: CentralSystem, backend: Backend
) -> None:
    """Section 4.2: only BootNotification until Accepted; section 4.6: Heartbeat when idle."""
    backend.boot_status = "Pending"
    backend.heartbeat_interval = 1
    async with forwarded(hub, backend) as link, charger(hub):
        await backend.wait(lambda: len(backend.calls("BootNotification")) >= 2)
        assert link.status is UpstreamStatus.PENDING
        assert set(backend.actions()) == {"BootNotification"}
        assert len(link.queue) >= 2  # the statuses wait
        backend.boot_status = "Accepted"
        await eventually(lambda: link.online and not len(link.queue))
        assert "StatusNotification" in backend.actions()
        await backend.wait(lambda: "Heartbeat" in backend.actions())


async def test_a_charger_reboot_is_forwarded_in_order(hub: CentralSystem, backend: Backend) -> None:
    async with forwarded(hub, backend) as link, charger(hub) as sim:
        await eventually(lambda: link.online)
        await backend.wait(lambda: len(backend.calls("StatusNotification")) >= 2)
        await sim.reboot()
        await backend.wait(lambda: len(backend.calls("BootNotification")) == 2)
        assert link.online
        await backend.wait(lambda: len(backend.calls("StatusNotification")) >= 4)


async def test_upstream_without_ocpp16_is_refused(hub: CentralSystem) -> None:
    """OCPP-J 3.2: a server that does not agree to ocpp1.6 is not talked to."""

    async def silent(websocket: Any) -> None:
        await websocket.wait_closed()

    async with serve(silent, HOST, 0) as server:
        port = server.sockets[0].getsockname()[1]
        other = Backend(port=port)
        async with forwarded(hub, other) as link:
            await eventually(lambda: link.status is UpstreamStatus.REFUSED)
            assert link.refused_code is None


async def test_unreachable_upstream_is_reported_after_a_while(hub: CentralSystem) -> None:
    gone = Backend()
    await gone.start()
    await gone.stop()  # its port is free now: nothing listens
    async with forwarded(hub, gone, unreachable_after=0.0) as link:
        await eventually(lambda: link.status is UpstreamStatus.UNREACHABLE)
        await eventually(lambda: link.long_unreachable)


async def test_upstream_http_error_other_than_refusal_is_unreachable(hub: CentralSystem) -> None:
    async def fail(connection: Any, request: Any) -> Any:
        return connection.respond(503, "busy\n")

    async with serve(lambda ws: ws.wait_closed(), HOST, 0, process_request=fail) as server:
        other = Backend(port=server.sockets[0].getsockname()[1])
        async with forwarded(hub, other) as link:
            await eventually(lambda: link.status is UpstreamStatus.UNREACHABLE)
            assert link.refused_code is None


async def test_commands_while_the_charger_is_away_get_generic_error(
    hub: CentralSystem, backend: Backend
) -> None:
    """OCPP-J 4.2.3: the upstream hears that the charger cannot be reached."""
    async with forwarded(hub, backend) as link:
        session = hub.sessions[CHARGER]
        session.handle_call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        await eventually(lambda: link.online)
        upstream = backend.charge_points[CHARGER]
        with pytest.raises(GenericError):
            await upstream.call(call.Reset(type="Soft"), suppress=False)


async def test_charger_errors_and_misdirected_calls_go_back_as_call_errors(
    hub: CentralSystem, backend: Backend
) -> None:
    async with forwarded(hub, backend) as link, charger(hub):
        await eventually(lambda: link.online)
        upstream = backend.charge_points[CHARGER]
        # The simulator has no handler for it: its NotImplemented comes back as it was.
        with pytest.raises(OcppNotImplemented):
            await upstream.call(
                call.CertificateSigned(certificate_chain="-----BEGIN CERTIFICATE-----"),
                suppress=False,
            )
        # A charger's action sent to the charger's side: NotSupported.
        with pytest.raises(NotSupportedError):
            await upstream.call(call.Heartbeat(), suppress=False)


async def test_change_configuration_from_upstream_updates_our_cache(
    hub: CentralSystem, backend: Backend
) -> None:
    """Section 5.3: what the upstream changed is what the integration shows."""
    async with forwarded(hub, backend) as link, charger(hub):
        await eventually(lambda: link.online)
        session = hub.sessions[CHARGER]
        upstream = backend.charge_points[CHARGER]
        reply = await upstream.call(call.ChangeConfiguration(key="ConnectionTimeOut", value="45"))
        assert reply.status == "Accepted"
        assert session.state.configuration["ConnectionTimeOut"].value == "45"


async def test_tx_profiles_are_mapped_and_guarded(hub: CentralSystem, backend: Backend) -> None:
    """Section 5.16: a TxProfile names the upstream's transaction; it reaches ours."""
    async with forwarded(hub, backend) as link, charger(hub) as sim:
        await eventually(lambda: link.online)
        session = hub.sessions[CHARGER]
        await eventually(lambda: all(key in session.state.configuration for key in CAPABILITY_KEYS))
        upstream = backend.charge_points[CHARGER]
        # A remote start carrying a profile with one of our ids is refused.
        refused = await upstream.call(
            call.RemoteStartTransaction(
                id_tag="APP",
                connector_id=1,
                charging_profile={**TX_PROFILE, "chargingProfileId": profile_id("TxProfile", 1)},
            )
        )
        assert refused.status == "Rejected"
        local_id = await sim.start_transaction(1, "DRIVER")
        await eventually(lambda: link.transactions.upstream(local_id) == 5000)
        unknown = await upstream.call(
            call.SetChargingProfile(
                connector_id=1, cs_charging_profiles={**TX_PROFILE, "transactionId": 1}
            )
        )
        assert unknown.status == "Rejected"
        reply = await upstream.call(
            call.SetChargingProfile(
                connector_id=1, cs_charging_profiles={**TX_PROFILE, "transactionId": 5000}
            )
        )
        assert reply.status == "Accepted"
        (installed,) = installed_on(sim, 1)
        assert installed.transaction_id == local_id
        cleared = await upstream.call(call.ClearChargingProfile(id=42))
        assert cleared.status == "Accepted"
        assert not installed_on(sim, 1)
        assert not link.profiles


async def test_full_queue_offline_keeps_the_transaction_messages(
    hub: CentralSystem, backend: Backend
) -> None:
    await backend.stop()
    async with forwarded(hub, backend, queue_limit=4) as link, charger(hub) as sim:
        await sim.start_transaction(1, "DRIVER")
        for _ in range(6):
            await sim.send_meter_values(1)
        await eventually(lambda: link.queue.dropped > 0)
        actions = [m.action for m in link.queue]
        assert len(actions) == 4
        assert "StartTransaction" in actions


async def test_observe_mode_refuses_every_command(hub: CentralSystem, backend: Backend) -> None:
    async with forwarded(hub, backend, mode=UpstreamMode.OBSERVE) as link:
        hub.sessions[CHARGER].handle_call(
            "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}
        )
        await eventually(lambda: link.online)
        upstream = backend.charge_points[CHARGER]
        with pytest.raises(Exception) as caught:
            await upstream.call(call.GetConfiguration(), suppress=False)
        assert type(caught.value).__name__ == "SecurityError"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (lambda: {"currentTime": "2026-12-01T10:00:00Z"}, [3]),
        (lambda: _raise(CallError(CallErrorCode.NOT_SUPPORTED, "no")), [4, "NotSupported"]),
        (lambda: _raise(RuntimeError("bug")), [4, "InternalError"]),
        (lambda: {"currentTime": 5}, [4, "InternalError"]),  # our answer breaks the schema
    ],
)
async def test_deferred_answers_are_sent_when_done(
    central: CentralSystem, answer: Any, expected: list[Any]
) -> None:
    """OCPP-J 4.2: an awaitable answer (the upstream's) is a reply like any other."""
    async with connect_raw(central) as websocket:
        handler = central.sessions["CP1"]

        async def later(payload: dict[str, Any]) -> dict[str, Any]:
            await asyncio.sleep(0)
            result: dict[str, Any] = answer()
            return result

        handler.answers["Heartbeat"] = later  # type: ignore[attr-defined]
        await websocket.send('[2, "h1", "Heartbeat", {}]')
        reply = await recv_json(websocket)
        assert reply[1] == "h1"
        assert [reply[0], *reply[2:3]][: len(expected)] == expected


def _raise(error: Exception) -> Any:
    raise error


async def test_a_link_added_to_a_running_charger_sends_its_known_boot(
    hub: CentralSystem, backend: Backend
) -> None:
    """The upstream hears the charger's boot as reported; a transaction it never heard of
    sends MeterValues without transactionId (section 6.31) and no StopTransaction."""
    async with charger(hub) as sim:
        await sim.start_transaction(1, "DRIVER")
        async with forwarded(hub, backend) as link:
            await eventually(lambda: link.online)
            assert backend.calls("BootNotification")[0]["chargePointVendor"] == "OpenSim"
            await sim.send_meter_values(1)
            await sim.stop_transaction(1)
            # Not in the upstream's schema set of handlers: it answers a CallError, dropped.
            await sim.send_firmware_status("Downloading")
            await eventually(lambda: not len(link.queue))
            await backend.wait(lambda: "FirmwareStatusNotification" in backend.actions())
            meter = backend.calls("MeterValues")
            assert meter
            assert all("transactionId" not in m for m in meter)
            assert not backend.calls("StopTransaction")


async def test_our_calls_wait_behind_a_deferred_answer(central: CentralSystem) -> None:
    """OCPP 1.6 section 4.8: no CALL of ours overtakes the answer being prepared."""
    async with connect_raw(central) as websocket:
        handler = central.sessions["CP1"]
        gate = asyncio.Event()

        async def later(payload: dict[str, Any]) -> dict[str, Any]:
            await gate.wait()
            return {"currentTime": "2026-12-01T10:00:00Z"}

        handler.answers["Heartbeat"] = later  # type: ignore[attr-defined]
        await websocket.send('[2, "h1", "Heartbeat", {}]')
        await eventually(lambda: bool(handler.calls))  # type: ignore[attr-defined]
        connection = handler.connection  # type: ignore[attr-defined]
        ours = asyncio.create_task(connection.call("ClearCache", {}))
        for _ in range(20):  # let the CALL go out if nothing held it
            await asyncio.sleep(0)
        gate.set()
        first = await recv_json(websocket)
        second = await recv_json(websocket)
        assert (first[0], first[1]) == (3, "h1")
        assert (second[0], second[2]) == (2, "ClearCache")
        await websocket.send(f'[3, "{second[1]}", {{"status": "Accepted"}}]')
        assert await ours == {"status": "Accepted"}


async def test_no_heartbeats_of_our_own_while_the_charger_is_offline(
    hub: CentralSystem, backend: Backend
) -> None:
    """Section 4.6: an upstream that watches heartbeats sees an absent charger offline."""
    backend.heartbeat_interval = 1
    async with forwarded(hub, backend) as link:
        hub.sessions[CHARGER].handle_call(
            "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}
        )
        await eventually(lambda: link.online)
        await asyncio.sleep(2.5)  # more than two of the upstream's intervals pass
        assert "Heartbeat" not in backend.actions()
        async with charger(hub):
            await backend.wait(lambda: "Heartbeat" in backend.actions())


async def test_a_message_never_answered_is_sent_three_times_then_dropped(
    hub: CentralSystem, backend: Backend
) -> None:
    """OCPP 1.6 section 4.8: resent like a transaction message, but not for ever."""
    backend.data_transfer_delays = [1.0, 1.0, 1.0]
    async with forwarded(hub, backend, response_timeout=0.3) as link, charger(hub) as sim:
        await eventually(lambda: link.online and not len(link.queue))
        await sim.data_transfer("vendor")
        await eventually(lambda: not len(link.queue))
        await backend.wait(lambda: len(backend.calls("DataTransfer")) == 3)
        ids = [r.message_id for r in backend.received if r.action == "DataTransfer"]
        assert len(set(ids)) == 3
        await sim.send_meter_values(1)  # the queue goes on
        await backend.wait(lambda: "MeterValues" in backend.actions())


async def test_a_reboot_answered_pending_holds_the_queue_until_accepted(
    hub: CentralSystem, backend: Backend
) -> None:
    """Section 4.2: after a Pending boot only BootNotification goes up until Accepted."""
    backend.heartbeat_interval = 1
    async with forwarded(hub, backend) as link, charger(hub) as sim:
        await eventually(lambda: link.online and not len(link.queue))
        backend.boot_status = "Pending"
        await sim.reboot()
        await eventually(lambda: link.status is UpstreamStatus.PENDING)
        count = len(backend.calls("StatusNotification"))
        await backend.wait(lambda: len(backend.calls("BootNotification")) >= 3)
        assert len(backend.calls("StatusNotification")) == count
        backend.boot_status = "Accepted"
        await eventually(lambda: link.online and not len(link.queue))
        assert len(backend.calls("StatusNotification")) > count


async def test_our_own_remote_start_tag_is_answered_locally_in_full_mode(
    hub: CentralSystem, backend: Backend
) -> None:
    """The upstream decides on tags, but not on the one of our own remote starts."""
    backend.tags["HOMEASSISTANT"] = "Invalid"
    async with forwarded(hub, backend, local_tags=("HomeAssistant",)) as link:
        session = hub.sessions[CHARGER]
        session.handle_call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        await eventually(lambda: link.online)
        ours = session.handle_call("Authorize", {"idTag": "homeassistant"})
        assert ours == {"idTagInfo": {"status": "Accepted"}}  # at once, ours
        other = session.handle_call("Authorize", {"idTag": "DRIVER"})
        assert inspect.isawaitable(other)  # the upstream's, awaited
        assert await other == {"idTagInfo": {"status": "Accepted"}}
        await backend.wait(lambda: len(backend.calls("Authorize")) == 2)
