"""Event entities of a charger: id tags presented and charging sessions started or stopped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, override

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import OcppEntity, OcppEntityDescription, async_setup_charger_entities
from .protocol.state import ChargerEvent

if TYPE_CHECKING:
    from .runtime import OcppConfigEntry

# Entities only read ChargerState; nothing to throttle.
PARALLEL_UPDATES = 0

ATTR_CONNECTOR_ID = "connector_id"


@dataclass(frozen=True, kw_only=True)
class OcppEventEntityDescription(OcppEntityDescription, EventEntityDescription):
    """An event entity: which ChargerEvents it fires (by kind)."""

    kind: str


EVENTS: tuple[OcppEventEntityDescription, ...] = (
    # Tags are presented to the charger, not always to a connector (Authorize.req,
    # section 4.1, has none): one entity per charger, the connector in the data.
    OcppEventEntityDescription(
        key="id_tag",
        translation_key="id_tag",
        per_connector=False,
        available_when_offline=True,
        kind="id_tag",
        # IdTagInfo status (section 7.2); unknown: a status outside the spec.
        event_types=["accepted", "blocked", "expired", "invalid", "concurrent_tx", "unknown"],
    ),
    OcppEventEntityDescription(
        key="session",
        translation_key="session",
        available_when_offline=True,
        kind="session",
        event_types=["started", "stopped"],
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the event entities of every charger."""
    async_setup_charger_entities(hass, entry, async_add_entities, EVENTS, factory=OcppEvent)


class OcppEvent(OcppEntity, EventEntity):
    """Fires the charger's events of one kind (and, per connector, of one connector)."""

    entity_description: OcppEventEntityDescription

    @override
    async def async_added_to_hass(self) -> None:
        """Also follow the charger's events."""
        await super().async_added_to_hass()
        self.async_on_remove(self._state.subscribe_events(self._handle_event))

    @callback
    def _handle_event(self, event: ChargerEvent) -> None:
        description = self.entity_description
        if (
            event.kind != description.kind
            or (description.per_connector and event.connector_id != self._connector_id)
            or event.event_type not in (description.event_types or ())
        ):
            return
        self._trigger_event(event.event_type, {ATTR_CONNECTOR_ID: event.connector_id, **event.data})
        self.async_write_ha_state()
