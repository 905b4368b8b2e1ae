"""A charger that starts transactions and never stops them costs bounded memory and store writes.

From the hostile-charger report: thousands of StartTransactions without a StopTransaction
grew Home Assistant's memory quadratically, because every open transaction stayed open
and every store write carried all of them. A new start on a connector now closes the
transaction left open there (OCPP 1.6 section 4.10 can lose stops; see
`tests/protocol/test_transactions_superseded.py`), so the store's open set stays at one
transaction per connector and each write stays the same size.

The charger is a raw websocket client (cheap, so the measurement is the server's) against
the whole integration over 127.0.0.1. Memory is counted with tracemalloc as a bound per
transaction, never as a time; `scripts/bench` measures the full 2,000 in a separate process.
"""

from __future__ import annotations

import gc
import logging
import tracemalloc
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
import orjson
import pytest

from custom_components.ocpp_central.const import DOMAIN
from custom_components.ocpp_central.protocol.errors import CallErrorCode, CallErrorReceived

from .conftest import ConfigEntryFactory, LoopbackCharger, setup_entry

WARM_UP = 20
MEASURED = 200
# Memory the integration's code keeps per StartTransaction once everything settled. What
# stays is bounded whatever the count (the last transaction per connector, the message ids
# the RPC layer remembers against duplicates, the store write under way); an open
# transaction kept per start costs about 500 bytes more each, in the session and the store.
BYTES_PER_TRANSACTION = 256
CONNECTORS = 2
# Allocations the integration's own code made (Home Assistant's bookkeeping, e.g. timers
# of delayed writes it cleans up in batches, would only add noise to a per-count bound).
OURS = (tracemalloc.Filter(inclusive=True, filename_pattern="*/ocpp_central/*"),)


async def starts(charger: LoopbackCharger, first: int, count: int) -> None:
    """`count` StartTransactions, alternating over the connectors, never a stop."""
    for n in range(first, first + count):
        seconds = 10 * n
        await charger.call(
            "StartTransaction",
            {
                "connectorId": 1 + n % CONNECTORS,
                "idTag": "HOSTILE",
                "meterStart": 1000 + 10 * n,
                "timestamp": f"2026-11-21T{10 + seconds // 3600:02d}:"
                f"{seconds // 60 % 60:02d}:{seconds % 60:02d}Z",
            },
        )


async def test_starts_without_stops_are_bounded(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    writes: list[int] = []

    async def write(store: Store[Any], data: dict[str, Any]) -> None:
        """Serialise in the executor as a real write does; note the size of ours.

        (The test harness's own storage mock keeps every call: the memory would be its.)
        """
        if "data_func" in data:
            data["data"] = data.pop("data_func")()
        written = await hass.async_add_executor_job(orjson.dumps, data)
        if store.key.startswith(DOMAIN):
            writes.append(len(written))

    # Log records kept by the capture would be counted as the integration's memory.
    caplog.set_level(logging.WARNING)
    with patch("homeassistant.helpers.storage.Store._async_write_data", write):
        entry = mock_config_entry(port=free_port, chargers=["CP1"])
        runtime = await setup_entry(hass, entry)
        charger = LoopbackCharger(free_port, "CP1")
        # Our own CALLs are refused: the charger only starts transactions.
        charger.fallback = CallErrorReceived(CallErrorCode.NOT_SUPPORTED)
        await charger.connect()
        try:
            boot = await charger.call(
                "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}
            )
            assert boot["status"] == "Accepted"
            await starts(charger, 0, WARM_UP)
            await hass.async_block_till_done()
            gc.collect()
            largest_write = max(writes)
            count = len(writes)

            tracemalloc.start()
            try:
                before = tracemalloc.take_snapshot().filter_traces(OURS)
                await starts(charger, WARM_UP, MEASURED)
                await hass.async_block_till_done()
                gc.collect()
                after = tracemalloc.take_snapshot().filter_traces(OURS)
            finally:
                tracemalloc.stop()
            grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        finally:
            await charger.close()

    assert grown < MEASURED * BYTES_PER_TRANSACTION, f"{grown} bytes"
    # Every start was written at once, and no write grew with the transactions seen.
    assert len(writes) - count >= MEASURED
    assert max(writes[count:]) <= largest_write + 64
    session = runtime.central.sessions["CP1"]
    assert len(session.transactions) == CONNECTORS
    assert len(runtime.store.open_transactions("CP1")) == CONNECTORS
