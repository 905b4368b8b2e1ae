"""Diagnostics: what a charger reports, with passwords and id tags redacted."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from custom_components.ocpp_central.const import DOMAIN
from custom_components.ocpp_central.diagnostics import (
    async_get_config_entry_diagnostics,
    async_get_device_diagnostics,
)

from .conftest import ChargerFactory, ConfigEntryFactory, charger_subentry, setup_entry, wait_until

PASSWORD = "0123456789abcdef"
TAG = "SECRET-TAG"


async def test_diagnostics_redacted(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(
        port=free_port, chargers=[charger_subentry("CP1", password=PASSWORD)], id_tags=[TAG]
    )
    runtime = await setup_entry(hass, entry)
    cp = await charger(free_port, "CP1", password=PASSWORD)
    started = await cp.start_transaction(TAG, meter_start=100)
    await cp.meter_values(started.transaction_id, 250)
    await wait_until(lambda: runtime.store.local_list("CP1") is not None)

    data = await async_get_config_entry_diagnostics(hass, entry)
    text = json.dumps(data, default=str)
    assert PASSWORD not in text
    assert TAG not in text
    charger_data = data["chargers"]["CP1"]
    assert charger_data["connected"] is True
    assert charger_data["boot"]["vendor"] == "Vendor"
    transaction = charger_data["connectors"]["1"]["transaction"]
    assert transaction["transaction_id"] == started.transaction_id
    assert transaction["energy_wh"] == 150
    assert transaction["id_tag"] == "**REDACTED**"
    assert charger_data["store"]["open_transactions"][0]["id_tag"] == "**REDACTED**"
    assert charger_data["store"]["local_list_version"] == 1
    assert data["store"]["next_transaction_id"] > started.transaction_id

    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, "CP1"), entry.entry_id)
    assert device is not None
    device_data = await async_get_device_diagnostics(hass, entry, device)
    assert (
        device_data["connectors"]["1"]["readings"]["Energy.Active.Import.Register"]["value"] == 250
    )
    assert TAG not in json.dumps(device_data, default=str)
