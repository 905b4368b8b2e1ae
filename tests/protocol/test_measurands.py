"""MeterValues parsing and unit normalisation (OCPP 1.6 sections 4.7, 7.31, 7.43, 7.45)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from custom_components.ocpp_central.protocol.measurands import (
    parse_meter_values,
    reading_key,
)
from custom_components.ocpp_central.protocol.messages import format_timestamp, parse_timestamp
from custom_components.ocpp_central.protocol.state import Reading

T0 = "2026-11-21T10:00:00Z"


def one(sample: dict[str, Any], timestamp: str = T0) -> tuple[str, Reading]:
    parsed, skipped = parse_meter_values([{"timestamp": timestamp, "sampledValue": [sample]}])
    assert skipped == 0
    assert len(parsed) == 1
    return parsed[0]


def test_defaults_are_an_energy_register_in_wh() -> None:
    # Section 4.7: "a value without any additional fields will be interpreted, as a
    # register reading of active import energy in Wh".
    key, reading = one({"value": "1234.5"})
    assert key == "Energy.Active.Import.Register"
    assert reading.value == 1234.5
    assert reading.unit == "Wh"
    assert reading.context == "Sample.Periodic"
    assert reading.location == "Outlet"
    assert reading.timestamp == datetime(2026, 11, 21, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("measurand", "unit", "value", "expected", "base"),
    [
        ("Energy.Active.Import.Register", "kWh", "12.5", 12500.0, "Wh"),
        ("Energy.Active.Export.Register", "Wh", "7", 7.0, "Wh"),
        ("Energy.Reactive.Import.Register", "kvarh", "2", 2000.0, "varh"),
        ("Energy.Reactive.Export.Register", "varh", "3", 3.0, "varh"),
        ("Power.Active.Import", "kW", "7.4", 7400.0, "W"),
        ("Power.Active.Import", "W", "7400", 7400.0, "W"),
        ("Power.Reactive.Import", "kvar", "1.5", 1500.0, "var"),
        ("Power.Reactive.Export", "var", "15", 15.0, "var"),
        ("Power.Offered", "kVA", "11", 11000.0, "VA"),
        ("Power.Offered", "VA", "11", 11.0, "VA"),
        ("Current.Import", "A", "16.2", 16.2, "A"),
        ("Voltage", "V", "231", 231.0, "V"),
        ("SoC", "Percent", "55", 55.0, "%"),
        ("Temperature", "Celsius", "21.5", 21.5, "Celsius"),
        ("Temperature", "Fahrenheit", "212", 100.0, "Celsius"),
        ("Temperature", "K", "273.15", 0.0, "Celsius"),
    ],
)
def test_units_are_normalised(
    measurand: str, unit: str, value: str, expected: float, base: str
) -> None:
    _, reading = one({"measurand": measurand, "unit": unit, "value": value})
    assert reading.value == pytest.approx(expected)
    assert reading.unit == base


@pytest.mark.parametrize(
    ("measurand", "base"),
    [
        ("Current.Import", "A"),
        ("Current.Offered", "A"),
        ("Voltage", "V"),
        ("Power.Active.Import", "W"),
        ("Power.Factor", ""),
        ("Frequency", "Hz"),
        ("SoC", "%"),
        ("Temperature", "Celsius"),
        ("RPM", "RPM"),
        ("Energy.Active.Import.Interval", "Wh"),
        ("Energy.Reactive.Import.Interval", "varh"),
        ("Some.Vendor.Measurand", ""),
    ],
)
def test_missing_unit_is_the_measurands_own(measurand: str, base: str) -> None:
    _, reading = one({"measurand": measurand, "value": "1"})
    assert reading.unit == base


def test_wrong_case_and_unknown_units() -> None:
    _, reading = one({"measurand": "Energy.Active.Import.Register", "unit": "kwh", "value": "1"})
    assert (reading.value, reading.unit) == (1000.0, "Wh")
    _, reading = one({"measurand": "Power.Active.Import", "unit": "KW", "value": "2"})
    assert (reading.value, reading.unit) == (2000.0, "W")
    _, reading = one({"measurand": "Frequency", "unit": "mHz", "value": "50000"})
    assert (reading.value, reading.unit) == (50000.0, "mHz")


def test_phases_context_and_location_are_kept() -> None:
    parsed, _ = parse_meter_values(
        [
            {
                "timestamp": T0,
                "sampledValue": [
                    {
                        "measurand": "Current.Import",
                        "phase": phase,
                        "unit": "A",
                        "value": str(n),
                        "context": "Sample.Clock",
                        "location": "Inlet",
                    }
                    for n, phase in enumerate(("L1", "L2", "L3"), start=10)
                ]
                + [{"measurand": "Voltage", "phase": "L1-N", "unit": "V", "value": "230"}],
            }
        ]
    )
    keys = [key for key, _ in parsed]
    assert keys == ["Current.Import.L1", "Current.Import.L2", "Current.Import.L3", "Voltage.L1-N"]
    assert [r.value for _, r in parsed] == [10.0, 11.0, 12.0, 230.0]
    assert parsed[0][1].context == "Sample.Clock"
    assert parsed[0][1].location == "Inlet"
    assert reading_key("Voltage", "L1-N") == "Voltage.L1-N"
    assert reading_key("Voltage", None) == "Voltage"


def test_values_without_a_number_are_skipped_and_counted() -> None:
    parsed, skipped = parse_meter_values(
        [
            {
                "timestamp": T0,
                "sampledValue": [
                    {"value": "not a number"},
                    {"value": "0A1B", "format": "SignedData"},
                    {},
                    {"value": "5", "format": "Raw"},
                ],
            }
        ]
    )
    assert skipped == 3
    assert [(k, r.value) for k, r in parsed] == [("Energy.Active.Import.Register", 5.0)]


def test_one_timestamp_per_meter_value() -> None:
    parsed, _ = parse_meter_values(
        [
            {"timestamp": "2026-11-21T10:00:00Z", "sampledValue": [{"value": "1"}, {"value": "2"}]},
            {"timestamp": "2026-11-21T10:01:00+01:00", "sampledValue": [{"value": "3"}]},
        ]
    )
    first, second, third = (r.timestamp for _, r in parsed)
    assert first is second
    assert third == datetime(2026, 11, 21, 9, 1, tzinfo=UTC)


def test_timestamps() -> None:
    assert parse_timestamp("2026-11-21T10:00:00") == datetime(2026, 11, 21, 10, tzinfo=UTC)
    assert parse_timestamp("2026-11-21T10:00:00.123Z").microsecond == 123000
    fallback = datetime(2020, 1, 1, tzinfo=UTC)
    assert parse_timestamp("yesterday", fallback) is fallback
    assert parse_timestamp(None, fallback) is fallback
    before = datetime.now(UTC)
    assert parse_timestamp("garbage") >= before
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)) == (
        "2026-01-02T03:04:05.678Z"
    )
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"
    cet = datetime(2026, 1, 2, 4, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=1)))
    assert format_timestamp(cet) == "2026-01-02T04:00:00.000Z"
