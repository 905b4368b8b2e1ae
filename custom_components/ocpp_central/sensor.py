"""Sensors of a charger: connector status, meter values, the running session, diagnostics.

Longer than the other platforms on purpose: half of it is the `SENSORS` table, one
declarative description per sensor (about 30, with their display rules), and the rest the
three sensor kinds that need more than a value function: the id tag (named by its subentry),
the session values (kept once the session ended) and the energy register (never below what
the recorder holds). Adding a measurand sensor is one description here plus its strings.
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
from dataclasses import dataclass
from datetime import datetime
import re
from typing import TYPE_CHECKING, Any, override

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    PERCENTAGE,
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfPower,
    UnitOfTemperature,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter

from .const import CONF_ID_TAG, SUBENTRY_ID_TAG
from .entity import (
    KEEP,
    Charger,
    Keep,
    OcppEntity,
    OcppEntityDescription,
    async_setup_charger_entities,
)
from .load_entity import async_setup_load_sensors
from .protocol.measurands import active_power, total_or_phases
from .protocol.state import (
    READINGS,
    STATUS,
    TRANSACTION,
    ChargerState,
    ConnectorState,
    Transaction,
)
from .protocol.vocabulary import (
    ChargePointErrorCode,
    ChargePointStatus,
    FirmwareStatus,
    Measurand,
    Phase,
)
from .solar_sensors import async_setup_solar_sensors

if TYPE_CHECKING:
    from .runtime import OcppConfigEntry

# Entities only read ChargerState; nothing to throttle.
PARALLEL_UPDATES = 0

type SensorValue = StateType | datetime


def snake_case(name: str) -> str:
    """An OCPP CamelCase enumeration value as a state: SuspendedEVSE -> suspended_evse."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _enum(*values: str) -> dict[str, str]:
    # Mapped once at import: the hot path only does a dict lookup.
    return {value: snake_case(value) for value in values}


# ChargePointStatus, OCPP 1.6 section 7.7. Unavailable (taken out of service, e.g. by
# ChangeAvailability Inoperative) shows as "out_of_service": "unavailable" is the state Home
# Assistant gives an entity it cannot read, such as those of a charger that went offline.
CONNECTOR_STATUS = _enum(*ChargePointStatus)
CONNECTOR_STATUS[ChargePointStatus.unavailable] = "out_of_service"
# ChargePointErrorCode, OCPP 1.6 section 7.6.
ERROR_CODE = _enum(*ChargePointErrorCode)
# FirmwareStatus, OCPP 1.6 section 7.25, with the security whitepaper's signed-firmware
# statuses (SignedFirmwareStatusNotification, whitepaper section 4.2.1).
FIRMWARE_STATUS = _enum(*FirmwareStatus)

# Measurands (OCPP 1.6 section 7.31), keyed as in ConnectorState.readings.
ENERGY_REGISTER = Measurand.energy_active_import_register
POWER = Measurand.power_active_import
CURRENT = Measurand.current_import
CURRENT_OFFERED = Measurand.current_offered
VOLTAGE = Measurand.voltage
SOC = Measurand.soc
TEMPERATURE = Measurand.temperature
PHASES = (Phase.l1, Phase.l2, Phase.l3)


def _voltage_keys(phase: str) -> tuple[str, ...]:
    # Phase voltage is sent as "L1-N" by most chargers, as plain "L1" by a few.
    return (f"{VOLTAGE}.{phase}-N", f"{VOLTAGE}.{phase}")


def _first_of(*keys: str) -> Callable[[ChargerState, ConnectorState], float | None]:
    """The first of `keys` the connector has a reading for."""

    def value(_state: ChargerState, connector: ConnectorState) -> float | None:
        readings = connector.readings
        for key in keys:
            if (found := readings.get(key)) is not None:
                return found.value
        return None

    return value


def _active_power(_state: ChargerState, connector: ConnectorState) -> float | None:
    """The connector's power: `measurands.active_power`, the rule the solar controller uses."""
    found = active_power(connector.readings)
    return None if found is None else found.value


def _total_or_phases(
    total: str, combine: Callable[[list[float]], float], *, phases_first: bool
) -> Callable[[ChargerState, ConnectorState], float | None]:
    """The phase-less `total` reading or `combine` of the per-phase ones: the newer of the two.

    The rule is `measurands.total_or_phases`, shared with the solar controller (power).
    """

    def value(_state: ChargerState, connector: ConnectorState) -> float | None:
        found = total_or_phases(connector.readings, total, combine, phases_first=phases_first)
        return None if found is None else found.value

    return value


# How a quantity is shown: the unit suggested to Home Assistant (None: its own) and the
# decimals. One look across the device page: "11.04 kW", "16.0 A", "12.35 kWh" (and "230 V").
DISPLAY: dict[SensorDeviceClass, tuple[str | None, int]] = {
    SensorDeviceClass.POWER: (UnitOfPower.KILO_WATT, 2),
    SensorDeviceClass.CURRENT: (None, 1),
    SensorDeviceClass.VOLTAGE: (None, 0),
    SensorDeviceClass.ENERGY: (UnitOfEnergy.KILO_WATT_HOUR, 2),
    SensorDeviceClass.BATTERY: (None, 0),
    SensorDeviceClass.TEMPERATURE: (None, 1),
}
# Decimal places kept of a value in its base unit (W, A, V, Wh, %, Celsius): what is shown,
# so a state is written (and recorded) only when the displayed value changes; finer digits
# are meter jitter. 10 W for power and 10 Wh for energy, both shown in k.. with 2 decimals.
# Rounding a register is monotonic, so an energy state never goes back; what statistics add
# up is the difference of two rounded readings, off by less than 10 Wh over any span and
# never accumulating (at 1 s samples and 11 kW a register moves 3 Wh: one state in three).
RESOLUTION: dict[SensorDeviceClass, int] = {
    SensorDeviceClass.POWER: DISPLAY[SensorDeviceClass.POWER][1] - 3,
    SensorDeviceClass.CURRENT: DISPLAY[SensorDeviceClass.CURRENT][1],
    SensorDeviceClass.VOLTAGE: DISPLAY[SensorDeviceClass.VOLTAGE][1],
    SensorDeviceClass.ENERGY: DISPLAY[SensorDeviceClass.ENERGY][1] - 3,
    SensorDeviceClass.BATTERY: DISPLAY[SensorDeviceClass.BATTERY][1],
    SensorDeviceClass.TEMPERATURE: DISPLAY[SensorDeviceClass.TEMPERATURE][1],
}
ENERGY_DIGITS = RESOLUTION[SensorDeviceClass.ENERGY]
# A session's duration is shown in whole minutes: written once a minute, not with every
# meter sample (it was a sixth of all the recorder's rows at a 10 s meter interval).
DURATION_STEP = 60


def _rounded(
    value_fn: Callable[[ChargerState, ConnectorState], float | None], digits: int
) -> Callable[[ChargerState, ConnectorState], float | None]:
    """`value_fn` rounded to `digits` decimal places (kept a float)."""

    def value(state: ChargerState, connector: ConnectorState) -> float | None:
        found = value_fn(state, connector)
        return None if found is None else round(found, digits)

    return value


def _session_duration(tx: Transaction) -> float:
    # Recomputed on each notification (every meter sample) while the session runs:
    # entities never poll.
    if tx.stop_time is not None:  # the final figure, to the second
        return max(0.0, round((tx.stop_time - tx.start_time).total_seconds()))
    seconds = max(0.0, (dt_util.utcnow() - tx.start_time).total_seconds())
    return float(seconds // DURATION_STEP * DURATION_STEP)


@dataclass(frozen=True, kw_only=True)
class OcppSensorEntityDescription(OcppEntityDescription, SensorEntityDescription):
    """A sensor: how to read its value from the charger's state."""

    # Reading key of an energy register that must never go backwards (see RegisterSensor).
    register: str | None = None
    # A value of the running or, once stopped, the last transaction (see OcppSessionSensor).
    session_fn: Callable[[Transaction], SensorValue] | None = None
    # Shows the running transaction's id tag by its name (see OcppIdTagSensor).
    tag_name: bool = False


def _meter(
    key: str,
    value_fn: Callable[[ChargerState, ConnectorState], float | None],
    device_class: SensorDeviceClass,
    unit: str,
    *,
    enabled: bool = True,
    twin: bool = False,
    when_reported: bool = False,
) -> OcppSensorEntityDescription:
    """A measurement sensor fed by MeterValues."""
    suggested_unit, precision = DISPLAY[device_class]
    return OcppSensorEntityDescription(
        key=key,
        translation_key=key,
        fields=(READINGS,),
        device_class=device_class,
        native_unit_of_measurement=unit,
        suggested_unit_of_measurement=suggested_unit,
        suggested_display_precision=precision,
        state_class=SensorStateClass.MEASUREMENT,
        entity_registry_enabled_default=enabled,
        when_reported=when_reported,
        on_charger_when_reported=twin,
        value_fn=_rounded(value_fn, RESOLUTION[device_class]),
    )


def _per_phase() -> tuple[OcppSensorEntityDescription, ...]:
    """Per-phase current, voltage and power: disabled by default (rarely wanted).

    Created only for the phases a charger reports (a single-phase one has no L2 or L3).
    """
    out: list[OcppSensorEntityDescription] = []
    for phase in PHASES:
        suffix = phase.lower()
        out.extend(
            (
                _meter(
                    f"current_{suffix}",
                    _first_of(f"{CURRENT}.{phase}"),
                    SensorDeviceClass.CURRENT,
                    UnitOfElectricCurrent.AMPERE,
                    enabled=False,
                    when_reported=True,
                ),
                _meter(
                    f"voltage_{suffix}",
                    _first_of(*_voltage_keys(phase)),
                    SensorDeviceClass.VOLTAGE,
                    UnitOfElectricPotential.VOLT,
                    enabled=False,
                    when_reported=True,
                ),
                _meter(
                    f"power_{suffix}",
                    _first_of(f"{POWER}.{phase}"),
                    SensorDeviceClass.POWER,
                    UnitOfPower.WATT,
                    enabled=False,
                    when_reported=True,
                ),
            )
        )
    return tuple(out)


def _status(_state: ChargerState, connector: ConnectorState) -> str | None:
    return None if connector.status is None else CONNECTOR_STATUS.get(connector.status)


def _error_code(_state: ChargerState, connector: ConnectorState) -> str | None:
    return None if connector.error_code is None else ERROR_CODE.get(connector.error_code)


SENSORS: tuple[OcppSensorEntityDescription, ...] = (
    OcppSensorEntityDescription(
        key="connector_status",
        translation_key="connector_status",
        fields=(STATUS,),
        device_class=SensorDeviceClass.ENUM,
        options=list(CONNECTOR_STATUS.values()),
        value_fn=_status,
    ),
    OcppSensorEntityDescription(
        key="error_code",
        translation_key="error_code",
        fields=(STATUS,),
        device_class=SensorDeviceClass.ENUM,
        entity_category=EntityCategory.DIAGNOSTIC,
        options=list(ERROR_CODE.values()),
        value_fn=_error_code,
    ),
    # The charger as a whole (StatusNotification on connector 0, section 4.9): a fault of
    # the whole charger shows here. Created once the charger reports it.
    OcppSensorEntityDescription(
        key="charger_status",
        translation_key="charger_status",
        per_connector=False,
        when_reported=True,
        fields=(STATUS,),
        device_class=SensorDeviceClass.ENUM,
        options=list(CONNECTOR_STATUS.values()),
        value_fn=_status,
    ),
    OcppSensorEntityDescription(
        key="charger_error_code",
        translation_key="charger_error_code",
        per_connector=False,
        when_reported=True,
        fields=(STATUS,),
        device_class=SensorDeviceClass.ENUM,
        entity_category=EntityCategory.DIAGNOSTIC,
        options=list(ERROR_CODE.values()),
        value_fn=_error_code,
    ),
    # The power drawn is the total over all phases: the charger's total, or the sum.
    _meter(
        "power",
        _active_power,
        SensorDeviceClass.POWER,
        UnitOfPower.WATT,
        twin=True,
    ),
    # The highest phase current, as the README says, also when a phase-less value comes
    # with the phases (a sum or an average): a current limit applies per phase, so the
    # highest phase current is what compares to it (OCPP 1.6 section 3.13.3).
    _meter(
        "current",
        _total_or_phases(CURRENT, max, phases_first=True),
        SensorDeviceClass.CURRENT,
        UnitOfElectricCurrent.AMPERE,
    ),
    # Disabled by default: it moves with the grid on most samples (a state row each) and few
    # look at it; the controllers read the reported voltage from the readings, not from here.
    _meter(
        "voltage",
        _first_of(VOLTAGE, *_voltage_keys("L1")),
        SensorDeviceClass.VOLTAGE,
        UnitOfElectricPotential.VOLT,
        enabled=False,
    ),
    # Values many chargers never send (the car's state of charge needs ISO 15118 or DC; an
    # AC charger may have no temperature sensor): created once reported.
    _meter(
        "current_offered",
        _first_of(CURRENT_OFFERED),
        SensorDeviceClass.CURRENT,
        UnitOfElectricCurrent.AMPERE,
        when_reported=True,
    ),
    _meter("soc", _first_of(SOC), SensorDeviceClass.BATTERY, PERCENTAGE, when_reported=True),
    _meter(
        "temperature",
        _first_of(TEMPERATURE),
        SensorDeviceClass.TEMPERATURE,
        UnitOfTemperature.CELSIUS,
        when_reported=True,
    ),
    OcppSensorEntityDescription(
        key="energy",
        translation_key="energy",
        fields=(READINGS,),
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=DISPLAY[SensorDeviceClass.ENERGY][0],
        suggested_display_precision=DISPLAY[SensorDeviceClass.ENERGY][1],
        state_class=SensorStateClass.TOTAL_INCREASING,
        register=ENERGY_REGISTER,
        on_charger_when_reported=True,
        available_when_offline=True,
    ),
    # A per-session counter: state class total with last_reset at the session's
    # start, so statistics see each session as a new cycle.
    OcppSensorEntityDescription(
        key="session_energy",
        translation_key="session_energy",
        fields=(TRANSACTION, READINGS),
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=DISPLAY[SensorDeviceClass.ENERGY][0],
        suggested_display_precision=DISPLAY[SensorDeviceClass.ENERGY][1],
        state_class=SensorStateClass.TOTAL,
        session_fn=lambda tx: round(tx.energy, ENERGY_DIGITS),
        available_when_offline=True,
    ),
    OcppSensorEntityDescription(
        key="session_duration",
        translation_key="session_duration",
        fields=(TRANSACTION, READINGS),
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=0,
        session_fn=_session_duration,
        available_when_offline=True,
    ),
    OcppSensorEntityDescription(
        key="id_tag",
        translation_key="id_tag",
        fields=(TRANSACTION,),
        tag_name=True,
    ),
    OcppSensorEntityDescription(
        key="transaction_id",
        translation_key="transaction_id",
        fields=(TRANSACTION,),
        entity_category=EntityCategory.DIAGNOSTIC,
        # Few want it: the session events and the id tag sensor tell sessions apart.
        entity_registry_enabled_default=False,
        value_fn=lambda _s, c: None if (tx := c.running_transaction) is None else tx.transaction_id,
    ),
    *_per_phase(),
    OcppSensorEntityDescription(
        key="last_heartbeat",
        translation_key="last_heartbeat",
        per_connector=False,
        fields=("heartbeat",),
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        # A timestamp that moves with every heartbeat (a state row each): the Connected
        # binary sensor already tells whether the charger is there.
        entity_registry_enabled_default=False,
        value_fn=lambda s, _c: s.last_heartbeat,
        available_when_offline=True,
    ),
    OcppSensorEntityDescription(
        key="firmware_status",
        translation_key="firmware_status",
        per_connector=False,
        fields=("firmware_status",),
        device_class=SensorDeviceClass.ENUM,
        entity_category=EntityCategory.DIAGNOSTIC,
        options=list(FIRMWARE_STATUS.values()),
        value_fn=lambda s, _c: (
            None if s.firmware_status is None else FIRMWARE_STATUS.get(s.firmware_status)
        ),
    ),
)


def _reported(
    description: OcppSensorEntityDescription, state: ChargerState, connector: ConnectorState
) -> bool:
    """Whether the charger reported this sensor's value on `connector`."""
    if description.register is not None:
        return description.register in connector.readings
    return description.value_fn(state, connector) is not None


def _sensor(
    charger: Charger, connector_id: int, description: OcppSensorEntityDescription
) -> OcppEntity:
    """The sensor class a description asks for (a register, a session value, a tag)."""
    cls: type[OcppSensor | OcppRegisterSensor] = OcppSensor
    if description.register is not None:
        cls = OcppRegisterSensor
    elif description.session_fn is not None:
        cls = OcppSessionSensor
    elif description.tag_name:
        cls = OcppIdTagSensor
    return cls(charger, connector_id, description)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the sensors of every charger, and of its solar controller once configured."""
    async_setup_charger_entities(
        hass, entry, async_add_entities, SENSORS, factory=_sensor, reported=_reported
    )
    async_setup_solar_sensors(entry, async_add_entities)
    async_setup_load_sensors(hass, entry, async_add_entities)


class OcppSensor(OcppEntity, SensorEntity):
    """A sensor showing one value of the charger's state."""

    _notification_context = True

    entity_description: OcppSensorEntityDescription

    @property
    @override
    def native_value(self) -> SensorValue:
        """The value `value_fn` read last."""
        value: SensorValue = self._value
        return value


ATTR_ID_TAG = "id_tag"


def tag_title(entry: ConfigEntry[Any], id_tag: str) -> str:
    """The title of `id_tag`'s id-tag subentry, or the tag itself when it has none.

    IdToken is case-insensitive (OCPP 1.6 section 7.28).
    """
    wanted = id_tag.casefold()
    for subentry in entry.subentries.values():
        if (
            subentry.subentry_type == SUBENTRY_ID_TAG
            and str(subentry.data.get(CONF_ID_TAG, "")).casefold() == wanted
        ):
            return subentry.title
    return id_tag


class OcppIdTagSensor(OcppSensor):
    """Who is charging: the running transaction's tag by its name, the raw id an attribute.

    The name is the title of the tag's id-tag subentry (an unknown tag shows its raw id)
    and follows a rename at once. The raw id is kept out of the recorder: the state
    already records who charged, and the id is only for automations of the moment.
    """

    _unrecorded_attributes = frozenset({ATTR_ID_TAG})
    _value: tuple[str | None, str | None] = (None, None)

    @override
    async def async_added_to_hass(self) -> None:
        """Also follow changes of the entry's subentries (a tag renamed, added, removed)."""
        await super().async_added_to_hass()
        self.async_on_remove(self._charger.entry.add_update_listener(self._async_entry_updated))

    async def _async_entry_updated(self, _hass: HomeAssistant, _entry: ConfigEntry[Any]) -> None:
        self._handle_change()

    @override
    def _read(self) -> tuple[str | None, str | None]:
        """The tag's name and the raw tag."""
        tx = self.connector.running_transaction
        id_tag = None if tx is None else tx.id_tag
        name = None if id_tag is None else tag_title(self._charger.entry, id_tag)
        return name, id_tag

    @property
    @override
    def native_value(self) -> str | None:
        """The tag's name."""
        return self._value[0]

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """The raw tag, while a transaction runs."""
        id_tag = self._value[1]
        return {} if id_tag is None else {ATTR_ID_TAG: id_tag}


class OcppSessionSensor(OcppSensor):
    """A value of the connector's running transaction, kept once it stopped.

    The session clears `ConnectorState.transaction` in the StopTransaction that
    gives the final meter value, so the entity holds on to the transaction it saw
    last: a finished session's energy and duration stay meaningful.
    """

    _transaction: Transaction | None = None
    _value: tuple[SensorValue, datetime | None] = (None, None)

    @override
    def _read(self) -> tuple[SensorValue, datetime | None] | Keep:
        """The session's value and, for state class total, when its cycle started."""
        tx = self.connector.transaction or self._transaction
        if tx is None:
            return KEEP
        self._transaction = tx
        description = self.entity_description
        value = None if description.session_fn is None else description.session_fn(tx)
        # Statistics start a new cycle at each session (state class total).
        last_reset = tx.start_time if description.state_class is SensorStateClass.TOTAL else None
        return value, last_reset

    @property
    @override
    def native_value(self) -> SensorValue:
        """The session's value."""
        return self._value[0]

    @property
    @override
    def last_reset(self) -> datetime | None:
        """The start of the session, for state class total."""
        return self._value[1]


class OcppRegisterSensor(OcppEntity, RestoreSensor):
    """An energy register for the Energy dashboard: what `protocol.register` publishes.

    The register's rule (timestamp order, never backwards, carried across a meter
    restart) lives in `EnergyRegister`; this entity adds what only Home Assistant knows:
    the value it recorded last. After a crash the saved register may lag behind what the
    recorder holds, and a lower value would make statistics count a new meter cycle, the
    whole register again. So at start the register is held at least at the last state
    recorded for this entity (or restored, without a recorder).
    """

    _notification_context = True

    entity_description: OcppSensorEntityDescription

    @override
    async def async_added_to_hass(self) -> None:
        """Never start below what Home Assistant recorded or restored of this entity."""
        known = [value for value in (await self._recorded_wh(), await self._restored_wh()) if value]
        key = self.entity_description.register
        if known and key is not None and self.connector.hold_register(key, max(known)):
            # Written (store) and shown like any reading of the register.
            self._state.notify(((self.connector.connector_id, READINGS),))
        await super().async_added_to_hass()

    async def _restored_wh(self) -> float | None:
        last = await self.async_get_last_sensor_data()
        if last is None or not isinstance(value := last.native_value, int | float):
            return None
        return _to_wh(float(value), last.native_unit_of_measurement)

    async def _recorded_wh(self) -> float | None:
        """The highest value the recorder holds of this entity, in Wh (None without one).

        Its last state, and the state of its last 5-minute statistic: what statistics
        compare the next value with, still there when the last state is "unavailable".
        """
        hass = self.hass
        if self.entity_id is None or "recorder" not in hass.config.components:
            return None
        instance = get_instance(hass)
        if not await instance.async_db_ready:
            return None
        found = await instance.async_add_executor_job(_last_recorded, hass, self.entity_id)
        values = [wh for value, unit in found if (wh := _to_wh(value, unit)) is not None]
        return max(values, default=None)

    @override
    def _read(self) -> float | Keep:
        """The register rounded; before its first reading, whatever was shown stays."""
        key = self.entity_description.register
        reading = None if key is None else self.connector.readings.get(key)
        return KEEP if reading is None else round(reading.value, ENERGY_DIGITS)

    @property
    @override
    def native_value(self) -> float | None:
        """The register, in Wh."""
        value: float | None = self._value
        return value


def _last_recorded(hass: HomeAssistant, entity_id: str) -> list[tuple[float, str | None]]:
    """(value, unit) of the last state and the last 5-minute statistic of `entity_id`.

    Runs in the recorder's executor. Imported here: the recorder (and its database
    library) is optional.
    """
    from homeassistant.components.recorder.history import get_last_state_changes
    from homeassistant.components.recorder.statistics import (
        get_last_short_term_statistics,
        get_metadata,
    )

    found: list[tuple[float, str | None]] = []
    for state in get_last_state_changes(hass, 1, entity_id).get(entity_id.lower(), []):
        with contextlib.suppress(ValueError):  # unknown or unavailable
            found.append((float(state.state), state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)))
    metadata = get_metadata(hass, statistic_ids={entity_id}).get(entity_id)
    if metadata is not None:
        unit = metadata[1]["unit_of_measurement"]
        rows = get_last_short_term_statistics(hass, 1, entity_id, False, {"state"})
        found.extend(
            (float(value), unit)
            for row in rows.get(entity_id, [])
            if (value := row.get("state")) is not None
        )
    return found


def _to_wh(value: float, unit: str | None) -> float | None:
    """An energy value in `unit` (as recorded) in Wh; None for a unit that is no energy."""
    if unit not in EnergyConverter.VALID_UNITS:
        return None
    return EnergyConverter.convert(value, unit, UnitOfEnergy.WATT_HOUR)
