"""The benchmark's Home Assistant kind runs and prints its figures; hot-path shortcuts agree.

Nothing here asserts on time or on the targets' verdicts: figures belong to `scripts/bench`.
The quick MeterValues check found by the benchmark is held to the schema's verdicts on
payloads mutated down to each sampled value's fields.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import fastjsonschema
import pytest

from bench.closed import HEADER, MeterFeed, latency_line, throughput
from bench.ha import status_and_churn, targets
from custom_components.ocpp_central.protocol.schemas import (
    FORMATS,
    _MeterValuesCheck,
    load_schemas,
)

# Replacements tried for every field at every level (JSON types and near misses).
ODD_VALUES: list[Any] = [None, 0, 1, 1.0, 1.5, True, "", "bogus", "Wh", "L1-N", [], {}, ["Raw"]]
TIMESTAMPS = ["2026-11-21T10:00:00Z", "2026-11-21T10:00:00", "2026-02-30T10:00:00Z", "x", ""]


def _meter_values_seeds() -> list[dict[str, Any]]:
    full = {
        "value": "1.5",
        "context": "Sample.Clock",
        "format": "Raw",
        "measurand": "Voltage",
        "phase": "L1-N",
        "location": "Outlet",
        "unit": "V",
    }
    return [
        json.loads(MeterFeed(transaction_id=3).next()),
        {"connectorId": 0, "meterValue": [{"timestamp": TIMESTAMPS[0], "sampledValue": [full]}]},
        {
            "connectorId": 2,
            "meterValue": [{"timestamp": TIMESTAMPS[0], "sampledValue": [{"value": "7"}]}],
        },
    ]


def _mutated(seed: dict[str, Any]) -> list[Any]:
    """Each field of each level replaced, dropped or joined by an unknown one."""
    out: list[Any] = []

    def vary(container: dict[str, Any], path: list[Any]) -> None:
        for key in [*container, "unknown"]:
            for value in [*ODD_VALUES, *(TIMESTAMPS if key == "timestamp" else ()), "drop"]:
                payload = copy.deepcopy(seed)
                target = payload
                for step in path:
                    target = target[step]
                if value == "drop":
                    target.pop(key, None)
                else:
                    target[key] = value
                out.append(payload)

    vary(seed, [])
    for i, meter_value in enumerate(seed["meterValue"]):
        vary(meter_value, ["meterValue", i])
        for j, _sample in enumerate(meter_value["sampledValue"]):
            vary(meter_value["sampledValue"][j], ["meterValue", i, "sampledValue", j])
    empty = copy.deepcopy(seed)
    empty["meterValue"][0]["sampledValue"] = []
    return [*out, empty, {**seed, "meterValue": []}]


def test_quick_meter_values_check_agrees_with_the_schema() -> None:
    definition = load_schemas().request("MeterValues").definition  # type: ignore[union-attr]
    quick = _MeterValuesCheck(definition)
    compiled = fastjsonschema.compile(definition, formats=FORMATS, use_default=False)
    seeds = _meter_values_seeds()
    assert all(quick(seed) for seed in seeds)  # the usual shapes take the quick way
    judged = 0
    for payload in [mutated for seed in seeds for mutated in _mutated(seed)]:
        try:
            compiled(payload)
            valid = True
        except fastjsonschema.JsonSchemaException:
            valid = False
        if quick(payload):
            judged += 1
            assert valid, payload
    assert judged > 50  # valid mutations (other enum values, dropped options) stay quick


def test_meter_feed_moves_every_message() -> None:
    feed = MeterFeed(transaction_id=7)
    first, second = feed.next(), feed.next()
    assert first != second
    assert '"transactionId":7' in first
    assert first.count('"value":') == 10


async def test_ha_kind_runs_and_prints_figures(
    socket_enabled: None, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = await throughput("ha", 1, 0.3)
    assert figures.messages == len(figures.rtts) > 0
    assert figures.cpu_s > 0
    assert figures.rss_per_charger > 0
    latencies, changes = await status_and_churn(0.6, busy=2, statuses=5)
    assert 0 < len(latencies) <= 5
    assert all(latency > 0 for latency in latencies)
    assert changes.messages > 0
    # Adding a charger and changing another never reloads the entry or drops a charger.
    assert changes.undisturbed

    print(HEADER)
    print(figures.row("ha N=1"))
    print(latency_line("ha", latencies))
    print(changes.line())
    for line in targets({1: figures}, latencies, changes):
        print(line)
    out = capsys.readouterr().out.splitlines()
    assert len(out[1]) == len(HEADER)
    verdicts = [line for line in out if line.startswith(("PASS", "FAIL"))]
    assert len(verdicts) == 4
