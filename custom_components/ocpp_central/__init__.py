"""The OCPP Central System integration: a local OCPP 1.6J central system in Home Assistant."""

from __future__ import annotations

import ssl
from typing import Final

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv, issue_registry as ir
from homeassistant.helpers.typing import ConfigType

from . import repairs
from .config_checks import load_server_ssl_context
from .const import CONF_HOST, CONF_PORT, CONF_SSL_CERTFILE, CONF_SSL_KEYFILE, DOMAIN
from .repairs import ISSUE_PORT_IN_USE, ISSUE_TLS_INVALID
from .runtime import (
    OcppConfigEntry,
    OcppRuntime,
    listen_data,
)
from .services import async_setup_services
from .store import OcppStore

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS: Final = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.EVENT,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's services (they exist even while no entry is loaded)."""
    async_setup_services(hass)
    return True


def _not_ready(
    hass: HomeAssistant, entry: OcppConfigEntry, kind: str, placeholders: dict[str, str]
) -> ConfigEntryNotReady:
    """Raise a repair issue and return the matching translated setup error."""
    repairs.async_raise(hass, kind, entry.entry_id, placeholders, severity=ir.IssueSeverity.ERROR)
    return ConfigEntryNotReady(
        translation_domain=DOMAIN, translation_key=kind, translation_placeholders=placeholders
    )


async def _async_ssl_context(hass: HomeAssistant, entry: OcppConfigEntry) -> ssl.SSLContext | None:
    """Load the TLS certificate and key (security profile 2) off the event loop."""
    certfile = entry.data.get(CONF_SSL_CERTFILE)
    keyfile = entry.data.get(CONF_SSL_KEYFILE)
    if not certfile or not keyfile:
        return None
    try:
        return await hass.async_add_executor_job(load_server_ssl_context, certfile, keyfile)
    except (OSError, ssl.SSLError) as err:
        raise _not_ready(
            hass,
            entry,
            ISSUE_TLS_INVALID,
            {"certfile": certfile, "keyfile": keyfile, "error": str(err)},
        ) from err


async def async_setup_entry(hass: HomeAssistant, entry: OcppConfigEntry) -> bool:
    """Start one central system with its chargers."""
    ssl_context = await _async_ssl_context(hass, entry)
    store = OcppStore(hass, entry.entry_id)
    await store.async_load()
    runtime = OcppRuntime(hass, entry, store=store, ssl_context=ssl_context)
    runtime.async_sync_entry()
    try:
        await runtime.central.start()
    except OSError as err:
        await runtime.async_stop()
        placeholders = {
            "host": entry.data[CONF_HOST],
            "port": str(entry.data[CONF_PORT]),
            "error": str(err),
        }
        raise _not_ready(hass, entry, ISSUE_PORT_IN_USE, placeholders) from err
    for kind in (ISSUE_PORT_IN_USE, ISSUE_TLS_INVALID):
        repairs.async_clear(hass, kind, entry.entry_id)
    entry.runtime_data = runtime

    @callback
    def _async_stop(_event: Event) -> None:
        entry.async_create_task(hass, runtime.async_stop(), "ocpp_central stop")

    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stop))
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def _async_update_listener(hass: HomeAssistant, entry: OcppConfigEntry) -> None:
    """Apply subentry and option changes in place: the entry is not reloaded for them.

    Only where the server listens (host, port, TLS) needs a new server, hence a reload.
    """
    runtime = entry.runtime_data
    if runtime.listen_data != listen_data(entry):
        hass.config_entries.async_schedule_reload(entry.entry_id)
        return
    runtime.async_sync_entry()


async def async_unload_entry(hass: HomeAssistant, entry: OcppConfigEntry) -> bool:
    """Stop the central system: close every connection and free the port."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.async_stop()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: OcppConfigEntry) -> None:
    """Delete the stored transactions and readings of a removed central system."""
    await OcppStore(hass, entry.entry_id).async_remove()
