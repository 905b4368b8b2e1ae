"""Unknown chargers in numbers: a handful is offered to the user, the rest get 404.

OCPP-J section 3.2: an unknown identity is refused with 404. Under the `offer` policy the
user is asked whether to add it (a discovery flow); a scan of 1,000 identities must not
leave 1,000 cards and 1,000 log lines behind. A flow the user answers, ignores or
dismisses frees its slot for the next unknown charger.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os

from homeassistant.config_entries import SOURCE_IGNORE, SOURCE_INTEGRATION_DISCOVERY
from homeassistant.const import EVENT_HOMEASSISTANT_STARTED
from homeassistant.core import CoreState, HomeAssistant
import pytest

from custom_components.ocpp_central.const import (
    CONF_UNKNOWN_CHARGERS,
    CONF_UNKNOWN_TAGS,
    DOMAIN,
    UNKNOWN_CHARGERS_OFFER,
    UNKNOWN_CHARGERS_REJECT,
    UNKNOWN_TAGS_REJECT,
)
from custom_components.ocpp_central.discovery import MAX_PENDING_OFFERS

from .conftest import ConfigEntryFactory

PACKAGE = "custom_components.ocpp_central"
UNKNOWN_IDS = 1000
BATCH = 50  # knocking at once


async def knock(port: int, charge_box_id: str) -> None:
    """Ask to open a WebSocket as `charge_box_id` (RFC 6455 section 4.1) and expect 404.

    A bare request over a socket: a thousand knocks cost the test little beyond the
    server's own work.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            (
                f"GET /{charge_box_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
            ).encode()
        )
        async with asyncio.timeout(10):
            status = await reader.readline()
    finally:
        writer.close()
    assert status.split()[1] == b"404", status


async def knock_many(port: int, prefix: str, count: int) -> None:
    for start in range(0, count, BATCH):
        await asyncio.gather(
            *(knock(port, f"{prefix}{n}") for n in range(start, min(start + BATCH, count)))
        )


def offered(hass: HomeAssistant) -> list[str]:
    """The charge box ids of the discovery flows in progress."""
    return sorted(
        flow["context"]["unique_id"]
        for flow in hass.config_entries.flow.async_progress_by_handler(
            DOMAIN, match_context={"source": SOURCE_INTEGRATION_DISCOVERY}
        )
    )


def log_bytes(caplog: pytest.LogCaptureFixture) -> int:
    return sum(
        len(record.getMessage().encode()) + 1
        for record in caplog.records
        if record.name.startswith(PACKAGE)
    )


@pytest.mark.timeout(180)  # a thousand handshakes on a busy machine; a ceiling, not a target
async def test_a_thousand_unknown_chargers_get_a_handful_of_offers(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Today 1,000 unknown ids left 1,001 flows; now MAX_PENDING_OFFERS, and few log lines."""
    entry = mock_config_entry(
        port=free_port,
        options={
            CONF_UNKNOWN_CHARGERS: UNKNOWN_CHARGERS_OFFER,
            CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_REJECT,
        },
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    caplog.set_level(logging.INFO, logger=PACKAGE)
    caplog.set_level(logging.WARNING, logger="websockets")  # not its line per connection

    await knock_many(free_port, "SCAN", UNKNOWN_IDS)
    await hass.async_block_till_done()
    waiting = offered(hass)
    assert len(waiting) == MAX_PENDING_OFFERS
    assert log_bytes(caplog) < 2_000

    # Ignored and dismissed offers free their slots; the third slot-holder stays.
    ignored, dismissed = waiting[0], waiting[1]
    await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_IGNORE}, data={"unique_id": ignored, "title": ignored}
    )
    dismissed_flow = next(
        flow["flow_id"]
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"].get("unique_id") == dismissed
    )
    hass.config_entries.flow.async_abort(dismissed_flow)
    await hass.async_block_till_done()
    assert len(offered(hass)) == MAX_PENDING_OFFERS - 2

    await knock_many(free_port, "LATE", 3)
    await hass.async_block_till_done()
    now_waiting = offered(hass)
    assert len(now_waiting) == MAX_PENDING_OFFERS
    assert {"LATE0", "LATE1"} <= set(now_waiting)
    assert "LATE2" not in now_waiting


async def test_a_thousand_rejected_unknown_chargers_log_a_few_lines(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Under the `reject` policy each new id used to add a warning of its own."""
    entry = mock_config_entry(
        port=free_port,
        options={
            CONF_UNKNOWN_CHARGERS: UNKNOWN_CHARGERS_REJECT,
            CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_REJECT,
        },
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    caplog.set_level(logging.INFO, logger=PACKAGE)
    await knock_many(free_port, "SCAN", UNKNOWN_IDS // 4)
    await hass.async_block_till_done()
    assert offered(hass) == []
    refused = [r for r in caplog.records if "Refused unknown charger" in r.getMessage()]
    assert 1 <= len(refused) <= 4
    assert log_bytes(caplog) < 2_000


async def test_offers_wait_for_home_assistant_to_start_and_still_count(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, free_port: int
) -> None:
    """Before Home Assistant has started, discovery flows are queued, not in progress:
    the queued offers hold their slots until they start."""
    entry = mock_config_entry(
        port=free_port,
        options={
            CONF_UNKNOWN_CHARGERS: UNKNOWN_CHARGERS_OFFER,
            CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_REJECT,
        },
    )
    hass.set_state(CoreState.starting)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await knock_many(free_port, "EARLY", 3 * MAX_PENDING_OFFERS)
    await hass.async_block_till_done()
    assert offered(hass) == []  # queued until started

    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done()
    assert len(offered(hass)) == MAX_PENDING_OFFERS
