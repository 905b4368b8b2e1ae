"""What the dashboard shows of live values: the session's end, idle chargers, the current.

A real entry (server on 127.0.0.1, sessions, entities) and `OcppTestCharger` (the `ocpp`
package's ChargePoint) as the charger; states are read from `hass.states`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from ocpp.v16 import call
import pytest

from .conftest import (
    NOW,
    ChargerFactory,
    ConfigEntryFactory,
    OcppTestCharger,
    ocpp_time,
    setup_entry,
    state_of,
)

# A three-phase session as many chargers report it: a phase-less current (here the sum of
# the phases) next to the per-phase ones.
CHARGING: list[dict[str, Any]] = [
    {"measurand": "Energy.Active.Import.Register", "unit": "Wh", "value": "5000"},
    {"measurand": "Power.Active.Import", "unit": "W", "value": "10350"},
    {"measurand": "Current.Import", "unit": "A", "value": "45"},
    *(
        {"measurand": "Current.Import", "unit": "A", "value": value, "phase": phase}
        for phase, value in (("L1", "16"), ("L2", "15"), ("L3", "14"))
    ),
    {"measurand": "Current.Offered", "unit": "A", "value": "16"},
    {"measurand": "Voltage", "unit": "V", "value": "230", "phase": "L1-N"},
    {"measurand": "Temperature", "unit": "Celsius", "value": "31"},
    {"measurand": "SoC", "unit": "Percent", "value": "64", "location": "EV"},
]


async def meter(cp: OcppTestCharger, tx_id: int, minutes: int) -> None:
    await cp.call(
        call.MeterValues(
            connector_id=1,
            transaction_id=tx_id,
            meter_value=[
                {"timestamp": ocpp_time(NOW + timedelta(minutes=minutes)), "sampledValue": CHARGING}
            ],
        ),
        suppress=False,
    )


def shown(hass: HomeAssistant, key: str) -> str:
    return state_of(hass, "sensor", f"CP1_1_{key}").state


@pytest.mark.usefixtures("enable_all_entities")
async def test_session_end_without_final_sample(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1"], id_tags=["TAG1"])
    await setup_entry(hass, entry)
    cp = await charger(free_port, "CP1")
    await cp.call(
        call.StatusNotification(connector_id=1, error_code="NoError", status="Available"),
        suppress=False,
    )
    await hass.async_block_till_done()
    # Idle and never reported a reading: power and current are 0, not unknown (and nothing
    # else is made up: the session's connector holds no other reading).
    assert shown(hass, "power") == "0.0"
    assert shown(hass, "current") == "0.0"
    connector = entry.runtime_data.central.sessions["CP1"].state.connectors[1]
    assert sorted(connector.readings) == ["Current.Import", "Power.Active.Import"]

    started = await cp.start_transaction("TAG1", meter_start=4000)
    await meter(cp, started.transaction_id, 10)
    await hass.async_block_till_done()
    assert shown(hass, "power") == "10.35"  # suggested in kW
    # The README's meaning: the highest phase current, not the phase-less sum sent with it.
    assert shown(hass, "current") == "16.0"
    assert shown(hass, "soc") == "64.0"

    # The charger stops with no last sample (MeterValuesInTxOnly, empty StopTxnSampledData).
    await cp.stop_transaction(started.transaction_id, meter_stop=5100)
    await hass.async_block_till_done()
    assert shown(hass, "power") == "0.0"
    assert shown(hass, "current") == "0.0"
    assert shown(hass, "current_offered") == "0.0"
    assert shown(hass, "soc") == STATE_UNKNOWN
    assert shown(hass, "voltage") == "230.0"
    assert shown(hass, "temperature") == "31.0"
