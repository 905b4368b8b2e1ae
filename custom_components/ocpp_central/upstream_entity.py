"""The `upstream_connected` binary sensor of each charger forwarded to an upstream system.

On while the upstream central system has the charger's connection and accepted its boot
(`UpstreamLink.online`): messages flow and, in mode full, it answers. Created when a
charger gets an upstream, removed (with its registry entry) when forwarding is turned off.
It stays available while the charger itself is offline: the link is Home Assistant's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, override

from homeassistant.components.binary_sensor import BinarySensorEntity
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from .const import DOMAIN
from .entity import Charger
from .protocol.upstream import UpstreamLink
from .upstream_runtime import UpstreamForwarding

if TYPE_CHECKING:
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .runtime import OcppConfigEntry

KEY: str = "upstream_connected"


class UpstreamConnectedSensor(BinarySensorEntity):
    """Whether the charger's upstream central system is connected and accepted its boot."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_translation_key = KEY
    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, forwarding: UpstreamForwarding, charger: Charger) -> None:
        """Show the status of the charger's link, whichever link it is."""
        self._forwarding = forwarding
        self._charge_box_id = charger.state.charge_box_id
        self._attr_unique_id = f"{self._charge_box_id}_{KEY}"
        self._attr_device_info = charger.device_info
        self._attr_is_on = self._online()

    def _online(self) -> bool:
        link = self._forwarding.link(self._charge_box_id)
        return link is not None and link.online

    @override
    async def async_added_to_hass(self) -> None:
        """Follow the charger's link until removed."""
        await super().async_added_to_hass()
        self.async_on_remove(self._forwarding.async_follow(self._charge_box_id, self._changed))
        self._attr_is_on = self._online()

    @callback
    def _changed(self) -> None:
        online = self._online()
        if online != self._attr_is_on:
            self._attr_is_on = online
            self.async_write_ha_state()


@callback
def async_setup_upstream_entities(
    hass: HomeAssistant,
    entry: OcppConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensor for every forwarded charger, now and whenever forwarding starts."""
    runtime = entry.runtime_data
    forwarding = runtime.upstreams
    added: dict[str, UpstreamConnectedSensor] = {}

    @callback
    def on_link(charge_box_id: str, link: UpstreamLink | None) -> None:
        if link is not None:
            running = runtime.running(charge_box_id)
            if charge_box_id in added or running is None:
                return  # a replaced link: the sensor follows the new one
            subentry = entry.subentries[running.subentry_id]
            sensor = UpstreamConnectedSensor(forwarding, Charger(entry, subentry, running.session))
            added[charge_box_id] = sensor
            async_add_entities([sensor], config_subentry_id=subentry.subentry_id)
            return
        # Forwarding turned off: the sensor goes, with its registry entry (which removes it).
        old = added.pop(charge_box_id, None)
        registry = er.async_get(hass)
        entity_id = registry.async_get_entity_id("binary_sensor", DOMAIN, f"{charge_box_id}_{KEY}")
        if entity_id is not None:
            registry.async_remove(entity_id)
        elif old is not None:
            entry.async_create_task(hass, old.async_remove(), f"remove {old.unique_id}")

    entry.async_on_unload(forwarding.async_add_listener(on_link))
