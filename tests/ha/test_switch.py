"""Switches: charging follows the transaction; commands and their refusals."""

from __future__ import annotations

from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_OFF, SERVICE_TURN_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest

from custom_components.ocpp_central.protocol.errors import (
    CallErrorCode,
    CallErrorReceived,
    CallTimeoutError,
    NotConnectedError,
)

from .conftest import CHARGER, HarnessFactory


async def _switch(hass: HomeAssistant, service: str, entity_id: str) -> None:
    await hass.services.async_call(
        SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


async def test_charging(hass: HomeAssistant, make_harness: HarnessFactory) -> None:
    """Turning on asks for a remote start; the state follows the real transaction."""
    h = await make_harness([Platform.SWITCH])
    await h.boot(connectors=2)
    await hass.async_block_till_done()
    charging = h.entity_id("switch", f"{CHARGER}_2_charging")
    await _switch(hass, SERVICE_TURN_ON, charging)
    assert h.link.calls[-1] == (
        "RemoteStartTransaction",
        {"idTag": "HomeAssistant", "connectorId": 2},
    )
    assert h.state("switch", f"{CHARGER}_2_charging") == "off"  # not the last press
    tx = await h.start(2, "HomeAssistant", 0)
    await hass.async_block_till_done()
    assert h.state("switch", f"{CHARGER}_2_charging") == "on"
    await _switch(hass, SERVICE_TURN_OFF, charging)
    assert h.link.calls[-1] == ("RemoteStopTransaction", {"transactionId": tx})
    await h.stop(tx, 100, "2025-01-01T11:00:00Z")
    await hass.async_block_till_done()
    assert h.state("switch", f"{CHARGER}_2_charging") == "off"
    calls = len(h.link.calls)
    await _switch(hass, SERVICE_TURN_OFF, charging)  # nothing to stop
    assert len(h.link.calls) == calls


@pytest.mark.parametrize(
    ("reply", "key"),
    [
        ({"status": "Rejected"}, "refused"),
        (CallTimeoutError(), "timeout"),
        (CallErrorReceived(CallErrorCode.NOT_SUPPORTED, "no"), "call_error"),
    ],
)
async def test_charging_refused(
    hass: HomeAssistant,
    make_harness: HarnessFactory,
    reply: dict[str, str] | Exception,
    key: str,
) -> None:
    h = await make_harness([Platform.SWITCH])
    await h.boot(connectors=1)
    await hass.async_block_till_done()
    h.link.replies["RemoteStartTransaction"] = reply
    with pytest.raises(HomeAssistantError) as err:
        await _switch(hass, SERVICE_TURN_ON, h.entity_id("switch", f"{CHARGER}_1_charging"))
    assert err.value.translation_key == key
    assert h.state("switch", f"{CHARGER}_1_charging") == "off"


async def test_not_connected(hass: HomeAssistant, make_harness: HarnessFactory) -> None:
    """Unavailable while offline; a command the connection cannot send is a translated error."""
    h = await make_harness([Platform.SWITCH])
    await h.boot(connectors=1)
    await hass.async_block_till_done()
    entity_id = h.entity_id("switch", f"{CHARGER}_1_available")
    await h.disconnect()
    await hass.async_block_till_done()
    assert h.state("switch", f"{CHARGER}_1_available") == "unavailable"
    await h.connect()
    await hass.async_block_till_done()
    h.link.replies["ChangeAvailability"] = NotConnectedError()
    with pytest.raises(HomeAssistantError) as err:
        await _switch(hass, SERVICE_TURN_OFF, entity_id)
    assert err.value.translation_key == "not_connected"


async def test_available(hass: HomeAssistant, make_harness: HarnessFactory) -> None:
    """Availability sends ChangeAvailability; its state is the connector status."""
    h = await make_harness([Platform.SWITCH])
    await h.boot(connectors=1)
    await hass.async_block_till_done()
    entity_id = h.entity_id("switch", f"{CHARGER}_1_available")
    assert h.state("switch", f"{CHARGER}_1_available") == "on"
    h.link.replies["ChangeAvailability"] = {"status": "Scheduled"}
    await _switch(hass, SERVICE_TURN_OFF, entity_id)
    assert h.link.calls[-1] == ("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    await h.status(1, "Unavailable")
    await hass.async_block_till_done()
    assert h.state("switch", f"{CHARGER}_1_available") == "off"
    h.link.replies["ChangeAvailability"] = {"status": "Rejected"}
    with pytest.raises(HomeAssistantError):
        await _switch(hass, SERVICE_TURN_ON, entity_id)
