"""Smoke test of the benchmark's Home Assistant kind: it runs briefly and prints its figures.

Nothing here asserts on time or on the targets' verdicts: figures belong to `scripts/bench`.
"""

from __future__ import annotations

import pytest

from simulator.bench import HEADER, MeterFeed, latency_line, throughput
from simulator.bench_ha import status_and_churn, targets


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
