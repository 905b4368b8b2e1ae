"""Config flows: the central system entry, its options and reconfiguration, chargers, id tags."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
import errno
import ipaddress
import re
import socket
import ssl
from types import MappingProxyType
from typing import Any, Final, override

from homeassistant.components.sensor import DOMAIN as SENSOR_DOMAIN, SensorDeviceClass
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentry,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import AbortFlow, section
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.helpers.selector import (
    BooleanSelector,
    DateTimeSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.typing import DiscoveryInfoType
from homeassistant.util import dt as dt_util
import probatio
from yarl import URL

from .const import (
    CONF_CHARGE_BOX_ID,
    CONF_CLEAR_PASSWORD,
    CONF_EXPIRY,
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
    CONF_SSL_CERTFILE,
    CONF_SSL_KEYFILE,
    CONF_STATUS,
    CONF_UNKNOWN_CHARGERS,
    CONF_UNKNOWN_TAGS,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_HOST,
    DEFAULT_MAX_CURRENT,
    DEFAULT_METER_INTERVAL,
    DEFAULT_PORT,
    DEFAULT_REMOTE_ID_TAG,
    DEFAULT_UNKNOWN_CHARGERS,
    DEFAULT_UNKNOWN_TAGS,
    DISCOVERY_CHARGE_BOX_ID,
    DISCOVERY_ENTRY_ID,
    DOMAIN,
    MAX_HEARTBEAT_INTERVAL,
    MAX_ID_TAG_LENGTH,
    MAX_MAX_CURRENT,
    MAX_METER_INTERVAL,
    MAX_PASSWORD_BYTES,
    MIN_HEARTBEAT_INTERVAL,
    MIN_MAX_CURRENT,
    MIN_PASSWORD_BYTES,
    SUBENTRY_CHARGER,
    SUBENTRY_ID_TAG,
    TAG_STATUS_ACCEPTED,
    TAG_STATUS_BLOCKED,
    UNKNOWN_CHARGERS_OFFER,
    UNKNOWN_CHARGERS_REJECT,
    UNKNOWN_TAGS_ACCEPT,
    UNKNOWN_TAGS_REJECT,
)
from .protocol.server import valid_charge_box_id as protocol_valid_charge_box_id
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

# Error keys (translated in strings.json: config.error and config_subentries.*.error).
ERROR_INVALID_HOST: Final = "invalid_host"
ERROR_PORT_IN_USE: Final = "port_in_use"
ERROR_CANNOT_BIND: Final = "cannot_bind"
ERROR_SSL_BOTH_REQUIRED: Final = "ssl_both_required"
ERROR_SSL_INVALID: Final = "ssl_invalid"
ERROR_INVALID_CHARGE_BOX_ID: Final = "invalid_charge_box_id"
ERROR_INVALID_PASSWORD: Final = "invalid_password"
ERROR_PASSWORD_WITH_COLON_ID: Final = "password_with_colon_id"
ERROR_PASSWORD_CONFLICT: Final = "password_conflict"
ERROR_INVALID_ID_TAG: Final = "invalid_id_tag"
ERROR_RESERVED_ID_TAG: Final = "reserved_id_tag"
ERROR_INVALID_PARENT_ID_TAG: Final = "invalid_parent_id_tag"
ERROR_MIN_CURRENT_ABOVE_MAX: Final = "min_current_above_max"
ERROR_BATTERY_WITHOUT_GRID: Final = "battery_without_grid"
ERROR_SAME_POWER_ENTITY: Final = "same_power_entity"
ERROR_OWN_POWER_ENTITY: Final = "own_power_entity"

# What the message that ends a flow says (strings.json: create_entry); an id tag's ends
# with the message of its status (TAG_STATUS_ACCEPTED or TAG_STATUS_BLOCKED).
DESCRIPTION_CENTRAL_SYSTEM_CREATED: Final = "next_steps"
DESCRIPTION_CHARGER_CREATED: Final = "charger_added"

# Abort reasons.
ABORT_ALREADY_CONFIGURED: Final = "already_configured"
ABORT_CHARGER_ADDED: Final = "charger_added"
ABORT_ENTRY_NOT_FOUND: Final = "entry_not_found"

# Which bind failure means what to the user; every other OSError is ERROR_CANNOT_BIND.
_BIND_ERRORS: Final[Mapping[int, str]] = {
    errno.EADDRINUSE: ERROR_PORT_IN_USE,
    errno.EADDRNOTAVAIL: ERROR_INVALID_HOST,
}

# RFC 1123 host name label; the whole name is at most 253 characters.
_HOSTNAME_LABEL: Final = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_MAX_HOSTNAME_LENGTH: Final = 253

# The charge box id is the last path segment of the connection URL (OCPP-J 3.1.1): printable
# ASCII without whitespace, and without the characters that end a path segment.

# The collapsible section of the charger forms that holds the solar controller's options.
# They are stored flat in the charger subentry's data, where `SolarSettings.from_options`
# reads them; the section only groups them on the form.
SECTION_SOLAR: Final = "solar"
_SOLAR_DEFAULTS: Final = SolarSettings()
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

# The form of a Home Assistant DateTimeSelector value (local time, no zone).
_DATETIME_SELECTOR_FORMAT: Final = "%Y-%m-%d %H:%M:%S"


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
    defaults = _SOLAR_DEFAULTS
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


def charger_schema(
    hass: HomeAssistant, *, charge_box_id: bool, clear_password: bool = False
) -> probatio.Schema:
    """Build the charger form shared by every charger step: add, discovered, reconfigure.

    Every field but the charge box id, the password and the clear-password box is a plain
    setting stored as entered (see `_charger_settings`), so a new charger setting is one more
    line here plus its translations. The solar controller's section comes last, collapsed:
    most chargers keep its defaults. Its sensor pickers leave out the integration's own
    sensors as they are now.
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
    fields[probatio.Required(CONF_LENIENT, default=False)] = BooleanSelector()
    fields[probatio.Optional(SECTION_SOLAR)] = section(
        solar_schema(own_sensors(hass)), {"collapsed": True}
    )
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


# --- validation of values -------------------------------------------------------------------


def valid_host(host: str) -> bool:
    """Tell whether host is an IP address or an RFC 1123 host name (checked before any lookup)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        name = host.removesuffix(".")
        return 0 < len(name) <= _MAX_HOSTNAME_LENGTH and all(
            _HOSTNAME_LABEL.fullmatch(label) for label in name.split(".")
        )
    return True


def valid_charge_box_id(charge_box_id: str) -> bool:
    """Tell whether a charge box id is one the central system admits (no edge spaces)."""
    return charge_box_id == charge_box_id.strip() and protocol_valid_charge_box_id(charge_box_id)


def valid_password(password: str) -> bool:
    """Tell whether a password fits the AuthorizationKey configuration key.

    OCPP 1.6 security whitepaper A00.FR.205 and 7.2: at least 16 bytes, at most 20 bytes
    represented as up to 40 hexadecimal digits, so 16..40 bytes as sent in HTTP Basic.
    """
    return MIN_PASSWORD_BYTES <= len(password.encode()) <= MAX_PASSWORD_BYTES


def valid_id_tag(id_tag: str) -> bool:
    """Tell whether id_tag is an IdToken: CiString20Type, printable ASCII (OCPP 1.6 7.15, 7.28)."""
    return 0 < len(id_tag) <= MAX_ID_TAG_LENGTH and all(" " <= char <= "~" for char in id_tag)


def load_server_ssl_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """Load the central system's certificate and key into a server TLS context.

    Blocking (reads files): run it in the executor. Raises OSError when a file cannot be
    read and ssl.SSLError when they are no PEM certificate chain and matching key.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    return context


def _bind_error(host: str, port: int) -> str | None:
    """Return why a server cannot listen on host:port, or None when it can.

    Blocking: run it in the executor. Binds every address the host resolves to, the way
    asyncio's create_server does (SO_REUSEADDR, IPv6 sockets v6-only), then releases them
    at once. Port 0 checks the host only.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror, UnicodeError:
        return ERROR_INVALID_HOST
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as err:
        return _BIND_ERRORS.get(err.errno or 0, ERROR_CANNOT_BIND)
    finally:
        for sock in sockets:
            sock.close()
    return None


def _tls_error(data: Mapping[str, Any]) -> tuple[str, str] | None:
    """Return (field, error) when the TLS files are incomplete or do not load; blocking."""
    certfile = data.get(CONF_SSL_CERTFILE)
    keyfile = data.get(CONF_SSL_KEYFILE)
    if certfile is None and keyfile is None:
        return None
    if certfile is None or keyfile is None:
        missing = CONF_SSL_CERTFILE if certfile is None else CONF_SSL_KEYFILE
        return missing, ERROR_SSL_BOTH_REQUIRED
    try:
        load_server_ssl_context(certfile, keyfile)
    except OSError, ssl.SSLError:
        return "base", ERROR_SSL_INVALID
    return None


def _central_errors(data: Mapping[str, Any], bind_port: int) -> dict[str, str]:
    """Check a central system's settings: host syntax, TLS files, then whether it can listen."""
    if not valid_host(data[CONF_HOST]):
        return {CONF_HOST: ERROR_INVALID_HOST}
    if tls_error := _tls_error(data):
        field, error = tls_error
        return {field: error}
    if bind_error := _bind_error(data[CONF_HOST], bind_port):
        field = {ERROR_PORT_IN_USE: CONF_PORT, ERROR_INVALID_HOST: CONF_HOST}.get(
            bind_error, "base"
        )
        return {field: bind_error}
    return {}


def _central_data(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise the central system form: trimmed text, TLS paths only when given."""
    data: dict[str, Any] = {
        CONF_HOST: user_input[CONF_HOST].strip(),
        CONF_PORT: user_input[CONF_PORT],
    }
    for key in (CONF_SSL_CERTFILE, CONF_SSL_KEYFILE):
        if value := user_input.get(key, "").strip():
            data[key] = value
    return data


def central_title(port: int) -> str:
    """Return the title of a central system entry."""
    return f"OCPP Central System (port {port})"


def _charger_settings(
    hass: HomeAssistant,
    user_input: Mapping[str, Any],
    charge_box_id: str,
    current: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn a charger form into subentry data (without the charge box id) and errors.

    An empty password keeps the current one (there is none for a new charger); the
    clear-password box removes it. The password is stored only when there is one. The
    solar controller's options are stored flat (see `_solar_options`); the integration's
    own sensors, as they are at submission, are refused as its inputs.
    """
    settings = {
        key: value
        for key, value in user_input.items()
        if key not in (CONF_CHARGE_BOX_ID, CONF_PASSWORD, CONF_CLEAR_PASSWORD, SECTION_SOLAR)
    }
    solar, errors = _solar_options(user_input, current, own_sensors(hass))
    settings |= solar
    password: str | None = user_input.get(CONF_PASSWORD) or None
    clear = bool(user_input.get(CONF_CLEAR_PASSWORD))
    if password is not None and clear:
        errors[CONF_CLEAR_PASSWORD] = ERROR_PASSWORD_CONFLICT
    elif password is not None and not valid_password(password):
        errors[CONF_PASSWORD] = ERROR_INVALID_PASSWORD
    elif password is None and not clear and current is not None:
        password = current.get(CONF_PASSWORD)
    if password is not None and not clear:
        if ":" in charge_box_id:
            # RFC 7617: an HTTP Basic user-id cannot contain a colon, so such a charger
            # could never log in with a password.
            errors[CONF_PASSWORD] = ERROR_PASSWORD_WITH_COLON_ID
        settings[CONF_PASSWORD] = password
    return settings, errors


def _solar_options(
    user_input: Mapping[str, Any], current: Mapping[str, Any] | None, refused: Collection[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the solar controller's options of a charger form, flat, and their errors.

    The section replaces every option (a sensor cleared on the form is removed); a
    submission without it (an API caller) keeps the current ones, defaults for a new
    charger. Errors are keyed by the section, where the frontend shows them. A sensor in
    refused (the integration's own) is an error.
    """
    section_input = user_input.get(SECTION_SOLAR)
    if section_input is None:
        options = {key: value for key, value in (current or {}).items() if key in SOLAR_KEYS}
    else:
        options = dict(section_input)
    grid = options.get(CONF_GRID_POWER_ENTITY)
    battery = options.get(CONF_BATTERY_POWER_ENTITY)
    error: str | None = None
    if options.get(CONF_MIN_CURRENT, _SOLAR_DEFAULTS.min_current) > user_input[CONF_MAX_CURRENT]:
        error = ERROR_MIN_CURRENT_ABOVE_MAX
    elif battery is not None and grid is None:
        # The controller works from the grid power; a battery alone cannot tell the surplus.
        error = ERROR_BATTERY_WITHOUT_GRID
    elif battery is not None and battery == grid:
        error = ERROR_SAME_POWER_ENTITY
    elif grid in refused or battery in refused:
        error = ERROR_OWN_POWER_ENTITY
    return options, {} if error is None else {SECTION_SOLAR: error}


def _charger_form_values(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return form values fit to show again: no password, the solar options in their section.

    `values` is a submitted form or a subentry's data (solar options flat).
    """
    shown = {
        key: value
        for key, value in (values or {}).items()
        if key != CONF_PASSWORD and key not in SOLAR_KEYS
    }
    solar = dict(shown.get(SECTION_SOLAR) or {})
    solar |= {key: value for key, value in (values or {}).items() if key in SOLAR_KEYS}
    if CONF_PHASES in solar:
        solar[CONF_PHASES] = str(solar[CONF_PHASES])  # the drop-down's options are text
    shown[SECTION_SOLAR] = solar
    return shown


def _expiry_to_storage(value: str) -> str:
    """Turn a DateTimeSelector value (local time) into an ISO 8601 UTC timestamp."""
    moment = dt_util.parse_datetime(value, raise_on_error=True)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt_util.get_default_time_zone())
    return dt_util.as_utc(moment).isoformat()


def _expiry_to_form(value: str) -> str:
    """Turn a stored ISO 8601 timestamp back into a DateTimeSelector value (local time)."""
    return dt_util.as_local(dt_util.parse_datetime(value, raise_on_error=True)).strftime(
        _DATETIME_SELECTOR_FORMAT
    )


def _id_tag_details(user_input: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn the id-tag form (without the tag) into subentry data and errors."""
    details: dict[str, Any] = {CONF_STATUS: user_input[CONF_STATUS]}
    errors: dict[str, str] = {}
    if name := user_input.get(CONF_NAME, "").strip():
        details[CONF_NAME] = name
    if parent := user_input.get(CONF_PARENT_ID_TAG, "").strip():
        # parentIdTag is an IdToken as well (OCPP 1.6 7.27).
        if valid_id_tag(parent):
            details[CONF_PARENT_ID_TAG] = parent
        else:
            errors[CONF_PARENT_ID_TAG] = ERROR_INVALID_PARENT_ID_TAG
    if expiry := user_input.get(CONF_EXPIRY):
        details[CONF_EXPIRY] = _expiry_to_storage(expiry)
    return details, errors


def id_tag_title(data: Mapping[str, Any]) -> str:
    """Return the title of an id-tag subentry: its name and tag, or the tag alone."""
    if name := data.get(CONF_NAME):
        return f"{name} ({data[CONF_ID_TAG]})"
    return str(data[CONF_ID_TAG])


def id_tag_unique_id(id_tag: str) -> str:
    """Return an id-tag subentry's unique id.

    Subentry unique ids are shared by all subentry types of an entry, so the prefix keeps a
    tag apart from a charger of the same name; IdToken is case insensitive (OCPP 1.6 7.28).
    """
    return f"{SUBENTRY_ID_TAG}_{id_tag.upper()}"


# --- subentry look-ups ----------------------------------------------------------------------


def find_charger(entry: ConfigEntry, charge_box_id: str) -> ConfigSubentry | None:
    """Return the charger subentry of that charge box id (case sensitive: a URL path)."""
    return next(
        (
            subentry
            for subentry in entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_CHARGER
            and subentry.data.get(CONF_CHARGE_BOX_ID) == charge_box_id
        ),
        None,
    )


def find_id_tag(entry: ConfigEntry, id_tag: str) -> ConfigSubentry | None:
    """Return the id-tag subentry of that tag, compared case insensitively (OCPP 1.6 7.28)."""
    wanted = id_tag.upper()
    return next(
        (
            subentry
            for subentry in entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_ID_TAG
            and str(subentry.data.get(CONF_ID_TAG, "")).upper() == wanted
        ),
        None,
    )


@callback
def _abort_discovery_of(hass: HomeAssistant, charge_box_id: str) -> None:
    """Close the "wants to connect" card of a charger the user has just added by hand."""
    for flow in hass.config_entries.flow.async_progress_by_handler(
        DOMAIN, match_context={"unique_id": charge_box_id}
    ):
        hass.config_entries.flow.async_abort(flow["flow_id"])


# Listen addresses that mean "every interface": no address a charger could connect to.
_WILDCARD_HOSTS: Final = frozenset({"", "0.0.0.0", "::"})
# Shown when Home Assistant does not know its own address.
_UNKNOWN_HOST: Final = "<home-assistant-ip>"


@callback
def charger_host(hass: HomeAssistant, bind_host: str) -> str:
    """Return the host a charger reaches a central system listening on bind_host at.

    A central system bound to one address is reached there only. One listening on every
    interface is reached where Home Assistant says it is reached on the local network (its
    internal URL, else its own IP address); a placeholder when it does not know.
    """
    host: str | None = bind_host
    if bind_host in _WILDCARD_HOSTS:
        try:
            host = URL(get_url(hass, allow_external=False, allow_cloud=False)).host
        except NoURLAvailableError:
            host = None
    if not host:
        return _UNKNOWN_HOST
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    return f"[{host}]" if address.version == 6 else host


@callback
def charger_url(
    hass: HomeAssistant, data: Mapping[str, Any] | None, charge_box_id: str = "<chargeBoxId>"
) -> str:
    """Return the URL a charger connects to (OCPP-J 3.1.1), for the form descriptions.

    data is a central system entry's data; None before it exists (host and port unknown).
    Passed as a placeholder: the frontend would read the angle brackets in a translation
    as markup.
    """
    if data is None:
        return f"ws://{charger_host(hass, DEFAULT_HOST)}:<port>/{charge_box_id}"
    scheme = "wss" if data.get(CONF_SSL_CERTFILE) else "ws"
    return f"{scheme}://{charger_host(hass, data[CONF_HOST])}:{data[CONF_PORT]}/{charge_box_id}"


# --- flows ----------------------------------------------------------------------------------


class OcppCentralConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a central system, change where it listens, and accept discovered chargers."""

    VERSION = 1
    MINOR_VERSION = 1

    _discovered_charge_box_id: str
    _discovered_entry_id: str

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> OcppOptionsFlow:
        """Return the options flow (policies for unknown chargers and tags)."""
        return OcppOptionsFlow()

    @classmethod
    @callback
    @override
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Return the subentry types: chargers and id tags."""
        return {SUBENTRY_CHARGER: ChargerSubentryFlow, SUBENTRY_ID_TAG: IdTagSubentryFlow}

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask where the new central system listens."""
        return await self._async_central_step(
            "user",
            user_input,
            suggested=user_input,
            bind_port=lambda port: port,
            finish=lambda data: self.async_create_entry(
                title=central_title(data[CONF_PORT]),
                data=data,
                options=dict(DEFAULT_OPTIONS),
                # The next steps: the charger's URL (its id appended by most chargers).
                description=DESCRIPTION_CENTRAL_SYSTEM_CREATED,
                description_placeholders={"url": charger_url(self.hass, data, "")},
            ),
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change where the central system listens; the entry restarts to apply it."""
        entry = self._get_reconfigure_entry()

        def bind_port(port: int) -> int:
            # Our own running server holds its current port: check the host alone then.
            running = entry.state is ConfigEntryState.LOADED
            return 0 if running and port == entry.data[CONF_PORT] else port

        def finish(data: dict[str, Any]) -> ConfigFlowResult:
            title = central_title(data[CONF_PORT])
            # A running entry's update listener restarts the server when where it listens
            # changed; reloading here as well would restart it twice (Home Assistant reports
            # that). An entry that is not running has no listener: reload it here.
            if entry.update_listeners:
                return self.async_update_and_abort(entry, title=title, data=data)
            return self.async_update_reload_and_abort(entry, title=title, data=data)

        return await self._async_central_step(
            "reconfigure",
            user_input,
            suggested=user_input or entry.data,
            bind_port=bind_port,
            finish=finish,
        )

    async def _async_central_step(
        self,
        step_id: str,
        user_input: dict[str, Any] | None,
        *,
        suggested: Mapping[str, Any] | None,
        bind_port: Callable[[int], int],
        finish: Callable[[dict[str, Any]], ConfigFlowResult],
    ) -> ConfigFlowResult:
        """Show the central system form, or check it (port free, TLS loads) and finish."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _central_data(user_input)
            # One central system per port; the entry being reconfigured is not "another".
            self._async_abort_entries_match({CONF_PORT: data[CONF_PORT]})
            errors = await self.hass.async_add_executor_job(
                _central_errors, data, bind_port(data[CONF_PORT])
            )
            if not errors:
                return finish(data)
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(CENTRAL_SCHEMA, suggested),
            errors=errors,
            description_placeholders={"url": charger_url(self.hass, None)},
        )

    @override
    async def async_step_integration_discovery(
        self, discovery_info: DiscoveryInfoType
    ) -> ConfigFlowResult:
        """Offer a charger that knocked on a central system without being configured."""
        charge_box_id = str(discovery_info[DISCOVERY_CHARGE_BOX_ID])
        self._discovered_charge_box_id = charge_box_id
        self._discovered_entry_id = str(discovery_info[DISCOVERY_ENTRY_ID])
        # One card per charger however often it knocks; an ignored charger stays ignored.
        await self.async_set_unique_id(charge_box_id)
        self._abort_if_unique_id_configured()
        self._discovery_target()
        if not valid_charge_box_id(charge_box_id):
            return self.async_abort(reason=ERROR_INVALID_CHARGE_BOX_ID)
        self.context["title_placeholders"] = {"charge_box_id": charge_box_id}
        return await self.async_step_discovery_confirm()

    async def async_step_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Let the user set the discovered charger up; it becomes a charger subentry."""
        entry = self._discovery_target()
        charge_box_id = self._discovered_charge_box_id
        errors: dict[str, str] = {}
        if user_input is not None:
            settings, errors = _charger_settings(self.hass, user_input, charge_box_id)
            if not errors:
                # Subentry flows cannot start from discovery: add the subentry directly.
                self.hass.config_entries.async_add_subentry(
                    entry,
                    ConfigSubentry(
                        data=MappingProxyType({CONF_CHARGE_BOX_ID: charge_box_id, **settings}),
                        subentry_type=SUBENTRY_CHARGER,
                        title=charge_box_id,
                        unique_id=charge_box_id,
                    ),
                )
                return self.async_abort(
                    reason=ABORT_CHARGER_ADDED,
                    description_placeholders={"charge_box_id": charge_box_id},
                )
        return self.async_show_form(
            step_id="discovery_confirm",
            data_schema=self.add_suggested_values_to_schema(
                charger_schema(self.hass, charge_box_id=False), _charger_form_values(user_input)
            ),
            errors=errors,
            description_placeholders={
                "charge_box_id": charge_box_id,
                "central_system": entry.title,
            },
        )

    @callback
    def _discovery_target(self) -> ConfigEntry:
        """Return the entry the discovered charger knocked on, or abort when it cannot be added."""
        entry = self.hass.config_entries.async_get_entry(self._discovered_entry_id)
        if entry is None or entry.domain != DOMAIN:
            raise AbortFlow(ABORT_ENTRY_NOT_FOUND)
        if find_charger(entry, self._discovered_charge_box_id) is not None:
            raise AbortFlow(ABORT_ALREADY_CONFIGURED)
        return entry


class OcppOptionsFlow(OptionsFlow):
    """Change the policies for unknown chargers and tags; the running system applies them."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and store the policies."""
        if user_input is not None:
            return self.async_create_entry(data={**self.config_entry.options, **user_input})
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                OPTIONS_SCHEMA, self.config_entry.options
            ),
        )


class ChargerSubentryFlow(ConfigSubentryFlow):
    """Add a charger to a central system or change its settings."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Add a charger: its charge box id, password and settings."""
        entry = self._get_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            charge_box_id = user_input[CONF_CHARGE_BOX_ID].strip()
            if not valid_charge_box_id(charge_box_id):
                errors[CONF_CHARGE_BOX_ID] = ERROR_INVALID_CHARGE_BOX_ID
            elif find_charger(entry, charge_box_id) is not None:
                return self.async_abort(reason=ABORT_ALREADY_CONFIGURED)
            settings, settings_errors = _charger_settings(self.hass, user_input, charge_box_id)
            errors |= settings_errors
            if not errors:
                _abort_discovery_of(self.hass, charge_box_id)
                return self.async_create_entry(
                    title=charge_box_id,
                    data={CONF_CHARGE_BOX_ID: charge_box_id, **settings},
                    unique_id=charge_box_id,
                    description=DESCRIPTION_CHARGER_CREATED,
                    description_placeholders={
                        "charge_box_id": charge_box_id,
                        "url": charger_url(self.hass, entry.data, charge_box_id),
                    },
                )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                charger_schema(self.hass, charge_box_id=True), _charger_form_values(user_input)
            ),
            errors=errors,
            description_placeholders={"url": charger_url(self.hass, entry.data)},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a charger's settings; the runtime applies them to that charger only."""
        entry = self._get_entry()
        subentry = self._get_reconfigure_subentry()
        charge_box_id = subentry.data[CONF_CHARGE_BOX_ID]
        errors: dict[str, str] = {}
        if user_input is not None:
            settings, errors = _charger_settings(
                self.hass, user_input, charge_box_id, subentry.data
            )
            if not errors:
                return self.async_update_and_abort(
                    entry, subentry, data={CONF_CHARGE_BOX_ID: charge_box_id, **settings}
                )
        has_password = subentry.data.get(CONF_PASSWORD) is not None
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                charger_schema(self.hass, charge_box_id=False, clear_password=has_password),
                _charger_form_values(user_input or subentry.data),
            ),
            errors=errors,
            description_placeholders={
                "charge_box_id": charge_box_id,
                "url": charger_url(self.hass, entry.data, charge_box_id),
            },
        )


class IdTagSubentryFlow(ConfigSubentryFlow):
    """Add an id tag (RFID card, app token) or change its name, group, status and expiry."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Add an id tag."""
        errors: dict[str, str] = {}
        if user_input is not None:
            id_tag = user_input[CONF_ID_TAG].strip()
            if not valid_id_tag(id_tag):
                errors[CONF_ID_TAG] = ERROR_INVALID_ID_TAG
            elif id_tag.upper() == DEFAULT_REMOTE_ID_TAG.upper():
                errors[CONF_ID_TAG] = ERROR_RESERVED_ID_TAG
            elif find_id_tag(self._get_entry(), id_tag) is not None:
                return self.async_abort(reason=ABORT_ALREADY_CONFIGURED)
            details, details_errors = _id_tag_details(user_input)
            errors |= details_errors
            if not errors:
                data = {CONF_ID_TAG: id_tag, **details}
                return self.async_create_entry(
                    title=id_tag_title(data),
                    data=data,
                    unique_id=id_tag_unique_id(id_tag),
                    # Accepted and blocked tags act differently: a message for each.
                    description=details[CONF_STATUS],
                    description_placeholders={"id_tag": id_tag},
                )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(id_tag_schema(id_tag=True), user_input),
            errors=errors,
            description_placeholders={"remote_id_tag": DEFAULT_REMOTE_ID_TAG},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change an id tag's name, group, status or expiry."""
        subentry = self._get_reconfigure_subentry()
        id_tag = subentry.data[CONF_ID_TAG]
        errors: dict[str, str] = {}
        if user_input is not None:
            details, errors = _id_tag_details(user_input)
            if not errors:
                data = {CONF_ID_TAG: id_tag, **details}
                return self.async_update_and_abort(
                    self._get_entry(), subentry, title=id_tag_title(data), data=data
                )
        current = dict(user_input or subentry.data)
        if user_input is None and (expiry := current.get(CONF_EXPIRY)):
            current[CONF_EXPIRY] = _expiry_to_form(expiry)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(id_tag_schema(id_tag=False), current),
            errors=errors,
            description_placeholders={"id_tag": id_tag},
        )
