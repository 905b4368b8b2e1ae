"""Config flows: the central system entry, its options and reconfiguration, chargers, id tags.

The forms are `config_schema`'s, what their values become in storage `config_values`', the
checks of hosts, ports, TLS files and identifiers `config_checks`'.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, override

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
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.typing import DiscoveryInfoType

from .config_checks import central_errors, valid_charge_box_id, valid_id_tag
from .config_schema import (
    CENTRAL_SCHEMA,
    DEFAULT_OPTIONS,
    OPTIONS_SCHEMA,
    charger_schema,
    circuit_schema,
    id_tag_schema,
)
from .config_values import (
    central_data,
    central_title,
    charger_form_values,
    charger_ids,
    charger_settings,
    charger_url,
    circuit_settings,
    circuit_unique_id,
    expiry_to_form,
    find_charger,
    find_circuit,
    find_id_tag,
    id_tag_details,
    id_tag_title,
    id_tag_unique_id,
)
from .const import (
    CONF_CHARGE_BOX_ID,
    CONF_EXPIRY,
    CONF_ID_TAG,
    CONF_NAME,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_STATUS,
    DEFAULT_REMOTE_ID_TAG,
    DISCOVERY_CHARGE_BOX_ID,
    DISCOVERY_ENTRY_ID,
    DOMAIN,
    SUBENTRY_CHARGER,
    SUBENTRY_CIRCUIT,
    SUBENTRY_ID_TAG,
)

# Error keys of the flows' own checks (translated in strings.json: config.abort and
# config_subentries.*.error); those of the values and probes are their modules'.
ERROR_INVALID_CHARGE_BOX_ID: Final = "invalid_charge_box_id"
ERROR_INVALID_ID_TAG: Final = "invalid_id_tag"
ERROR_RESERVED_ID_TAG: Final = "reserved_id_tag"
ERROR_INVALID_NAME: Final = "invalid_name"

# What the message that ends a flow says (strings.json: create_entry); an id tag's ends
# with the message of its status (TAG_STATUS_ACCEPTED or TAG_STATUS_BLOCKED).
DESCRIPTION_CENTRAL_SYSTEM_CREATED: Final = "next_steps"
DESCRIPTION_CHARGER_CREATED: Final = "charger_added"
DESCRIPTION_CIRCUIT_CREATED: Final = "circuit_added"

# Abort reasons.
ABORT_ALREADY_CONFIGURED: Final = "already_configured"
ABORT_CHARGER_ADDED: Final = "charger_added"
ABORT_ENTRY_NOT_FOUND: Final = "entry_not_found"


@callback
def _abort_discovery_of(hass: HomeAssistant, charge_box_id: str) -> None:
    """Close the "wants to connect" card of a charger the user has just added by hand."""
    for flow in hass.config_entries.flow.async_progress_by_handler(
        DOMAIN, match_context={"unique_id": charge_box_id}
    ):
        hass.config_entries.flow.async_abort(flow["flow_id"])


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
        """Return the subentry types: chargers, id tags and circuits (load management)."""
        return {
            SUBENTRY_CHARGER: ChargerSubentryFlow,
            SUBENTRY_ID_TAG: IdTagSubentryFlow,
            SUBENTRY_CIRCUIT: CircuitSubentryFlow,
        }

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
            data = central_data(user_input)
            # One central system per port; the entry being reconfigured is not "another".
            self._async_abort_entries_match({CONF_PORT: data[CONF_PORT]})
            errors = await self.hass.async_add_executor_job(
                central_errors, data, bind_port(data[CONF_PORT])
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
            settings, errors = charger_settings(self.hass, user_input, charge_box_id)
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
                charger_schema(self.hass, charge_box_id=False), charger_form_values(user_input)
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
            settings, settings_errors = charger_settings(self.hass, user_input, charge_box_id)
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
                charger_schema(self.hass, charge_box_id=True), charger_form_values(user_input)
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
            settings, errors = charger_settings(self.hass, user_input, charge_box_id, subentry.data)
            if not errors:
                return self.async_update_and_abort(
                    entry, subentry, data={CONF_CHARGE_BOX_ID: charge_box_id, **settings}
                )
        has_password = subentry.data.get(CONF_PASSWORD) is not None
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                charger_schema(self.hass, charge_box_id=False, clear_password=has_password),
                charger_form_values(user_input or subentry.data),
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
            details, details_errors = id_tag_details(user_input)
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
            details, errors = id_tag_details(user_input)
            if not errors:
                data = {CONF_ID_TAG: id_tag, **details}
                return self.async_update_and_abort(
                    self._get_entry(), subentry, title=id_tag_title(data), data=data
                )
        current = dict(user_input or subentry.data)
        if user_input is None and (expiry := current.get(CONF_EXPIRY)):
            current[CONF_EXPIRY] = expiry_to_form(expiry)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(id_tag_schema(id_tag=False), current),
            errors=errors,
            description_placeholders={"id_tag": id_tag},
        )


class CircuitSubentryFlow(ConfigSubentryFlow):
    """Add a circuit (a supply the chargers share, load management) or change it."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Add a circuit: its name, supply, chargers and house meter."""
        entry = self._get_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            name = user_input[CONF_NAME].strip()
            if not name:
                errors[CONF_NAME] = ERROR_INVALID_NAME
            elif find_circuit(entry, name) is not None:
                return self.async_abort(reason=ABORT_ALREADY_CONFIGURED)
            data, data_errors = circuit_settings(self.hass, entry, user_input)
            errors |= data_errors
            if not errors:
                return self.async_create_entry(
                    title=name,
                    data={CONF_NAME: name, **data},
                    unique_id=circuit_unique_id(name),
                    description=DESCRIPTION_CIRCUIT_CREATED,
                    description_placeholders={"name": name},
                )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                circuit_schema(self.hass, charger_ids(entry), name=True), user_input
            ),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a circuit's supply, chargers or house meter; it applies at once."""
        entry = self._get_entry()
        subentry = self._get_reconfigure_subentry()
        name = subentry.data[CONF_NAME]
        errors: dict[str, str] = {}
        if user_input is not None:
            data, errors = circuit_settings(self.hass, entry, user_input, subentry.subentry_id)
            if not errors:
                return self.async_update_and_abort(entry, subentry, data={CONF_NAME: name, **data})
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                circuit_schema(self.hass, charger_ids(entry), name=False),
                user_input or subentry.data,
            ),
            errors=errors,
            description_placeholders={"name": name},
        )
