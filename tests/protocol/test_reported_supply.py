"""Limits in W for a charger that only takes W: A x the voltage x phases it reports.

The project's simulator (the `ocpp` package's ChargePoint) over the real central system
on 127.0.0.1, a one-phase charger on 240 V that only allows W schedules
(ChargingScheduleAllowedChargingRateUnit = Power, OCPP 1.6 section 9.4.2). It reports
Voltage.L1-N and Current.Import.L1 (sections 7.31, 7.34); the limit of 10 A must be
10 A x 240 V x 1 phase = 2400 W (section 7.12), and the charger must then offer 10 A.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.hooks import MemoryHooks
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
