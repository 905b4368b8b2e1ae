"""The one OCPP vocabulary: names equal to the wire, and which answers mean a command succeeded."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from custom_components.ocpp_central.protocol.measurands import (
    DEFAULT_MEASURAND,
    ENERGY_REGISTER,
    parse_meter_values,
)
from custom_components.ocpp_central.protocol.schemas import read_definitions
from custom_components.ocpp_central.protocol.session import KNOWN_ACTIONS
from custom_components.ocpp_central.protocol.vocabulary import (
    SUCCESS,
    Action,
    ConfigurationKey,
    Measurand,
    succeeded,
    success_statuses,
)

DEFINITIONS = read_definitions()


def _status_enum(action: str) -> list[str]:
    """The statuses the response schema of `action` allows (OCPP 1.6 chapter 6)."""
    schema: dict[str, Any] = DEFINITIONS[f"{action}Response"]
    status: dict[str, Any] = schema["properties"]["status"]
    if "$ref" in status:  # the security whitepaper's schemas name their enumerations
        status = schema["definitions"][status["$ref"].rpartition("/")[2]]
    enum: list[str] = status["enum"]
    return enum


def test_members_are_the_wire_strings() -> None:
    assert Action.boot_notification == "BootNotification"
    assert ConfigurationKey.heartbeat_interval == "HeartbeatInterval"
    assert {Measurand.power_active_import: 1}["Power.Active.Import"] == 1
    # Sent as the plain string, in a payload and as a frame's action.
    assert orjson.loads(orjson.dumps([2, "1", Action.heartbeat, {}])) == [2, "1", "Heartbeat", {}]


def test_keys_of_data_are_plain_strings() -> None:
    # orjson (Home Assistant's JSON) refuses a str subclass as a mapping key.
    assert type(DEFAULT_MEASURAND) is str
    assert type(ENERGY_REGISTER) is str
    parsed, _ = parse_meter_values(
        [{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "1"}]}]
    )
    key, reading = parsed[0]
    assert orjson.loads(orjson.dumps({key: reading.unit})) == {
        "Energy.Active.Import.Register": "Wh"
    }
    assert (
        json.dumps({key: reading.context}) == '{"Energy.Active.Import.Register": "Sample.Periodic"}'
    )


def test_known_actions_are_every_action_of_1_6_and_the_security_whitepaper() -> None:
    # Every request schema the `ocpp` package ships is an action we know by name.
    requests = {name for name in DEFINITIONS if f"{name}Response" in DEFINITIONS}
    assert requests <= KNOWN_ACTIONS
    assert "FooBar" not in KNOWN_ACTIONS


@pytest.mark.parametrize("action", sorted(SUCCESS))
def test_success_statuses_are_statuses_of_the_response(action: str) -> None:
    # Each success is a value the response's status enumeration has (no typo, no drift).
    allowed = _status_enum(action)
    assert success_statuses(action) <= set(allowed)
    # And some answer of that action is a refusal.
    assert any(not succeeded(action, status) for status in allowed)


@pytest.mark.parametrize(
    ("action", "status", "expected"),
    [
        # Section 7.5: RebootRequired is accepted, effective after a reboot.
        ("ChangeConfiguration", "RebootRequired", True),
        ("ChangeConfiguration", "Accepted", True),
        ("ChangeConfiguration", "NotSupported", False),
        # Section 7.3: Scheduled, once the running transactions end.
        ("ChangeAvailability", "Scheduled", True),
        # Section 7.44: Unlocked is the success, there is no Accepted.
        ("UnlockConnector", "Unlocked", True),
        ("UnlockConnector", "Accepted", False),
        ("UnlockConnector", "UnlockFailed", False),
        ("ClearChargingProfile", "Unknown", False),
        ("GetCompositeSchedule", "Rejected", False),
        ("RemoteStartTransaction", "Accepted", True),
        # An answer without status is no success.
        ("TriggerMessage", None, False),
        # Actions without a status enumeration of their own: Accepted.
        ("SomeVendorCommand", "Accepted", True),
        ("SomeVendorCommand", "Rejected", False),
    ],
)
def test_succeeded(action: str, status: str | None, expected: bool) -> None:
    assert succeeded(action, status) is expected
