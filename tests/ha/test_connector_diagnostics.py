"""Device diagnostics of a connector's device give its charger's (redacted), as actions do.

A charger with two connectors (OCPP 1.6 section 3.8) has one device per connector, linked to
the charger's device; downloading diagnostics from a connector's device page must not come
back empty.
"""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from custom_components.ocpp_central.const import DOMAIN
from custom_components.ocpp_central.diagnostics import async_get_device_diagnostics

from .conftest import CHARGER, HarnessFactory


async def test_connector_device_gives_its_chargers_diagnostics(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=2)
    await h.meter(2, {"Power.Active.Import": 1200})
    await hass.async_block_till_done()
    registry = dr.async_get(hass)
    charger = registry.async_get_device_by_identifier((DOMAIN, CHARGER), h.entry.entry_id)
    connector = registry.async_get_device_by_identifier(
        (DOMAIN, f"{CHARGER}_connector_2"), h.entry.entry_id
    )
    assert charger is not None
    assert connector is not None
    assert connector.via_device_id == charger.id

    of_charger = await async_get_device_diagnostics(hass, h.entry, charger)
    of_connector = await async_get_device_diagnostics(hass, h.entry, connector)
    assert of_connector == of_charger
    assert of_connector["connectors"]["2"]["readings"]["Power.Active.Import"]["value"] == 1200


async def test_a_device_of_no_charger_gives_nothing(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    h = await make_harness([Platform.SENSOR])
    await h.boot()
    other = dr.async_get(hass).async_get_or_create(
        config_entry_id=h.entry.entry_id, identifiers={("other", "x")}
    )
    assert await async_get_device_diagnostics(hass, h.entry, other) == {}
