"""A charger's new connection replacing its old one does not flap the connected sensor.

Real Home Assistant, the real server on 127.0.0.1 and two connections of the same charger
(HTTP Basic auth, security whitepaper section 2): the binary sensor's state history shows
the charger connected throughout the replacement.
"""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event

from custom_components.ocpp_central.const import DOMAIN

from .conftest import ChargerFactory, ConfigEntryFactory, charger_subentry, setup_entry, wait_until

PASSWORD = "0123456789abcdef"


async def test_replacement_shows_no_disconnect_in_history(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=[charger_subentry("CP1", password=PASSWORD)])
    runtime = await setup_entry(hass, entry)
    session = runtime.central.sessions["CP1"]
    entity_id = er.async_get(hass).async_get_entity_id(
        Platform.BINARY_SENSOR, DOMAIN, "CP1_connected"
    )
    assert entity_id is not None
    history: list[str] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        if (new_state := event.data["new_state"]) is not None:
            history.append(new_state.state)

    unsubscribe = async_track_state_change_event(hass, entity_id, record)
    first = await charger(free_port, "CP1", password=PASSWORD)
    await hass.async_block_till_done()
    assert history == ["on"]
    old = first._connection

    second = await charger(free_port, "CP1", password=PASSWORD)  # boots on the new connection
    await wait_until(lambda: old.state.name == "CLOSED")
    await hass.async_block_till_done()
    assert session.connected
    assert hass.states.get(entity_id).state == "on"  # type: ignore[union-attr]
    assert "off" not in history

    # A real disconnect still shows.
    await second._connection.close()
    await wait_until(lambda: not session.connected)
    await hass.async_block_till_done()
    assert history[-1] == "off"
    unsubscribe()
