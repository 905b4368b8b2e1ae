"""A charger configured without a password gets a dismissible repair issue.

OCPP 1.6 security whitepaper section 2: security profile 1 authenticates the charger with
HTTP Basic auth. The issue explains it; it clears once the charger has a password and
stays ignored when the user dismissed it through the repairs panel.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.ocpp_central.const import CONF_HEARTBEAT_INTERVAL, CONF_PASSWORD, DOMAIN

from .conftest import ConfigEntryFactory, charger_subentry, setup_entry, subentry_of

PASSWORD = "0123456789abcdef"
ISSUE = "charger_without_password_CP1"


async def test_issue_raised_dismissed_and_cleared(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
) -> None:
    assert await async_setup_component(hass, "repairs", {})
    entry = mock_config_entry(
        port=free_port, chargers=["CP1", charger_subentry("CP2", password=PASSWORD)]
    )
    await setup_entry(hass, entry)
    issues = ir.async_get(hass)
    issue = issues.async_get_issue(DOMAIN, ISSUE)
    assert issue is not None
    assert issue.translation_key == "charger_without_password"
    assert issue.translation_placeholders == {"charge_box_id": "CP1"}
    assert issue.severity is ir.IssueSeverity.WARNING
    assert not issue.is_fixable
    assert not issue.is_persistent
    assert issues.async_get_issue(DOMAIN, "charger_without_password_CP2") is None

    # Dismissed through the repairs panel, it stays dismissed when the charger changes.
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {"type": "repairs/ignore_issue", "domain": DOMAIN, "issue_id": ISSUE, "ignore": True}
    )
    assert (await client.receive_json())["success"]
    sub = subentry_of(entry, "CP1")
    hass.config_entries.async_update_subentry(
        entry, sub, data={**sub.data, CONF_HEARTBEAT_INTERVAL: 120}
    )
    await hass.async_block_till_done()
    issue = issues.async_get_issue(DOMAIN, ISSUE)
    assert issue is not None
    assert issue.dismissed_version is not None

    # A password clears it; removing the password raises it again.
    hass.config_entries.async_update_subentry(
        entry, sub, data={**sub.data, CONF_PASSWORD: PASSWORD}
    )
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, ISSUE) is None
    data = {k: v for k, v in subentry_of(entry, "CP1").data.items() if k != CONF_PASSWORD}
    hass.config_entries.async_update_subentry(entry, subentry_of(entry, "CP1"), data=data)
    await hass.async_block_till_done()
    issue = issues.async_get_issue(DOMAIN, ISSUE)
    assert issue is not None
    assert issue.dismissed_version is None  # a new issue: shown again


async def test_issue_goes_with_the_charger(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, free_port: int
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1"])
    await setup_entry(hass, entry)
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, ISSUE) is not None
    hass.config_entries.async_remove_subentry(entry, subentry_of(entry, "CP1").subentry_id)
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, ISSUE) is None
