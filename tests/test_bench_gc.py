"""The benchmark's watch on Python's cycle collector (`bench.stall.GcWatch`)."""

from __future__ import annotations

import gc

from bench.open_loop import OpenRun
from bench.stall import GcWatch


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycles(n: int) -> None:
    for _ in range(n):
        a, b = _Node(), _Node()
        a.other, b.other = b, a


def test_full_collections_are_timed_and_counted() -> None:
    watch = GcWatch()
    try:
        gc.collect()
        watch.take()  # forget what came before
        _cycles(50)
        gc.collect()
        found = watch.take()
        assert found["full"] == 1
        assert len(found["full_ms"]) == 1
        assert found["full_ms"][0] >= 0
        assert found["full_collected"] >= 100  # the 50 pairs, at least
        assert found["tracked"] > 0
        # Taken once: the next answer starts afresh.
        assert watch.take()["full"] == 0
    finally:
        watch.stop()
    gc.collect()
    assert watch.take()["full"] == 0  # stopped: no longer called


def test_the_line_of_a_run() -> None:
    run = OpenRun(
        kind="ha",
        chargers=2,
        interval=1.0,
        messages=10,
        seconds=5.0,
        rtts=[0.001] * 10,
        late=0,
        lag=0.0,
        behind=0,
        due=10,
        idle_cpu_rate=0.0,
        load_cpu_s=0.01,
        rss_per_charger=1e5,
    )
    run.collections = {
        "full": 2,
        "full_ms": [312.4, 290.0],
        "full_collected": 48_000,
        "young": 500,
        "young_ms": 120.0,
        "tracked": 600_000,
    }
    line = run.gc_line()
    assert "2 full collections (ms: 312, 290;" in line
    assert "48000 objects in cycles freed" in line
    assert "500 young ones (120 ms in all)" in line
    assert "600000 objects tracked" in line
