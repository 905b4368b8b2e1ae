"""Sensors of a charger's solar controller: the current it aims for and what it does, and why.

They exist once the charger has a grid power sensor configured (see
`solar_charging.async_setup_solar_entities`) and follow the controller's steps, not the
charger's messages: the sensor platform only hooks `async_setup_solar_sensors` in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfElectricCurrent
from homeassistant.core import callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .entity import OcppEntityDescription, SolarEntity, async_setup_solar_entities
from .solar_charging import SolarCharging
from .surplus_controller import ControllerState

if TYPE_CHECKING:
    from .runtime import OcppConfigEntry

ATTR_REASON = "reason"
ATTR_LAST_ERROR = "last_error"


@dataclass(frozen=True, kw_only=True)
class SolarSensorEntityDescription(OcppEntityDescription, SensorEntityDescription):
    """A sensor of the solar controller: its value and attributes from the controller."""

    control_fn: Callable[[SolarCharging], StateType]
    attributes_fn: Callable[[SolarCharging], Mapping[str, Any]] | None = None


def _target(control: SolarCharging) -> float | None:
    return None if control.decision is None else control.decision.target


def _state(control: SolarCharging) -> str | None:
    return None if control.decision is None else control.decision.state.value


def _state_attributes(control: SolarCharging) -> Mapping[str, Any]:
    decision = control.decision
    return {
        ATTR_REASON: None if decision is None else decision.reason.value,
        # Why the charger did not take the last target (a refusal, a timeout).
        ATTR_LAST_ERROR: control.last_error,
    }


SOLAR_SENSORS: tuple[SolarSensorEntityDescription, ...] = (
    # The limit the controller wants, per phase; 0 pauses. The Current limit number shows
    # what the charger accepted.
    SolarSensorEntityDescription(
        key="controller_target_current",
        translation_key="controller_target_current",
        per_connector=False,
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=0,
        control_fn=_target,
    ),
    SolarSensorEntityDescription(
        key="controller_state",
        translation_key="controller_state",
        per_connector=False,
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in ControllerState],
        control_fn=_state,
        attributes_fn=_state_attributes,
    ),
)


@callback
def async_setup_solar_sensors(
    entry: OcppConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Create the controller sensors of every charger with a configured solar controller."""
    async_setup_solar_entities(entry, async_add_entities, SOLAR_SENSORS, SolarSensor)


class SolarSensor(SolarEntity, SensorEntity):
    """A sensor showing what the solar controller decided at its last step."""

    entity_description: SolarSensorEntityDescription

    _value: tuple[StateType, dict[str, Any] | None] = (None, None)

    @override
    def _read(self) -> tuple[StateType, dict[str, Any] | None]:
        description = self.entity_description
        attributes_fn = description.attributes_fn
        attributes = None if attributes_fn is None else dict(attributes_fn(self._control))
        return description.control_fn(self._control), attributes

    @property
    @override
    def native_value(self) -> StateType:
        """What the controller decided."""
        return self._value[0]

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Why, where the sensor tells it."""
        return self._value[1]
