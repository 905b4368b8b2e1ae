"""The running central system: chargers over real websockets, subentry changes, authorisation.

`OcppTestCharger` (the `ocpp` package's ChargePoint, an independent OCPP-J implementation)
and the `charger` fixture are shared with the other Home Assistant runtime tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY, ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
import pytest
import websockets

from custom_components.ocpp_central.const import (
    CONF_EXPIRY,
    CONF_HEARTBEAT_INTERVAL,
    CONF_PASSWORD,
    CONF_STATUS,
    CONF_UNKNOWN_CHARGERS,
    CONF_UNKNOWN_TAGS,
    DEFAULT_REMOTE_ID_TAG,
    DOMAIN,
    TAG_STATUS_BLOCKED,
    UNKNOWN_CHARGERS_OFFER,
    UNKNOWN_CHARGERS_REJECT,
    UNKNOWN_TAGS_ACCEPT,
    UNKNOWN_TAGS_REJECT,
)

from .conftest import (
    NOW,
    ChargerFactory,
    ConfigEntryFactory,
    charger_subentry,
    id_tag_subentry,
    setup_entry,
    subentry_of,
    wait_until,
)


async def test_subentry_add_change_remove_keeps_other_charger(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1", "CP2"])
    runtime = await setup_entry(hass, entry)
    cp1 = await charger(free_port, "CP1")
    cp2 = await charger(free_port, "CP2")
    await wait_until(lambda: runtime.central.sessions["CP2"].state.connected)
    seen: list[str] = []
    runtime.async_add_charger_listener(lambda sub, session: seen.append(session.charge_box_id))
    assert sorted(seen) == ["CP1", "CP2"]

    # Add: the listener hears of CP3; nothing reloads.
    hass.config_entries.async_add_subentry(entry, ConfigSubentry(**charger_subentry("CP3")))
    await hass.async_block_till_done()
    assert entry.runtime_data is runtime
    assert seen[-1] == "CP3"
    assert "CP3" in runtime.central.sessions

    # Change CP2's heartbeat interval: applied at once, CP1 untouched.
    sub = subentry_of(entry, "CP2")
    hass.config_entries.async_update_subentry(
        entry, sub, data={**sub.data, CONF_HEARTBEAT_INTERVAL: 120}
    )
    await hass.async_block_till_done()
    await wait_until(lambda: cp2.configuration["HeartbeatInterval"] == "120")
    assert runtime.central.sessions["CP2"].config.heartbeat_interval == 120

    # Remove CP2: its connection closes, its device goes; CP1 stays connected.
    device_registry = dr.async_get(hass)
    device_registry.async_get_or_create(
        config_entry_id=entry.entry_id,
        config_subentry_id=sub.subentry_id,
        identifiers={(DOMAIN, "CP2")},
    )
    hass.config_entries.async_remove_subentry(entry, sub.subentry_id)
    await hass.async_block_till_done()
    assert "CP2" not in runtime.central.sessions
    await wait_until(lambda: cp2._connection.state.name == "CLOSED")
    assert device_registry.async_get_device_by_identifier((DOMAIN, "CP2"), entry.entry_id) is None
    assert cp1._connection.state.name == "OPEN"
    assert runtime.central.sessions["CP1"].state.connected
    assert (await cp1.authorize(DEFAULT_REMOTE_ID_TAG))["status"] == "Accepted"
    assert entry.runtime_data is runtime


async def test_password_change_applies_on_next_connect(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(
        port=free_port,
        chargers=[charger_subentry("CP1", password="0123456789abcdef"), "CP2"],
    )
    await setup_entry(hass, entry)
    with pytest.raises(websockets.InvalidStatus):
        await charger(free_port, "CP1", password="wrong-password-123")
    await charger(free_port, "CP1", password="0123456789abcdef")
    cp2 = await charger(free_port, "CP2")

    sub = subentry_of(entry, "CP1")
    hass.config_entries.async_update_subentry(
        entry, sub, data={**sub.data, CONF_PASSWORD: "fedcba9876543210"}
    )
    await hass.async_block_till_done()
    with pytest.raises(websockets.InvalidStatus):
        await charger(free_port, "CP1", password="0123456789abcdef")
    await charger(free_port, "CP1", password="fedcba9876543210")
    assert cp2._connection.state.name == "OPEN"


async def test_authorisation_from_id_tags_and_policy(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    past = (NOW - timedelta(days=1)).isoformat()
    future = datetime(2099, 1, 1, tzinfo=UTC).isoformat()
    entry = mock_config_entry(
        port=free_port,
        chargers=["CP1"],
        id_tags=[
            "GOOD",
            id_tag_subentry("BAD", **{CONF_STATUS: TAG_STATUS_BLOCKED}),
            id_tag_subentry("OLD", **{CONF_EXPIRY: past}),
            id_tag_subentry("LATER", **{CONF_EXPIRY: future}),
        ],
        options={
            CONF_UNKNOWN_CHARGERS: UNKNOWN_CHARGERS_REJECT,
            CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_REJECT,
        },
    )
    await setup_entry(hass, entry)
    cp = await charger(free_port, "CP1")
    assert (await cp.authorize("good"))["status"] == "Accepted"  # case-insensitive
    assert (await cp.authorize("BAD"))["status"] == "Blocked"
    assert (await cp.authorize("OLD"))["status"] == "Expired"
    later = await cp.authorize("LATER")
    assert later["status"] == "Accepted"
    assert later["expiry_date"].startswith("2099-01-01")
    assert (await cp.authorize("NOBODY"))["status"] == "Invalid"
    assert (await cp.authorize(DEFAULT_REMOTE_ID_TAG))["status"] == "Accepted"

    # The option applies at once, without a reload.
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_ACCEPT}
    )
    await hass.async_block_till_done()
    assert (await cp.authorize("NOBODY"))["status"] == "Accepted"


async def test_local_list_full_then_differential(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1"], id_tags=["TAG1"])
    runtime = await setup_entry(hass, entry)
    cp = await charger(free_port, "CP1")
    first = await cp.wait_for("SendLocalList")
    assert first["update_type"] == "Full"
    assert first["list_version"] == 1
    assert first["local_authorization_list"] == [
        {"id_tag": "TAG1", "id_tag_info": {"status": "Accepted"}}
    ]
    await wait_until(lambda: (runtime.store.local_list("CP1") or None) is not None)

    cp.received.clear()
    hass.config_entries.async_add_subentry(entry, ConfigSubentry(**id_tag_subentry("TAG2")))
    await hass.async_block_till_done()
    second = await cp.wait_for("SendLocalList")
    assert second["update_type"] == "Differential"
    assert second["list_version"] == 2
    assert second["local_authorization_list"] == [
        {"id_tag": "TAG2", "id_tag_info": {"status": "Accepted"}}
    ]

    cp.received.clear()
    tag1 = next(s for s in entry.subentries.values() if s.title == "TAG1")
    hass.config_entries.async_remove_subentry(entry, tag1.subentry_id)
    await hass.async_block_till_done()
    third = await cp.wait_for("SendLocalList")
    assert third["update_type"] == "Differential"
    assert third["local_authorization_list"] == [{"id_tag": "TAG1"}]
    await wait_until(lambda: getattr(runtime.store.local_list("CP1"), "version", 0) == 3)


async def test_unknown_charger_offered_once(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, free_port: int
) -> None:
    entry = mock_config_entry(
        port=free_port,
        options={
            CONF_UNKNOWN_CHARGERS: UNKNOWN_CHARGERS_OFFER,
            CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_REJECT,
        },
    )
    await setup_entry(hass, entry)
    for _ in range(2):
        with pytest.raises(websockets.InvalidStatus) as err:
            async with websockets.connect(
                f"ws://127.0.0.1:{free_port}/NEWCP",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            ):
                pass
        assert err.value.response.status_code == 404
    await hass.async_block_till_done()
    flows = [
        f
        for f in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if f["context"]["source"] == SOURCE_INTEGRATION_DISCOVERY
    ]
    assert len(flows) == 1


async def test_unknown_charger_rejected_without_flow(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = mock_config_entry(
        port=free_port,
        options={
            CONF_UNKNOWN_CHARGERS: UNKNOWN_CHARGERS_REJECT,
            CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_REJECT,
        },
    )
    await setup_entry(hass, entry)
    for _ in range(2):
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(
                f"ws://127.0.0.1:{free_port}/NEWCP",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            ):
                pass
    await hass.async_block_till_done()
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []
    assert caplog.text.count("Refused unknown charger NEWCP (unknown") == 1


async def test_refused_interval_raises_and_clears_repair(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1"])
    runtime = await setup_entry(hass, entry)
    cp = await charger(free_port, "CP1")
    await wait_until(lambda: runtime.central.sessions["CP1"].state.connected)
    cp.statuses["ChangeConfiguration"] = "Rejected"
    sub = subentry_of(entry, "CP1")
    hass.config_entries.async_update_subentry(
        entry, sub, data={**sub.data, CONF_HEARTBEAT_INTERVAL: 77}
    )
    issues = ir.async_get(hass)
    issue_id = "charger_rejected_configuration_CP1"
    await wait_until(lambda: issues.async_get_issue(DOMAIN, issue_id) is not None)

    cp.statuses["ChangeConfiguration"] = "Accepted"
    hass.config_entries.async_update_subentry(
        entry, sub, data={**sub.data, CONF_HEARTBEAT_INTERVAL: 78}
    )
    await wait_until(lambda: issues.async_get_issue(DOMAIN, issue_id) is None)
    # The boot's own setup may still send an older interval, accepted now, which clears the
    # issue first: the newest value follows it.
    await wait_until(lambda: cp.configuration["HeartbeatInterval"] == "78")


async def test_connect_and_disconnect_logged_once_each(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An outage is logged once when it starts and once when it ends (log-when-unavailable)."""
    entry = mock_config_entry(port=free_port, chargers=["CP1"])
    await setup_entry(hass, entry)
    state = entry.runtime_data.central.sessions["CP1"].state
    cp1 = await charger(free_port, "CP1")
    await cp1._connection.close()
    await wait_until(lambda: not state.connected)
    await hass.async_block_till_done()
    messages = [r.getMessage() for r in caplog.records if r.name.endswith("ocpp_central.runtime")]
    assert messages.count("Charger CP1 connected") == 1
    assert messages.count("Charger CP1 disconnected") == 1
