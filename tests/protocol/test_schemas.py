"""Schema validation: fastjsonschema and jsonschema agree; error codes; lenient mode."""

from __future__ import annotations

import copy
import logging
import random
from typing import Any

import pytest

from custom_components.ocpp_central.protocol.errors import CallErrorCode, ValidationFailed
from custom_components.ocpp_central.protocol.schemas import (
    Schemas,
    Validator,
    async_load_schemas,
    is_date_time,
    is_uri,
    load_schemas,
)

NOW = "2026-11-21T10:00:00Z"
SAMPLE = {
    "value": "1234.5",
    "context": "Sample.Periodic",
    "format": "Raw",
    "measurand": "Energy.Active.Import.Register",
    "phase": "L1",
    "location": "Outlet",
    "unit": "Wh",
}
# Valid payloads of many actions, both directions: the seeds of the shared corpus.
VALID: list[tuple[str, dict[str, Any]]] = [
    ("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M", "iccid": "1"}),
    ("BootNotificationResponse", {"status": "Accepted", "currentTime": NOW, "interval": 300}),
    ("Heartbeat", {}),
    ("HeartbeatResponse", {"currentTime": NOW}),
    ("Authorize", {"idTag": "TAG1"}),
    ("AuthorizeResponse", {"idTagInfo": {"status": "Accepted", "expiryDate": NOW}}),
    (
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": NOW},
    ),
    (
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": 3,
            "meterValue": [{"timestamp": NOW, "sampledValue": [SAMPLE, {"value": "7"}]}],
        },
    ),
    ("StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": NOW}),
    ("StartTransactionResponse", {"transactionId": 1, "idTagInfo": {"status": "Accepted"}}),
    (
        "StopTransaction",
        {
            "transactionId": 1,
            "meterStop": 10,
            "timestamp": NOW,
            "reason": "Local",
            "transactionData": [{"timestamp": NOW, "sampledValue": [SAMPLE]}],
        },
    ),
    ("DataTransfer", {"vendorId": "V", "messageId": "m", "data": "d"}),
    (
        "RemoteStartTransaction",
        {
            "idTag": "T",
            "connectorId": 1,
            "chargingProfile": {
                "chargingProfileId": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "startSchedule": NOW,
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 16.0, "numberPhases": 3}
                    ],
                },
            },
        },
    ),
    ("GetDiagnostics", {"location": "ftp://127.0.0.1/diag", "retries": 1, "startTime": NOW}),
    ("UpdateFirmware", {"location": "http://127.0.0.1/fw.bin", "retrieveDate": NOW}),
    (
        "GetConfigurationResponse",
        {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            "unknownKey": ["X"],
        },
    ),
    (
        "SendLocalList",
        {
            "listVersion": 2,
            "updateType": "Full",
            "localAuthorizationList": [
                {"idTag": "T", "idTagInfo": {"status": "Accepted", "parentIdTag": "P"}}
            ],
        },
    ),
    ("ReserveNow", {"connectorId": 1, "expiryDate": NOW, "idTag": "T", "reservationId": 4}),
    ("SecurityEventNotification", {"type": "StartupOfTheDevice", "timestamp": NOW}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}),
]

DATE_TIMES = [
    (NOW, True),
    ("2026-11-21T10:00:00.123Z", True),
    ("2026-11-21T10:00:00+02:00", True),
    ("2026-11-21t10:00:00-05:30", True),
    ("2024-02-29T00:00:00Z", True),
    ("2026-11-21T10:00:00", False),
    ("2026-02-30T10:00:00Z", False),
    ("2026-13-01T10:00:00Z", False),
    ("2026-11-21T24:00:00Z", False),
    ("2026-11-21 10:00:00Z", False),
    ("yesterday", False),
    ("", False),
]


def _mutations(payload: Any, rng: random.Random) -> list[Any]:
    """Bounded mutations of a payload: one field at a time dropped, retyped or stretched."""
    mutated: list[Any] = [None, [], "x", 5, {"unexpected": True}]
    for key in list(payload) if isinstance(payload, dict) else []:
        for replacement in (None, 1, 1.5, True, "s" * 600, [], {}, "2026-99-99", -1):
            copy_ = copy.deepcopy(payload)
            copy_[key] = replacement
            mutated.append(copy_)
        dropped = copy.deepcopy(payload)
        del dropped[key]
        mutated.append(dropped)
        value = payload[key]
        for inner in _mutations(value, rng)[5:] if isinstance(value, dict) else []:
            copy_ = copy.deepcopy(payload)
            copy_[key] = inner
            mutated.append(copy_)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for inner in _mutations(value[0], rng)[5:]:
                copy_ = copy.deepcopy(payload)
                copy_[key] = [inner]
                mutated.append(copy_)
    rng.shuffle(mutated)
    return mutated[:300]


def _corpus() -> list[tuple[str, Any]]:
    rng = random.Random(16)  # fixed: the corpus is the same on every run
    corpus: list[tuple[str, Any]] = []
    for name, payload in VALID:
        corpus.append((name, payload))
        corpus.extend((name, mutated) for mutated in _mutations(payload, rng))
    for text, _valid in DATE_TIMES:
        corpus.append(("HeartbeatResponse", {"currentTime": text}))
    return corpus


CORPUS = _corpus()


def _by_name(schemas: Schemas, name: str) -> Any:
    base = name.removesuffix("Response")
    schema = schemas.response(base) if name.endswith("Response") else schemas.request(name)
    assert schema is not None, name
    return schema


def test_valid_seeds_are_valid(schemas: Schemas) -> None:
    for name, payload in VALID:
        schema = _by_name(schemas, name)
        assert schema.is_valid(payload), (name, schema.first_error(payload))


def test_fastjsonschema_and_jsonschema_agree(schemas: Schemas) -> None:
    assert 1000 < len(CORPUS) < 20_000
    verdicts = {True: 0, False: 0}
    for name, payload in CORPUS:
        schema = _by_name(schemas, name)
        fast = schema.is_valid(payload)
        reference = schema.first_error(payload) is None
        assert fast == reference, (name, payload)
        verdicts[fast] += 1
    assert min(verdicts.values()) > 100  # both verdicts well represented


def test_every_schema_compiles_and_accepts_its_minimum(schemas: Schemas) -> None:
    names = [schema.name for schema in schemas]
    assert len(names) == 78
    assert "MeterValues" in schemas.actions
    assert "MeterValuesResponse" not in schemas.actions


@pytest.mark.parametrize(("text", "valid"), DATE_TIMES)
def test_date_time_format(schemas: Schemas, text: str, valid: bool) -> None:
    assert is_date_time(text) is valid
    schema = _by_name(schemas, "HeartbeatResponse")
    assert schema.is_valid({"currentTime": text}) is valid
    assert (schema.first_error({"currentTime": text}) is None) is valid


def test_uri_format() -> None:
    assert is_uri("ftp://127.0.0.1/x")
    assert not is_uri("not a uri")
    assert is_uri(5)  # not a string: `type` decides


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"connectorId": "1", "errorCode": "NoError", "status": "Available"}, "Type"),
        ({"errorCode": "NoError", "status": "Available"}, "Occurence"),
        ({"connectorId": 1, "errorCode": "Oops", "status": "Available"}, "Property"),
        ({"connectorId": 1, "errorCode": "NoError", "status": "Available", "x": 1}, "Property"),
        (
            {"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": "i" * 51},
            "Property",
        ),
        (
            {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "now"},
            "Property",
        ),
    ],
)
def test_error_classification(schemas: Schemas, payload: dict[str, Any], code: str) -> None:
    with pytest.raises(ValidationFailed) as failed:
        Validator(schemas).incoming_call("StatusNotification", payload)
    assert failed.value.code.startswith(code)
    assert failed.value.details == {}


def test_payload_not_an_object_is_a_formation_violation(schemas: Schemas) -> None:
    with pytest.raises(ValidationFailed) as failed:
        Validator(schemas).outgoing_result("Heartbeat", [])  # type: ignore[arg-type]
    assert failed.value.code is CallErrorCode.FORMATION_VIOLATION


def test_min_items_is_an_occurence_violation(schemas: Schemas) -> None:
    with pytest.raises(ValidationFailed) as failed:
        Validator(schemas).incoming_call("MeterValues", {"connectorId": 1, "meterValue": []})
    assert failed.value.code is CallErrorCode.OCCURENCE_CONSTRAINT_VIOLATION


def _quirky_meter_values() -> dict[str, Any]:
    return {
        "connectorId": 1,
        "vendorField": "x",
        "meterValue": [
            {
                "timestamp": "2026-11-21T10:00:00",
                "sampledValue": [
                    {"value": 50.0, "measurand": "Frequency", "unit": "Hz"},
                    {"value": 231, "measurand": "Voltage", "unit": "v"},
                    {"value": "20", "measurand": "Temperature", "unit": "°C"},
                    {"value": "1", "measurand": "RPM", "unit": "rpm", "extra": True},
                ],
            }
        ],
    }


def test_lenient_mode_normalises_known_quirks(
    schemas: Schemas, caplog: pytest.LogCaptureFixture
) -> None:
    validator = Validator(schemas, charge_box_id="CP9", lenient=True)
    with caplog.at_level(logging.WARNING):
        payload = validator.incoming_call("MeterValues", _quirky_meter_values())
        validator.incoming_call("MeterValues", _quirky_meter_values())
    assert "vendorField" not in payload
    value = payload["meterValue"][0]
    assert value["timestamp"] == "2026-11-21T10:00:00Z"
    assert value["sampledValue"] == [
        {"value": "50.0", "measurand": "Frequency", "unit": "Hertz"},
        {"value": "231", "measurand": "Voltage", "unit": "V"},
        {"value": "20", "measurand": "Temperature", "unit": "Celsius"},
        {"value": "1", "measurand": "RPM"},
    ]
    warnings = [record.getMessage() for record in caplog.records]
    assert all("CP9" in text for text in warnings)
    assert len(warnings) == len(set(warnings)) == 5  # once per quirk and field, not per message


def test_lenient_mode_truncates_and_converts(schemas: Schemas) -> None:
    validator = Validator(schemas, lenient=True)
    boot = validator.incoming_call(
        "BootNotification",
        {"chargePointVendor": "V", "chargePointModel": "M", "chargePointSerialNumber": "S" * 40},
    )
    assert boot["chargePointSerialNumber"] == "S" * 25
    stop = validator.incoming_call(
        "StopTransaction", {"transactionId": 1.0, "meterStop": 1234.0, "timestamp": NOW}
    )
    assert stop == {"transactionId": 1, "meterStop": 1234, "timestamp": NOW}
    result = validator.incoming_result("GetConfiguration", {"configurationKey": [], "x": 1})
    assert result == {"configurationKey": []}


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("StopTransaction", {"transactionId": 1.5, "meterStop": 1, "timestamp": NOW}),
        ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Asleep"}),
        ("StatusNotification", {"connectorId": 1, "errorCode": "NoError"}),
        ("Heartbeat", []),
        (
            "StartTransaction",
            {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-02-30T10:00:00"},
        ),
    ],
)
def test_lenient_mode_still_refuses_the_rest(schemas: Schemas, action: str, payload: Any) -> None:
    with pytest.raises(ValidationFailed):
        Validator(schemas, lenient=True).incoming_call(action, payload)


def test_strict_mode_refuses_quirks_and_outgoing_is_always_strict(schemas: Schemas) -> None:
    with pytest.raises(ValidationFailed):
        Validator(schemas).incoming_call("MeterValues", _quirky_meter_values())
    with pytest.raises(ValidationFailed):
        Validator(schemas, lenient=True).outgoing_call("Reset", {"type": "Soft", "x": 1})
    Validator(schemas).outgoing_result("Unknown", {})  # no schema: nothing to check
    assert Validator(schemas).incoming_result("Unknown", {"a": 1}) == {"a": 1}


async def test_loading_is_shared_and_async(schemas: Schemas) -> None:
    assert load_schemas() is schemas
    assert await async_load_schemas() is schemas
