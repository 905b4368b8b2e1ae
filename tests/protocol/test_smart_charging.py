"""CurrentLimiter against simulated chargers that apply profiles, over 127.0.0.1 websockets.

The central system is the real `CentralSystem`; the chargers are the `simulator` package
(the `ocpp` package's ChargePoint on their side), each with the smart-charging rules of a
kind of real charger: A only, W only, refusing TxDefaultProfile, a low stack level, room
for a single profile. Behaviour follows OCPP 1.6 section 3.13 (smart charging), 5.5
(ClearChargingProfile), 5.7 (GetCompositeSchedule), 5.16 (SetChargingProfile) and the
ChargingProfile types of sections 7.8-7.14.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.errors import CallErrorCode, NotConnectedError
from custom_components.ocpp_central.protocol.hooks import MemoryHooks
from custom_components.ocpp_central.protocol.server import CentralSystem
from custom_components.ocpp_central.protocol.session import ChargerSession
from custom_components.ocpp_central.protocol.smart_charging import (
    CAPABILITY_KEYS,
    CHARGE_POINT_MAX_PROFILE,
    TX_DEFAULT_PROFILE,
    TX_PROFILE,
    Capabilities,
    CurrentLimiter,
    LimitRefused,
    profile_id,
)
from custom_components.ocpp_central.protocol.state import CURRENT_LIMIT, ConfigurationValue
from simulator import SimulatedCharger
from simulator.clock import parse_iso

LOOPBACK = "127.0.0.1"


class VirtualTime:
    """The limiter's clock and sleep: time moves only when the test advances it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, wake))
        await wake

    @property
    def sleeping(self) -> bool:
        return any(not wake.done() for _when, wake in self._sleepers)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for when, wake in self._sleepers:
            if when <= self.now and not wake.done():
                wake.set_result(None)
        self._sleepers = [(w, f) for w, f in self._sleepers if not f.done()]


@pytest.fixture
async def central(socket_enabled: None) -> AsyncIterator[CentralSystem]:
    server = CentralSystem(host=LOOPBACK, port=0, hooks=MemoryHooks(), ping_interval=None)
    await server.start()
    yield server
    await server.stop()


async def eventually(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait (bounded) until `predicate()` holds; the other side works in its own tasks."""
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 (any predicate: there is no event to wait on)
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def connected(
    central: CentralSystem, charge_box_id: str = "CP-1", **options: Any
) -> AsyncIterator[tuple[SimulatedCharger, ChargerSession]]:
    """A simulated charger connected and booted, its configuration read by the session."""
    session = central.set_charger(ChargerConfig(charge_box_id=charge_box_id, meter_interval=0))
    sim = SimulatedCharger(f"ws://{LOOPBACK}:{central.port}", charge_box_id, **options)
    async with sim:
        # The session reads the configuration after the boot (OCPP 1.6 section 4.2).
        await eventually(lambda: all(key in session.state.configuration for key in CAPABILITY_KEYS))
        yield sim, session


def limiter_for(session: ChargerSession, **options: Any) -> CurrentLimiter:
    options.setdefault("min_interval", 0.0)
    return CurrentLimiter(session, **options)


def set_profiles(sim: SimulatedCharger) -> list[tuple[str, int, str, dict[str, Any]]]:
    """(purpose, connector, status, profile) of every SetChargingProfile the charger got."""
    return [
        (r.profile["chargingProfilePurpose"], r.connector_id, r.status, r.profile)
        for r in sim.profiles_received
    ]


def cleared_ids(sim: SimulatedCharger) -> list[int]:
    return [p["id"] for action, p in sim.calls_received if action == "ClearChargingProfile"]


def limit_of(profile: dict[str, Any]) -> Any:
    return profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]


# --------------------------------------------------------------------- strategies and units


async def test_a_only_charger_gets_a_tx_default_profile_in_amperes(central: CentralSystem) -> None:
    async with connected(central, rate_unit="A", max_stack_level=8) as (sim, session):
        limiter = limiter_for(session)
        await sim.start_transaction(1, "TAG-1")
        changes: list[float | None] = []
        session.state.subscribe(
            ((1, CURRENT_LIMIT),), lambda: changes.append(session.state.connector(1).current_limit)
        )

        assert await limiter.set_limit(1, 16) == 16

        [(purpose, connector_id, status, profile)] = set_profiles(sim)
        assert (purpose, connector_id, status) == (TX_DEFAULT_PROFILE, 1, "Accepted")
        # Our own id and the highest stack level the charger allows (section 3.13.2).
        assert profile["chargingProfileId"] == profile_id(TX_DEFAULT_PROFILE, 1)
        assert profile["stackLevel"] == 8
        assert profile["chargingProfileKind"] == "Absolute"
        schedule = profile["chargingSchedule"]
        assert schedule["chargingRateUnit"] == "A"
        assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 16.0}]
        # Section 5.16.4: a startSchedule in the past leaves no gap of default behaviour.
        assert parse_iso(schedule["startSchedule"]) < datetime.now(UTC)
        assert changes == [16]
        # The charger obeys: Current.Offered in its meter values follows the profile.
        await sim.send_meter_values(1)
        assert session.state.connector(1).reading("Current.Offered") == 16
        assert sim.connector(1).offered_current == 16


async def test_w_only_charger_gets_watts_from_voltage_and_phases(central: CentralSystem) -> None:
    async with connected(central, rate_unit="W", phases=3, voltage=230.0) as (sim, session):
        limiter = limiter_for(session)
        await sim.start_transaction(1, "TAG-1")
        await sim.send_meter_values(1)  # per-phase voltages tell the limiter: 3 phases

        assert await limiter.set_limit(1, 10) == 10

        [(purpose, _connector, status, profile)] = set_profiles(sim)
        assert (purpose, status) == (TX_DEFAULT_PROFILE, "Accepted")
        assert profile["chargingSchedule"]["chargingRateUnit"] == "W"
        # Section 7.12: W = A x line voltage x phases, numberPhases given.
        assert profile["chargingSchedule"]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 6900.0, "numberPhases": 3}
        ]
        assert sim.connector(1).offered_current == pytest.approx(10)
        await sim.send_meter_values(1)
        power = session.state.connector(1).reading("Power.Active.Import")
        assert power is not None
        assert power == pytest.approx(6900, rel=0.05)


async def test_w_only_single_phase_setting(central: CentralSystem) -> None:
    async with connected(central, rate_unit="W", phases=1) as (sim, session):
        limiter = limiter_for(session, phases=1, voltage=230.0)
        assert await limiter.set_limit(1, 8) == 8
        [(_purpose, _connector, _status, profile)] = set_profiles(sim)
        assert profile["chargingSchedule"]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 1840.0, "numberPhases": 1}
        ]


async def test_refused_tx_default_falls_back_to_charge_point_max(central: CentralSystem) -> None:
    async with connected(central, refuse_tx_default=True) as (sim, session):
        limiter = limiter_for(session)
        await sim.start_transaction(1, "TAG-1")

        assert await limiter.set_limit(1, 12) == 12
        assert await limiter.set_limit(1, 14) == 14

        sent = [(purpose, connector, status) for purpose, connector, status, _ in set_profiles(sim)]
        assert sent == [
            (TX_DEFAULT_PROFILE, 1, "Rejected"),
            # Section 3.13.1: ChargePointMaxProfile only on connector 0.
            (CHARGE_POINT_MAX_PROFILE, 0, "Accepted"),
            # The refusal is remembered: no second TxDefaultProfile.
            (CHARGE_POINT_MAX_PROFILE, 0, "Accepted"),
        ]
        assert set_profiles(sim)[-1][3]["chargingProfileId"] == profile_id(
            CHARGE_POINT_MAX_PROFILE, 0
        )
        assert session.state.connector(1).current_limit == 14
        assert sim.connector(1).offered_current == 14


async def test_refused_tx_default_on_two_connectors_uses_tx_profile(
    central: CentralSystem,
) -> None:
    async with connected(central, connectors=2, refuse_tx_default=True) as (sim, session):
        limiter = limiter_for(session)

        # No transaction: nothing else is possible (a ChargePointMaxProfile would also
        # limit connector 2, section 3.13.3).
        with pytest.raises(LimitRefused) as refused:
            await limiter.set_limit(1, 10)
        assert refused.value.attempts == [
            (TX_DEFAULT_PROFILE, "Rejected"),
            (TX_PROFILE, "no transaction"),
        ]
        assert refused.value.code == CallErrorCode.GENERIC_ERROR

        transaction_id = await sim.start_transaction(1, "TAG-1")
        assert await limiter.set_limit(1, 10) == 10
        purpose, connector_id, status, profile = set_profiles(sim)[-1]
        assert (purpose, connector_id, status) == (TX_PROFILE, 1, "Accepted")
        # Section 5.16: the transactionId names the transaction the profile is for.
        assert profile["transactionId"] == transaction_id
        assert sim.connector(1).offered_current == 10
        assert sim.connector(2).current_limit is None

        # The TxProfile ends with the transaction (section 3.13.1) ...
        await sim.stop_transaction(1)
        await eventually(lambda: session.state.connector(1).current_limit is None)
        # ... and the limit is sent again for the next one.
        second = await sim.start_transaction(1, "TAG-1")
        await eventually(lambda: session.state.connector(1).current_limit == 10)
        purpose, _connector, status, profile = set_profiles(sim)[-1]
        assert (purpose, status, profile["transactionId"]) == (TX_PROFILE, "Accepted", second)
        assert sim.connector(1).offered_current == 10


async def test_stack_level_follows_the_charger_maximum(central: CentralSystem) -> None:
    async with connected(central, max_stack_level=2) as (sim, session):
        limiter = limiter_for(session)
        assert await limiter.set_limit(1, 20) == 20
        assert set_profiles(sim)[0][3]["stackLevel"] == 2
        assert set_profiles(sim)[0][2] == "Accepted"


async def test_stack_level_zero(central: CentralSystem) -> None:
    async with connected(central, max_stack_level=0) as (sim, session):
        limiter = limiter_for(session)
        assert await limiter.set_limit(1, 20) == 20
        assert set_profiles(sim)[0][3]["stackLevel"] == 0


async def test_charger_without_smart_charging_gets_nothing(central: CentralSystem) -> None:
    session = central.set_charger(ChargerConfig(charge_box_id="CP-1", meter_interval=0))
    sim = SimulatedCharger(f"ws://{LOOPBACK}:{central.port}", "CP-1")
    sim.configuration.set("SupportedFeatureProfiles", "Core,RemoteTrigger")
    async with sim:
        await eventually(lambda: "SupportedFeatureProfiles" in session.state.configuration)
        limiter = limiter_for(session)
        with pytest.raises(LimitRefused) as refused:
            await limiter.set_limit(1, 10)
        assert refused.value.code == CallErrorCode.NOT_SUPPORTED
        assert sim.profiles_received == []


# --------------------------------------------------------------------- pause


async def test_zero_and_below_minimum_pause(central: CentralSystem) -> None:
    async with connected(central) as (sim, session):
        limiter = limiter_for(session, min_current=6.0)
        await sim.start_transaction(1, "TAG-1")
        assert sim.connector(1).status == "Charging"

        assert await limiter.set_limit(1, 0) == 0
        assert limit_of(set_profiles(sim)[-1][3]) == 0
        await eventually(lambda: sim.connector(1).status == "SuspendedEVSE")
        await eventually(lambda: session.state.connector(1).status == "SuspendedEVSE")

        assert await limiter.set_limit(1, 7.5) == 7.5
        await eventually(lambda: session.state.connector(1).status == "Charging")
        # 4 A cannot charge a car (IEC 61851 minimum 6 A): pause.
        assert await limiter.set_limit(1, 4) == 0
        assert [limit_of(p) for *_, p in set_profiles(sim)] == [0, 7.5, 0]
        assert session.state.connector(1).current_limit == 0


async def test_bad_requests_are_refused_before_sending(central: CentralSystem) -> None:
    async with connected(central) as (sim, session):
        limiter = limiter_for(session)
        for connector_id, amps in ((1, -1.0), (1, float("nan")), (-1, 10.0), (100, 10.0)):
            with pytest.raises(ValueError, match=r"connector|amperes"):
                await limiter.set_limit(connector_id, amps)
        assert sim.profiles_received == []


# --------------------------------------------------------------------- coalescing


async def test_requests_within_the_interval_coalesce_latest_wins(central: CentralSystem) -> None:
    async with connected(central) as (sim, session):
        time = VirtualTime()
        limiter = CurrentLimiter(session, min_interval=10.0, clock=time.clock, sleep=time.sleep)

        assert await limiter.set_limit(1, 10) == 10  # the first goes out at once
        time.advance(1.0)
        waiting = [asyncio.create_task(limiter.set_limit(1, amps)) for amps in (11, 12, 13, 14)]
        await eventually(lambda: time.sleeps == [9.0])
        assert len(sim.profiles_received) == 1
        time.advance(9.0)

        # Every caller learns what the charger accepted: the latest value.
        assert await asyncio.gather(*waiting) == [14, 14, 14, 14]
        assert [limit_of(p) for *_, p in set_profiles(sim)] == [10, 14]
        assert session.state.connector(1).current_limit == 14
        assert limiter.profiles_sent == 2


async def test_same_limit_again_sends_nothing(central: CentralSystem) -> None:
    async with connected(central) as (sim, session):
        time = VirtualTime()
        limiter = CurrentLimiter(session, min_interval=10.0, clock=time.clock, sleep=time.sleep)
        for _ in range(5):
            assert await limiter.set_limit(1, 16) == 16
        assert len(sim.profiles_received) == 1
        assert time.sleeps == []  # an unchanged limit does not wait for the interval


async def test_an_automation_setting_every_few_seconds_is_bounded(central: CentralSystem) -> None:
    async with connected(central) as (sim, session):
        time = VirtualTime()
        limiter = CurrentLimiter(session, min_interval=10.0, clock=time.clock, sleep=time.sleep)
        # 60 s of a new value every 2 s: at most one profile per 10 s reaches the charger.
        values = [6 + step % 7 for step in range(30)]
        tasks: list[asyncio.Task[float]] = []
        for amps in values:
            tasks.append(asyncio.create_task(limiter.set_limit(1, amps)))
            await eventually(lambda: tasks[-1].done() or time.sleeping)
            time.advance(2.0)
        for _ in range(10):  # the last request goes out at the end of its interval
            if all(task.done() for task in tasks):
                break
            await eventually(lambda: all(task.done() for task in tasks) or time.sleeping)
            time.advance(2.0)
        results = await asyncio.gather(*tasks)

        assert len(sim.profiles_received) <= 60 // 10 + 1
        # The latest value wins, and the entity's value is what the charger accepted.
        assert results[-1] == values[-1]
        assert session.state.connector(1).current_limit == values[-1]
        assert limit_of(set_profiles(sim)[-1][3]) == values[-1]


async def test_waiters_get_the_error_when_the_charger_goes_away(central: CentralSystem) -> None:
    async with connected(central) as (sim, session):
        limiter = limiter_for(session)
        await sim.close()
        await eventually(lambda: not session.connected)
        with pytest.raises(NotConnectedError):
            await limiter.set_limit(1, 10)


async def test_close_cancels_waiting_requests(central: CentralSystem) -> None:
    async with connected(central) as (_sim, session):
        time = VirtualTime()
        limiter = CurrentLimiter(session, min_interval=10.0, clock=time.clock, sleep=time.sleep)
        await limiter.set_limit(1, 10)
        waiting = asyncio.create_task(limiter.set_limit(1, 12))
        await eventually(lambda: time.sleeps == [10.0])
        limiter.close()
        with pytest.raises(asyncio.CancelledError):
            await waiting


# --------------------------------------------------------------------- never stale


async def test_first_success_clears_profiles_an_earlier_run_may_have_left(
    central: CentralSystem,
) -> None:
    async with connected(central) as (sim, session):
        limiter = limiter_for(session)
        await limiter.set_limit(1, 16)
        # Section 5.5: cleared by our ids, nobody else's profile is touched.
        assert sorted(cleared_ids(sim)) == sorted(
            [profile_id(CHARGE_POINT_MAX_PROFILE, 0), profile_id(TX_PROFILE, 1)]
        )
        await limiter.set_limit(1, 10)
        assert len(cleared_ids(sim)) == 2  # nothing more to clear


async def test_a_strategy_change_clears_the_old_profile(central: CentralSystem) -> None:
    """A charger refusing TxDefaultProfile got a ChargePointMaxProfile; after a firmware
    update it accepts TxDefaultProfile: the ChargePointMaxProfile must not stay behind."""
    async with connected(central, refuse_tx_default=True, max_profiles=1) as (sim, session):
        limiter = limiter_for(session)
        await sim.start_transaction(1, "TAG-1")
        await limiter.set_limit(1, 8)
        assert [p.profile_id for p in sim.profiles.profiles] == [
            profile_id(CHARGE_POINT_MAX_PROFILE, 0)
        ]

        sim.rules = dataclasses.replace(sim.rules, refuse_tx_default=False)
        sim.profiles.rules = sim.rules
        await sim.reboot()  # the transaction stops; the boot makes the limiter look again
        await eventually(lambda: session.state.connected)
        await limiter.set_limit(1, 9)

        # Room for one profile (MaxChargingProfilesInstalled 1): ours is cleared first.
        assert [p.profile_id for p in sim.profiles.profiles] == [profile_id(TX_DEFAULT_PROFILE, 1)]
        assert set_profiles(sim)[-1][:3] == (TX_DEFAULT_PROFILE, 1, "Accepted")
        assert profile_id(CHARGE_POINT_MAX_PROFILE, 0) in cleared_ids(sim)


async def test_reconnect_sends_the_limit_again(central: CentralSystem) -> None:
    async with connected(central) as (sim, session):
        limiter = limiter_for(session)
        await limiter.set_limit(1, 16)
        await sim.reboot()
        await eventually(lambda: session.state.connected)
        await limiter.set_limit(1, 16)
        assert [limit_of(p) for *_, p in set_profiles(sim)] == [16, 16]


# --------------------------------------------------------------------- composite schedule


async def test_composite_schedule_shows_the_limit_in_force(central: CentralSystem) -> None:
    async with connected(central, rate_unit="W") as (sim, session):
        limiter = limiter_for(session, phases=3)
        await sim.start_transaction(1, "TAG-1")
        await limiter.set_limit(1, 10)
        reply = await limiter.composite_schedule(1, 600)
        assert reply["status"] == "Accepted"
        schedule = reply["chargingSchedule"]
        assert schedule["chargingRateUnit"] == "W"
        assert schedule["chargingSchedulePeriod"][0]["limit"] == 6900


# --------------------------------------------------------------------- capabilities


def test_capabilities_read_the_configuration_keys_case_insensitively() -> None:
    capabilities = Capabilities.from_configuration(
        {
            "chargeprofilemaxstacklevel": ConfigurationValue("5", readonly=True),
            "ChargingScheduleAllowedChargingRateUnit": ConfigurationValue("Power"),
            "MaxChargingProfilesInstalled": ConfigurationValue(" 4 "),
            "NumberOfConnectors": ConfigurationValue("two"),
            "SupportedFeatureProfiles": ConfigurationValue("Core, smartcharging"),
        }
    )
    assert capabilities == Capabilities(
        smart_charging=True, max_stack_level=5, rate_units=frozenset({"W"}), max_profiles=4
    )
    assert capabilities.rate_unit == "W"
    assert capabilities.stack_level == 5
    unknown = Capabilities.from_configuration({})
    assert unknown.smart_charging is None
    assert unknown.rate_unit == "A"
    assert unknown.stack_level == 1
