"""The forms of the config flows: central system, options, charger, id tag, circuit.

Every field's label and description lives in strings.json; a drop-down's option labels under
`selector`. Which values a form admits is the schema's to say; what the values become in
storage is `config_values`'.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any, Final, override

from homeassistant.components.sensor import DOMAIN as SENSOR_DOMAIN, SensorDeviceClass
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.selector import (
    BooleanSelector,
    DateTimeSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio

from .const import (
    CIRCUIT_CURRENT_KEYS,
    CONF_CHARGE_BOX_ID,
    CONF_CHARGERS,
    CONF_CIRCUIT_MAX_CURRENT,
    CONF_CIRCUIT_POWER_ENTITY,
    CONF_CLEAR_PASSWORD,
    CONF_EXPIRY,
    CONF_FALLBACK_CURRENT,
    CONF_HEARTBEAT_INTERVAL,
    CONF_HOST,
    CONF_ID_TAG,
    CONF_LENIENT,
    CONF_MAX_CURRENT,
    CONF_METER_INTERVAL,
    CONF_NAME,
    CONF_PARENT_ID_TAG,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_PRIORITY,
    CONF_SSL_CERTFILE,
    CONF_SSL_KEYFILE,
    CONF_STATUS,
    CONF_UNKNOWN_CHARGERS,
    CONF_UNKNOWN_TAGS,
    CONF_UPSTREAM,
    CONF_UPSTREAM_MODE,
    CONF_UPSTREAM_URL,
    DEFAULT_CIRCUIT_MAX_CURRENT,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_HOST,
    DEFAULT_MAX_CURRENT,
    DEFAULT_METER_INTERVAL,
    DEFAULT_PORT,
    DEFAULT_UNKNOWN_CHARGERS,
    DEFAULT_UNKNOWN_TAGS,
    DOMAIN,
    MAX_CIRCUIT_CURRENT,
    MAX_HEARTBEAT_INTERVAL,
    MAX_MAX_CURRENT,
    MAX_METER_INTERVAL,
    MAX_PRIORITY,
    MIN_HEARTBEAT_INTERVAL,
    MIN_MAX_CURRENT,
    TAG_STATUS_ACCEPTED,
    TAG_STATUS_BLOCKED,
    UNKNOWN_CHARGERS_OFFER,
    UNKNOWN_CHARGERS_REJECT,
    UNKNOWN_TAGS_ACCEPT,
    UNKNOWN_TAGS_REJECT,
    UPSTREAM_MODE_FULL,
    UPSTREAM_MODE_OBSERVE,
)
from .surplus_controller import (
    CONF_BATTERY_CHARGE_POSITIVE,
    CONF_BATTERY_POWER_ENTITY,
    CONF_BATTERY_PRIORITY,
    CONF_CONTROL_PERIOD,
    CONF_GRID_EXPORT_POSITIVE,
    CONF_GRID_POWER_ENTITY,
    CONF_HYSTERESIS,
    CONF_MIN_CURRENT,
    CONF_PHASES,
    CONF_START_DELAY,
    CONF_STOP_DELAY,
    CONF_VOLTAGE,
    BatteryPriority,
    SolarSettings,
)

# The collapsible section of the charger forms that holds the solar controller's options.
# They are stored flat in the charger subentry's data, where `SolarSettings.from_options`
# reads them; the section only groups them on the form.
SECTION_SOLAR: Final = "solar"
# The solar controller's defaults, which its section offers.
SOLAR_DEFAULTS: Final = SolarSettings()
# Phases the car charges on: one or all three (two-phase cars charge as on three).
_PHASE_OPTIONS: Final = ("1", "3")
# Nominal phase voltages from 100 V (Japan) to 400 V, in whole volts.
_MIN_VOLTAGE: Final = 100
_MAX_VOLTAGE: Final = 400
_MAX_DELAY: Final = 3600
_MAX_HYSTERESIS: Final = 10000
# The limiter sends at most one limit per 10 s: a shorter control period only queues.
_MIN_CONTROL_PERIOD: Final = 10
_MAX_CONTROL_PERIOD: Final = 3600


def _int_field(minimum: int, maximum: int, unit: str | None = None) -> probatio.All[int]:
    """Return a whole-number input box limited to [minimum, maximum]."""
    config = NumberSelectorConfig(min=minimum, max=maximum, step=1, mode=NumberSelectorMode.BOX)
    if unit is not None:
        config["unit_of_measurement"] = unit
    return probatio.All(NumberSelector(config), probatio.Coerce(int))


def _select_field(options: list[str], translation_key: str) -> SelectSelector:
    """Return a drop-down whose option labels live in strings.json under selector."""
    return SelectSelector(
        SelectSelectorConfig(
            options=options,
            mode=SelectSelectorMode.DROPDOWN,
            translation_key=translation_key,
        )
    )


_PASSWORD_SELECTOR: Final = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="new-password")
)

CENTRAL_SCHEMA: Final = probatio.Schema(
    {
        probatio.Required(CONF_HOST, default=DEFAULT_HOST): TextSelector(),
        probatio.Required(CONF_PORT, default=DEFAULT_PORT): _int_field(1, 65535),
        probatio.Optional(CONF_SSL_CERTFILE): TextSelector(),
        probatio.Optional(CONF_SSL_KEYFILE): TextSelector(),
    }
)

OPTIONS_SCHEMA: Final = probatio.Schema(
    {
        probatio.Required(CONF_UNKNOWN_CHARGERS, default=DEFAULT_UNKNOWN_CHARGERS): _select_field(
            [UNKNOWN_CHARGERS_OFFER, UNKNOWN_CHARGERS_REJECT], CONF_UNKNOWN_CHARGERS
        ),
        probatio.Required(CONF_UNKNOWN_TAGS, default=DEFAULT_UNKNOWN_TAGS): _select_field(
            [UNKNOWN_TAGS_REJECT, UNKNOWN_TAGS_ACCEPT], CONF_UNKNOWN_TAGS
        ),
    }
)

DEFAULT_OPTIONS: Final[Mapping[str, str]] = MappingProxyType(
    {CONF_UNKNOWN_CHARGERS: DEFAULT_UNKNOWN_CHARGERS, CONF_UNKNOWN_TAGS: DEFAULT_UNKNOWN_TAGS}
)


@callback
def own_sensors(hass: HomeAssistant) -> frozenset[str]:
    """Return the entity ids of this integration's sensors, of every central system.

    None of them may feed the solar controller: a charger's own power fed back as the grid
    power would make the controller chase its own load.
    """
    return frozenset(
        entity.entity_id
        for entity in er.async_get(hass).entities.values()
        if entity.platform == DOMAIN and entity.domain == SENSOR_DOMAIN
    )


class PowerSensorSelector(EntitySelector):
    """A power sensor picker that leaves out the integration's own sensors.

    The exclusion only hides them from the picker: the charger steps refuse one that is
    submitted anyway (an API caller, or a sensor created since the form was shown) with the
    translated error `own_power_entity`, which a schema error could not carry.
    """

    def __init__(self, exclude: Collection[str] = ()) -> None:
        """Offer power sensors, without the entity ids in exclude."""
        config = EntitySelectorConfig(domain=SENSOR_DOMAIN, device_class=SensorDeviceClass.POWER)
        self._unfiltered = EntitySelector(config)
        if exclude:
            config = EntitySelectorConfig(**config, exclude_entities=sorted(exclude))
        super().__init__(config)

    @override
    def __call__(self, data: Any) -> str | list[str]:
        """Check that data is a sensor's entity id; the exclusion is the step's to check."""
        return self._unfiltered(data)


def solar_schema(exclude: Collection[str] = ()) -> probatio.Schema:
    """Build the solar controller's options; defaults are those of `SolarSettings`.

    The sensor pickers leave out the entity ids in exclude (see `own_sensors`).
    """
    defaults = SOLAR_DEFAULTS
    power_sensor = PowerSensorSelector(exclude)
    return probatio.Schema(
        {
            probatio.Optional(CONF_GRID_POWER_ENTITY): power_sensor,
            probatio.Required(
                CONF_GRID_EXPORT_POSITIVE, default=defaults.grid_export_positive
            ): BooleanSelector(),
            probatio.Optional(CONF_BATTERY_POWER_ENTITY): power_sensor,
            probatio.Required(
                CONF_BATTERY_CHARGE_POSITIVE, default=defaults.battery_charge_positive
            ): BooleanSelector(),
            probatio.Required(
                CONF_BATTERY_PRIORITY, default=defaults.battery_priority.value
            ): _select_field(
                [priority.value for priority in BatteryPriority], CONF_BATTERY_PRIORITY
            ),
            probatio.Required(CONF_PHASES, default=str(defaults.phases)): probatio.All(
                _select_field(list(_PHASE_OPTIONS), CONF_PHASES), probatio.Coerce(int)
            ),
            probatio.Required(CONF_VOLTAGE, default=round(defaults.voltage)): _int_field(
                _MIN_VOLTAGE, _MAX_VOLTAGE, "V"
            ),
            probatio.Required(CONF_MIN_CURRENT, default=round(defaults.min_current)): _int_field(
                MIN_MAX_CURRENT, MAX_MAX_CURRENT, "A"
            ),
            probatio.Required(CONF_START_DELAY, default=round(defaults.start_delay)): _int_field(
                0, _MAX_DELAY, "s"
            ),
            probatio.Required(CONF_STOP_DELAY, default=round(defaults.stop_delay)): _int_field(
                0, _MAX_DELAY, "s"
            ),
            probatio.Required(CONF_HYSTERESIS, default=round(defaults.hysteresis)): _int_field(
                0, _MAX_HYSTERESIS, "W"
            ),
            probatio.Required(CONF_CONTROL_PERIOD, default=round(defaults.period)): _int_field(
                _MIN_CONTROL_PERIOD, _MAX_CONTROL_PERIOD, "s"
            ),
        }
    )


# The subentry data keys the solar section holds.
SOLAR_KEYS: Final = frozenset(marker.schema for marker in solar_schema().schema)

# The collapsible section forwarding the charger to an upstream central system; stored as
# one dict under the same key (see `config_values.upstream_options`).
SECTION_UPSTREAM: Final = CONF_UPSTREAM

UPSTREAM_SCHEMA: Final = probatio.Schema(
    {
        probatio.Optional(CONF_UPSTREAM_URL): TextSelector(
            TextSelectorConfig(type=TextSelectorType.URL)
        ),
        probatio.Optional(CONF_CHARGE_BOX_ID): TextSelector(),
        probatio.Optional(CONF_PASSWORD): _PASSWORD_SELECTOR,
        probatio.Required(CONF_UPSTREAM_MODE, default=UPSTREAM_MODE_FULL): _select_field(
            [UPSTREAM_MODE_FULL, UPSTREAM_MODE_OBSERVE], "upstream_mode"
        ),
    }
)


def charger_schema(
    hass: HomeAssistant, *, charge_box_id: bool, clear_password: bool = False
) -> probatio.Schema:
    """Build the charger form shared by every charger step: add, discovered, reconfigure.

    Every field but the charge box id, the password and the clear-password box is a plain
    setting stored as entered (see `charger_settings`), so a new charger setting is one more
    line here plus its translations. The solar controller's section and the upstream
    central system's come last, collapsed: most chargers keep their defaults. The solar
    sensor pickers leave out the integration's own sensors as they are now.
    """
    fields: dict[probatio.Marker, Any] = {}
    if charge_box_id:
        fields[probatio.Required(CONF_CHARGE_BOX_ID)] = TextSelector()
    fields[probatio.Optional(CONF_PASSWORD)] = _PASSWORD_SELECTOR
    if clear_password:
        fields[probatio.Optional(CONF_CLEAR_PASSWORD, default=False)] = BooleanSelector()
    fields[probatio.Required(CONF_HEARTBEAT_INTERVAL, default=DEFAULT_HEARTBEAT_INTERVAL)] = (
        _int_field(MIN_HEARTBEAT_INTERVAL, MAX_HEARTBEAT_INTERVAL, "s")
    )
    fields[probatio.Required(CONF_METER_INTERVAL, default=DEFAULT_METER_INTERVAL)] = _int_field(
        0, MAX_METER_INTERVAL, "s"
    )
    fields[probatio.Required(CONF_MAX_CURRENT, default=DEFAULT_MAX_CURRENT)] = _int_field(
        MIN_MAX_CURRENT, MAX_MAX_CURRENT, "A"
    )
    # Optional: a charger without one has DEFAULT_PRIORITY (load management).
    fields[probatio.Optional(CONF_PRIORITY)] = _int_field(0, MAX_PRIORITY)
    fields[probatio.Required(CONF_LENIENT, default=False)] = BooleanSelector()
    fields[probatio.Optional(SECTION_SOLAR)] = section(
        solar_schema(own_sensors(hass)), {"collapsed": True}
    )
    fields[probatio.Optional(SECTION_UPSTREAM)] = section(UPSTREAM_SCHEMA, {"collapsed": True})
    return probatio.Schema(fields)


def id_tag_schema(*, id_tag: bool) -> probatio.Schema:
    """Build the id-tag form; the tag itself is only asked when the tag is added."""
    fields: dict[probatio.Marker, Any] = {}
    if id_tag:
        fields[probatio.Required(CONF_ID_TAG)] = TextSelector()
    fields[probatio.Optional(CONF_NAME)] = TextSelector()
    fields[probatio.Optional(CONF_PARENT_ID_TAG)] = TextSelector()
    fields[probatio.Required(CONF_STATUS, default=TAG_STATUS_ACCEPTED)] = _select_field(
        [TAG_STATUS_ACCEPTED, TAG_STATUS_BLOCKED], "id_tag_status"
    )
    fields[probatio.Optional(CONF_EXPIRY)] = DateTimeSelector()
    return probatio.Schema(fields)


def current_sensor_selector() -> EntitySelector:
    """A picker of current sensors (the house meter's phases)."""
    return EntitySelector(
        EntitySelectorConfig(domain=SENSOR_DOMAIN, device_class=SensorDeviceClass.CURRENT)
    )


def circuit_schema(hass: HomeAssistant, chargers: list[str], *, name: bool) -> probatio.Schema:
    """Build the circuit form: its supply, its chargers and the house meter's sensors.

    `chargers` are the charge box ids the drop-down offers; the name is only asked when the
    circuit is added. The integration's own sensors are left out of the pickers.
    """
    own = own_sensors(hass)
    fields: dict[probatio.Marker, Any] = {}
    if name:
        fields[probatio.Required(CONF_NAME)] = TextSelector()
    fields[probatio.Required(CONF_CIRCUIT_MAX_CURRENT, default=DEFAULT_CIRCUIT_MAX_CURRENT)] = (
        _int_field(MIN_MAX_CURRENT, MAX_CIRCUIT_CURRENT, "A")
    )
    fields[probatio.Required(CONF_CHARGERS, default=[])] = SelectSelector(
        SelectSelectorConfig(
            # Labelled with the charge box id itself: nothing to translate.
            options=[SelectOptionDict(value=cbid, label=cbid) for cbid in chargers],
            multiple=True,
            mode=SelectSelectorMode.LIST,
        )
    )
    for key in CIRCUIT_CURRENT_KEYS:
        fields[probatio.Optional(key)] = current_sensor_selector()
    fields[probatio.Optional(CONF_CIRCUIT_POWER_ENTITY)] = PowerSensorSelector(own)
    fields[probatio.Optional(CONF_FALLBACK_CURRENT)] = _int_field(0, MAX_CIRCUIT_CURRENT, "A")
    return probatio.Schema(fields)
