"""Entities of load management: what limits each connector, a charger's phases, each circuit.

- sensor `limit_source` on every connector: charger, user, circuit, solar, schedule or
  paused, with the numbers behind it as attributes (see `LoadManagement.limit_source`);
- select `connector_charging_mode` (named as `charging_mode`: off, fast, solar, min_solar)
  on each connector of a charger with several: its own mode on a circuit, or on no
  circuit in the solar controller that shares the surplus between the connectors (the
  charger's `charging_mode` where none was chosen);
- select `phase_mode` (auto, 1, 3) on a charger that can switch phases
  (ConnectorSwitch3to1PhaseSupported, OCPP 1.6 section 9.4.4), on a circuit or not;
- sensors `circuit_budget` and `circuit_allocated` on each circuit's own device: the
  current per phase the chargers may take together, and what they were given.

The sensor and select platforms hook these in (`async_setup_load_sensors`,
`async_setup_load_selects`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, override

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfElectricCurrent
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity
from homeassistant.helpers.typing import StateType

from .const import DOMAIN
from .entity import OcppEntity, OcppEntityDescription, async_setup_charger_entities
from .load_runtime import ATTR_PHASES, CircuitRuntime, LoadManagement
from .protocol.load.allocation import LimitSource, Mode
from .protocol.load.circuit import supports_phase_switching
from .protocol.load.phase_switch import PhaseMode
from .protocol.state import CURRENT_LIMIT, STATUS, ChargerState, ConnectorState

if TYPE_CHECKING:
    from .runtime import OcppConfigEntry

ATTR_L1: Final = "l1"
ATTR_L2: Final = "l2"
ATTR_L3: Final = "l3"
ATTR_FALLBACK: Final = "fallback"
ATTR_SURPLUS: Final = "surplus"
_CONFIGURATION: Final = "configuration"  # the (0, "configuration") key of ChargerState


@dataclass(frozen=True, kw_only=True)
class LimitSourceDescription(OcppEntityDescription, SensorEntityDescription):
    """The limit_source sensor of a connector."""


@dataclass(frozen=True, kw_only=True)
class PhaseModeDescription(OcppEntityDescription, SelectEntityDescription):
    """The phase_mode select of a charger that can switch phases."""


LOAD_SENSORS: tuple[LimitSourceDescription, ...] = (
    LimitSourceDescription(
        key="limit_source",
        translation_key="limit_source",
        fields=(CURRENT_LIMIT, STATUS),
        device_class=SensorDeviceClass.ENUM,
        options=[source.value for source in LimitSource],
    ),
)


@dataclass(frozen=True, kw_only=True)
class ConnectorModeDescription(OcppEntityDescription, SelectEntityDescription):
    """The charging mode of one connector of a charger with several."""


CONNECTOR_MODE_SELECTS: tuple[ConnectorModeDescription, ...] = (
    ConnectorModeDescription(
        key="connector_charging_mode",
        # The same name and states as the charger's own `charging_mode` select: on a
        # connector's device it reads "<charger> Connector 2 Charging mode".
        translation_key="charging_mode",
        fields=(STATUS,),
        when_reported=True,
        available_when_offline=True,
        options=[mode.value for mode in Mode],
    ),
)

LOAD_SELECTS: tuple[PhaseModeDescription, ...] = (
    PhaseModeDescription(
        key="phase_mode",
        translation_key="phase_mode",
        per_connector=False,
        fields=(_CONFIGURATION,),
        when_reported=True,
        available_when_offline=True,
        options=[mode.value for mode in PhaseMode],
    ),
)

CIRCUIT_SENSORS: tuple[SensorEntityDescription, ...] = (
    # The least of the phases' budgets: what every phase can still give the chargers.
    SensorEntityDescription(
        key="circuit_budget",
        translation_key="circuit_budget",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=0,
    ),
    # The most any phase was given: never above that phase's budget.
    SensorEntityDescription(
        key="circuit_allocated",
        translation_key="circuit_allocated",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=0,
    ),
)


def _switches(_d: PhaseModeDescription, state: ChargerState, _c: ConnectorState) -> bool:
    return supports_phase_switching(state)


def _several(_d: ConnectorModeDescription, state: ChargerState, _c: ConnectorState) -> bool:
    """A charger with more than one connector (with one, its charging_mode is the connector's)."""
    return len([c for c in state.connector_ids if c > 0]) > 1


class _LoadEntity(OcppEntity):
    """A charger entity that also follows every circuit step and its solar controller."""

    @override
    async def async_added_to_hass(self) -> None:
        """Follow the circuits' steps and the charger's own solar controller too."""
        await super().async_added_to_hass()
        runtime = self._charger.entry.runtime_data
        self.async_on_remove(runtime.load.async_add_step_listener(self._handle_change))
        if (running := runtime.running(self._state.charge_box_id)) is not None:
            self.async_on_remove(running.solar.async_add_listener(self._handle_change))


class LimitSourceSensor(_LoadEntity, SensorEntity):
    """What limits the connector now, and the numbers behind it."""

    entity_description: LimitSourceDescription
    _value: tuple[str | None, dict[str, Any]] = (None, {})

    @override
    def _read(self) -> tuple[str | None, dict[str, Any]]:
        load = self._charger.entry.runtime_data.load
        source, attributes = load.limit_source(self._state.charge_box_id, self._connector_id)
        return (None if source is None else source.value), attributes

    @property
    @override
    def native_value(self) -> str | None:
        """The source."""
        return self._value[0]

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """The numbers: the limit, the charger's maximum, the shares."""
        return self._value[1]


class PhaseModeSelect(_LoadEntity, SelectEntity, RestoreEntity):
    """Auto, one or three phases; the choice survives restarts."""

    entity_description: PhaseModeDescription
    _value: tuple[str, int | None] = (PhaseMode.AUTO.value, None)

    @override
    async def async_added_to_hass(self) -> None:
        """Restore the choice made before the restart."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is not None and last.state in (self.entity_description.options or ()):
            self._load.async_set_phase_mode(self._state.charge_box_id, PhaseMode(last.state))
            self._update_value()

    @property
    def _load(self) -> LoadManagement:
        return self._charger.entry.runtime_data.load

    @override
    def _is_available(self) -> bool:
        # It acts through the charger's circuit, or its own solar controller on none.
        return self._load.acts_on_phases(self._state.charge_box_id)

    @override
    def _read(self) -> tuple[str, int | None]:
        cbid = self._state.charge_box_id
        return self._load.phase_mode(cbid).value, self._load.phases(cbid)

    @property
    @override
    def current_option(self) -> str:
        """The mode chosen."""
        return self._value[0]

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """The phases the charger was set to last."""
        return {ATTR_PHASES: self._value[1]}

    @override
    async def async_select_option(self, option: str) -> None:
        """Choose; the circuit applies it at once."""
        self._load.async_set_phase_mode(self._state.charge_box_id, PhaseMode(option))
        self._handle_change()


class ConnectorModeSelect(_LoadEntity, SelectEntity, RestoreEntity):
    """Off, fast, solar or min_solar for one connector; survives restarts."""

    entity_description: ConnectorModeDescription

    @property
    def _load(self) -> LoadManagement:
        return self._charger.entry.runtime_data.load

    @override
    async def async_added_to_hass(self) -> None:
        """Restore the mode chosen before the restart."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is not None and last.state in (self.entity_description.options or ()):
            self._load.async_set_connector_mode(
                self._state.charge_box_id, self._connector_id, Mode(last.state)
            )
            self._update_value()

    @override
    def _is_available(self) -> bool:
        # It acts through the charger's circuit, else its configured solar controller.
        cbid = self._state.charge_box_id
        if self._load.circuit_of(cbid) is not None:
            return True
        running = self._charger.entry.runtime_data.running(cbid)
        return running is not None and running.solar.configured

    @override
    def _read(self) -> str:
        return self._load.connector_mode(self._state.charge_box_id, self._connector_id).value

    @property
    @override
    def current_option(self) -> str | None:
        """The mode the connector follows."""
        option: str | None = self._value
        return option

    @override
    async def async_select_option(self, option: str) -> None:
        """Choose; the circuit applies it at once."""
        self._load.async_set_connector_mode(
            self._state.charge_box_id, self._connector_id, Mode(option)
        )
        self._handle_change()


class CircuitSensor(SensorEntity):
    """The budget or the allocation of one circuit, per phase in the attributes."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, circuit: CircuitRuntime, description: SensorEntityDescription) -> None:
        """Name the sensor after its circuit's device."""
        self.entity_description = description
        self._circuit = circuit
        self._attr_unique_id = f"{circuit.subentry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, f"circuit_{circuit.subentry_id}")},
            name=circuit.name,
        )

    @override
    async def async_added_to_hass(self) -> None:
        """Follow the circuit's steps."""
        await super().async_added_to_hass()
        self.async_on_remove(self._circuit.async_add_listener(self.async_write_ha_state))

    def _phases(self) -> tuple[float, float, float] | None:
        allocation = self._circuit.allocation
        if allocation is None:
            return None
        if self.entity_description.key == "circuit_budget":
            return allocation.budget
        return allocation.allocated

    @property
    @override
    def native_value(self) -> StateType:
        """The least budget or the most allocated of the phases."""
        phases = self._phases()
        if phases is None:
            return None
        return min(phases) if self.entity_description.key == "circuit_budget" else max(phases)

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """Each phase, and whether the meter had no value (the safe static budget)."""
        phases = self._phases()
        allocation = self._circuit.allocation
        if phases is None or allocation is None:
            return {}
        return {
            ATTR_L1: phases[0],
            ATTR_L2: phases[1],
            ATTR_L3: phases[2],
            ATTR_FALLBACK: allocation.fallback,
            ATTR_SURPLUS: allocation.surplus,
        }


@callback
def async_setup_load_sensors(
    hass: HomeAssistant, entry: OcppConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Create limit_source on every connector and the sensors of every circuit."""
    async_setup_charger_entities(
        hass, entry, async_add_entities, LOAD_SENSORS, factory=LimitSourceSensor
    )

    @callback
    def add_circuit(circuit: CircuitRuntime) -> None:
        async_add_entities(
            [CircuitSensor(circuit, description) for description in CIRCUIT_SENSORS],
            config_subentry_id=circuit.subentry_id,
        )

    entry.async_on_unload(entry.runtime_data.load.async_add_circuit_listener(add_circuit))


@callback
def async_setup_load_selects(
    hass: HomeAssistant, entry: OcppConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Create phase_mode where a charger switches phases, a mode per connector where several."""
    async_setup_charger_entities(
        hass,
        entry,
        async_add_entities,
        LOAD_SELECTS,
        factory=PhaseModeSelect,
        reported=_switches,
    )
    async_setup_charger_entities(
        hass,
        entry,
        async_add_entities,
        CONNECTOR_MODE_SELECTS,
        factory=ConnectorModeSelect,
        reported=_several,
    )
