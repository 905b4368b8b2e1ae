"""Numbers of a connector: the current limit set through smart charging."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, override

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import UnitOfElectricCurrent
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_MAX_CURRENT, DEFAULT_MAX_CURRENT
from .entity import Charger, OcppEntity, OcppEntityDescription, async_setup_charger_entities
from .helpers import run_command
from .protocol.state import CURRENT_LIMIT

if TYPE_CHECKING:
    from .runtime import OcppConfigEntry

# One command at a time per platform: the charger handles our CALLs one by one anyway.
PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class OcppNumberEntityDescription(OcppEntityDescription, NumberEntityDescription):
    """A number: its value (`value_fn`), how to set it, its range from the charger."""

    set_value_fn: Callable[[Charger, int, float], Awaitable[object]]
    max_value_fn: Callable[[Charger], float]


async def _set_current_limit(charger: Charger, connector_id: int, amps: float) -> object:
    runtime = charger.entry.runtime_data
    charge_box_id = charger.state.charge_box_id
    # On a circuit the user's limit caps the connector's share; the circuit sends it.
    if await runtime.load.async_set_user_limit(charge_box_id, connector_id, amps):
        return amps
    limiter = runtime.limiters[charge_box_id]
    return await run_command("set_current_limit", limiter.set_limit(connector_id, amps))


NUMBERS: tuple[OcppNumberEntityDescription, ...] = (
    # Shows what the charger accepted (ConnectorState.current_limit), not what was
    # asked: the limiter may coalesce requests or fall back to another profile. Once the
    # charger is ready the limiter verifies it (or, never limited, reads what is in
    # force) with GetCompositeSchedule; before anything is known, the configured maximum.
    # 0 A pauses charging (OCPP 1.6 section 3.13).
    OcppNumberEntityDescription(
        key="current_limit",
        translation_key="current_limit",
        fields=(CURRENT_LIMIT,),
        device_class=NumberDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        native_min_value=0,
        native_step=1,
        mode=NumberMode.SLIDER,
        value_fn=lambda _s, connector: connector.current_limit,
        set_value_fn=_set_current_limit,
        max_value_fn=lambda charger: float(
            charger.subentry.data.get(CONF_MAX_CURRENT, DEFAULT_MAX_CURRENT)
        ),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the numbers of every charger."""
    async_setup_charger_entities(hass, entry, async_add_entities, NUMBERS, factory=OcppNumber)


class OcppNumber(OcppEntity, NumberEntity):
    """A number whose value is what the charger accepted."""

    entity_description: OcppNumberEntityDescription

    def __init__(
        self, charger: Charger, connector_id: int, description: OcppNumberEntityDescription
    ) -> None:
        """Take the range from the charger's configuration (before the first value)."""
        self._attr_native_max_value = description.max_value_fn(charger)
        super().__init__(charger, connector_id, description)

    @override
    def _read(self) -> float:
        value: float | None = super()._read()
        # Never limited and nothing read from the charger yet: no limit of ours is
        # in force, so the charger may deliver its configured maximum (not 0 A).
        return self._attr_native_max_value if value is None else value

    @property
    @override
    def native_value(self) -> float | None:
        """What the charger accepted."""
        value: float | None = self._value
        return value

    @override
    async def async_set_native_value(self, value: float) -> None:
        """Ask for the limit; the state changes when the charger accepted it."""
        await self.entity_description.set_value_fn(self._charger, self._connector_id, value)
