"""The device follows every BootNotification, whichever entities are enabled.

OCPP 1.6 section 4.2: a BootNotification tells the charger's vendor, model, serial number
and firmware version. The runtime keeps the device registry in line with each one; no
entity has to be enabled for it.
"""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er

from custom_components.ocpp_central.const import DOMAIN

from .conftest import CHARGER, HarnessFactory


async def test_firmware_follows_a_new_boot_with_connected_disabled(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    """Disabled connectivity sensor: a new firmware version still reaches the device."""
    h = await make_harness([Platform.BINARY_SENSOR, Platform.SENSOR])
    registry = er.async_get(hass)
    connected = h.entity_id("binary_sensor", f"{CHARGER}_connected")
    registry.async_update_entity(connected, disabled_by=er.RegistryEntryDisabler.USER)
    assert await hass.config_entries.async_reload(h.entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(connected) is None
    h.runtime = h.entry.runtime_data

    await h.boot(connectors=1)
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, CHARGER), h.entry.entry_id)
    assert device is not None
    assert device.sw_version == "1.2.3"

    # Updated firmware (section 6.46 ends with a reboot): the next boot tells the new version.
    reply = await h.send(
        "BootNotification",
        {
            "chargePointVendor": "Acme",
            "chargePointModel": "Wallbox 22 Pro",
            "chargeBoxSerialNumber": "SN-42",
            "firmwareVersion": "2.0.0",
        },
    )
    assert reply["status"] == "Accepted"
    await hass.async_block_till_done()
    device = dr.async_get(hass).async_get(device.id)
    assert device is not None
    assert (device.model, device.sw_version) == ("Wallbox 22 Pro", "2.0.0")
