"""Actions: each command once accepted, refused, to an offline charger and timing out."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ocpp_central.const import DOMAIN

from .conftest import ChargerFactory, ConfigEntryFactory, OcppTestCharger, setup_entry, wait_until

PROFILE = {
    "chargingProfileId": 1,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
    },
}

# service, fields, action on the wire, a refusing status (None: cannot be refused), response
CASES: list[tuple[str, dict[str, Any], str, str | None, dict[str, Any] | None]] = [
    (
        "change_configuration",
        {"key": "HeartbeatInterval", "value": "60"},
        "ChangeConfiguration",
        "Rejected",
        {"status": "Accepted"},
    ),
    (
        "trigger_message",
        {"requested_message": "Heartbeat"},
        "TriggerMessage",
        "Rejected",
        {"status": "Accepted"},
    ),
    (
        "set_charging_profile",
        {"connector_id": 1, "profile": PROFILE},
        "SetChargingProfile",
        "Rejected",
        {"status": "Accepted"},
    ),
    (
        "clear_charging_profile",
        {"connector_id": 1},
        "ClearChargingProfile",
        "Unknown",
        {"status": "Accepted"},
    ),
    (
        "reserve_now",
        {
            "connector_id": 1,
            "expiry_date": "2030-01-01T00:00:00+00:00",
            "id_tag": "TAG1",
            "reservation_id": 5,
        },
        "ReserveNow",
        "Occupied",
        {"status": "Accepted"},
    ),
    (
        "cancel_reservation",
        {"reservation_id": 5},
        "CancelReservation",
        "Rejected",
        {"status": "Accepted"},
    ),
    ("clear_cache", {}, "ClearCache", "Rejected", {"status": "Accepted"}),
    ("reset", {"type": "hard"}, "Reset", "Rejected", {"status": "Accepted"}),
    (
        "remote_start",
        {"connector_id": 1},
        "RemoteStartTransaction",
        "Rejected",
        {"status": "Accepted"},
    ),
    (
        "unlock_connector",
        {"connector_id": 1},
        "UnlockConnector",
        "UnlockFailed",
        {"status": "Unlocked"},
    ),
    (
        "get_diagnostics",
        {"location": "ftp://127.0.0.1/diag"},
        "GetDiagnostics",
        None,
        {"file_name": "diag.zip"},
    ),
    ("update_firmware", {"location": "http://127.0.0.1/fw.bin"}, "UpdateFirmware", None, None),
]


async def _online(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    charger: ChargerFactory,
    port: int,
) -> tuple[OcppTestCharger, str]:
    runtime = await setup_entry(hass, entry)
    cp = await charger(port, "CP1")
    await wait_until(lambda: runtime.central.sessions["CP1"].state.connected)
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, "CP1"), entry.entry_id)
    assert device is not None
    return cp, device.id


async def _call(hass: HomeAssistant, service: str, data: dict[str, Any], response: bool) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=response
    )


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
async def test_command_accepted_and_refused(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
    case: tuple[str, dict[str, Any], str, str | None, dict[str, Any] | None],
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1"])
    cp, device_id = await _online(hass, entry, charger, free_port)
    service, fields, action, refusal, expected = case
    cp.statuses.pop(action, None)
    if action == "TriggerMessage":
        cp.statuses[action] = "Accepted"
    data = {"device_id": device_id, **fields}
    result = await _call(hass, service, data, expected is not None)
    assert result == expected
    assert await cp.wait_for(action) is not None
    if refusal is None:
        return
    cp.statuses[action] = refusal
    with pytest.raises(HomeAssistantError) as err:
        await _call(hass, service, data, False)
    assert err.value.translation_key == "refused"
    assert err.value.translation_placeholders == {"action": action, "status": refusal}


async def test_data_returning_commands(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1"])
    cp, device_id = await _online(hass, entry, charger, free_port)
    config = await _call(
        hass,
        "get_configuration",
        {"device_id": device_id, "keys": ["HeartbeatInterval", "Nope"]},
        True,
    )
    assert config == {
        "configuration": [{"key": "HeartbeatInterval", "value": "300", "readonly": False}],
        "unknown": ["Nope"],
    }
    transfer = await _call(
        hass,
        "data_transfer",
        {"device_id": device_id, "vendor_id": "com.example", "message_id": "m", "data": "x"},
        True,
    )
    assert transfer == {"status": "Accepted", "data": "echo:x"}
    schedule = await _call(
        hass,
        "get_composite_schedule",
        {"device_id": device_id, "connector_id": 1, "duration": 600},
        True,
    )
    assert schedule["status"] == "Accepted"
    assert schedule["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16.0}
    ]
    cp.statuses["GetCompositeSchedule"] = "Rejected"
    with pytest.raises(HomeAssistantError) as err:
        await _call(
            hass,
            "get_composite_schedule",
            {"device_id": device_id, "connector_id": 1, "duration": 600},
            True,
        )
    assert err.value.translation_key == "refused"


async def test_offline_unknown_and_timeout(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1", "CP2"])
    cp, device_id = await _online(hass, entry, charger, free_port)

    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "clear_cache", {"device_id": "not-a-device"}, False)
    assert err.value.translation_key == "unknown_device"

    offline = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, "CP2"), entry.entry_id)
    assert offline is not None
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "clear_cache", {"device_id": offline.id}, False)
    assert err.value.translation_key == "charger_offline"

    cp.silent.add("ClearCache")
    with pytest.raises(HomeAssistantError) as err:
        await _call(hass, "clear_cache", {"device_id": device_id}, False)
    assert err.value.translation_key == "timeout"


async def test_invalid_profile_rejected_by_schema(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1"])
    _cp, device_id = await _online(hass, entry, charger, free_port)
    with pytest.raises(Exception, match="JSON"):
        await _call(
            hass,
            "set_charging_profile",
            {"device_id": device_id, "connector_id": 1, "profile": "{not json"},
            False,
        )
