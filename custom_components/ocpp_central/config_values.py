"""Config form values to and from storage, and what is derived from stored config data.

Form input becomes entry and subentry data (with its errors) and stored data becomes form
values again; titles, unique ids, subentry look-ups and the URL a charger connects to.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
import ipaddress
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.util import dt as dt_util
from yarl import URL

from .config_checks import valid_charge_box_id, valid_id_tag, valid_password
from .config_schema import (
    SECTION_SOLAR,
    SECTION_UPSTREAM,
    SOLAR_DEFAULTS,
    SOLAR_KEYS,
    own_sensors,
)
from .const import (
    CIRCUIT_CURRENT_KEYS,
    CONF_CHARGE_BOX_ID,
    CONF_CHARGERS,
    CONF_CIRCUIT_MAX_CURRENT,
    CONF_CIRCUIT_POWER_ENTITY,
    CONF_CLEAR_PASSWORD,
    CONF_EXPIRY,
    CONF_FALLBACK_CURRENT,
    CONF_HOST,
    CONF_ID_TAG,
    CONF_MAX_CURRENT,
    CONF_NAME,
    CONF_PARENT_ID_TAG,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_SSL_CERTFILE,
    CONF_SSL_KEYFILE,
    CONF_STATUS,
    CONF_UPSTREAM_MODE,
    CONF_UPSTREAM_URL,
    DEFAULT_HOST,
    SUBENTRY_CHARGER,
    SUBENTRY_CIRCUIT,
    SUBENTRY_ID_TAG,
    UPSTREAM_MODE_FULL,
)
from .protocol.upstream import valid_upstream_url
from .surplus_controller import (
    CONF_BATTERY_POWER_ENTITY,
    CONF_GRID_POWER_ENTITY,
    CONF_MIN_CURRENT,
    CONF_PHASES,
)

# Error keys (translated in strings.json: config_subentries.*.error).
ERROR_INVALID_PASSWORD: Final = "invalid_password"
ERROR_PASSWORD_WITH_COLON_ID: Final = "password_with_colon_id"
ERROR_PASSWORD_CONFLICT: Final = "password_conflict"
ERROR_INVALID_PARENT_ID_TAG: Final = "invalid_parent_id_tag"
ERROR_MIN_CURRENT_ABOVE_MAX: Final = "min_current_above_max"
ERROR_BATTERY_WITHOUT_GRID: Final = "battery_without_grid"
ERROR_SAME_POWER_ENTITY: Final = "same_power_entity"
ERROR_OWN_POWER_ENTITY: Final = "own_power_entity"
ERROR_NO_CHARGERS: Final = "no_chargers"
ERROR_CHARGER_IN_OTHER_CIRCUIT: Final = "charger_in_other_circuit"
ERROR_INCOMPLETE_PHASES: Final = "incomplete_phases"
ERROR_CURRENTS_OR_POWER: Final = "currents_or_power"
ERROR_FALLBACK_ABOVE_MAX: Final = "fallback_above_max"
ERROR_OWN_SENSOR: Final = "own_sensor"
ERROR_INVALID_UPSTREAM_URL: Final = "invalid_upstream_url"
ERROR_INVALID_UPSTREAM_ID: Final = "invalid_upstream_charge_box_id"

# The form of a Home Assistant DateTimeSelector value (local time, no zone).
_DATETIME_SELECTOR_FORMAT: Final = "%Y-%m-%d %H:%M:%S"


def central_data(user_input: Mapping[str, Any]) -> dict[str, Any]:
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


def charger_settings(
    hass: HomeAssistant,
    user_input: Mapping[str, Any],
    charge_box_id: str,
    current: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn a charger form into subentry data (without the charge box id) and errors.

    An empty password keeps the current one (there is none for a new charger); the
    clear-password box removes it. The password is stored only when there is one. The
    solar controller's options are stored flat (see `solar_options`); the integration's
    own sensors, as they are at submission, are refused as its inputs.
    """
    settings = {
        key: value
        for key, value in user_input.items()
        if key
        not in (
            CONF_CHARGE_BOX_ID,
            CONF_PASSWORD,
            CONF_CLEAR_PASSWORD,
            SECTION_SOLAR,
            SECTION_UPSTREAM,
        )
    }
    solar, errors = solar_options(user_input, current, own_sensors(hass))
    settings |= solar
    upstream, upstream_errors = upstream_options(user_input, charge_box_id, current)
    errors |= upstream_errors
    if upstream is not None:
        settings[SECTION_UPSTREAM] = upstream
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


def solar_options(
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
    if options.get(CONF_MIN_CURRENT, SOLAR_DEFAULTS.min_current) > user_input[CONF_MAX_CURRENT]:
        error = ERROR_MIN_CURRENT_ABOVE_MAX
    elif battery is not None and grid is None:
        # The controller works from the grid power; a battery alone cannot tell the surplus.
        error = ERROR_BATTERY_WITHOUT_GRID
    elif battery is not None and battery == grid:
        error = ERROR_SAME_POWER_ENTITY
    elif grid in refused or battery in refused:
        error = ERROR_OWN_POWER_ENTITY
    return options, {} if error is None else {SECTION_SOLAR: error}


def upstream_options(
    user_input: Mapping[str, Any], charge_box_id: str, current: Mapping[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """Return the upstream section of a charger form as stored (None: no forwarding).

    An empty URL turns forwarding off. The charge box ID at the upstream is stored only
    when one is given (the charger's own is used otherwise); an empty password keeps the
    current one. A submission without the section (an API caller) keeps what is stored.
    Errors are keyed by the section, where the frontend shows them.
    """
    stored = (current or {}).get(SECTION_UPSTREAM)
    section_input = user_input.get(SECTION_UPSTREAM)
    if section_input is None:
        return (None if stored is None else dict(stored)), {}
    url = str(section_input.get(CONF_UPSTREAM_URL) or "").strip()
    if not url:
        return None, {}
    upstream: dict[str, Any] = {
        CONF_UPSTREAM_URL: url,
        CONF_UPSTREAM_MODE: section_input.get(CONF_UPSTREAM_MODE, UPSTREAM_MODE_FULL),
    }
    error: str | None = None
    if not valid_upstream_url(url):
        error = ERROR_INVALID_UPSTREAM_URL
    if identity := str(section_input.get(CONF_CHARGE_BOX_ID) or "").strip():
        upstream[CONF_CHARGE_BOX_ID] = identity
        if not valid_charge_box_id(identity):
            error = error or ERROR_INVALID_UPSTREAM_ID
    password = section_input.get(CONF_PASSWORD) or (stored or {}).get(CONF_PASSWORD)
    if password:
        upstream[CONF_PASSWORD] = password
        if ":" in (identity or charge_box_id):
            # RFC 7617: an HTTP Basic user-id cannot contain a colon.
            error = error or ERROR_PASSWORD_WITH_COLON_ID
    return upstream, {} if error is None else {SECTION_UPSTREAM: error}


def charger_form_values(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return form values fit to show again: no password, the options in their sections.

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
    upstream = shown.get(SECTION_UPSTREAM) or {}
    shown[SECTION_UPSTREAM] = {k: v for k, v in upstream.items() if k != CONF_PASSWORD}
    return shown


def expiry_to_storage(value: str) -> str:
    """Turn a DateTimeSelector value (local time) into an ISO 8601 UTC timestamp."""
    moment = dt_util.parse_datetime(value, raise_on_error=True)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt_util.get_default_time_zone())
    return dt_util.as_utc(moment).isoformat()


def expiry_to_form(value: str) -> str:
    """Turn a stored ISO 8601 timestamp back into a DateTimeSelector value (local time)."""
    return dt_util.as_local(dt_util.parse_datetime(value, raise_on_error=True)).strftime(
        _DATETIME_SELECTOR_FORMAT
    )


def id_tag_details(user_input: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
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
        details[CONF_EXPIRY] = expiry_to_storage(expiry)
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


# --- circuits -------------------------------------------------------------------------------


def charger_ids(entry: ConfigEntry) -> list[str]:
    """The charge box ids of the entry's chargers, sorted (the circuit form's choices)."""
    return sorted(
        str(subentry.data[CONF_CHARGE_BOX_ID])
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_CHARGER
    )


def circuit_unique_id(name: str) -> str:
    """A circuit subentry's unique id: its name, letter case ignored, apart from chargers."""
    return f"{SUBENTRY_CIRCUIT}_{name.casefold()}"


def find_circuit(entry: ConfigEntry, name: str) -> ConfigSubentry | None:
    """The circuit subentry of that name (letter case ignored)."""
    wanted = circuit_unique_id(name)
    return next(
        (
            subentry
            for subentry in entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_CIRCUIT and subentry.unique_id == wanted
        ),
        None,
    )


def circuit_settings(
    hass: HomeAssistant,
    entry: ConfigEntry,
    user_input: Mapping[str, Any],
    subentry_id: str | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn a circuit form (without its name) into subentry data and errors.

    A charger belongs to one circuit at most (nested circuits are not supported). The
    house meter is three phase current sensors, or one power sensor, or none (a static
    limit); the integration's own sensors cannot be it.
    """
    chargers = list(user_input.get(CONF_CHARGERS) or [])
    data: dict[str, Any] = {
        CONF_CIRCUIT_MAX_CURRENT: user_input[CONF_CIRCUIT_MAX_CURRENT],
        CONF_CHARGERS: chargers,
    }
    currents = [user_input.get(key) or None for key in CIRCUIT_CURRENT_KEYS]
    power = user_input.get(CONF_CIRCUIT_POWER_ENTITY) or None
    fallback = user_input.get(CONF_FALLBACK_CURRENT)
    errors: dict[str, str] = {}
    taken = {
        charge_box_id
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_CIRCUIT and subentry.subentry_id != subentry_id
        for charge_box_id in subentry.data.get(CONF_CHARGERS, ())
    }
    own = own_sensors(hass)
    if not chargers:
        errors[CONF_CHARGERS] = ERROR_NO_CHARGERS
    elif taken.intersection(chargers):
        errors[CONF_CHARGERS] = ERROR_CHARGER_IN_OTHER_CIRCUIT
    if any(currents) and not all(currents):
        errors["base"] = ERROR_INCOMPLETE_PHASES
    elif any(currents) and power is not None:
        errors["base"] = ERROR_CURRENTS_OR_POWER
    elif own.intersection(e for e in (*currents, power) if e is not None):
        errors["base"] = ERROR_OWN_SENSOR
    if fallback is not None and fallback > data[CONF_CIRCUIT_MAX_CURRENT]:
        errors[CONF_FALLBACK_CURRENT] = ERROR_FALLBACK_ABOVE_MAX
    for key, entity_id in zip(CIRCUIT_CURRENT_KEYS, currents, strict=True):
        if entity_id is not None:
            data[key] = entity_id
    if power is not None:
        data[CONF_CIRCUIT_POWER_ENTITY] = power
    if fallback is not None:
        data[CONF_FALLBACK_CURRENT] = fallback
    return data, errors
