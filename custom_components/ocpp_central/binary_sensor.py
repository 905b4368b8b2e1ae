"""Binary sensors of a charger: whether it is connected to the central system."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import override

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import (
    Charger,
    OcppEntity,
    OcppEntityDescription,
    OcppEntityEntry,
    async_setup_charger_entities,
    async_update_device,
)
from .protocol.state import BOOT, ChargerState, ConnectorState

# Entities only read ChargerState; nothing to throttle.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class OcppBinarySensorEntityDescription(OcppEntityDescription, BinarySensorEntityDescription):
    """A binary sensor: how to read it from the charger's state."""

    is_on_fn: Callable[[ChargerState, ConnectorState], bool | None]
    # This entity (one per charger) keeps the device registry up to date with the
    # identity of each BootNotification.
    updates_device: bool = False


BINARY_SENSORS: tuple[OcppBinarySensorEntityDescription, ...] = (
    OcppBinarySensorEntityDescription(
        key="connected",
        translation_key="connected",
        per_connector=False,
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        available_when_offline=True,
        is_on_fn=lambda state, _c: state.connected,
        updates_device=True,
    ),
)


def _make(
    charger: Charger,
    connector_id: int,
    description: OcppBinarySensorEntityDescription,
    multi: bool,
) -> OcppEntity:
    return OcppBinarySensor(charger, connector_id, description, multi_connector=multi)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppEntityEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the binary sensors of every charger."""
    async_setup_charger_entities(hass, entry, async_add_entities, BINARY_SENSORS, factory=_make)


class OcppBinarySensor(OcppEntity, BinarySensorEntity):
    """A binary sensor showing one fact of the charger's state."""

    entity_description: OcppBinarySensorEntityDescription

    @override
    async def async_added_to_hass(self) -> None:
        """Also follow BootNotifications when this entity keeps the device up to date."""
        await super().async_added_to_hass()
        if self.entity_description.updates_device:
            self.async_on_remove(self._state.subscribe((BOOT,), self._handle_boot))

    @callback
    def _handle_boot(self) -> None:
        async_update_device(self.hass, self._charger.entry.entry_id, self._state)

    @override
    def _update_value(self) -> bool:
        is_on = self.entity_description.is_on_fn(self._state, self.connector)
        if is_on == self._attr_is_on:
            return False
        self._attr_is_on = is_on
        return True
