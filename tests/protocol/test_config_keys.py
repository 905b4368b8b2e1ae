"""Configuration keys are CiString50Type (OCPP 1.6 sections 7.17 and 9): one reader for all."""

from __future__ import annotations

from custom_components.ocpp_central.protocol.config_keys import (
    find,
    has,
    list_contains,
    lookup,
    lookup_bool,
    lookup_int,
    lookup_list,
)
from custom_components.ocpp_central.protocol.state import ConfigurationValue

CONFIGURATION = {
    "supportedfeatureprofiles": ConfigurationValue("Core, SmartCharging ,,LocalAuthListManagement"),
    "LocalAuthListEnabled": ConfigurationValue("TRUE"),
    "StopTransactionOnInvalidId": ConfigurationValue("false"),
    "AuthorizeRemoteTxRequests": ConfigurationValue("yes"),
    "NUMBEROFCONNECTORS": ConfigurationValue(" 2 ", readonly=True),
    "HeartbeatInterval": ConfigurationValue("-5"),
    "WebSocketPingInterval": ConfigurationValue(None),
}


def test_keys_compare_case_insensitively() -> None:
    assert find(CONFIGURATION, "NumberOfConnectors") == ConfigurationValue(" 2 ", readonly=True)
    assert has(CONFIGURATION, "SUPPORTEDFEATUREPROFILES")
    assert not has(CONFIGURATION, "MeterValuesSampledData")
    assert lookup(CONFIGURATION, "localauthlistenabled") == "TRUE"
    assert lookup(CONFIGURATION, "WebSocketPingInterval") is None  # reported without value


def test_typed_readers() -> None:
    assert lookup_int(CONFIGURATION, "NumberOfConnectors") == 2
    assert lookup_int(CONFIGURATION, "HeartbeatInterval") is None  # not an integer >= 0
    assert lookup_int(CONFIGURATION, "Missing") is None
    assert lookup_bool(CONFIGURATION, "LocalAuthListEnabled") is True
    assert lookup_bool(CONFIGURATION, "StopTransactionOnInvalidId") is False
    assert lookup_bool(CONFIGURATION, "AuthorizeRemoteTxRequests") is None  # neither
    assert lookup_bool(CONFIGURATION, "Missing") is None


def test_comma_separated_lists() -> None:
    assert lookup_list(CONFIGURATION, "SupportedFeatureProfiles") == [
        "Core",
        "SmartCharging",
        "LocalAuthListManagement",
    ]
    assert lookup_list(CONFIGURATION, "Missing") is None
    assert list_contains(CONFIGURATION, "SupportedFeatureProfiles", "localauthlistmanagement")
    assert list_contains(CONFIGURATION, "SupportedFeatureProfiles", "Reservation") is False
    assert list_contains(CONFIGURATION, "Missing", "Core") is None
