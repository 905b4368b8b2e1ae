"""No deprecated Home Assistant API: actions find their charger without DeviceEntry.config_entries.

`DeviceEntry.config_entries` stops working in Home Assistant 2027.10 (a device belongs
to one config entry, `config_entry_id`); using it logs a deprecation report.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest

from custom_components.ocpp_central.const import DOMAIN

from .conftest import ChargerFactory, ConfigEntryFactory, setup_entry, wait_until


async def test_actions_use_no_deprecated_device_api(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1"])
    runtime = await setup_entry(hass, entry)
    cp = await charger(free_port, "CP1")
    await wait_until(lambda: runtime.central.sessions["CP1"].state.ready)
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, "CP1"), entry.entry_id)
    assert device is not None
    response = await hass.services.async_call(
        DOMAIN,
        "get_configuration",
        {"device_id": device.id, "keys": ["NumberOfConnectors"]},
        blocking=True,
        return_response=True,
    )
    assert response == {
        "configuration": [{"key": "NumberOfConnectors", "value": "1", "readonly": True}],
        "unknown": [],
    }
    assert ("GetConfiguration", {"key": ["NumberOfConnectors"]}) in cp.received
    assert runtime.session_for_device(device.id) is runtime.central.sessions["CP1"]
    reports = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert reports == []
