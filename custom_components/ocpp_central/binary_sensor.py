"""Binary sensors of a charger: whether it is connected to the central system.

A charger forwarded to an upstream central system also shows whether that one is
connected (`upstream_entity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, override

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import OcppEntity, OcppEntityDescription, async_setup_charger_entities
from .upstream_entity import async_setup_upstream_entities

if TYPE_CHECKING:
    from .runtime import OcppConfigEntry

# Entities only read ChargerState; nothing to throttle.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class OcppBinarySensorEntityDescription(OcppEntityDescription, BinarySensorEntityDescription):
    """A binary sensor: `value_fn` tells whether it is on."""


BINARY_SENSORS: tuple[OcppBinarySensorEntityDescription, ...] = (
    OcppBinarySensorEntityDescription(
        key="connected",
        translation_key="connected",
        per_connector=False,
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        available_when_offline=True,
        value_fn=lambda state, _c: state.connected,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the binary sensors of every charger."""
    async_setup_charger_entities(
        hass, entry, async_add_entities, BINARY_SENSORS, factory=OcppBinarySensor
    )
    async_setup_upstream_entities(hass, entry, async_add_entities)


class OcppBinarySensor(OcppEntity, BinarySensorEntity):
    """A binary sensor showing one fact of the charger's state."""

    _notification_context = True

    entity_description: OcppBinarySensorEntityDescription

    @property
    @override
    def is_on(self) -> bool | None:
        """Whether the fact holds."""
        value: bool | None = self._value
        return value
