"""The benchmark's "ha-floor" kind: Home Assistant with one energy state per MeterValues.

Nothing here asserts on time or on the targets' verdicts: figures belong to `scripts/bench`.
What the kind does is held here: it serves the load generator's protocol with valid
answers, the state machine holds each charger's latest energy register reading as an
energy sensor's state, and the recorder writes one state row per message for it. The run
with the open loop starts Home Assistant once more and carries the `slow` marker
(deselected by default: `pytest -m slow tests/test_bench_ha_floor.py`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import pytest

from bench.__main__ import bench_main
from bench.closed import (
    BUSY_PREFIX,
    HEADER,
    Figures,
    MeterFeed,
    ServerProcess,
    WideFeed,
    busy_loop,
    floor_reply,
    open_busy,
)
from bench.ha import Churn, targets
from bench.ha_floor import energy_entity_id, energy_register
from bench.open_loop import OpenRun, open_loop, open_targets
from custom_components.ocpp_central.protocol.schemas import load_schemas

slow = pytest.mark.slow

# The CALLs a charge point sends (OCPP 1.6 section 4).
CHARGER_ACTIONS = (
    "Authorize",
    "BootNotification",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
)


def test_floor_replies_are_valid_call_results() -> None:
    schemas = load_schemas()
    ids = itertools.count(7)
    for action in CHARGER_ACTIONS:
        schema = schemas.response(action)
        assert schema is not None
        payload = floor_reply(action, ids)
        assert schema.is_valid(payload), (action, payload)
    # Each transaction gets an id of its own (section 6.46).
    first = floor_reply("StartTransaction", ids)["transactionId"]
    assert floor_reply("StartTransaction", ids)["transactionId"] == first + 1


def _payload(*samples: dict[str, Any]) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "meterValue": [{"timestamp": "2026-12-06T10:00:00Z", "sampledValue": list(samples)}],
    }


def test_energy_register_of_a_meter_values_payload() -> None:
    # The benchmark's feeds: the register among 10 and 24 sampled values.
    assert energy_register(json.loads(MeterFeed(3).next())) == "12348.1"
    assert energy_register(json.loads(WideFeed(3).next())) == "12348.10"
    voltage = {"value": "230.0", "measurand": "Voltage", "unit": "V"}
    # A sampled value without a measurand is the register (section 7.43).
    assert energy_register(_payload(voltage, {"value": "17"})) == "17"
    # In kWh (section 7.45): converted to Wh.
    kwh = {"value": "1.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"}
    assert energy_register(_payload(voltage, kwh)) == "1500.0"
    # The newest MeterValue counts; none with the register: no state.
    both = _payload({"value": "1"})
    both["meterValue"].append({"timestamp": "2026-12-06T10:00:10Z", "sampledValue": [voltage]})
    assert energy_register(both) is None
    assert energy_register({"connectorId": 1, "meterValue": []}) is None
    assert energy_entity_id("B-0") == "sensor.b_0_energy"
    assert energy_entity_id("Wallbox Garage") == "sensor.wallbox_garage_energy"


class _Recorded:
    """A charger's feed that remembers the payload it gave last."""

    def __init__(self, feed: MeterFeed) -> None:
        self._feed = feed
        self.last = ""

    def next(self) -> str:
        self.last = self._feed.next()
        return self.last


async def test_ha_floor_sets_one_energy_state_per_message(socket_enabled: None) -> None:
    chargers = 3
    server = await ServerProcess.start("ha-floor", chargers)
    try:
        clients = await open_busy(server.port, chargers)
        # Every transaction got an id of its own, which the feeds send.
        assert len({c.feed.next().split('"transactionId":')[1] for c in clients}) == chargers
        await server.command("db_rows")  # rows from here on
        feeds = [_Recorded(c.feed) for c in clients]
        for client, feed in zip(clients, feeds, strict=True):
            client.feed = feed  # type: ignore[assignment]
        deadline = time.monotonic() + 0.5
        counts = await asyncio.gather(*(busy_loop(c, deadline, []) for c in clients))
        energy = (await server.command("energy"))["states"]
        rows = await server.command("db_rows")
        await asyncio.gather(*(c.close() for c in clients))
    finally:
        await server.stop()
    assert all(count > 0 for count in counts)
    assert not any(c.dropped for c in clients)
    ids = [f"{BUSY_PREFIX}{n}" for n in range(chargers)]
    entity_ids = [energy_entity_id(charge_box_id) for charge_box_id in ids]
    assert set(energy) == set(entity_ids)
    for charge_box_id, entity_id, feed in zip(ids, entity_ids, feeds, strict=True):
        # The state machine holds the charger's latest reading, as an energy sensor's state.
        assert energy[entity_id]["state"] == energy_register(json.loads(feed.last))
        assert energy[entity_id]["attributes"] == {
            "unit_of_measurement": "Wh",
            "device_class": "energy",
            "state_class": "total_increasing",
            "friendly_name": f"{charge_box_id} Energy",
        }
    # One state row per message and charger (the recorder flushed before answering).
    assert {e: rows["by_entity"].get(e) for e in entity_ids} == dict(
        zip(entity_ids, counts, strict=True)
    )


async def test_ha_floor_closed_loop_uses_the_ha_sizes(
    socket_enabled: None, capsys: pytest.CaptureFixture[str]
) -> None:
    await bench_main([], 0.3, ["ha-floor"], [2], hostile_starts=0)
    out = capsys.readouterr().out.splitlines()
    assert out[1] == HEADER
    assert out[2].startswith("ha-floor N=2 ")
    assert len(out[2]) == len(HEADER)
    assert len(out) == 3  # the integration's sections and targets need kind "ha"


def _figures(cpu_s: float) -> Figures:
    return Figures(messages=1000, seconds=1.0, rtts=[0.001] * 10, cpu_s=cpu_s, rss_per_charger=1e5)


def test_targets_show_the_ha_floor_beside_the_ha_figure() -> None:
    churn = Churn(10, 100, 0, 0, 0, same_runtime=True, added_served=True)
    ha = {1: _figures(0.4), 10: _figures(0.5)}
    lines = targets(ha, [0.001], churn, {10: _figures(0.2), 50: _figures(0.3)})
    cpu = lines[1]
    assert "0.500 ms at N=10 (floor with one state per message: 0.200 ms)" in cpu
    assert "0.400 ms at N=1," in cpu  # no floor figure of that size
    assert "0.300" not in cpu
    assert targets(ha, [0.001], churn)[1].count("floor") == 0


def _run(kind: str, load_cpu_s: float) -> OpenRun:
    return OpenRun(
        kind=kind,
        chargers=200,
        interval=1.0,
        messages=1000,
        seconds=5.0,
        rtts=[0.002] * 1000,
        late=0,
        lag=0.0,
        behind=0,
        due=1000,
        idle_cpu_rate=0.0,
        load_cpu_s=load_cpu_s,
        rss_per_charger=4e5,
    )


def test_open_targets_show_the_ha_floor() -> None:
    runs = {
        ("ha", 200): _run("ha", 1.0),
        ("floor", 200): _run("floor", 0.05),
        ("ha-floor", 200): _run("ha-floor", 0.3),
    }
    line = open_targets(runs, "with the recorder")[1]
    assert line.endswith(
        "1.000 ms; floor 0.050 ms, p99 2.00 ms; floor with one state per message 0.300 ms, "
        "p99 2.00 ms"
    )
    assert len(_run("ha-floor", 0.3).row()) == len(_run("floor", 0.3).row())


@slow
async def test_ha_floor_open_loop_counts_threads_and_rows(socket_enabled: None) -> None:
    run = await open_loop(
        "ha-floor", 2, interval=0.5, seconds=1.5, wide=True, idle_seconds=0.5, count_rows=True
    )
    assert run.messages >= 4
    assert run.dropped == 0
    assert {"MainThread", "Recorder"} <= set(run.threads)
    assert run.rows is not None
    # One state row per message (the energy sensor's), none for anything else per charger.
    assert run.rows_by_entity == {"sensor.*_energy": run.messages}


async def test_the_floor_gives_each_transaction_an_id(socket_enabled: None) -> None:
    server = await ServerProcess.start("floor", 2)
    try:
        clients = await open_busy(server.port, 2)
        payloads = [json.loads(c.feed.next()) for c in clients]
        await asyncio.gather(*(c.close() for c in clients))
    finally:
        await server.stop()
    assert sorted(p["transactionId"] for p in payloads) == [1, 2]
