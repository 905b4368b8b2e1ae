"""Load management inside Home Assistant: a circuit subentry, simulated chargers, entities.

The whole integration runs with the project's simulated chargers over 127.0.0.1 (they
apply the charging profiles they receive, OCPP 1.6 section 3.13). The house meter is
plain sensor states; time moves with the freezer; each circuit steps once per control
period (30 s).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.ocpp_central.const import (
    CONF_CHARGERS,
    CONF_CIRCUIT_MAX_CURRENT,
    CONF_CURRENT_L1_ENTITY,
    CONF_CURRENT_L2_ENTITY,
    CONF_CURRENT_L3_ENTITY,
    CONF_NAME,
    CONF_PRIORITY,
    DOMAIN,
    SUBENTRY_CIRCUIT,
)
from custom_components.ocpp_central.load_runtime import CircuitRuntime
from custom_components.ocpp_central.runtime import OcppRuntime
from simulator import SimulatedCharger

from .conftest import (
    GRID,
    SOLAR_OPTIONS,
    Chargers,
    ConfigEntryFactory,
    charger_subentry,
    entity_id,
    setup_entry,
    state_of,
)

HOUSE = ("sensor.house_l1", "sensor.house_l2", "sensor.house_l3")


def circuit_subentry(name: str, chargers: list[str], **data: Any) -> ConfigSubentryData:
    return ConfigSubentryData(
        data={
            CONF_NAME: name,
            CONF_CIRCUIT_MAX_CURRENT: 16,
            CONF_CHARGERS: chargers,
            CONF_CURRENT_L1_ENTITY: HOUSE[0],
            CONF_CURRENT_L2_ENTITY: HOUSE[1],
            CONF_CURRENT_L3_ENTITY: HOUSE[2],
            **data,
        },
        subentry_type=SUBENTRY_CIRCUIT,
        title=name,
        unique_id=f"circuit_{name.casefold()}",
    )


def house(hass: HomeAssistant, *amps: float | str) -> None:
    for sensor, value in zip(HOUSE, amps, strict=True):
        hass.states.async_set(sensor, str(value), {"unit_of_measurement": "A"})


def offered(sim: SimulatedCharger, connector_id: int = 1) -> float:
    return sim.connector(connector_id).model.offered_current


def spaced_limits_off(runtime: OcppRuntime) -> None:
    """No spacing of limits: time is frozen here (the spacing is tested elsewhere)."""
    for limiter in runtime.limiters.values():
        limiter.min_interval = 0.0


def only_circuit(runtime: OcppRuntime) -> CircuitRuntime:
    (circuit,) = runtime.load.circuits.values()
    return circuit


async def step_done(circuit: CircuitRuntime) -> None:
    """Let a step that waits for the chargers finish (time is frozen: no timers)."""
    for _ in range(10_000):
        if not circuit.controller.busy:
            return
        await asyncio.sleep(0)
    raise AssertionError("the circuit's step did not finish")


async def period(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, *sims: SimulatedCharger
) -> None:
    """A control period passes (for the chargers too), they report, the circuit steps."""
    freezer.tick(timedelta(seconds=31))
    for clock in {id(sim.clock): sim.clock for sim in sims}.values():
        clock.advance(31)  # type: ignore[attr-defined]
    for sim in sims:
        for connector_id in sim.connectors:
            await sim.send_meter_values(connector_id)
    runtime: OcppRuntime = hass.config_entries.async_entries(DOMAIN)[0].runtime_data
    circuit = only_circuit(runtime)
    await step_done(circuit)  # one asked for by a change (a mode, a limit) may still run
    await circuit.async_step()
    for sim in sims:
        await sim.tick()
    await hass.async_block_till_done()


async def two_on_a_circuit(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
    **circuit: Any,
) -> tuple[MockConfigEntry, OcppRuntime, SimulatedCharger, SimulatedCharger]:
    house(hass, 0, 0, 0)
    entry = mock_config_entry(
        port=free_port,
        chargers=[
            charger_subentry("CP1", meter_interval=0, max_current=16),
            charger_subentry("CP2", meter_interval=0, max_current=16),
        ],
        id_tags=["TAG1", "TAG2"],
    )
    hass.config_entries.async_add_subentry(
        entry, _as_subentry(circuit_subentry("Main", ["CP1", "CP2"], **circuit))
    )
    runtime = await setup_entry(hass, entry)
    spaced_limits_off(runtime)
    cp1 = await chargers.connect(free_port, "CP1", rate_unit="A", max_current=16.0)
    cp2 = await chargers.connect(free_port, "CP2", rate_unit="A", max_current=16.0)
    await hass.async_block_till_done()
    return entry, runtime, cp1, cp2


def _as_subentry(data: ConfigSubentryData) -> Any:
    from homeassistant.config_entries import ConfigSubentry

    return ConfigSubentry(
        data=data["data"],
        subentry_type=data["subentry_type"],
        title=data["title"],
        unique_id=data["unique_id"],
    )


async def test_a_circuit_shares_its_budget_and_shows_why(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
    freezer: FrozenDateTimeFactory,
) -> None:
    _entry, runtime, cp1, cp2 = await two_on_a_circuit(hass, mock_config_entry, free_port, chargers)
    circuit = only_circuit(runtime)
    # The circuit steps once per control period by itself.
    freezer.tick(timedelta(seconds=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert circuit.allocation is not None
    await step_done(circuit)
    await period(hass, freezer, cp1, cp2)
    # Idle connectors get 0 A: a car arriving cannot take more than its share.
    assert (offered(cp1), offered(cp2)) == (0.0, 0.0)
    assert state_of(hass, "sensor", "CP1_1_limit_source").state == "paused"

    await cp1.start_transaction(1, "TAG1", authorize=False)
    await cp2.start_transaction(1, "TAG2", authorize=False)
    house(hass, 4, 4, 4)
    await period(hass, freezer, cp1, cp2)
    # 16 A less the house's 4 A: 6 A each.
    assert (offered(cp1), offered(cp2)) == (6.0, 6.0)
    source = state_of(hass, "sensor", "CP1_1_limit_source")
    assert source.state == "circuit"
    assert source.attributes["circuit"] == "Main"
    assert source.attributes["limit"] == 6.0
    budget = hass.states.get(entity_id(hass, "sensor", f"{circuit.subentry_id}_circuit_budget"))
    allocated = hass.states.get(
        entity_id(hass, "sensor", f"{circuit.subentry_id}_circuit_allocated")
    )
    assert budget is not None
    assert allocated is not None
    assert float(budget.state) == 12
    assert float(allocated.state) == 12
    assert budget.attributes["fallback"] is False

    # The meter loses its value: the safe static share, half the supply (8 A).
    hass.states.async_set(HOUSE[1], "unavailable")
    await period(hass, freezer, cp1, cp2)
    assert offered(cp1) + offered(cp2) <= 8
    budget = hass.states.get(entity_id(hass, "sensor", f"{circuit.subentry_id}_circuit_budget"))
    assert budget is not None
    assert budget.attributes["fallback"] is True
    assert {state_of(hass, "sensor", f"CP{n}_1_limit_source").state for n in (1, 2)} == {
        "circuit",
        "paused",
    }


async def test_priority_and_the_users_limit(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
    freezer: FrozenDateTimeFactory,
) -> None:
    entry, runtime, cp1, cp2 = await two_on_a_circuit(hass, mock_config_entry, free_port, chargers)
    # CP2 gets the higher priority (the charger form's field), applied without a reload.
    sub = next(s for s in entry.subentries.values() if s.title == "CP2")
    hass.config_entries.async_update_subentry(entry, sub, data={**sub.data, CONF_PRIORITY: 2})
    await hass.async_block_till_done()
    await cp1.start_transaction(1, "TAG1", authorize=False)
    await cp2.start_transaction(1, "TAG2", authorize=False)
    await period(hass, freezer, cp1, cp2)
    assert (offered(cp1), offered(cp2)) == (0.0, 16.0)
    assert state_of(hass, "sensor", "CP2_1_limit_source").state == "charger"

    # The user caps CP2 at 10 A: it is CP2's cap inside the circuit, CP1 gets the rest.
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": entity_id(hass, "number", "CP2_1_current_limit"), "value": 10},
        blocking=True,
    )
    await period(hass, freezer, cp1, cp2)
    assert (offered(cp1), offered(cp2)) == (6.0, 10.0)
    assert state_of(hass, "sensor", "CP2_1_limit_source").state == "user"
    assert state_of(hass, "sensor", "CP1_1_limit_source").state == "circuit"

    # Removing the circuit hands the chargers back: their limits are the user's again.
    circuit = only_circuit(runtime)
    hass.config_entries.async_remove_subentry(entry, circuit.subentry_id)
    await hass.async_block_till_done()
    assert runtime.load.circuits == {}
    assert runtime.solar["CP1"].managed is False
    assert state_of(hass, "sensor", "CP1_1_limit_source").state in {"user", "circuit", "schedule"}


async def test_phase_mode_of_a_charger_that_switches(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
    freezer: FrozenDateTimeFactory,
) -> None:
    house(hass, 0, 0, 0)
    entry = mock_config_entry(
        port=free_port,
        chargers=[charger_subentry("CP1", meter_interval=0, max_current=16)],
        id_tags=["TAG1"],
    )
    hass.config_entries.async_add_subentry(entry, _as_subentry(circuit_subentry("Main", ["CP1"])))
    spaced_limits_off(await setup_entry(hass, entry))
    cp1 = await chargers.connect(
        free_port, "CP1", rate_unit="A", max_current=16.0, phase_switching=True
    )
    await hass.async_block_till_done()
    select = entity_id(hass, "select", "CP1_phase_mode")
    assert hass.states.get(select).state == "auto"  # type: ignore[union-attr]

    await cp1.start_transaction(1, "TAG1", authorize=False)
    await hass.services.async_call(
        "select", "select_option", {"entity_id": select, "option": "1"}, blocking=True
    )
    await period(hass, freezer, cp1)
    # numberPhases 1 in the schedule (OCPP 1.6 section 7.14): the charger uses one phase.
    assert cp1.connector(1).model.phases == 1
    period_sent = cp1.profiles_received[-1].profile["chargingSchedule"]["chargingSchedulePeriod"]
    assert period_sent[0]["numberPhases"] == 1
    state = hass.states.get(select)
    assert state is not None
    assert (state.state, state.attributes["phases"]) == ("1", 1)


async def test_a_power_meter_solar_modes_and_a_changed_circuit(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
    freezer: FrozenDateTimeFactory,
) -> None:
    # The house meter as one power sensor (kW, import positive): also the solar surplus.
    hass.states.async_set(GRID, "2.76", {"unit_of_measurement": "kW"})
    entry = mock_config_entry(
        port=free_port,
        chargers=[
            charger_subentry("CP1", meter_interval=0, **SOLAR_OPTIONS),
            charger_subentry("CP2", meter_interval=0, max_current=16),
        ],
        id_tags=["TAG1", "TAG2"],
    )
    circuit_data = circuit_subentry(
        "Main",
        ["CP1", "CP2"],
        current_l1_entity=None,
        current_l2_entity=None,
        current_l3_entity=None,
        power_entity=GRID,
    )
    circuit_data["data"] = {k: v for k, v in circuit_data["data"].items() if v is not None}
    hass.config_entries.async_add_subentry(entry, _as_subentry(circuit_data))
    runtime = await setup_entry(hass, entry)
    spaced_limits_off(runtime)
    cp1 = await chargers.connect(free_port, "CP1", rate_unit="A", max_current=16.0)
    cp2 = await chargers.connect(free_port, "CP2", rate_unit="A", max_current=16.0)
    await hass.async_block_till_done()
    await cp2.start_transaction(1, "TAG2", authorize=False)
    await period(hass, freezer, cp1, cp2)
    # 2760 W over three phases at 230 V: 4 A a phase for the house, 12 A left for CP2.
    assert offered(cp2) == 12.0

    # CP1 charges from the sun only (its own solar section makes the select).
    mode = entity_id(hass, "select", "CP1_charging_mode")
    await hass.services.async_call(
        "select", "select_option", {"entity_id": mode, "option": "solar"}, blocking=True
    )
    await cp1.start_transaction(1, "TAG1", authorize=False)
    hass.states.async_set(GRID, "-1.5", {"unit_of_measurement": "kW"})  # exporting
    for _ in range(3):
        await period(hass, freezer, cp1, cp2)
    # 1.5 kW of export plus nothing drawn by CP1: 2 A on three phases, below the minimum.
    assert offered(cp1) == 0.0
    assert state_of(hass, "sensor", "CP1_1_limit_source").state == "paused"
    hass.states.async_set(GRID, "-6", {"unit_of_measurement": "kW"})
    for _ in range(3):
        await period(hass, freezer, cp1, cp2)
    assert offered(cp1) >= 6.0
    assert state_of(hass, "sensor", "CP1_1_limit_source").state in {"solar", "circuit"}
    assert offered(cp1) + offered(cp2) <= 16.0

    # The meter goes away: the circuit falls back at once, without waiting for a period.
    circuit = only_circuit(runtime)
    hass.states.async_set(GRID, "unavailable")
    await hass.async_block_till_done()
    await step_done(circuit)
    allocation = circuit.allocation
    assert allocation is not None
    assert allocation.fallback

    # Changing the circuit applies at once: a static 10 A supply now.
    sub = next(s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_CIRCUIT)
    hass.config_entries.async_update_subentry(
        entry, sub, data={CONF_NAME: "Main", CONF_CIRCUIT_MAX_CURRENT: 10, CONF_CHARGERS: ["CP2"]}
    )
    await hass.async_block_till_done()
    await period(hass, freezer, cp1, cp2)
    assert offered(cp2) == 10.0
    assert circuit.member("CP1") is None
    assert runtime.solar["CP1"].managed is False

    # A charger removed from the central system leaves the circuit's list too.
    cp2_sub = next(s for s in entry.subentries.values() if s.title == "CP2")
    hass.config_entries.async_remove_subentry(entry, cp2_sub.subentry_id)
    await hass.async_block_till_done()
    sub = next(s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_CIRCUIT)
    assert sub.data[CONF_CHARGERS] == []
    assert circuit.controller.members == {}


async def test_each_connector_of_a_charger_has_its_own_mode(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
    freezer: FrozenDateTimeFactory,
) -> None:
    house(hass, 0, 0, 0)
    entry = mock_config_entry(
        port=free_port,
        chargers=[charger_subentry("CP1", meter_interval=0, max_current=16)],
        id_tags=["TAG1", "TAG2"],
    )
    hass.config_entries.async_add_subentry(entry, _as_subentry(circuit_subentry("Main", ["CP1"])))
    spaced_limits_off(await setup_entry(hass, entry))
    cp1 = await chargers.connect(free_port, "CP1", connectors=2, rate_unit="A", max_current=16.0)
    await hass.async_block_till_done()
    await cp1.start_transaction(1, "TAG1", authorize=False)
    await cp1.start_transaction(2, "TAG2", authorize=False)
    await period(hass, freezer, cp1)
    assert (offered(cp1, 1), offered(cp1, 2)) == (8.0, 8.0)

    # Connector 2 off: connector 1 gets the whole circuit.
    select = entity_id(hass, "select", "CP1_2_connector_charging_mode")
    assert hass.states.get(select).state == "fast"  # type: ignore[union-attr]
    await hass.services.async_call(
        "select", "select_option", {"entity_id": select, "option": "off"}, blocking=True
    )
    await period(hass, freezer, cp1)
    assert (offered(cp1, 1), offered(cp1, 2)) == (16.0, 0.0)
    assert hass.states.get(select).state == "off"  # type: ignore[union-attr]
    assert state_of(hass, "sensor", "CP1_2_limit_source").state == "paused"


async def test_removing_a_circuit_removes_its_device_and_sensors(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    entry, runtime, _cp1, _cp2 = await two_on_a_circuit(
        hass, mock_config_entry, free_port, chargers
    )
    circuit = only_circuit(runtime)
    devices = dr.async_get(hass)
    identifier = (DOMAIN, f"circuit_{circuit.subentry_id}")
    device = devices.async_get_device_by_identifier(identifier, entry.entry_id)
    assert device is not None
    entities = er.async_get(hass)
    sensors = er.async_entries_for_device(entities, device.id)
    assert {e.unique_id for e in sensors} >= {
        f"{circuit.subentry_id}_circuit_budget",
        f"{circuit.subentry_id}_circuit_allocated",
    }

    hass.config_entries.async_remove_subentry(entry, circuit.subentry_id)
    await hass.async_block_till_done()

    # Stale devices: nothing of the circuit is left in the registries.
    assert devices.async_get_device_by_identifier(identifier, entry.entry_id) is None
    for sensor in sensors:
        assert entities.async_get(sensor.entity_id) is None
        assert hass.states.get(sensor.entity_id) is None
    # The chargers' devices stay.
    assert devices.async_get_device_by_identifier((DOMAIN, "CP1"), entry.entry_id) is not None


async def test_the_users_cap_on_a_circuit_survives_a_restart(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A Current limit set on a connector of a circuit is kept, as one set without is."""
    entry, runtime, _cp1, _cp2 = await two_on_a_circuit(
        hass, mock_config_entry, free_port, chargers
    )

    async def cap(amps: float) -> None:
        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": entity_id(hass, "number", "CP2_1_current_limit"), "value": amps},
            blocking=True,
        )

    await cap(10)
    assert runtime.store.user_caps("CP2") == {1: 10.0}
    await cap(16)  # the charger's maximum: no cap
    assert runtime.store.user_caps("CP2") == {}
    await cap(8)

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    restarted: OcppRuntime = entry.runtime_data
    assert restarted is not runtime
    member = only_circuit(restarted).controller.members["CP2"]
    assert member.user_limits == {1: 8.0}
