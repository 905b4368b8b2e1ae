"""Connectivity, and the device kept up to date with each BootNotification."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from custom_components.ocpp_central.const import DOMAIN

from .conftest import CHARGER, HarnessFactory


async def test_connected_and_device(hass: HomeAssistant, make_harness: HarnessFactory) -> None:
    h = await make_harness([Platform.BINARY_SENSOR])
    await hass.async_block_till_done()
    assert h.state("binary_sensor", f"{CHARGER}_connected") == "off"
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, CHARGER), h.entry.entry_id)
    assert device is not None
    assert device.manufacturer is None

    await h.boot(connectors=1)
    await hass.async_block_till_done()
    assert h.state("binary_sensor", f"{CHARGER}_connected") == "on"
    device = dr.async_get(hass).async_get(device.id)
    assert device is not None
    assert (device.manufacturer, device.model, device.serial_number, device.sw_version) == (
        "Acme",
        "Wallbox 22",
        "SN-42",
        "1.2.3",
    )
    await h.disconnect()
    await hass.async_block_till_done()
    assert h.state("binary_sensor", f"{CHARGER}_connected") == "off"
