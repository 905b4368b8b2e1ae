"""Event entities: tags presented and sessions started or stopped."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant

from .conftest import CHARGER, HarnessFactory


async def test_events(hass: HomeAssistant, make_harness: HarnessFactory) -> None:
    h = await make_harness(
        [Platform.EVENT], tags={"GOOD": {"status": "Accepted"}, "LOST": {"status": "Blocked"}}
    )
    await h.boot(connectors=2)
    await hass.async_block_till_done()
    tag = h.entity_id("event", f"{CHARGER}_id_tag")
    session1 = h.entity_id("event", f"{CHARGER}_1_session")
    session2 = h.entity_id("event", f"{CHARGER}_2_session")

    await h.send("Authorize", {"idTag": "LOST"})
    await hass.async_block_till_done()
    state = hass.states.get(tag)
    assert state is not None
    assert state.attributes["event_type"] == "blocked"
    assert state.attributes["id_tag"] == "LOST"

    tx = await h.start(2, "GOOD", 100)
    await hass.async_block_till_done()
    state = hass.states.get(session2)
    assert state is not None
    assert state.attributes["event_type"] == "started"
    assert state.attributes["connector_id"] == 2
    assert hass.states.get(tag).attributes["event_type"] == "accepted"  # type: ignore[union-attr]
    assert hass.states.get(session1).state == "unknown"  # type: ignore[union-attr]

    await h.stop(tx, 1100, "2025-01-01T10:30:00Z")
    await hass.async_block_till_done()
    state = hass.states.get(session2)
    assert state is not None
    assert state.attributes["event_type"] == "stopped"
    assert state.attributes["energy_wh"] == 1000
    assert state.attributes["duration_s"] == 1800
