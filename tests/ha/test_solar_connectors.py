"""Solar charging on every connector of a charger with several that is on no circuit.

The charger's solar controller shares the surplus between its connectors with the
allocator of load management (by priority, then equally; each connector in its own
charging mode, the `connector_charging_mode` select). The whole integration runs with a
charger over 127.0.0.1 (`make_harness`); limits are charging profiles per connector
(OCPP 1.6 sections 3.13 and 5.16).
"""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.number import (
    ATTR_VALUE,
    DOMAIN as NUMBER_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.components.select import DOMAIN as SELECT_DOMAIN, SERVICE_SELECT_OPTION
from homeassistant.const import ATTR_ENTITY_ID, ATTR_OPTION, Platform
from homeassistant.core import HomeAssistant

from custom_components.ocpp_central.protocol.load.allocation import LimitSource

from .conftest import CHARGER, SOLAR_OPTIONS, Harness, HarnessFactory, grid

TAGS = {"TAG-1": {"status": "Accepted"}, "TAG-2": {"status": "Accepted"}}


def limits(harness: Harness) -> tuple[float | None, float | None]:
    state = harness.session.state
    return state.connector(1).current_limit, state.connector(2).current_limit


async def two_cars(harness: Harness) -> None:
    """Boot a two-connector charger with a car charging on each, drawing nothing yet."""
    await harness.boot(connectors=2)
    for connector_id, tag in ((1, "TAG-1"), (2, "TAG-2")):
        await harness.start(connector_id, tag, 1000)
        await harness.status(connector_id, "Charging")
        await harness.meter(connector_id, {"Power.Active.Import": 0})


async def test_the_surplus_is_shared_equally_between_the_connectors(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -4600)
    harness = await make_harness([Platform.NUMBER], tags=TAGS, charger=SOLAR_OPTIONS)
    await two_cars(harness)

    await harness.tick(freezer)

    # 4600 W / 230 V on one phase = 20 A: 10 A each (not connector 1 alone).
    assert limits(harness) == (10, 10)
    assert harness.control.shared is not None
    assert harness.control.last_error is None
    load = harness.runtime.load
    source, attributes = load.limit_source(CHARGER, 2)
    assert source is LimitSource.SOLAR
    assert (attributes["limit"], attributes["circuit"]) == (10, None)

    # A user's limit (the Current limit number) caps its connector inside the sharing:
    # the other takes the rest; at the maximum it caps nothing.
    number = harness.entity_id(NUMBER_DOMAIN, f"{CHARGER}_1_current_limit")
    for amps, expected in ((8, (8, 12)), (16, (10, 10))):
        await hass.services.async_call(
            NUMBER_DOMAIN,
            SERVICE_SET_VALUE,
            {ATTR_ENTITY_ID: number, ATTR_VALUE: amps},
            blocking=True,
        )
        await hass.async_block_till_done()
        assert limits(harness) == expected


async def test_each_connector_follows_its_own_mode(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -4600)
    harness = await make_harness([Platform.SELECT], tags=TAGS, charger=SOLAR_OPTIONS)
    await two_cars(harness)
    await harness.tick(freezer)
    assert limits(harness) == (10, 10)

    select = harness.entity_id(SELECT_DOMAIN, f"{CHARGER}_2_connector_charging_mode")
    assert harness.state(SELECT_DOMAIN, f"{CHARGER}_2_connector_charging_mode") == "solar"
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: select, ATTR_OPTION: "off"},
        blocking=True,
    )
    await hass.async_block_till_done()

    # Connector 2 paused at once; connector 1 takes the whole surplus (20 A), capped at
    # the charger's 16 A maximum.
    assert limits(harness) == (16, 0)
    assert harness.state(SELECT_DOMAIN, f"{CHARGER}_2_connector_charging_mode") == "off"

    # The charger's own mode still drives the connectors without one of their own.
    harness.control.async_set_mode(harness.control.mode.FAST)
    await hass.async_block_till_done()
    assert limits(harness) == (16, 0)
    grid(hass, 3680)  # 16 A importing now: connector 1 stays fast
    await harness.tick(freezer)
    assert limits(harness) == (16, 0)


async def test_a_charger_with_one_connector_keeps_its_single_controller(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -2300)
    harness = await make_harness([], charger=SOLAR_OPTIONS)
    await harness.boot(connectors=1)
    await harness.start(1, "TAG-1", 1000)

    await harness.tick(freezer)

    assert harness.session.state.connector(1).current_limit == 10
    assert harness.control.shared is None
    assert harness.control.decision is not None


async def test_a_circuit_taking_over_ends_the_sharing(
    hass: HomeAssistant, make_harness: HarnessFactory, freezer: FrozenDateTimeFactory
) -> None:
    grid(hass, -4600)
    harness = await make_harness([], tags=TAGS, charger=SOLAR_OPTIONS)
    await two_cars(harness)
    await harness.tick(freezer)
    assert harness.control.shared is not None

    # On a circuit (`managed`) the circuit sets the limits (here 6 A on connector 1);
    # the sharing forgets what it had confirmed, so once the charger is off the circuit
    # again it sends its share rather than taking the old 10 A as still in force.
    harness.control.managed = True
    await harness.tick(freezer)
    assert harness.control.shared is None
    await harness.limiter.set_limit(1, 6)
    assert limits(harness) == (6, 10)
    harness.control.managed = False
    await harness.tick(freezer)
    assert harness.control.shared is not None
    assert limits(harness) == (10, 10)
