"""Selects of a charger: the charging mode of its solar controller, its phase mode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, override

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .entity import OcppEntityDescription, SolarEntity, async_setup_solar_entities
from .load_entity import async_setup_load_selects
from .solar_charging import SolarCharging
from .surplus_controller import ChargingMode

if TYPE_CHECKING:
    from .runtime import OcppConfigEntry

# Selecting a mode only changes the controller; the limit follows at its next step.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class OcppSelectEntityDescription(OcppEntityDescription, SelectEntityDescription):
    """A select of the solar controller: its option now and how to choose one."""

    current_fn: Callable[[SolarCharging], str]
    select_fn: Callable[[SolarCharging, str], None]


SELECTS: tuple[OcppSelectEntityDescription, ...] = (
    # off: paused; fast: maximum current; solar: surplus only; min_solar: minimum plus surplus.
    OcppSelectEntityDescription(
        key="charging_mode",
        translation_key="charging_mode",
        per_connector=False,
        available_when_offline=True,
        options=[mode.value for mode in ChargingMode],
        current_fn=lambda control: control.mode.value,
        select_fn=lambda control, option: control.async_set_mode(ChargingMode(option)),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the charging mode and phase mode selects of the chargers that have them."""
    async_setup_solar_entities(entry, async_add_entities, SELECTS, OcppSelect)
    async_setup_load_selects(hass, entry, async_add_entities)


class OcppSelect(SolarEntity, SelectEntity, RestoreEntity):
    """A select of the solar controller; the chosen mode survives restarts."""

    entity_description: OcppSelectEntityDescription

    @override
    async def async_added_to_hass(self) -> None:
        """Restore the mode chosen before the restart."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is not None and last.state in (self.entity_description.options or ()):
            self.entity_description.select_fn(self._control, last.state)
            self._update_value()

    @override
    def _read(self) -> str:
        return self.entity_description.current_fn(self._control)

    @property
    @override
    def current_option(self) -> str | None:
        """The controller's mode."""
        option: str | None = self._value
        return option

    @override
    async def async_select_option(self, option: str) -> None:
        """Choose the mode; the controller acts on it at once."""
        self.entity_description.select_fn(self._control, option)
