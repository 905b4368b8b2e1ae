"""The device registry side of a charger: its device, its connectors' devices, their updates.

The runtime updates a charger's device after every BootNotification (whichever entities are
enabled) and removes the devices with the charger; the entities build their DeviceInfo
from the same fields. Nothing here depends on entities.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo

from .const import DOMAIN
from .protocol.state import ChargerState


def connector_identifier(charge_box_id: str, connector_id: int) -> str:
    """The device identifier of a connector: `{chargeBoxId}_connector_{n}`.

    Unlike `{chargeBoxId}_{n}`, it does not meet the device of a charger whose id only adds
    `_{n}` (CP and CP_1 side by side); and two connectors never share one, the number
    being what follows the last `_connector_`.
    """
    return f"{charge_box_id}_connector_{connector_id}"


def charger_device_info(name: str, state: ChargerState) -> DeviceInfo:
    """The device of a charger, with what its BootNotification told (OCPP 1.6 section 4.2)."""
    info = DeviceInfo(identifiers={(DOMAIN, state.charge_box_id)}, name=name)
    info.update(_boot_fields(state))
    return info


def _boot_fields(state: ChargerState) -> DeviceInfo:
    """The device registry fields that come from the BootNotification."""
    boot = state.boot
    if boot is None:
        return DeviceInfo()
    return DeviceInfo(
        manufacturer=boot.vendor,
        model=boot.model,
        serial_number=boot.charge_box_serial_number or boot.serial_number,
        sw_version=boot.firmware_version,
    )


@callback
def async_update_device(hass: HomeAssistant, entry_id: str, state: ChargerState) -> None:
    """Bring the charger's device up to date after a (later) BootNotification.

    Called by the runtime for each BootNotification, whichever entities are enabled.
    """
    registry = dr.async_get(hass)
    device = registry.async_get_device_by_identifier((DOMAIN, state.charge_box_id), entry_id)
    if device is not None and (fields := _boot_fields(state)):
        registry.async_update_device(
            device.id,
            manufacturer=fields.get("manufacturer"),
            model=fields.get("model"),
            serial_number=fields.get("serial_number"),
            sw_version=fields.get("sw_version"),
        )


@callback
def async_remove_devices(hass: HomeAssistant, entry_id: str, charge_box_id: str) -> None:
    """Remove a charger's device and its connectors' devices, with their entities."""
    registry = dr.async_get(hass)
    device = registry.async_get_device_by_identifier((DOMAIN, charge_box_id), entry_id)
    if device is None:
        return
    for connector in dr.async_entries_for_config_entry(registry, entry_id):
        if connector.via_device_id == device.id:
            registry.async_remove_device(connector.id)
    registry.async_remove_device(device.id)
