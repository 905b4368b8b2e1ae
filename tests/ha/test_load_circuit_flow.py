"""The circuit subentry flow (load management): add a circuit, change it, and what it refuses.

A circuit is the supply several chargers share; its budget per phase is what OCPP 1.6
smart charging limits (section 3.13, limits per phase in ChargingSchedulePeriod 7.14)
are divided from. The forms' texts are checked as the other flows' are.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
import pytest

from custom_components.ocpp_central.const import (
    CONF_CHARGERS,
    CONF_CIRCUIT_MAX_CURRENT,
    CONF_CIRCUIT_POWER_ENTITY,
    CONF_CURRENT_L1_ENTITY,
    CONF_CURRENT_L2_ENTITY,
    CONF_CURRENT_L3_ENTITY,
    CONF_FALLBACK_CURRENT,
    CONF_NAME,
    CONF_PRIORITY,
    SUBENTRY_CHARGER,
    SUBENTRY_CIRCUIT,
)

from .conftest import ConfigEntryFactory, charger_subentry
from .test_config_flow import (
    only_subentry,
    own_sensor,
    start_subentry_flow,
    subentries_of,
    submit_subentry,
)

PHASES = {
    CONF_CURRENT_L1_ENTITY: "sensor.house_l1",
    CONF_CURRENT_L2_ENTITY: "sensor.house_l2",
    CONF_CURRENT_L3_ENTITY: "sensor.house_l3",
}


def chargers_offered(result: Any) -> list[str]:
    (field,) = (key for key in result["data_schema"].schema if key.schema == CONF_CHARGERS)
    selector = result["data_schema"].schema[field]
    return [option["value"] for option in selector.config["options"]]


async def add_circuit(hass: HomeAssistant, entry: ConfigEntry, user_input: dict[str, Any]) -> Any:
    result = await start_subentry_flow(hass, entry, SUBENTRY_CIRCUIT)
    assert result["step_id"] == "user"
    return await submit_subentry(hass, result, user_input)


async def test_add_a_circuit_with_the_house_phase_currents(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(chargers=["CP2", "CP1"])
    result = await start_subentry_flow(hass, entry, SUBENTRY_CIRCUIT)
    assert chargers_offered(result) == ["CP1", "CP2"]

    result = await submit_subentry(
        hass,
        result,
        {
            CONF_NAME: " Main fuse ",
            CONF_CIRCUIT_MAX_CURRENT: 25,
            CONF_CHARGERS: ["CP1", "CP2"],
            **PHASES,
            CONF_FALLBACK_CURRENT: 10,
        },
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    circuit = only_subentry(entry, SUBENTRY_CIRCUIT)
    assert circuit.title == "Main fuse"
    assert circuit.unique_id == "circuit_main fuse"
    assert dict(circuit.data) == {
        CONF_NAME: "Main fuse",
        CONF_CIRCUIT_MAX_CURRENT: 25,
        CONF_CHARGERS: ["CP1", "CP2"],
        **PHASES,
        CONF_FALLBACK_CURRENT: 10,
    }


async def test_add_a_static_circuit_and_one_with_a_power_sensor(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(chargers=["CP1", "CP2"])
    result = await add_circuit(
        hass, entry, {CONF_NAME: "Garage", CONF_CIRCUIT_MAX_CURRENT: 16, CONF_CHARGERS: ["CP1"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    result = await add_circuit(
        hass,
        entry,
        {
            CONF_NAME: "Barn",
            CONF_CIRCUIT_MAX_CURRENT: 32,
            CONF_CHARGERS: ["CP2"],
            CONF_CIRCUIT_POWER_ENTITY: "sensor.grid",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    data = {s.title: dict(s.data) for s in subentries_of(entry, SUBENTRY_CIRCUIT)}
    assert data == {
        "Garage": {CONF_NAME: "Garage", CONF_CIRCUIT_MAX_CURRENT: 16, CONF_CHARGERS: ["CP1"]},
        "Barn": {
            CONF_NAME: "Barn",
            CONF_CIRCUIT_MAX_CURRENT: 32,
            CONF_CHARGERS: ["CP2"],
            CONF_CIRCUIT_POWER_ENTITY: "sensor.grid",
        },
    }


@pytest.mark.parametrize(
    ("user_input", "errors"),
    [
        ({CONF_NAME: "  "}, {CONF_NAME: "invalid_name"}),
        ({CONF_CHARGERS: []}, {CONF_CHARGERS: "no_chargers"}),
        ({CONF_CURRENT_L1_ENTITY: "sensor.house_l1"}, {"base": "incomplete_phases"}),
        ({**PHASES, CONF_CIRCUIT_POWER_ENTITY: "sensor.grid"}, {"base": "currents_or_power"}),
        ({CONF_FALLBACK_CURRENT: 30}, {CONF_FALLBACK_CURRENT: "fallback_above_max"}),
    ],
)
async def test_what_a_circuit_form_refuses(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    user_input: dict[str, Any],
    errors: dict[str, str],
) -> None:
    entry = mock_config_entry(chargers=["CP1"])
    base = {CONF_NAME: "Main", CONF_CIRCUIT_MAX_CURRENT: 25, CONF_CHARGERS: ["CP1"]}
    result = await add_circuit(hass, entry, base | user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert subentries_of(entry, SUBENTRY_CIRCUIT) == []


async def test_the_integrations_own_sensors_cannot_be_the_house_meter(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(chargers=["CP1"])
    power = own_sensor(hass, entry, "CP1_1_power")
    er.async_get(hass).async_get_or_create("sensor", "other_integration", "grid")
    result = await add_circuit(
        hass,
        entry,
        {
            CONF_NAME: "Main",
            CONF_CIRCUIT_MAX_CURRENT: 25,
            CONF_CHARGERS: ["CP1"],
            CONF_CIRCUIT_POWER_ENTITY: power,
        },
    )
    assert result["errors"] == {"base": "own_sensor"}


async def test_a_charger_is_on_one_circuit_and_names_are_unique(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(chargers=["CP1", "CP2"])
    first = {CONF_NAME: "Main", CONF_CIRCUIT_MAX_CURRENT: 25, CONF_CHARGERS: ["CP1"]}
    assert (await add_circuit(hass, entry, first))["type"] is FlowResultType.CREATE_ENTRY

    again = await add_circuit(hass, entry, first | {CONF_NAME: "MAIN", CONF_CHARGERS: ["CP2"]})
    assert again["type"] is FlowResultType.ABORT
    assert again["reason"] == "already_configured"

    other = await add_circuit(hass, entry, first | {CONF_NAME: "Garage"})
    assert other["errors"] == {CONF_CHARGERS: "charger_in_other_circuit"}


async def test_reconfigure_a_circuit(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(chargers=["CP1", "CP2"])
    await add_circuit(
        hass,
        entry,
        {CONF_NAME: "Main", CONF_CIRCUIT_MAX_CURRENT: 25, CONF_CHARGERS: ["CP1"], **PHASES},
    )
    circuit = only_subentry(entry, SUBENTRY_CIRCUIT)
    result = await start_subentry_flow(hass, entry, SUBENTRY_CIRCUIT, circuit.subentry_id)
    assert result["step_id"] == "reconfigure"
    assert result["description_placeholders"] == {"name": "Main"}

    # Its own chargers are not "on another circuit"; a bad value is refused first.
    result = await submit_subentry(
        hass,
        result,
        {CONF_CIRCUIT_MAX_CURRENT: 20, CONF_CHARGERS: ["CP1", "CP2"], CONF_FALLBACK_CURRENT: 21},
    )
    assert result["errors"] == {CONF_FALLBACK_CURRENT: "fallback_above_max"}
    result = await submit_subentry(
        hass, result, {CONF_CIRCUIT_MAX_CURRENT: 20, CONF_CHARGERS: ["CP1", "CP2"]}
    )
    assert result["type"] is FlowResultType.ABORT
    assert dict(only_subentry(entry, SUBENTRY_CIRCUIT).data) == {
        CONF_NAME: "Main",
        CONF_CIRCUIT_MAX_CURRENT: 20,
        CONF_CHARGERS: ["CP1", "CP2"],
    }


async def test_a_charger_has_a_priority(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    result = await submit_subentry(hass, result, {"charge_box_id": "CP9", CONF_PRIORITY: 3})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert only_subentry(entry, SUBENTRY_CHARGER).data[CONF_PRIORITY] == 3
    assert charger_subentry("CPX")["data"].get(CONF_PRIORITY) is None
