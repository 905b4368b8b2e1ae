"""Solar surplus shared on a circuit, and 1-phase/3-phase switching, with simulated chargers.

Over the real central system on 127.0.0.1. Chargers that report
ConnectorSwitch3to1PhaseSupported (OCPP 1.6 section 9.4.4) get numberPhases in their
ChargingSchedulePeriod (sections 7.13, 7.14) and charge on the phases it allows;
chargers that cannot switch never get numberPhases. The surplus is shared by priority,
then equally, and converted with the voltage and phases the chargers report.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import itertools
import random

import pytest

from custom_components.ocpp_central.protocol.hooks import MemoryHooks
from custom_components.ocpp_central.protocol.load.allocation import (
    CircuitSettings,
    LimitSource,
    Mode,
)
from custom_components.ocpp_central.protocol.load.phase_switch import PhaseSwitchSettings
from custom_components.ocpp_central.protocol.server import CentralSystem
from simulator import SimulatedCharger

from .load_harness import LOOPBACK, PERIOD, Site, site

CIRCUIT = CircuitSettings(max_current=16.0, metered=True, start_delay=60.0, stop_delay=120.0)
SWITCHING = PhaseSwitchSettings(min_interval=300.0, session_grace=60.0)


@pytest.fixture
async def central(socket_enabled: None) -> AsyncIterator[CentralSystem]:
    server = CentralSystem(host=LOOPBACK, port=0, hooks=MemoryHooks(), ping_interval=None)
    await server.start()
    yield server
    await server.stop()


def phases_sent(sim: SimulatedCharger) -> list[int | None]:
    return [
        r.profile["chargingSchedule"]["chargingSchedulePeriod"][0].get("numberPhases")
        for r in sim.profiles_received
    ]


def state(place: Site) -> dict[str, tuple[float, int]]:
    return {
        cb: (sim.connector(1).model.offered_current, sim.connector(1).model.phases)
        for cb, sim in place.sims.items()
    }


def assert_never_over(place: Site) -> None:
    for when, total, allowed in place.samples:
        assert max(total) <= allowed + 1e-6, (when, total, allowed)


async def test_surplus_is_shared_and_phases_switch_with_their_interval(
    central: CentralSystem,
) -> None:
    chargers = {
        "A": {"phase_switching": True, "mode": Mode.SOLAR},
        "B": {"phase_switching": True, "mode": Mode.SOLAR},
        "C": {"mode": Mode.FAST},
    }
    async with site(central, chargers, circuit=CIRCUIT, phase_settings=SWITCHING) as place:
        await place.period(production=0.0, solar=True)
        for cb in ("A", "B"):
            await place.sims[cb].start_transaction(1, f"TAG-{cb}")
        started = place.now

        # 2.5 kW cannot carry three phases at 6 A (4.14 kW): one phase, once the first
        # seconds of the session are over and the start delay ran.
        for _ in range(5):
            await place.period(production=2500.0, solar=True)
        assert all(t >= started + SWITCHING.session_grace for t, _cb, _c, _p in place.switches)
        assert state(place)["A"][1] == 1
        assert state(place)["B"][1] == 1
        # The 2.5 kW carry one car on one phase (10 A = 2.3 kW), not two.
        assert sorted(state(place)[cb][0] for cb in ("A", "B")) == [0.0, 10.0]

        # A sunny noon: 12 kW, enough for both on three phases (after the interval).
        for _ in range(15):
            await place.period(production=12000.0, solar=True)
        assert state(place)["A"] == (8.0, 3)
        assert state(place)["B"] == (8.0, 3)
        share = place.controller.allocation.shares[("A", 1)]  # type: ignore[union-attr]
        assert share.source is LimitSource.CIRCUIT  # the 16 A fuse, not the sun, limits now

        # Clouds: the surplus drops and comes back; switches keep their interval.
        weather = random.Random(3)
        for _ in range(40):
            await place.period(production=weather.choice([2000.0, 6000.0, 12000.0]), solar=True)

        for cb in ("A", "B"):
            times = [t for t, who, _c, _p in place.switches if who == cb]
            assert len(times) >= 3, (cb, times)
            gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
            assert all(gap >= SWITCHING.min_interval for gap in gaps), (cb, gaps)
        # A charger that cannot switch is left alone: never a numberPhases.
        assert set(phases_sent(place.sims["C"])) == {None}
        assert {1, 3} <= set(phases_sent(place.sims["A"]))
        # Bounded: at most one profile per connector and period, on average far fewer.
        periods = int((place.now - started) / PERIOD)
        assert place.profiles_sent() <= 2 * periods
        assert_never_over(place)


async def test_steady_sun_with_small_noise_sends_nothing_more(central: CentralSystem) -> None:
    chargers = {"A": {"mode": Mode.SOLAR}, "B": {"mode": Mode.MIN_SOLAR}}
    noise = random.Random(11)
    async with site(central, chargers, circuit=CIRCUIT) as place:
        await place.period(production=9000.0, solar=True)
        for cb in ("A", "B"):
            await place.sims[cb].start_transaction(1, f"TAG-{cb}")
        for _ in range(4):
            await place.period(production=9000.0, solar=True)
        # 9 kW on three phases at 230 V: 13 A shared, 6 A + 7 A... equally within 1 A.
        a, b = (place.sims[cb].connector(1).model.offered_current for cb in ("A", "B"))
        assert {a, b} == {6.0, 7.0}
        sent = place.profiles_sent()
        for _ in range(20):
            await place.period(production=9000.0 + noise.uniform(-150, 150), solar=True)
        assert place.profiles_sent() == sent
        assert_never_over(place)


async def test_min_solar_charges_at_the_minimum_without_sun(central: CentralSystem) -> None:
    chargers = {"A": {"mode": Mode.MIN_SOLAR}, "B": {"mode": Mode.SOLAR}}
    async with site(central, chargers, circuit=CIRCUIT) as place:
        await place.period(production=0.0, solar=True)
        for cb in ("A", "B"):
            await place.sims[cb].start_transaction(1, f"TAG-{cb}")
        for _ in range(3):
            await place.period(production=0.0, solar=True)
        assert state(place) == {"A": (6.0, 3), "B": (0.0, 3)}
        shares = place.controller.allocation.shares  # type: ignore[union-attr]
        assert shares[("B", 1)].source is LimitSource.PAUSED
        assert_never_over(place)


async def test_a_watt_only_charger_gets_watts_for_the_phases_it_switched_to(
    central: CentralSystem,
) -> None:
    chargers = {"A": {"phase_switching": True, "mode": Mode.SOLAR, "rate_unit": "W"}}
    async with site(central, chargers, circuit=CIRCUIT, phase_settings=SWITCHING) as place:
        await place.period(production=0.0, solar=True)
        await place.sims["A"].start_transaction(1, "TAG-A")
        for _ in range(5):
            await place.period(production=2500.0, solar=True)
        # Section 7.12: W = A x voltage x phases; numberPhases says how many (7.14).
        period = (
            place.sims["A"]
            .profiles_received[-1]
            .profile["chargingSchedule"]["chargingSchedulePeriod"][0]
        )
        assert period == {"startPeriod": 0, "limit": 2300.0, "numberPhases": 1}
        assert state(place)["A"] == (10.0, 1)
        with pytest.raises(ValueError, match="numberPhases"):
            await place.limiters["A"].set_limit(1, 10, phases=4)
