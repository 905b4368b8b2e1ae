"""Buttons: soft reset and unlock, and their refusals."""

from __future__ import annotations

from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest

from .conftest import CHARGER, HarnessFactory


async def _press(hass: HomeAssistant, entity_id: str) -> None:
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


async def test_reset_and_unlock(hass: HomeAssistant, make_harness: HarnessFactory) -> None:
    h = await make_harness([Platform.BUTTON])
    await h.boot(connectors=2)
    await hass.async_block_till_done()
    await _press(hass, h.entity_id("button", f"{CHARGER}_reset"))
    assert h.link.calls[-1] == ("Reset", {"type": "Soft"})
    h.link.replies["UnlockConnector"] = {"status": "Unlocked"}
    await _press(hass, h.entity_id("button", f"{CHARGER}_2_unlock"))
    assert h.link.calls[-1] == ("UnlockConnector", {"connectorId": 2})


@pytest.mark.parametrize("status", ["UnlockFailed", "NotSupported"])
async def test_unlock_refused(
    hass: HomeAssistant, make_harness: HarnessFactory, status: str
) -> None:
    h = await make_harness([Platform.BUTTON])
    await h.boot(connectors=1)
    await hass.async_block_till_done()
    h.link.replies["UnlockConnector"] = {"status": status}
    with pytest.raises(HomeAssistantError) as err:
        await _press(hass, h.entity_id("button", f"{CHARGER}_1_unlock"))
    assert err.value.translation_key == "refused"
    assert err.value.translation_placeholders == {"action": "UnlockConnector", "status": status}
