"""Current limit: shows what the charger accepted; range from the charger's settings."""

from __future__ import annotations

from homeassistant.components.number import (
    ATTR_MAX,
    ATTR_MIN,
    ATTR_VALUE,
    DOMAIN as NUMBER_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.const import ATTR_ENTITY_ID, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest

from custom_components.ocpp_central.protocol.errors import CallErrorCode, CallErrorReceived

from .conftest import CHARGER, HarnessFactory


async def _set(hass: HomeAssistant, entity_id: str, value: float) -> None:
    await hass.services.async_call(
        NUMBER_DOMAIN,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: entity_id, ATTR_VALUE: value},
        blocking=True,
    )


async def test_current_limit(hass: HomeAssistant, make_harness: HarnessFactory) -> None:
    h = await make_harness([Platform.NUMBER])
    await h.boot(connectors=1)
    await hass.async_block_till_done()
    entity_id = h.entity_id("number", f"{CHARGER}_1_current_limit")
    state = hass.states.get(entity_id)
    assert state is not None
    # Never limited: the configured maximum, not an empty slider that reads as 0 A.
    assert state.state == "32.0"
    assert (state.attributes[ATTR_MIN], state.attributes[ATTR_MAX]) == (0, 32)
    await _set(hass, entity_id, 10)
    assert h.state("number", f"{CHARGER}_1_current_limit") == "10.0"

    h.link.replies["SetChargingProfile"] = CallErrorReceived(CallErrorCode.GENERIC_ERROR, "no")
    with pytest.raises(HomeAssistantError) as err:
        await _set(hass, entity_id, 16)
    assert err.value.translation_key == "call_error"
    assert h.state("number", f"{CHARGER}_1_current_limit") == "10.0"
