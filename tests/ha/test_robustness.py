"""Bad input at the Home Assistant layer: actions given nonsense, odd units, falling registers.

Actions with wrong types, an unknown device or an offline charger must fail with
translated errors and send nothing; meter values in kW and kWh must show in W and Wh;
an energy register that falls must not make the Energy dashboard's sensor go backwards.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from ocpp.v16 import call
import probatio
import pytest

from custom_components.ocpp_central.const import DOMAIN

from .conftest import (
    NOW,
    ChargerFactory,
    Chargers,
    ConfigEntryFactory,
    OcppTestCharger,
    charger_subentry,
    device_of,
    energy_wh,
    entity_id,
    number,
    ocpp_time,
    recorded_states,
    setup_entry,
    state_of,
)


async def _meter_values(
    cp: OcppTestCharger, minutes: int, *sampled: dict[str, Any], transaction_id: int | None = None
) -> None:
    """Send one MeterValues (section 4.7) stamped `minutes` after NOW."""
    await cp.call(
        call.MeterValues(
            connector_id=1,
            transaction_id=transaction_id,
            meter_value=[
                {
                    "timestamp": ocpp_time(NOW + timedelta(minutes=minutes)),
                    "sampled_value": list(sampled),
                }
            ],
        )
    )


def _register(value: str, unit: str = "Wh") -> dict[str, Any]:
    return {"value": value, "measurand": "Energy.Active.Import.Register", "unit": unit}


async def test_actions_refuse_bad_input_with_translated_errors(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    entry = mock_config_entry(
        port=free_port,
        chargers=[
            charger_subentry("CP1", meter_interval=0),
            charger_subentry("CP2", meter_interval=0),
        ],
    )
    await setup_entry(hass, entry)
    cp = await chargers.connect(free_port, "CP1")
    online = device_of(hass, entry.entry_id, "CP1").id
    offline = device_of(hass, entry.entry_id, "CP2").id
    received = len(cp.calls_received)

    # Wrong types never reach a charger: the action's schema refuses them.
    for service, data in (
        ("remote_start", {"connector_id": "first"}),
        ("remote_start", {"connector_id": -1}),
        ("remote_start", {"id_tag": "x" * 21}),  # IdToken is CiString20
        ("unlock_connector", {"connector_id": 0}),
        ("get_composite_schedule", {"connector_id": 1, "duration": "an hour"}),
        ("set_charging_profile", {"connector_id": 1, "profile": "{not json"}),
        ("set_charging_profile", {"connector_id": 1, "profile": "[1, 2]"}),
        ("trigger_message", {"requested_message": "StopTransaction"}),
        ("reset", {"type": "warm"}),
    ):
        with pytest.raises(probatio.Invalid):
            await hass.services.async_call(
                DOMAIN,
                service,
                {"device_id": online, **data},
                blocking=True,
                return_response=True,
            )

    async def fails(device_id: str) -> ServiceValidationError:
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, "remote_start", {"device_id": device_id}, blocking=True
            )
        return err.value

    unknown = await fails("no-such-device")
    assert unknown.translation_key == "unknown_device"
    assert unknown.translation_placeholders == {"device_id": "no-such-device"}
    not_connected = await fails(offline)
    assert not_connected.translation_key == "charger_offline"
    assert not_connected.translation_placeholders == {"charger": "CP2"}
    assert len(cp.calls_received) == received

    # The charger's own refusal is a HomeAssistantError with its status.
    with pytest.raises(HomeAssistantError) as refused:
        await hass.services.async_call(
            DOMAIN, "unlock_connector", {"device_id": online, "connector_id": 9}, blocking=True
        )
    assert refused.value.translation_key == "refused"

    # The entities of an offline charger are unavailable: Home Assistant calls none of them.
    assert state_of(hass, "button", "CP2_reset").state == STATE_UNAVAILABLE


@pytest.mark.usefixtures("enable_all_entities")
async def test_kilo_units_show_in_base_units(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    """Section 7.45: values in kW and kWh are converted, never shown 1000 times too small."""
    entry = mock_config_entry(port=free_port, chargers=[charger_subentry("CP1", meter_interval=0)])
    await setup_entry(hass, entry)
    cp = await charger(free_port, "CP1")
    await _meter_values(
        cp,
        1,
        _register("12.34", "kWh"),
        {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
        {"value": "16", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
        {"value": "230.5", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
    )
    power = state_of(hass, "sensor", "CP1_1_power")
    assert power.attributes["unit_of_measurement"] == "kW"
    assert number(power) == pytest.approx(7.2)
    assert energy_wh(state_of(hass, "sensor", "CP1_1_energy")) == pytest.approx(12_340.0)
    assert number(state_of(hass, "sensor", "CP1_1_current")) == pytest.approx(16.0)
    # Shown (and so written) in whole volts.
    assert number(state_of(hass, "sensor", "CP1_1_voltage")) == pytest.approx(230.5, abs=0.5)

    # The same register in Wh is the same value; no jump from the unit change.
    await _meter_values(cp, 2, _register("12400", "Wh"))
    assert energy_wh(state_of(hass, "sensor", "CP1_1_energy")) == pytest.approx(12_400.0)


async def test_falling_register_never_moves_energy_backwards(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    """Replayed old samples and one-off glitches never lower the total_increasing sensor."""
    entry = mock_config_entry(
        port=free_port, chargers=[charger_subentry("CP1", meter_interval=0)], id_tags=["TAG1"]
    )
    await setup_entry(hass, entry)
    cp = await charger(free_port, "CP1")
    started = await cp.start_transaction("TAG1", meter_start=10_000)
    tx_id = started.transaction_id
    energy = entity_id(hass, "sensor", "CP1_1_energy")

    with recorded_states(hass, energy) as seen:
        await _meter_values(cp, 30, _register("15000"), transaction_id=tx_id)
        # An offline queue replayed late: older samples with lower registers.
        await _meter_values(cp, 10, _register("11000"), transaction_id=tx_id)
        await _meter_values(cp, 20, _register("13000"), transaction_id=tx_id)
        # A glitch to 0 with a newer timestamp, then the meter carries on.
        await _meter_values(cp, 31, _register("0"), transaction_id=tx_id)
        await _meter_values(cp, 40, _register("16000"), transaction_id=tx_id)
        await cp.stop_transaction(tx_id, meter_stop=16_500)

    values = [energy_wh(state) for state in seen]
    assert values == sorted(values)
    assert values[-1] == 16_500
    assert energy_wh(state_of(hass, "sensor", "CP1_1_session_energy")) == 6_500
    stopped = state_of(hass, "event", "CP1_1_session")
    assert stopped.attributes["energy_wh"] == 6_500
