"""Keep your backend: a charger forwarded to an independent upstream central system.

The charger is the project's simulator (built on the `ocpp` package), the central system
in between is the real `CentralSystem` with real `ChargerSession`s, and the upstream is
`upstream_backend.Backend` (the `ocpp` package's ChargePoint served by websockets), all over
127.0.0.1. References: OCPP-J 1.6 sections 3 (handshake), 4.1.1 (one CALL at a time),
4.1.4 (message ids), 4.2.3 (CallError codes); OCPP 1.6 sections 4.2 (boot), 4.8 (transaction
messages queued while offline), 5.11/5.12 (remote start/stop), 5.16 and 3.13 (profiles).
"""

from __future__ import annotations

from ocpp.exceptions import SecurityError
from ocpp.v16 import call
import pytest

from custom_components.ocpp_central.protocol.server import CentralSystem
from custom_components.ocpp_central.protocol.smart_charging import (
    CAPABILITY_KEYS,
    CurrentLimiter,
    profile_id,
)
from custom_components.ocpp_central.protocol.upstream import (
    UpstreamMode,
    UpstreamStatus,
)

from .conftest import client_tls_context, tls_context
from .upstream_backend import (  # noqa: F401 - fixtures
    CHARGER,
    Backend,
    backend_fixture,
    charger,
    eventually,
    forwarded,
    hub_fixture,
    installed_on,
    record_ids,
)


async def test_boot_status_and_a_full_session_follow_the_upstream(
    hub: CentralSystem, backend: Backend
) -> None:
    """Full mode: the upstream's Authorize and StartTransaction verdicts reach the charger.

    The charger's transaction id is ours; the upstream's id replaces it in every message
    upstream (MeterValues, StopTransaction), OCPP 1.6 sections 4.7, 4.8, 4.10.
    """
    backend.tags["BLOCKED"] = "Blocked"
    async with forwarded(hub, backend) as link, charger(hub) as sim:
        await eventually(lambda: link.online)
        await backend.wait(lambda: len(backend.calls("StatusNotification")) >= 2)
        boot = backend.calls("BootNotification")[0]
        assert boot["chargePointVendor"] == "OpenSim"
        assert boot["chargePointModel"] == "SimWallbox"
        # The upstream refuses the tag our own policy accepts: the upstream decides.
        assert await sim.authorize("BLOCKED") == "Blocked"
        local_id = await sim.start_transaction(1, "DRIVER")
        session = hub.sessions[CHARGER]
        assert local_id in session.transactions  # the charger has our id
        upstream_id = 5000
        await eventually(lambda: link.transactions.upstream(local_id) == upstream_id)
        await sim.send_meter_values(1)
        await sim.stop_transaction(1)
        await backend.wait(lambda: len(backend.calls("StopTransaction")) == 1)
        meter = [m for m in backend.calls("MeterValues") if "transactionId" in m]
        assert meter
        assert {m["transactionId"] for m in meter} == {upstream_id}
        assert backend.calls("StopTransaction")[0]["transactionId"] == upstream_id
        assert not session.transactions
        assert sim.connected


async def test_upstream_answer_too_late_falls_back_to_the_local_policy(
    hub: CentralSystem, backend: Backend
) -> None:
    """The charger never waits long on the upstream: a bounded wait, then local policy."""
    backend.tags["LOCALONLY"] = "Invalid"
    backend.authorize_delay = 2.0
    async with forwarded(hub, backend, answer_timeout=0.2) as link, charger(hub) as sim:
        await eventually(lambda: link.online)
        # MemoryHooks accepts the tag; the upstream would say Invalid, but too late.
        assert await sim.authorize("LOCALONLY") == "Accepted"
        await backend.wait(lambda: len(backend.calls("Authorize")) == 1)


async def test_upstream_remote_start_and_stop_reach_the_charger(
    hub: CentralSystem, backend: Backend
) -> None:
    """Sections 5.11/5.12: the upstream's commands reach the charger; the state follows."""
    async with forwarded(hub, backend) as link, charger(hub) as sim:
        await eventually(lambda: link.online)
        upstream = backend.charge_points[CHARGER]
        reply = await upstream.call(call.RemoteStartTransaction(id_tag="APP", connector_id=1))
        assert reply.status == "Accepted"
        await backend.wait(lambda: len(backend.calls("StartTransaction")) == 1)
        session = hub.sessions[CHARGER]
        await eventually(lambda: session.state.connector(1).running_transaction is not None)
        local = session.state.connector(1).running_transaction
        assert local is not None
        assert local.id_tag == "APP"
        await eventually(lambda: sim.connector(1).transaction is not None)
        assert sim.connector(1).transaction.transaction_id == local.transaction_id
        upstream_id = 5000
        await eventually(lambda: link.transactions.local(upstream_id) == local.transaction_id)
        # An id the upstream does not know is refused without asking the charger.
        unknown = await upstream.call(call.RemoteStopTransaction(transaction_id=upstream_id + 99))
        assert unknown.status == "Rejected"
        reply = await upstream.call(call.RemoteStopTransaction(transaction_id=upstream_id))
        assert reply.status == "Accepted"
        await backend.wait(lambda: len(backend.calls("StopTransaction")) == 1)
        assert backend.calls("StopTransaction")[0]["transactionId"] == upstream_id
        assert backend.calls("StopTransaction")[0]["reason"] == "Remote"
        await eventually(lambda: session.state.connector(1).running_transaction is None)
        assert [a for a, _ in sim.calls_received if a.startswith("Remote")] == [
            "RemoteStartTransaction",
            "RemoteStopTransaction",
        ]


async def test_upstream_profile_beside_a_local_current_limit(
    hub: CentralSystem, backend: Backend
) -> None:
    """Sections 3.13.2 and 5.16: neither side's profile replaces the other's.

    Ours sits at the charger's highest stack level with ids from PROFILE_ID_BASE; the
    upstream's goes one level below, an id of ours is refused, and its ClearChargingProfile
    clears only what it installed.
    """
    async with forwarded(hub, backend) as link, charger(hub, max_stack_level=8) as sim:
        await eventually(lambda: link.online)
        session = hub.sessions[CHARGER]
        await eventually(lambda: all(key in session.state.configuration for key in CAPABILITY_KEYS))
        limiter = CurrentLimiter(session, min_interval=0.0)
        assert await limiter.set_limit(1, 16) == 16
        ours = profile_id("TxDefaultProfile", 1)
        upstream = backend.charge_points[CHARGER]
        schedule = {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
        }
        profile = {
            "chargingProfileId": 7,
            "stackLevel": 8,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": schedule,
        }
        reply = await upstream.call(
            call.SetChargingProfile(connector_id=1, cs_charging_profiles=profile)
        )
        assert reply.status == "Accepted"
        installed = {p.profile_id: p for p in installed_on(sim, 1)}
        assert set(installed) == {ours, 7}
        assert installed[ours].stack_level == 8
        assert installed[7].stack_level == 7
        # An id of ours is refused before it reaches the charger.
        taken = await upstream.call(
            call.SetChargingProfile(
                connector_id=1, cs_charging_profiles={**profile, "chargingProfileId": ours}
            )
        )
        assert taken.status == "Rejected"
        cleared = await upstream.call(
            call.ClearChargingProfile(charging_profile_purpose="TxDefaultProfile")
        )
        assert cleared.status == "Accepted"
        assert {p.profile_id for p in installed_on(sim, 1)} == {ours}
        assert session.state.connector(1).current_limit == 16
        none_left = await upstream.call(call.ClearChargingProfile(id=ours))
        assert none_left.status == "Unknown"
        assert {p.profile_id for p in installed_on(sim, 1)} == {ours}
        limiter.close()


async def test_upstream_away_mid_session_gets_the_queue_in_order(
    hub: CentralSystem, backend: Backend
) -> None:
    """OCPP 1.6 section 4.8: messages sent offline are delivered in order on return.

    The session started online keeps its upstream id; one started offline gets the id the
    upstream gives its queued StartTransaction, and its MeterValues and StopTransaction
    carry it. Nothing is lost or doubled, and the charger's connection never noticed.
    """
    async with forwarded(hub, backend) as link, charger(hub) as sim:
        await eventually(lambda: link.online)
        first_local = await sim.start_transaction(1, "DRIVER")
        first_upstream = 5000
        await eventually(lambda: link.transactions.upstream(first_local) == first_upstream)
        before = len(backend.received)
        await backend.stop()
        await eventually(lambda: not link.connected)
        await sim.send_meter_values(1)
        await sim.send_meter_values(1)
        await sim.stop_transaction(1)
        second_local = await sim.start_transaction(1, "DRIVER")  # answered locally
        assert second_local != first_local
        await sim.send_meter_values(1)
        await sim.stop_transaction(1)
        assert len(backend.received) == before
        assert sim.connected
        queued = [item.action for item in link.queue]
        assert queued.count("StartTransaction") == 1
        assert queued.count("StopTransaction") == 2
        await backend.start()
        await eventually(lambda: link.online and not len(link.queue))
        await backend.wait(lambda: len(backend.calls("StopTransaction")) == 2)
        after = [r for r in backend.received[before:] if r.action != "Heartbeat"]
        tx_messages = [
            (r.action, r.payload.get("transactionId"))
            for r in after
            if r.action in {"StartTransaction", "StopTransaction"}
            or (r.action == "MeterValues" and "transactionId" in r.payload)
        ]
        second_upstream = link.transactions.upstream(second_local)
        assert second_upstream == 5001
        assert tx_messages == [
            ("MeterValues", first_upstream),
            ("MeterValues", first_upstream),
            ("StopTransaction", first_upstream),
            ("StartTransaction", None),
            ("MeterValues", second_upstream),
            ("StopTransaction", second_upstream),
        ]
        # The boot comes first on the new connection (section 4.2), then the queue.
        assert after[0].action == "BootNotification"
        ids = [r.message_id for r in backend.received]
        assert len(ids) == len(set(ids))


async def test_message_ids_never_collide_between_sides(
    hub: CentralSystem, backend: Backend
) -> None:
    """OCPP-J 4.1.4: our ids upstream ("up-...") and to the charger never meet."""
    async with forwarded(hub, backend) as link, charger(hub) as sim:
        received_ids = record_ids(sim)
        await eventually(lambda: link.online)
        upstream = backend.charge_points[CHARGER]
        await upstream.call(call.GetConfiguration(key=["HeartbeatInterval"]))
        await sim.start_transaction(1, "DRIVER")
        await sim.stop_transaction(1)
        await backend.wait(lambda: len(backend.calls("StopTransaction")) == 1)
        upstream_ids = {r.message_id for r in backend.received}
        assert all(message_id.startswith("up-") for message_id in upstream_ids)
        assert len(upstream_ids) == len(backend.received)
        charger_ids = set(received_ids)
        assert charger_ids
        assert not charger_ids & upstream_ids
        assert not any(message_id.startswith("up-") for message_id in charger_ids)


async def test_observe_mode_refuses_upstream_commands(hub: CentralSystem, backend: Backend) -> None:
    """Observe: copies only; commands get SecurityError (OCPP-J 4.2.3) and reach nobody."""
    backend.tags["DRIVER"] = "Blocked"
    async with (
        forwarded(hub, backend, mode=UpstreamMode.OBSERVE) as link,
        charger(hub) as sim,
    ):
        await eventually(lambda: link.online)
        upstream = backend.charge_points[CHARGER]
        with pytest.raises(SecurityError):
            await upstream.call(
                call.RemoteStartTransaction(id_tag="APP", connector_id=1), suppress=False
            )
        assert not [a for a, _ in sim.calls_received if a == "RemoteStartTransaction"]
        # The upstream's verdict is only a copy: the local policy answers.
        local_id = await sim.start_transaction(1, "DRIVER")
        # Mapped once the upstream's answer is read (after it recorded the CALL).
        await eventually(lambda: link.transactions.upstream(local_id) == 5000)
        await sim.stop_transaction(1)
        await backend.wait(lambda: len(backend.calls("StopTransaction")) == 1)
        assert backend.calls("StopTransaction")[0]["transactionId"] == 5000


async def test_wrong_password_is_refused_and_the_charger_works_on(
    hub: CentralSystem, backend: Backend
) -> None:
    """Security profile 1: the upstream answers 401; the link says REFUSED, keeps trying."""
    backend.password = "right-password"
    changes: list[UpstreamStatus] = []
    async with forwarded(hub, backend, password="wrong") as link:
        link.on_status = lambda: changes.append(link.status)
        async with charger(hub) as sim:
            await eventually(lambda: link.status is UpstreamStatus.REFUSED)
            assert link.refused_code == 401
            assert not backend.connections
            # The charger's own connection and session are unaffected.
            local_id = await sim.start_transaction(1, "DRIVER")
            assert local_id in hub.sessions[CHARGER].transactions
            assert "StartTransaction" in [item.action for item in link.queue]
    assert UpstreamStatus.REFUSED in changes


async def test_right_password_is_sent_as_http_basic(hub: CentralSystem, backend: Backend) -> None:
    """Security profile 1: user = the identity at the upstream, password as configured."""
    backend.password = "right-password"
    async with forwarded(hub, backend, password="right-password") as link, charger(hub):
        await eventually(lambda: link.online)
        assert backend.connections == [CHARGER]


async def test_wss_verifies_the_upstream_certificate(hub: CentralSystem) -> None:
    """Security profile 2: TLS with certificate verification; an untrusted one fails."""
    secure = Backend(ssl_context=tls_context())
    await secure.start()
    try:
        async with forwarded(hub, secure) as untrusting:
            await eventually(lambda: untrusting.status is UpstreamStatus.UNREACHABLE)
            assert not secure.connections
        async with forwarded(hub, secure, ssl_context=client_tls_context()) as trusting:
            async with charger(hub):
                await eventually(lambda: trusting.online)
            assert secure.connections == [CHARGER]
    finally:
        await secure.stop()


async def test_the_queue_survives_a_restart(hub: CentralSystem, backend: Backend) -> None:
    """The owner persists `snapshot()`; a new link restored from it delivers the queue."""
    await backend.stop()
    async with forwarded(hub, backend) as first, charger(hub) as sim:
        local_id = await sim.start_transaction(1, "DRIVER")
        await sim.stop_transaction(1)
        await eventually(lambda: len(first.queue) >= 2)
        saved = first.snapshot()
    assert [
        item["action"] for item in saved["queue"] if item["action"].endswith("Transaction")
    ] == ["StartTransaction", "StopTransaction"]
    assert saved["boot"]["chargePointVendor"] == "OpenSim"
    await backend.start()
    async with forwarded(hub, backend, restored=saved) as second:
        await eventually(lambda: second.online and not len(second.queue))
        await backend.wait(lambda: len(backend.calls("StopTransaction")) == 1)
        assert second.transactions.upstream(local_id) == 5000
        assert backend.calls("StopTransaction")[0]["transactionId"] == 5000
        assert backend.actions()[0] == "BootNotification"
