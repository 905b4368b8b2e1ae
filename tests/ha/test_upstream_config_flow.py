"""The charger forms' `upstream` section (Keep your backend): what is stored, what is refused.

OCPP-J 1.6 section 3.1.1 (ws:// or wss:// URL, the identity as last path segment) and
RFC 7617 (an HTTP Basic user name cannot hold a colon).
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.ocpp_central.const import CONF_MAX_CURRENT, SUBENTRY_CHARGER

from .conftest import ConfigEntryFactory, charger_subentry
from .test_config_flow import (
    only_subentry,
    reconfigure_charger,
    start_subentry_flow,
    submit_subentry,
)

URL = "wss://backend.example/ocpp"
STORED = {"url": URL, "mode": "full", "password": "backend-secret"}


def upstream_suggestions(result: Any) -> dict[str, Any]:
    """The suggested values of the upstream section of a charger form."""
    (section,) = (
        value for key, value in result["data_schema"].schema.items() if key.schema == "upstream"
    )
    return {
        key.schema: key.description["suggested_value"]
        for key in section.schema.schema
        if key.description is not None
    }


async def test_add_charger_with_an_upstream(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    result = await submit_subentry(
        hass,
        result,
        {
            "charge_box_id": "CP1",
            CONF_MAX_CURRENT: 16,
            "upstream": {
                "url": f" {URL} ",
                "charge_box_id": "BACKEND-7",
                "password": "backend-secret",
                "mode": "observe",
            },
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert only_subentry(entry, SUBENTRY_CHARGER).data["upstream"] == {
        "url": URL,
        "charge_box_id": "BACKEND-7",
        "password": "backend-secret",
        "mode": "observe",
    }


async def test_an_empty_url_forwards_nothing(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    result = await submit_subentry(
        hass,
        result,
        {"charge_box_id": "CP1", CONF_MAX_CURRENT: 16, "upstream": {"url": " ", "mode": "full"}},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert "upstream" not in only_subentry(entry, SUBENTRY_CHARGER).data


async def test_reconfigure_shows_the_upstream_without_its_password_and_keeps_it(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(chargers=[charger_subentry("CP1", upstream=STORED)])
    subentry = only_subentry(entry, SUBENTRY_CHARGER)
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER, subentry.subentry_id)
    assert upstream_suggestions(result) == {"url": URL, "mode": "full"}
    result = await submit_subentry(
        hass, result, {CONF_MAX_CURRENT: 16, "upstream": {"url": URL, "mode": "observe"}}
    )
    assert result["reason"] == "reconfigure_successful"
    assert only_subentry(entry, SUBENTRY_CHARGER).data["upstream"] == {
        **STORED,
        "mode": "observe",
    }


async def test_reconfigure_without_the_section_keeps_the_upstream(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    """An API caller that does not send the section changes nothing of it."""
    entry = mock_config_entry(chargers=[charger_subentry("CP1", upstream=STORED)])
    result = await reconfigure_charger(hass, entry, {CONF_MAX_CURRENT: 20})
    assert result["reason"] == "reconfigure_successful"
    assert only_subentry(entry, SUBENTRY_CHARGER).data["upstream"] == STORED


async def test_reconfigure_clearing_the_url_turns_forwarding_off(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(chargers=[charger_subentry("CP1", upstream=STORED)])
    result = await reconfigure_charger(
        hass, entry, {CONF_MAX_CURRENT: 16, "upstream": {"url": "", "mode": "full"}}
    )
    assert result["reason"] == "reconfigure_successful"
    assert "upstream" not in only_subentry(entry, SUBENTRY_CHARGER).data


@pytest.mark.parametrize(
    ("charge_box_id", "upstream", "error"),
    [
        ("CP1", {"url": "https://backend.example/ocpp"}, "invalid_upstream_url"),
        ("CP1", {"url": "ws:///ocpp"}, "invalid_upstream_url"),
        ("CP1", {"url": "wss://user:secret@backend.example/ocpp"}, "invalid_upstream_url"),
        ("CP1", {"url": URL, "charge_box_id": "x" * 49}, "invalid_upstream_charge_box_id"),
        ("CP1", {"url": URL, "charge_box_id": "A:B", "password": "p"}, "password_with_colon_id"),
        ("C:1", {"url": URL, "password": "p"}, "password_with_colon_id"),
    ],
)
async def test_invalid_upstream_settings_are_refused(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    charge_box_id: str,
    upstream: dict[str, Any],
    error: str,
) -> None:
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    result = await submit_subentry(
        hass,
        result,
        {
            "charge_box_id": charge_box_id,
            CONF_MAX_CURRENT: 16,
            "upstream": {"mode": "full", **upstream},
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"upstream": error}
    # The form comes back with what was entered, never the password.
    suggested = upstream_suggestions(result)
    assert "password" not in suggested
    assert suggested["url"] == upstream["url"]
