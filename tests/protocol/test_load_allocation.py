"""The pure allocator and phase-switch decision of load management (no I/O).

Limits are per phase as OCPP 1.6 ChargingSchedulePeriod limits are (sections 7.13,
7.14); numberPhases switching only for chargers with ConnectorSwitch3to1PhaseSupported
(section 9.4.4). The end-to-end behaviour over the real server is in
test_load_circuit.py and test_load_solar.py.
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_central.protocol.load.allocation import (
    CircuitSettings,
    Demand,
    LimitSource,
    LoadBalancer,
    Mode,
    house_rest,
)
from custom_components.ocpp_central.protocol.load.phase_switch import (
    PhaseMode,
    PhaseSwitch,
    PhaseSwitchSettings,
)


def demand(name: str, **options: object) -> Demand:
    options.setdefault("wants", True)
    options.setdefault("max_current", 16.0)
    return Demand(key=(name, 1), **options)  # type: ignore[arg-type]


def amps(balancer: LoadBalancer) -> dict[str, float]:
    assert balancer.last is not None
    return {key[0]: share.amps for key, share in balancer.last.shares.items()}


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="positive"):
        CircuitSettings(max_current=0)
    with pytest.raises(ValueError, match="fallback"):
        CircuitSettings(max_current=16, fallback_current=-1)
    assert CircuitSettings(max_current=25).safe_budget == 12
    assert CircuitSettings(max_current=25, fallback_current=40).safe_budget == 25


def test_static_circuit_shares_equally_and_pauses_who_cannot_get_the_minimum() -> None:
    balancer = LoadBalancer(CircuitSettings(max_current=20))
    balancer.step(0, [demand("A"), demand("B"), demand("C"), demand("D", wants=False)])
    assert amps(balancer) == {"A": 7.0, "B": 7.0, "C": 6.0, "D": 0.0}
    assert balancer.last is not None
    assert balancer.last.allocated == (20.0, 20.0, 20.0)
    balancer.step(1, [demand("A"), demand("B"), demand("C"), demand("E")])
    # E arrives last: those charging keep their place, E waits.
    assert amps(balancer) == {"A": 7.0, "B": 7.0, "C": 6.0, "E": 0.0}


def test_priority_then_user_and_charger_limits_name_the_source() -> None:
    balancer = LoadBalancer(CircuitSettings(max_current=32))
    allocation = balancer.step(
        0,
        [
            demand("A", priority=2, user_limit=10.0),
            demand("B", priority=1, max_current=13.0),
            demand("C"),
            demand("D", mode=Mode.OFF),
        ],
    )
    assert amps(balancer) == {"A": 10.0, "B": 13.0, "C": 9.0, "D": 0.0}
    sources = {key[0]: share.source for key, share in allocation.shares.items()}
    assert sources == {
        "A": LimitSource.USER,
        "B": LimitSource.CHARGER,
        "C": LimitSource.CIRCUIT,
        "D": LimitSource.PAUSED,
    }


def test_a_single_phase_connector_uses_only_l1() -> None:
    balancer = LoadBalancer(CircuitSettings(max_current=16))
    balancer.step(0, [demand("A", phases=1), demand("B")])
    assert amps(balancer) == {"A": 8.0, "B": 8.0}
    balancer.step(1, [demand("A", phases=1), demand("B")], house=None)
    assert house_rest((10, 5, 5), [(8, 0, 0), (2, 2, 2)]) == (0.0, 3.0, 3.0)


def test_the_house_estimate_rises_at_once_and_falls_after_the_release_time() -> None:
    balancer = LoadBalancer(CircuitSettings(max_current=16, metered=True, release_time=60))
    assert balancer.budget(0, (4, 4, 4)) == ((12, 12, 12), False)
    assert balancer.budget(10, (6.2, 4, 4))[0] == (9, 12, 12)  # up at once
    assert balancer.budget(20, (5.5, 4, 4))[0] == (9, 12, 12)  # within the hysteresis
    assert balancer.budget(30, (3, 4, 4))[0] == (9, 12, 12)  # lower, waiting
    assert balancer.budget(60, (3.5, 4, 4))[0] == (9, 12, 12)
    # After 60 s below: the highest value seen meanwhile.
    assert balancer.budget(90, (3, 4, 4))[0] == (12, 12, 12)
    # The meter has no value: a safe static share, and a fresh start after.
    assert balancer.budget(100, None) == ((8, 8, 8), True)
    assert balancer.budget(110, (1, 1, 1)) == ((15, 15, 15), False)


def test_a_car_taking_less_releases_the_rest_and_gets_it_back() -> None:
    balancer = LoadBalancer(CircuitSettings(max_current=24))
    balancer.step(0, [demand("A"), demand("B")])
    assert amps(balancer) == {"A": 12.0, "B": 12.0}
    # A's car takes 4 A of its 12: it keeps 6 (the minimum), B gets the rest.
    balancer.step(30, [demand("A", offered=12.0, draw=4.0, draw_fresh=True), demand("B")])
    assert amps(balancer) == {"A": 6.0, "B": 16.0}
    assert balancer.last is not None
    assert balancer.last.shares[("A", 1)].car_limit == 6.0
    # A draw from before the change does not count either way.
    balancer.step(60, [demand("A", offered=6.0, draw=4.0), demand("B")])
    assert amps(balancer) == {"A": 6.0, "B": 16.0}
    # A takes all it is offered again: its equal share comes back.
    balancer.step(90, [demand("A", offered=6.0, draw=6.0, draw_fresh=True), demand("B")])
    assert amps(balancer) == {"A": 12.0, "B": 12.0}
    # SuspendedEV: the car pauses itself; it keeps the minimum to resume.
    balancer.step(120, [demand("A", suspended_ev=True), demand("B")])
    assert amps(balancer) == {"A": 6.0, "B": 16.0}
    # A car that leaves is forgotten: back with its full share.
    balancer.step(150, [demand("A", wants=False), demand("B")])
    balancer.step(180, [demand("A"), demand("B")])
    assert amps(balancer) == {"A": 12.0, "B": 12.0}


def test_solar_starts_after_its_delay_and_pauses_after_its_stop_delay() -> None:
    settings = CircuitSettings(max_current=32, start_delay=60, stop_delay=120)
    balancer = LoadBalancer(settings)
    solar = demand("A", mode=Mode.SOLAR)
    balancer.step(0, [solar], surplus=5000)
    assert amps(balancer) == {"A": 0.0}
    balancer.step(60, [solar], surplus=5000)
    assert amps(balancer) == {"A": 7.0}
    assert balancer.last is not None
    assert balancer.last.shares[("A", 1)].source is LimitSource.SOLAR
    balancer.step(90, [solar], surplus=1000)
    assert amps(balancer) == {"A": 6.0}  # the minimum while the stop delay runs
    balancer.step(210, [solar], surplus=1000)
    assert amps(balancer) == {"A": 0.0}
    # Without a grid value: solar waits, min_solar charges at the minimum.
    balancer.step(240, [solar, demand("B", mode=Mode.MIN_SOLAR)], surplus=None)
    assert amps(balancer) == {"A": 0.0, "B": 6.0}


def test_phase_switch_rules() -> None:
    settings = PhaseSwitchSettings(min_interval=300, session_grace=60)
    assert settings.three_phase_minimum() == pytest.approx(4140)
    switch = PhaseSwitch(settings)
    common = {"supported": True, "phase_mode": PhaseMode.AUTO, "mode": Mode.SOLAR}
    assert (
        switch.decide(0, supported=False, phase_mode=PhaseMode.AUTO, mode=Mode.SOLAR, offer=0)
        is None
    )
    # Never in the first seconds of a session.
    assert switch.decide(30, offer=2000, session_start=0, **common) == 3  # type: ignore[arg-type]
    assert switch.decide(60, offer=2000, session_start=0, **common) == 1  # type: ignore[arg-type]
    # Back to three only above the minimum plus the hysteresis, and after the interval.
    assert switch.decide(400, offer=4300, **common) == 1  # type: ignore[arg-type]
    assert switch.decide(300, offer=9000, **common) == 1  # type: ignore[arg-type]
    assert switch.decide(360, offer=9000, **common) == 3  # type: ignore[arg-type]
    assert switch.decide(400, offer=None, **common) == 3  # type: ignore[arg-type]
    # The user's choice applies at once; fast wants three phases.
    assert (
        switch.decide(401, supported=True, phase_mode=PhaseMode.ONE, mode=Mode.FAST, offer=None)
        == 1
    )
    assert (
        switch.decide(402, supported=True, phase_mode=PhaseMode.THREE, mode=Mode.SOLAR, offer=0)
        == 3
    )
    assert switch.switches == 4
