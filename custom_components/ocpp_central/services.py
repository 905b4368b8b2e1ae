"""Actions that send a CSMS command (OCPP 1.6 chapter 5) to one charger device.

Each action targets a charger by `device_id`, checks the charger is ours and online,
sends one command and answers with what the charger returned where the protocol
returns data. Charger failures become translated errors through `helpers.run_command`
and `helpers.send_command`, the one place that maps them; which statuses of an answer mean
success is the vocabulary's (`protocol.vocabulary.SUCCESS`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
import json
from typing import Any, Final

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.service import async_register_admin_service
from homeassistant.util import dt as dt_util
import probatio

from .const import DEFAULT_REMOTE_ID_TAG, DOMAIN
from .helpers import run_command, send_command
from .protocol.session import ChargerSession
from .protocol.vocabulary import (
    Action,
    ChargingProfilePurposeType,
    ChargingRateUnitType,
    MessageTrigger,
)

ATTR_DEVICE_ID: Final = "device_id"
ATTR_CONNECTOR_ID: Final = "connector_id"
ATTR_KEYS: Final = "keys"
ATTR_KEY: Final = "key"
ATTR_VALUE: Final = "value"
ATTR_REQUESTED_MESSAGE: Final = "requested_message"
ATTR_VENDOR_ID: Final = "vendor_id"
ATTR_MESSAGE_ID: Final = "message_id"
ATTR_DATA: Final = "data"
ATTR_PROFILE: Final = "profile"
ATTR_CHARGING_PROFILE: Final = "charging_profile"
ATTR_PROFILE_ID: Final = "profile_id"
ATTR_PURPOSE: Final = "purpose"
ATTR_STACK_LEVEL: Final = "stack_level"
ATTR_DURATION: Final = "duration"
ATTR_CHARGING_RATE_UNIT: Final = "charging_rate_unit"
ATTR_EXPIRY_DATE: Final = "expiry_date"
ATTR_ID_TAG: Final = "id_tag"
ATTR_PARENT_ID_TAG: Final = "parent_id_tag"
ATTR_RESERVATION_ID: Final = "reservation_id"
ATTR_LOCATION: Final = "location"
ATTR_RETRIEVE_DATE: Final = "retrieve_date"
ATTR_RETRIES: Final = "retries"
ATTR_RETRY_INTERVAL: Final = "retry_interval"
ATTR_START_TIME: Final = "start_time"
ATTR_STOP_TIME: Final = "stop_time"
ATTR_TYPE: Final = "type"

RESET_SOFT: Final = "soft"
RESET_HARD: Final = "hard"
# MessageTrigger (OCPP 1.6 section 7.37).
# The values as plain strings: the schemas' errors list them.
TRIGGER_MESSAGES: Final = tuple(
    trigger.value
    for trigger in (
        MessageTrigger.boot_notification,
        MessageTrigger.diagnostics_status_notification,
        MessageTrigger.firmware_status_notification,
        MessageTrigger.heartbeat,
        MessageTrigger.meter_values,
        MessageTrigger.status_notification,
    )
)
# ChargingProfilePurposeType (section 7.9) and ChargingRateUnitType (section 7.11).
PROFILE_PURPOSES: Final = tuple(purpose.value for purpose in ChargingProfilePurposeType)
RATE_UNITS: Final = tuple(sorted(unit.value for unit in ChargingRateUnitType))

_CONNECTOR = probatio.All(probatio.Coerce(int), probatio.Range(min=0))
_POSITIVE = probatio.All(probatio.Coerce(int), probatio.Range(min=1))
_ID_TAG = probatio.All(cv.string, probatio.Length(min=1, max=20))  # IdToken: CiString20
_CI_STRING_50 = probatio.All(cv.string, probatio.Length(max=50))


def _json_object(value: Any) -> dict[str, Any]:
    """A JSON object given as a mapping or as its text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:
            raise probatio.Invalid(f"not JSON: {err}") from err
    if not isinstance(value, dict):
        raise probatio.Invalid("expected a JSON object")
    return value


def _tx_profile(value: Any) -> dict[str, Any]:
    """RemoteStartTransaction's chargingProfile: a TxProfile (OCPP 1.6 sections 5.11, 7.8).

    Its structure is checked against the schema when the command is sent.
    """
    profile = _json_object(value)
    if profile.get("chargingProfilePurpose") != ChargingProfilePurposeType.tx_profile:
        raise probatio.Invalid("chargingProfilePurpose must be TxProfile")
    if "transactionId" in profile:
        raise probatio.Invalid("the transaction does not exist yet: no transactionId")
    return profile


def _schema(fields: dict[Any, Any]) -> probatio.Schema:
    return probatio.Schema({probatio.Required(ATTR_DEVICE_ID): cv.string, **fields})


type Handler = Callable[[ChargerSession, dict[str, Any]], Awaitable[ServiceResponse]]


@dataclass(frozen=True, slots=True)
class OcppService:
    """One action: its schema, what it does, whether it answers and who may call it."""

    name: str
    schema: probatio.Schema
    handler: Handler
    response: SupportsResponse = SupportsResponse.NONE
    admin: bool = False


def _session(hass: HomeAssistant, device_id: str) -> ChargerSession:
    """The online charger behind `device_id`, or a translated validation error."""
    device = dr.async_get(hass).async_get(device_id)
    # A device belongs to one config entry (DeviceEntry.config_entry_id).
    entry = None if device is None else hass.config_entries.async_get_entry(device.config_entry_id)
    if entry is not None and entry.domain == DOMAIN and entry.state is ConfigEntryState.LOADED:
        session: ChargerSession = entry.runtime_data.session_for_device(device_id)
        if not session.state.connected:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="charger_offline",
                translation_placeholders={"charger": session.state.charge_box_id},
            )
        return session
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="unknown_device",
        translation_placeholders={"device_id": device_id},
    )


async def _status(action: str, command: Awaitable[str]) -> ServiceResponse:
    """Send `command`; a status that is no success of `action` raises the `refused` error."""
    return {"status": await send_command(action, command)}


async def _get_configuration(session: ChargerSession, data: dict[str, Any]) -> ServiceResponse:
    result = await run_command(
        Action.get_configuration, session.get_configuration(data.get(ATTR_KEYS))
    )
    return {
        "configuration": [
            {"key": key, "value": item.value, "readonly": item.readonly}
            for key, item in result.values.items()
        ],
        "unknown": list(result.unknown),
    }


async def _change_configuration(session: ChargerSession, data: dict[str, Any]) -> ServiceResponse:
    return await _status(
        Action.change_configuration,
        session.change_configuration(data[ATTR_KEY], data[ATTR_VALUE]),
    )


async def _trigger_message(session: ChargerSession, data: dict[str, Any]) -> ServiceResponse:
    return await _status(
        Action.trigger_message,
        session.trigger_message(data[ATTR_REQUESTED_MESSAGE], data.get(ATTR_CONNECTOR_ID)),
    )


async def _data_transfer(session: ChargerSession, data: dict[str, Any]) -> ServiceResponse:
    # Every DataTransfer status is an answer (section 7.18), so none raises here.
    result = await run_command(
        Action.data_transfer,
        session.data_transfer(data[ATTR_VENDOR_ID], data.get(ATTR_MESSAGE_ID), data.get(ATTR_DATA)),
    )
    return {"status": result.status, "data": result.data}


async def _set_charging_profile(session: ChargerSession, data: dict[str, Any]) -> ServiceResponse:
    return await _status(
        Action.set_charging_profile,
        session.set_charging_profile(data[ATTR_CONNECTOR_ID], data[ATTR_PROFILE]),
    )


async def _clear_charging_profile(session: ChargerSession, data: dict[str, Any]) -> ServiceResponse:
    return await _status(
        Action.clear_charging_profile,
        session.clear_charging_profile(
            profile_id=data.get(ATTR_PROFILE_ID),
            connector_id=data.get(ATTR_CONNECTOR_ID),
            purpose=data.get(ATTR_PURPOSE),
            stack_level=data.get(ATTR_STACK_LEVEL),
        ),
    )


async def _get_composite_schedule(session: ChargerSession, data: dict[str, Any]) -> ServiceResponse:
    reply: dict[str, Any] = {}

    async def fetch() -> str:
        reply.update(
            await session.get_composite_schedule(
                data[ATTR_CONNECTOR_ID], data[ATTR_DURATION], data.get(ATTR_CHARGING_RATE_UNIT)
            )
        )
        return str(reply.get("status"))

    # A Rejected schedule carries no schedule (section 6.26): it is a refusal.
    await send_command(
        Action.get_composite_schedule,
        fetch(),
    )
    return reply


async def _reserve_now(session: ChargerSession, data: dict[str, Any]) -> ServiceResponse:
    return await _status(
        Action.reserve_now,
        session.reserve_now(
            data[ATTR_CONNECTOR_ID],
            data[ATTR_EXPIRY_DATE],
            data[ATTR_ID_TAG],
            data[ATTR_RESERVATION_ID],
            data.get(ATTR_PARENT_ID_TAG),
        ),
    )


async def _cancel_reservation(session: ChargerSession, data: dict[str, Any]) -> ServiceResponse:
    return await _status(
        Action.cancel_reservation, session.cancel_reservation(data[ATTR_RESERVATION_ID])
    )


async def _update_firmware(session: ChargerSession, data: dict[str, Any]) -> ServiceResponse:
    await run_command(
        Action.update_firmware,
        session.update_firmware(
            data[ATTR_LOCATION],
            data.get(ATTR_RETRIEVE_DATE) or dt_util.utcnow(),
            retries=data.get(ATTR_RETRIES),
            retry_interval=data.get(ATTR_RETRY_INTERVAL),
        ),
    )
    return None


async def _get_diagnostics(session: ChargerSession, data: dict[str, Any]) -> ServiceResponse:
    file_name = await run_command(
        Action.get_diagnostics,
        session.get_diagnostics(
            data[ATTR_LOCATION],
            retries=data.get(ATTR_RETRIES),
            retry_interval=data.get(ATTR_RETRY_INTERVAL),
            start_time=data.get(ATTR_START_TIME),
            stop_time=data.get(ATTR_STOP_TIME),
        ),
    )
    return {"file_name": file_name}


async def _clear_cache(session: ChargerSession, data: dict[str, Any]) -> ServiceResponse:
    return await _status(Action.clear_cache, session.clear_cache())


async def _reset(session: ChargerSession, data: dict[str, Any]) -> ServiceResponse:
    return await _status(Action.reset, session.reset(data[ATTR_TYPE] == RESET_HARD))


async def _get_local_list_version(session: ChargerSession, data: dict[str, Any]) -> ServiceResponse:
    # Section 5.10: 0 is an empty list, -1 no local list support.
    version = await run_command(Action.get_local_list_version, session.get_local_list_version())
    return {"list_version": version}


async def _remote_start(session: ChargerSession, data: dict[str, Any]) -> ServiceResponse:
    return await _status(
        Action.remote_start_transaction,
        session.remote_start(
            data[ATTR_ID_TAG], data.get(ATTR_CONNECTOR_ID), data.get(ATTR_CHARGING_PROFILE)
        ),
    )


async def _unlock_connector(session: ChargerSession, data: dict[str, Any]) -> ServiceResponse:
    return await _status(Action.unlock_connector, session.unlock_connector(data[ATTR_CONNECTOR_ID]))


_RETRIES = {
    probatio.Optional(ATTR_RETRIES): _CONNECTOR,
    probatio.Optional(ATTR_RETRY_INTERVAL): _CONNECTOR,
}

SERVICES: Final = (
    OcppService(
        "get_configuration",
        _schema({probatio.Optional(ATTR_KEYS): probatio.All(cv.ensure_list, [_CI_STRING_50])}),
        _get_configuration,
        SupportsResponse.ONLY,
    ),
    OcppService(
        "change_configuration",
        _schema(
            {
                probatio.Required(ATTR_KEY): _CI_STRING_50,
                probatio.Required(ATTR_VALUE): probatio.All(cv.string, probatio.Length(max=500)),
            }
        ),
        _change_configuration,
        SupportsResponse.OPTIONAL,
        admin=True,
    ),
    OcppService(
        "trigger_message",
        _schema(
            {
                probatio.Required(ATTR_REQUESTED_MESSAGE): probatio.In(TRIGGER_MESSAGES),
                probatio.Optional(ATTR_CONNECTOR_ID): _POSITIVE,
            }
        ),
        _trigger_message,
        SupportsResponse.OPTIONAL,
    ),
    OcppService(
        "data_transfer",
        _schema(
            {
                probatio.Required(ATTR_VENDOR_ID): probatio.All(
                    cv.string, probatio.Length(min=1, max=255)
                ),
                probatio.Optional(ATTR_MESSAGE_ID): _CI_STRING_50,
                probatio.Optional(ATTR_DATA): cv.string,
            }
        ),
        _data_transfer,
        SupportsResponse.OPTIONAL,
        admin=True,
    ),
    OcppService(
        "set_charging_profile",
        _schema(
            {
                probatio.Required(ATTR_CONNECTOR_ID): _CONNECTOR,
                probatio.Required(ATTR_PROFILE): _json_object,
            }
        ),
        _set_charging_profile,
        SupportsResponse.OPTIONAL,
    ),
    OcppService(
        "clear_charging_profile",
        _schema(
            {
                probatio.Optional(ATTR_PROFILE_ID): probatio.Coerce(int),
                probatio.Optional(ATTR_CONNECTOR_ID): _CONNECTOR,
                probatio.Optional(ATTR_PURPOSE): probatio.In(PROFILE_PURPOSES),
                probatio.Optional(ATTR_STACK_LEVEL): _CONNECTOR,
            }
        ),
        _clear_charging_profile,
        SupportsResponse.OPTIONAL,
    ),
    OcppService(
        "get_composite_schedule",
        _schema(
            {
                probatio.Required(ATTR_CONNECTOR_ID): _CONNECTOR,
                probatio.Required(ATTR_DURATION): _POSITIVE,
                probatio.Optional(ATTR_CHARGING_RATE_UNIT): probatio.In(RATE_UNITS),
            }
        ),
        _get_composite_schedule,
        SupportsResponse.ONLY,
    ),
    OcppService(
        "reserve_now",
        _schema(
            {
                probatio.Required(ATTR_CONNECTOR_ID): _CONNECTOR,
                probatio.Required(ATTR_EXPIRY_DATE): cv.datetime,
                probatio.Required(ATTR_ID_TAG): _ID_TAG,
                probatio.Required(ATTR_RESERVATION_ID): probatio.Coerce(int),
                probatio.Optional(ATTR_PARENT_ID_TAG): _ID_TAG,
            }
        ),
        _reserve_now,
        SupportsResponse.OPTIONAL,
    ),
    OcppService(
        "cancel_reservation",
        _schema({probatio.Required(ATTR_RESERVATION_ID): probatio.Coerce(int)}),
        _cancel_reservation,
        SupportsResponse.OPTIONAL,
    ),
    OcppService(
        "update_firmware",
        _schema(
            {
                probatio.Required(ATTR_LOCATION): cv.string,
                probatio.Optional(ATTR_RETRIEVE_DATE): cv.datetime,
                **_RETRIES,
            }
        ),
        _update_firmware,
        admin=True,
    ),
    OcppService(
        "get_diagnostics",
        _schema(
            {
                probatio.Required(ATTR_LOCATION): cv.string,
                probatio.Optional(ATTR_START_TIME): cv.datetime,
                probatio.Optional(ATTR_STOP_TIME): cv.datetime,
                **_RETRIES,
            }
        ),
        _get_diagnostics,
        SupportsResponse.OPTIONAL,
        admin=True,
    ),
    OcppService(
        "get_local_list_version",
        _schema({}),
        _get_local_list_version,
        SupportsResponse.ONLY,
    ),
    OcppService("clear_cache", _schema({}), _clear_cache, SupportsResponse.OPTIONAL, admin=True),
    OcppService(
        "reset",
        _schema({probatio.Required(ATTR_TYPE): probatio.In((RESET_SOFT, RESET_HARD))}),
        _reset,
        SupportsResponse.OPTIONAL,
        admin=True,
    ),
    OcppService(
        "remote_start",
        _schema(
            {
                probatio.Optional(ATTR_ID_TAG, default=DEFAULT_REMOTE_ID_TAG): _ID_TAG,
                probatio.Optional(ATTR_CONNECTOR_ID): _POSITIVE,
                probatio.Optional(ATTR_CHARGING_PROFILE): _tx_profile,
            }
        ),
        _remote_start,
        SupportsResponse.OPTIONAL,
    ),
    OcppService(
        "unlock_connector",
        _schema({probatio.Required(ATTR_CONNECTOR_ID): _POSITIVE}),
        _unlock_connector,
        SupportsResponse.OPTIONAL,
    ),
)


def _handle(
    hass: HomeAssistant, service: OcppService
) -> Callable[[ServiceCall], Coroutine[Any, Any, ServiceResponse]]:
    async def handle(call: ServiceCall) -> ServiceResponse:
        data = dict(call.data)
        session = _session(hass, data.pop(ATTR_DEVICE_ID))
        response = await service.handler(session, data)
        return response if call.return_response else None

    return handle


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register every action of the integration."""
    for service in SERVICES:
        if service.admin:
            async_register_admin_service(
                hass,
                DOMAIN,
                service.name,
                _handle(hass, service),
                schema=service.schema,
                supports_response=service.response,
            )
        else:
            hass.services.async_register(
                DOMAIN,
                service.name,
                _handle(hass, service),
                schema=service.schema,
                supports_response=service.response,
            )
