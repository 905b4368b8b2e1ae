"""Three (or more) simulated chargers on one circuit, over the real central system on 127.0.0.1.

The chargers are the project's simulator (the `ocpp` package's ChargePoint on their
side); they install the charging profiles they receive and offer what the profile in
force allows (OCPP 1.6 section 3.13), on the phases numberPhases allows when they can
switch (section 9.4.4). The central side is the real `CentralSystem` with real
`ChargerSession`s, one `CurrentLimiter` per charger and a `CircuitController`. Time of
the controller is virtual: a test steps it period by period, feeding house load and
solar production, and the harness measures the supply as a meter would.

`watch` records, after every change on any charger (a profile installed or cleared,
a status), the current the chargers offer together on each phase, so a test can check
the sum at every instant, including while profiles are being changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass, field
from typing import Any

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.load.allocation import CircuitSettings, Mode
from custom_components.ocpp_central.protocol.load.circuit import (
    CircuitController,
    MemberSettings,
)
from custom_components.ocpp_central.protocol.load.phase_switch import PhaseSwitchSettings
from custom_components.ocpp_central.protocol.server import CentralSystem
from custom_components.ocpp_central.protocol.session import ChargerSession
from custom_components.ocpp_central.protocol.smart_charging import CAPABILITY_KEYS, CurrentLimiter
from simulator import SimulatedCharger

LOOPBACK = "127.0.0.1"
VOLTAGE = 230.0
PERIOD = 30.0


async def eventually(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait (bounded) until `predicate()` holds; the other side works in its own tasks."""
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 (state owned by other tasks)
            await asyncio.sleep(0.01)


def offered(sim: SimulatedCharger) -> tuple[float, float, float]:
    """What the charger offers on L1, L2, L3 now (0 without a transaction)."""
    loads = [0.0, 0.0, 0.0]
    for connector in sim.connectors.values():
        model = connector.model
        for index in range(model.phases):
            loads[index] += model.offered_current
    return (loads[0], loads[1], loads[2])


def drawn(sim: SimulatedCharger) -> tuple[float, float, float]:
    """What the cars draw on L1, L2, L3 now."""
    loads = [0.0, 0.0, 0.0]
    for connector in sim.connectors.values():
        model = connector.model
        for index in range(model.phases):
            loads[index] += model.ev_current
    return (loads[0], loads[1], loads[2])


@dataclass
class Site:
    """The circuit, its chargers, virtual time and what was observed."""

    central: CentralSystem
    controller: CircuitController
    sims: dict[str, SimulatedCharger]
    sessions: dict[str, ChargerSession]
    limiters: dict[str, CurrentLimiter]
    now: float = 0.0
    house: float = 0.0  # A per phase the rest of the house draws
    production: float = 0.0  # W the solar panels give
    # (virtual time, sum offered per phase, allowed per phase) after every change.
    samples: list[tuple[float, tuple[float, float, float], float]] = field(default_factory=list)
    # (virtual time, charger, connector, phases) of every phase switch.
    switches: list[tuple[float, str, int, int]] = field(default_factory=list)
    allowed: float = 0.0  # the most the chargers may offer per phase just now

    def total_offered(self) -> tuple[float, float, float]:
        totals = [0.0, 0.0, 0.0]
        for sim in self.sims.values():
            for index, value in enumerate(offered(sim)):
                totals[index] += value
        return (totals[0], totals[1], totals[2])

    def meter(self) -> tuple[float, float, float]:
        """The supply's current per phase: the house plus what the cars draw."""
        totals = [self.house] * 3
        for sim in self.sims.values():
            for index, value in enumerate(drawn(sim)):
                totals[index] += value
        return (totals[0], totals[1], totals[2])

    def grid_power(self) -> float:
        """W imported (negative: exported): house, cars, minus production."""
        cars = sum(c.model.power_w for sim in self.sims.values() for c in sim.connectors.values())
        return self.house * VOLTAGE * 3 + cars - self.production

    def profiles_sent(self) -> int:
        return sum(limiter.profiles_sent for limiter in self.limiters.values())

    def watch(self) -> None:
        """Record the offered sum after every change on any charger."""
        for sim in self.sims.values():
            sim.on_recompute = self._observe

    def _observe(self, sim: SimulatedCharger) -> None:
        self.samples.append((self.now, self.total_offered(), self.allowed))
        for connector in sim.connectors.values():
            last = next(
                (
                    p
                    for _t, cb, c, p in reversed(self.switches)
                    if (cb, c) == (sim.charge_box_id, connector.connector_id)
                ),
                3,
            )
            if connector.model.phases != last:
                self.switches.append(
                    (self.now, sim.charge_box_id, connector.connector_id, connector.model.phases)
                )

    async def report(self) -> None:
        """Every charger sends its meter values (the central system sees the draws)."""
        for sim in self.sims.values():
            if not sim.connected:
                continue
            for connector_id in sim.connectors:
                await sim.send_meter_values(connector_id)

    async def period(
        self,
        *,
        house: float | None = None,
        production: float | None = None,
        metered: bool = True,
        solar: bool = False,
    ) -> None:
        """One control period: time passes, the meters report, the controller steps."""
        before = self.house
        if house is not None:
            self.house = house
        if production is not None:
            self.production = production
        max_current = self.controller.settings.max_current
        # While new limits are applied, the old allocation (made for the house load
        # before) and the new one are each within their budget.
        self.allowed = max_current - min(before, self.house)
        self.now += PERIOD
        await self.report()
        await self.controller.step(
            meter=self.meter() if metered else None,
            grid_power=self.grid_power() if solar else None,
        )
        self.allowed = max_current - self.house
        await self.settle()

    async def settle(self) -> None:
        """Let status notifications and profile answers arrive."""
        for sim in self.sims.values():
            if sim.connected:
                await sim.tick()
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def site(
    central: CentralSystem,
    chargers: dict[str, dict[str, Any]],
    *,
    circuit: CircuitSettings,
    phase_settings: PhaseSwitchSettings | None = None,
) -> AsyncIterator[Site]:
    """Chargers `{id: {priority, max_current, phase_switching, mode, ...}}` on one circuit."""
    holder: list[Site] = []
    controller = CircuitController(
        circuit, phase_settings=phase_settings, clock=lambda: holder[0].now
    )
    sims: dict[str, SimulatedCharger] = {}
    sessions: dict[str, ChargerSession] = {}
    limiters: dict[str, CurrentLimiter] = {}
    async with contextlib.AsyncExitStack() as stack:
        for charge_box_id, options in chargers.items():
            sessions[charge_box_id] = central.set_charger(
                ChargerConfig(charge_box_id=charge_box_id, meter_interval=0)
            )
            sims[charge_box_id] = SimulatedCharger(
                f"ws://{LOOPBACK}:{central.port}",
                charge_box_id,
                rate_unit=options.get("rate_unit", "A"),
                max_current=options.get("max_current", 16.0),
                phase_switching=options.get("phase_switching", False),
                measurands=(
                    "Energy.Active.Import.Register",
                    "Power.Active.Import",
                    "Current.Import",
                    "Voltage",
                    "Current.Offered",
                ),
            )
            await stack.enter_async_context(sims[charge_box_id])
            session = sessions[charge_box_id]
            await eventually(
                lambda session=session: all(  # type: ignore[misc]
                    key in session.state.configuration for key in CAPABILITY_KEYS
                )
            )
            limiters[charge_box_id] = CurrentLimiter(session, min_interval=0.0)
            member = controller.add_member(
                session.state,
                limiters[charge_box_id],
                MemberSettings(
                    max_current=options.get("max_current", 16.0),
                    priority=options.get("priority", 0),
                ),
            )
            member.modes[1] = options.get("mode", Mode.FAST)
        result = Site(central, controller, sims, sessions, limiters)
        holder.append(result)
        result.allowed = circuit.max_current
        result.watch()
        try:
            yield result
        finally:
            for limiter in limiters.values():
                limiter.close()
