"""The contract a price-based planner (the HACS "EV Smart Charging" integration) relies on.

Such a planner calls `switch.turn_on` / `switch.turn_off` on the charger control entity it
was given, without waiting for the result, and calls `turn_on` again while its charging
state entity is not on; automations set the current limit with `number.set_value`.
docs/companions.md describes the setup. Here the ordinary services are called that way, in
quick succession and from automations, against the whole integration and the project's
simulator over 127.0.0.1 websockets; what counts is what the charger ends up doing: the
last word wins (OCPP 1.6 sections 5.11, 5.12 and 5.16).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
import re
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation import DOMAIN as AUTOMATION_DOMAIN
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
import yaml

from custom_components.ocpp_central.const import DEFAULT_REMOTE_ID_TAG, DOMAIN
from custom_components.ocpp_central.protocol.state import ConfigurationValue
from custom_components.ocpp_central.runtime import OcppRuntime
from custom_components.ocpp_central.switch import DEFAULT_CONNECTION_TIMEOUT
from simulator import SimulatedCharger, TransactionRefused

from .conftest import (
    Chargers,
    ConfigEntryFactory,
    charger_subentry,
    device_of,
    entity_id,
    number,
    setup_entry,
    wait_for_state,
)

# Named as in docs/companions.md, whose automations the tests load as they stand.
CHARGER = "Garage"
DOCS = Path(__file__).parents[2] / "docs" / "companions.md"
# The planner's own sensor: "on" while it wants the car to charge.
PLANNER = "sensor.ev_smart_charging_charging"


async def call(hass: HomeAssistant, domain: str, service: str, data: dict[str, Any]) -> None:
    """Call a service as the planner does: without waiting for it to finish."""
    await hass.services.async_call(domain, service, data, blocking=False)


def actions(cp: SimulatedCharger, action: str) -> list[dict[str, Any]]:
    """The payloads of every CALL of `action` the charger received."""
    return [payload for name, payload in cp.calls_received if name == action]


@pytest.fixture
async def site(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> tuple[OcppRuntime, SimulatedCharger]:
    """A central system with one connected charger; limits are sent without delay."""
    entry = mock_config_entry(
        port=free_port, chargers=[charger_subentry(CHARGER, meter_interval=0)]
    )
    runtime = await setup_entry(hass, entry)
    # Coalescing stays (a limit is sent once the previous one is answered); no waiting.
    runtime.limiters[CHARGER].min_interval = 0.0
    return runtime, await chargers.connect(free_port, CHARGER)


class StartGate:
    """Holds the charger's transaction starts, as a charger that accepted a remote start
    and waits for the car (section 5.11); then lets them through or drops them (the car
    did not come: ConnectionTimeOut, section 9.1.7)."""

    def __init__(self, cp: SimulatedCharger) -> None:
        self.cp = cp
        self.start: Callable[..., Awaitable[int]] = cp.start_transaction
        self._open = asyncio.Event()
        self._drop = False
        cp.start_transaction = self._held  # type: ignore[method-assign]

    async def _held(self, *args: Any, **kwargs: Any) -> int:
        await self._open.wait()
        if self._drop:
            raise TransactionRefused("Timeout")
        return await self.start(*args, **kwargs)

    def release(self) -> None:
        """The car is ready: the held starts go ahead."""
        self._open.set()

    def drop(self) -> None:
        """The car did not come: the held starts are given up; later ones go through."""
        self._drop = True
        self._open.set()
        self.cp.start_transaction = self.start  # type: ignore[method-assign]


async def test_on_off_on_off_in_quick_succession(
    hass: HomeAssistant, site: tuple[OcppRuntime, SimulatedCharger]
) -> None:
    _, cp = site
    switch = entity_id(hass, "switch", f"{CHARGER}_1_charging")

    for service in ("turn_on", "turn_off", "turn_on"):
        await call(hass, "switch", service, {"entity_id": switch})
    await hass.async_block_till_done()
    await wait_for_state(hass, switch, lambda state: state.state == STATE_ON)
    await cp.wait_until(lambda: cp.connector(1).transaction is not None)
    transaction = cp.connector(1).transaction
    assert transaction is not None
    assert transaction.id_tag == DEFAULT_REMOTE_ID_TAG

    for service in ("turn_off", "turn_on", "turn_off"):
        await call(hass, "switch", service, {"entity_id": switch})
    await hass.async_block_till_done()
    await cp.wait_until(lambda: cp.connector(1).transaction is None)
    await wait_for_state(hass, switch, lambda state: state.state == STATE_OFF)
    # One session, started once and stopped: nothing was refused on the way.
    assert len(actions(cp, "RemoteStartTransaction")) <= 2
    assert {stop["transactionId"] for stop in actions(cp, "RemoteStopTransaction")} == {
        transaction.transaction_id
    }


async def test_turned_off_while_the_start_is_on_its_way(
    hass: HomeAssistant, site: tuple[OcppRuntime, SimulatedCharger]
) -> None:
    _, cp = site
    switch = entity_id(hass, "switch", f"{CHARGER}_1_charging")
    gate = StartGate(cp)

    await hass.services.async_call("switch", "turn_on", {"entity_id": switch}, blocking=True)
    await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)
    assert actions(cp, "RemoteStopTransaction") == []  # nothing to stop yet
    gate.release()  # the car is ready: the charger starts what it accepted

    await cp.wait_until(lambda: cp.connector(1).transaction is not None)
    transaction = cp.connector(1).transaction
    assert transaction is not None
    stop = await cp.wait_for_call("RemoteStopTransaction")
    assert stop == {"transactionId": transaction.transaction_id}
    await cp.wait_until(lambda: cp.connector(1).transaction is None)
    await wait_for_state(hass, switch, lambda state: state.state == STATE_OFF)
    assert len(actions(cp, "RemoteStartTransaction")) == 1


async def test_turned_on_again_before_the_start_arrives(
    hass: HomeAssistant, site: tuple[OcppRuntime, SimulatedCharger]
) -> None:
    _, cp = site
    switch = entity_id(hass, "switch", f"{CHARGER}_1_charging")
    gate = StartGate(cp)

    for service in ("turn_on", "turn_off", "turn_on"):
        await hass.services.async_call("switch", service, {"entity_id": switch}, blocking=True)
    gate.release()

    await wait_for_state(hass, switch, lambda state: state.state == STATE_ON)
    await cp.wait_until(lambda: cp.connector(1).transaction is not None)
    await hass.async_block_till_done()
    assert actions(cp, "RemoteStopTransaction") == []


async def test_an_abandoned_start_is_forgotten(
    hass: HomeAssistant,
    site: tuple[OcppRuntime, SimulatedCharger],
    freezer: FrozenDateTimeFactory,
) -> None:
    runtime, cp = site
    switch = entity_id(hass, "switch", f"{CHARGER}_1_charging")
    gate = StartGate(cp)
    timeout = int(cp.configuration["ConnectionTimeOut"])

    await hass.services.async_call("switch", "turn_on", {"entity_id": switch}, blocking=True)
    await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)
    # The car does not come: the charger gives up after its ConnectionTimeOut (9.1.7).
    freezer.tick(timedelta(seconds=timeout + 1))
    gate.drop()

    # A session started later with the remote_start action is left alone.
    await hass.services.async_call(
        DOMAIN,
        "remote_start",
        {"device_id": device_of(hass, runtime.entry.entry_id, CHARGER).id, "connector_id": 1},
        blocking=True,
        return_response=True,
    )
    await wait_for_state(hass, switch, lambda state: state.state == STATE_ON)
    await cp.wait_until(lambda: cp.connector(1).transaction is not None)
    await hass.async_block_till_done()
    assert actions(cp, "RemoteStopTransaction") == []


async def test_current_limit_in_quick_succession(
    hass: HomeAssistant, site: tuple[OcppRuntime, SimulatedCharger]
) -> None:
    _, cp = site
    limit = entity_id(hass, "number", f"{CHARGER}_1_current_limit")

    for amps in (10, 16, 8):
        await call(hass, "number", "set_value", {"entity_id": limit, "value": amps})
    await hass.async_block_till_done()

    # The last value is the one in force (requests in between may be coalesced away).
    await wait_for_state(hass, limit, lambda state: number(state) == 8)
    profile = actions(cp, "SetChargingProfile")[-1]["csChargingProfiles"]
    (period,) = profile["chargingSchedule"]["chargingSchedulePeriod"]
    assert period["limit"] in (8, 8 * 230 * 3)  # in A, or W where the charger wants W


async def test_driven_by_the_planners_sensor_through_automations(
    hass: HomeAssistant, site: tuple[OcppRuntime, SimulatedCharger]
) -> None:
    _, cp = site
    switch = entity_id(hass, "switch", f"{CHARGER}_1_charging")
    limit = entity_id(hass, "number", f"{CHARGER}_1_current_limit")
    hass.states.async_set(PLANNER, STATE_OFF)
    connected, cheap_hours = docs_automations()
    assert switch == "switch.garage_charging"
    assert limit == "number.garage_current_limit"
    status = hass.states.get("sensor.garage_status")
    assert status is not None
    assert entity_id(hass, "sensor", f"{CHARGER}_1_connector_status") == status.entity_id
    plugged_in = connected["actions"][0]["if"][0]["state"]
    assert set(plugged_in) < set(status.attributes["options"])
    assert await async_setup_component(
        hass, AUTOMATION_DOMAIN, {AUTOMATION_DOMAIN: [connected, *cheap_hours]}
    )
    # Every automation of the page is valid (an invalid one would be unavailable).
    for alias in ("ev_smart_charging_ev_connected", "cheap_hours_start", "cheap_hours_end"):
        assert hass.states.get(f"automation.{alias}").state == STATE_ON  # type: ignore[union-attr]

    hass.states.async_set(PLANNER, STATE_ON)
    await hass.async_block_till_done()
    await wait_for_state(hass, switch, lambda state: state.state == STATE_ON)
    await wait_for_state(hass, limit, lambda state: number(state) == 16)
    await cp.wait_until(lambda: cp.connector(1).transaction is not None)

    # A schedule that ends and starts again at once, then ends: off at the end.
    for planned in (STATE_OFF, STATE_ON, STATE_OFF):
        hass.states.async_set(PLANNER, planned)
    await hass.async_block_till_done()
    await cp.wait_until(lambda: cp.connector(1).transaction is None)
    await wait_for_state(hass, switch, lambda state: state.state == STATE_OFF)


def docs_automations() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The automations docs/companions.md gives: "EV connected", then the cheap hours."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    connected, cheap_hours = (yaml.safe_load(block) for block in blocks)
    return connected, cheap_hours


async def test_a_charger_without_a_readable_connection_timeout_gets_the_default(
    hass: HomeAssistant,
    site: tuple[OcppRuntime, SimulatedCharger],
    freezer: FrozenDateTimeFactory,
) -> None:
    runtime, cp = site
    switch = entity_id(hass, "switch", f"{CHARGER}_1_charging")
    session = runtime.central.sessions[CHARGER]
    session.state.configuration["ConnectionTimeOut"] = ConfigurationValue("soon")
    gate = StartGate(cp)

    await hass.services.async_call("switch", "turn_on", {"entity_id": switch}, blocking=True)
    await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)
    # Past the charger's own 60 s, within the default: the start is still awaited.
    freezer.tick(timedelta(seconds=DEFAULT_CONNECTION_TIMEOUT - 1))
    gate.release()

    await cp.wait_for_call("RemoteStopTransaction")
    await cp.wait_until(lambda: cp.connector(1).transaction is None)
    await wait_for_state(hass, switch, lambda state: state.state == STATE_OFF)
