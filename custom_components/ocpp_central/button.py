"""Buttons of a charger: soft reset (charger-wide) and unlock (per connector)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, override

from homeassistant.components.button import (
    ButtonEntity,
    ButtonEntityDescription,
)
from homeassistant.components.button.const import ButtonDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import OcppEntity, OcppEntityDescription, async_setup_charger_entities
from .helpers import send_command
from .protocol.session import ChargerSession
from .protocol.vocabulary import Action

if TYPE_CHECKING:
    from .runtime import OcppConfigEntry

# One command at a time per platform: the charger handles our CALLs one by one anyway.
PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class OcppButtonEntityDescription(OcppEntityDescription, ButtonEntityDescription):
    """A button: the command it sends, given the session and the connector id."""

    press_fn: Callable[[ChargerSession, int], Awaitable[object]]


BUTTONS: tuple[OcppButtonEntityDescription, ...] = (
    # Section 5.14: a soft reset stops transactions gracefully before restarting.
    OcppButtonEntityDescription(
        key="reset",
        translation_key="reset",
        per_connector=False,
        device_class=ButtonDeviceClass.RESTART,
        entity_category=EntityCategory.CONFIG,
        press_fn=lambda session, _c: send_command(Action.reset, session.reset(False)),
    ),
    # Section 5.18: the charger answers Unlocked, UnlockFailed or NotSupported.
    OcppButtonEntityDescription(
        key="unlock",
        translation_key="unlock",
        entity_category=EntityCategory.CONFIG,
        press_fn=lambda session, connector_id: send_command(
            Action.unlock_connector, session.unlock_connector(connector_id)
        ),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the buttons of every charger."""
    async_setup_charger_entities(hass, entry, async_add_entities, BUTTONS, factory=OcppButton)


class OcppButton(OcppEntity, ButtonEntity):
    """A button sending one command to the charger."""

    entity_description: OcppButtonEntityDescription

    @override
    async def async_press(self) -> None:
        """Send the command; a refusal raises a translated error."""
        await self.entity_description.press_fn(self._charger.session, self._connector_id)
