"""W <-> A with the voltage and phases a charger reports, with the project's simulator.

The project's simulator (the `ocpp` package's ChargePoint) over the real central system
on 127.0.0.1 (`measurands.connector_supply`, OCPP 1.6 sections 7.31 and 7.34):

- a one-phase charger on 240 V that only allows W schedules
  (ChargingScheduleAllowedChargingRateUnit = Power, section 9.4.2) gets 10 A as
  10 A x 240 V x 1 phase = 2400 W (section 7.12), and takes it as 10 A;
- on a circuit, a charger reporting one phase gets its solar share on one phase.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.hooks import MemoryHooks
from custom_components.ocpp_central.protocol.load.allocation import CircuitSettings, Mode
from custom_components.ocpp_central.protocol.load.circuit import CircuitController, MemberSettings
from custom_components.ocpp_central.protocol.measurands import connector_supply
from custom_components.ocpp_central.protocol.server import CentralSystem
from custom_components.ocpp_central.protocol.smart_charging import CAPABILITY_KEYS, CurrentLimiter
from simulator import SimulatedCharger

from .load_harness import LOOPBACK, eventually


@pytest.fixture
async def central(socket_enabled: None) -> AsyncIterator[CentralSystem]:
    server = CentralSystem(host=LOOPBACK, port=0, hooks=MemoryHooks(), ping_interval=None)
    await server.start()
    yield server
    await server.stop()


async def test_watt_limit_uses_the_reported_single_phase_at_240_v(central: CentralSystem) -> None:
    session = central.set_charger(ChargerConfig(charge_box_id="W1", meter_interval=0))
    sim = SimulatedCharger(
        f"ws://{LOOPBACK}:{central.port}",
        "W1",
        connectors=1,
        rate_unit="W",
        phases=1,
        voltage=240.0,
        meter_interval=0,
        measurands=("Energy.Active.Import.Register", "Current.Import", "Voltage"),
    )
    async with sim:
        await eventually(lambda: all(k in session.state.configuration for k in CAPABILITY_KEYS))
        await sim.send_meter_values(1)
        supply = connector_supply(session.state, 1)
        assert (supply.voltage, supply.phases) == (240.0, 1)
        limiter = CurrentLimiter(session, min_interval=0.0)
        try:
            accepted = await limiter.set_limit(1, 10)
        finally:
            limiter.close()
        await sim.tick()

        period = sim.profiles_received[-1].profile["chargingSchedule"]["chargingSchedulePeriod"][0]
        assert (period["limit"], period["numberPhases"]) == (2400.0, 1)
        # The charger turns the W back into A with its own 240 V: the same 10 A.
        assert sim.connector(1).current_limit == pytest.approx(10.0)
        assert accepted == pytest.approx(10.0)


async def test_circuit_solar_share_counts_the_phases_the_charger_reports(
    central: CentralSystem,
) -> None:
    """A charger reporting Current.Import on L1 only (no Voltage) charges on one phase.

    Its share of 2300 W exported is 2300 W / (230 V x 1 phase) = 10 A, not the 3.3 A (under
    the 6 A minimum: paused) its configured three phases would give.
    """
    session = central.set_charger(ChargerConfig(charge_box_id="S1", meter_interval=0))
    sim = SimulatedCharger(
        f"ws://{LOOPBACK}:{central.port}",
        "S1",
        connectors=1,
        rate_unit="A",
        phases=1,
        meter_interval=0,
        measurands=("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import"),
    )
    now = [0.0]
    controller = CircuitController(
        CircuitSettings(max_current=32.0, start_delay=0.0), clock=lambda: now[0]
    )
    async with sim:
        await eventually(lambda: all(k in session.state.configuration for k in CAPABILITY_KEYS))
        limiter = CurrentLimiter(session, min_interval=0.0)
        try:
            member = controller.add_member(
                session.state, limiter, MemberSettings(max_current=16.0, phases=3)
            )
            member.modes[1] = Mode.SOLAR
            await sim.send_meter_values(1)  # before the car draws: 0 W, 0 A on L1
            assert connector_supply(session.state, 1).phases == 1
            await sim.start_transaction(1, "TAG-S1")

            allocation = await controller.step(grid_power=-2300.0)
        finally:
            limiter.close()
        assert allocation is not None
        share = allocation.shares[("S1", 1)]
        assert (share.amps, share.phases) == (10.0, 1)
        assert session.state.connector(1).current_limit == 10.0
