"""The benchmark's open loop, stall watch, start-up and database scenarios run and report.

Nothing here asserts on time or on the targets' verdicts: figures belong to `scripts/bench`.
The quick tests run a bare server for a fraction of a second; the ones that start Home
Assistant with the recorder (several seconds each) carry the `slow` marker, deselected by
default (pyproject): run them with `pytest -m slow tests/test_bench_open.py`.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
from pathlib import Path
import time

import fastjsonschema
import pytest

from bench.closed import WIDE_SAMPLES, WideFeed
from bench.open_loop import (
    OPEN_HEADER,
    OpenRun,
    _by_entity_kind,
    growth_lines,
    open_loop,
    open_targets,
    profile_lines,
    stall_lines,
    startup,
)
from bench.stall import StallWatch
from custom_components.ocpp_central.protocol.measurands import parse_meter_values
from custom_components.ocpp_central.protocol.schemas import FORMATS, load_schemas

slow = pytest.mark.slow


def test_wide_feed_sends_24_valid_moving_values() -> None:
    feed = WideFeed(transaction_id=5)
    first, second = json.loads(feed.next()), json.loads(feed.next())
    schema = load_schemas().request("MeterValues").definition  # type: ignore[union-attr]
    validate = fastjsonschema.compile(schema, formats=FORMATS, use_default=False)
    validate(first)
    samples = first["meterValue"][0]["sampledValue"]
    assert len(samples) == len(WIDE_SAMPLES) == 24
    assert first["transactionId"] == 5
    # Three phases of current, voltage and power, as a three-phase charger reports them.
    phased = {(s["measurand"], s.get("phase")) for s in samples}
    for measurand, phases in (
        ("Current.Import", ("L1", "L2", "L3")),
        ("Voltage", ("L1-N", "L2-N", "L3-N")),
        ("Power.Active.Import", ("L1", "L2", "L3")),
    ):
        assert {(measurand, p) for p in phases} <= phased
    moved = [
        a["value"] != b["value"]
        for a, b in zip(samples, second["meterValue"][0]["sampledValue"], strict=True)
    ]
    assert sum(moved) >= 18  # most values change with every message
    # The central system reads every one of them (no value dropped as unknown).
    readings, skipped = parse_meter_values(first["meterValue"])
    assert skipped == 0
    assert len({key for key, _reading in readings}) == 24


async def test_floor_open_loop_reports_a_row(socket_enabled: None) -> None:
    run = await open_loop("floor", 3, interval=0.1, seconds=0.4, wide=True, idle_seconds=0.1)
    assert run.messages >= 9  # 3 chargers x 4 due times, the last may fall past the end
    assert len(run.rtts) == run.messages
    assert run.late == 0 or run.late <= run.messages
    assert run.dropped == 0
    row = run.row()
    assert len(row) == len(OPEN_HEADER)


def _blocking() -> None:
    time.sleep(0.12)  # a callback that holds the loop, as a long save would


async def test_stall_watch_finds_the_callback_that_held_the_loop() -> None:
    watch = StallWatch(asyncio.get_running_loop())
    try:
        await asyncio.sleep(0.05)
        asyncio.get_running_loop().call_soon(_blocking)
        await asyncio.sleep(0)  # _blocking runs
        await asyncio.sleep(0.1)  # the loop runs again: the stall ends
        taken = watch.take()
    finally:
        watch.stop()
    assert taken["count"] == 1
    stall = taken["longest"][0]
    assert stall["ms"] >= 100
    assert any("_blocking" in frame for frame in stall["loop_stack"])
    run = _run("ha", 1)
    run.stalls = {**taken, "longest": [{**stall, "at_s": 0.0}]}
    lines = stall_lines(run)
    assert "1," in lines[0]
    assert any("_blocking" in line for line in lines)
    assert watch.take()["count"] == 0  # taken once


def test_profile_lines_give_ms_per_message(tmp_path: Path) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(10):
        _work()
    profiler.disable()
    path = tmp_path / "run.prof"
    profiler.dump_stats(path)
    lines = profile_lines(str(path), messages=10)
    assert lines[0].split()[:2] == ["cum", "ms/msg"]
    work = next(line for line in lines if line.endswith(" _work"))
    assert float(work.split()[2]) == 1.0  # called once per message


def _work() -> int:
    return sum(range(1000))


def _run(kind: str, chargers: int, rows: dict[str, int] | None = None) -> OpenRun:
    return OpenRun(
        kind=kind,
        chargers=chargers,
        interval=10.0,
        messages=100,
        seconds=10.0,
        rtts=[0.001] * 100,
        late=0,
        lag=0.0,
        behind=0,
        due=100,
        idle_cpu_rate=0.01,
        load_cpu_s=0.05,
        rss_per_charger=4e5,
        rows=rows,
    )


def test_open_targets_and_growth_lines() -> None:
    lines = open_targets({("ha", 200): _run("ha", 200), ("floor", 200): _run("floor", 200)}, "x")
    assert [line[:4] for line in lines[1:]] == ["PASS", "PASS", "PASS"]
    assert "floor" in lines[1]
    run = _run(
        "ha",
        50,
        {
            "states": 800,
            "state_attributes": 0,
            "statistics_short_term": 400,
            "statistics_periods": 1,
        },
    )
    run.rows_by_entity = _by_entity_kind(
        {"sensor.b_0_power": 60, "sensor.b_12_power": 40, "sensor.b_3_voltage_l1_n": 1}
    )
    growth = growth_lines(run, 10)
    assert "states 8.00/msg = 2880/charger-hour" in growth[0]
    assert "state_attributes 0.00/msg = 0/charger-hour" in growth[0]
    assert "statistics_short_term 8.0/charger per 5-minute period = 96/charger-hour" in growth[0]
    # 100 rows of the power sensors in 100 messages at 10 s: one row per message, 360 an hour.
    assert growth[2].split() == ["360", "sensor.*_power"]
    assert growth[3].split() == ["4", "sensor.*_voltage_l1_n"]


@slow
async def test_ha_open_loop_with_recorder_counts_rows(socket_enabled: None) -> None:
    run = await open_loop(
        "ha", 2, interval=0.5, seconds=1.5, wide=True, idle_seconds=0.5, count_rows=True
    )
    assert run.messages >= 4
    assert run.dropped == 0
    # CPU by thread (in clock ticks: a short window may show none for a thread).
    assert {"MainThread", "Recorder"} <= set(run.threads)
    assert run.rows is not None
    assert run.rows["states"] > 0  # every reading reached the recorder


@slow
async def test_startup_with_and_without_the_entry(socket_enabled: None) -> None:
    result = await startup(2, wide=False, repeats=1)
    best = result.with_entry[0]
    assert best["entities"] > 0
    assert best["loaded"] == best["entities"]
    assert result.without_entry[0]["entities"] == 0
    assert len(result.lines()) == 1
