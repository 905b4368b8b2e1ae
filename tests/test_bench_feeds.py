"""The benchmark's MeterValues feeds: the energy register follows the power over the interval."""

from __future__ import annotations

import json

import pytest

from bench.closed import ENERGY_REGISTER, WH_PER_SECOND, MeterFeed, WideFeed


def _register(payload: str) -> float:
    samples = json.loads(payload)["meterValue"][0]["sampledValue"]
    return next(
        float(s["value"])
        for s in samples
        if s.get("measurand") == ENERGY_REGISTER and "phase" not in s
    )


@pytest.mark.parametrize("feed_type", [MeterFeed, WideFeed])
@pytest.mark.parametrize("interval", [1.0, 10.0])
def test_the_register_moves_by_the_power_times_the_interval(
    feed_type: type[MeterFeed] | type[WideFeed], interval: float
) -> None:
    feed = feed_type(7, interval)
    first, second = _register(feed.next()), _register(feed.next())
    assert second - first == pytest.approx(WH_PER_SECOND * interval, abs=0.1)
    assert json.loads(feed.next())["transactionId"] == 7


def test_the_closed_loop_counts_its_messages_one_second_apart() -> None:
    feed = WideFeed()
    first, second = _register(feed.next()), _register(feed.next())
    assert second - first == pytest.approx(WH_PER_SECOND, abs=0.01)
