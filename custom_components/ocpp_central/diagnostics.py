"""Diagnostics of a central system and of one charger, with passwords and id tags redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Final

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntry

from .const import (
    CONF_ID_TAG,
    CONF_PARENT_ID_TAG,
    CONF_PASSWORD,
    CONF_SSL_KEYFILE,
    SUBENTRY_ID_TAG,
)
from .protocol.session import ChargerSession
from .protocol.state import ConnectorState, Transaction
from .protocol.vocabulary import ConfigurationKey
from .runtime import OcppConfigEntry, OcppRuntime

# Secrets (passwords, TLS key path) and personal data (id tags, serial numbers).
TO_REDACT: Final = {
    CONF_PASSWORD,
    CONF_ID_TAG,
    CONF_PARENT_ID_TAG,
    CONF_SSL_KEYFILE,
    "idTag",
    "parentIdTag",
    "serial_number",
    "charge_box_serial_number",
    "meter_serial_number",
    "iccid",
    "imsi",
    "title",
}
# Configuration keys of a charger that hold secrets (security whitepaper 7.2, vendor keys).
SECRET_CONFIGURATION_KEYS: Final = (
    ConfigurationKey.authorization_key,
    "password",
    "Password",
    "Secret",
)


def _transaction(tx: Transaction | None) -> dict[str, Any] | None:
    if tx is None:
        return None
    data = asdict(tx)
    data["energy_wh"] = tx.energy
    return data


def _connector(connector: ConnectorState) -> dict[str, Any]:
    return {
        "status": connector.status,
        "error_code": connector.error_code,
        "info": connector.info,
        "vendor_error_code": connector.vendor_error_code,
        "readings": {
            key: {"value": r.value, "unit": r.unit, "timestamp": r.timestamp.isoformat()}
            for key, r in connector.readings.items()
        },
        "transaction": _transaction(connector.transaction),
        "current_limit": connector.current_limit,
    }


def _charger(runtime: OcppRuntime, session: ChargerSession) -> dict[str, Any]:
    state = session.state
    configuration = {
        key: (
            "**REDACTED**"
            if any(secret in key for secret in SECRET_CONFIGURATION_KEYS)
            else {"value": item.value, "readonly": item.readonly}
        )
        for key, item in state.configuration.items()
    }
    store = runtime.store.summary()["chargers"].get(state.charge_box_id, {})
    link = runtime.upstreams.link(state.charge_box_id)
    return {
        "connected": state.connected,
        "registration": state.registration,
        "boot": None if state.boot is None else asdict(state.boot),
        "last_heartbeat": None
        if state.last_heartbeat is None
        else state.last_heartbeat.isoformat(),
        "firmware_status": state.firmware_status,
        "diagnostics_status": state.diagnostics_status,
        "connectors": {str(cid): _connector(c) for cid, c in state.connectors.items()},
        "configuration": configuration,
        "store": store,
        "upstream": None if link is None else link.diagnostics(),
    }


def _entry(entry: OcppConfigEntry) -> dict[str, Any]:
    return {
        "data": dict(entry.data),
        "options": dict(entry.options),
        "subentries": [
            {
                "subentry_type": subentry.subentry_type,
                "data": dict(subentry.data),
                # An id-tag subentry's title shows the tag; a charger's is only its name.
                **({} if subentry.subentry_type == SUBENTRY_ID_TAG else {"name": subentry.title}),
            }
            for subentry in entry.subentries.values()
        ],
    }


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: OcppConfigEntry
) -> dict[str, Any]:
    """Everything the central system knows, redacted."""
    runtime = entry.runtime_data
    summary = runtime.store.summary()
    return async_redact_data(
        {
            "entry": _entry(entry),
            "port": runtime.central.port,
            "store": {key: value for key, value in summary.items() if key != "chargers"},
            "chargers": {
                charge_box_id: _charger(runtime, session)
                for charge_box_id, session in runtime.central.sessions.items()
            },
        },
        TO_REDACT,
    )


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: OcppConfigEntry, device: DeviceEntry
) -> dict[str, Any]:
    """What is known of one charger, redacted; a connector's device gives its charger's."""
    runtime = entry.runtime_data
    if (session := runtime.session_of_device(device.id)) is None:
        return {}
    return async_redact_data(_charger(runtime, session), TO_REDACT)
