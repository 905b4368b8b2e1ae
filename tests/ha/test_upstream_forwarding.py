"""Keep your backend in Home Assistant: a charger subentry forwarded to an upstream system.

The whole integration runs (server, runtime, store, entities); the charger is the project's
simulator and the upstream central system is `tests.protocol.upstream_backend.Backend`
(the `ocpp` package's ChargePoint on the server side), all over 127.0.0.1. OCPP 1.6
sections 5.11/5.12 (remote start and stop), 5.15 (SendLocalList), 4.8 (queued transaction
messages); OCPP-J 1.6 section 3 and the security whitepaper (HTTP Basic, profile 1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
import json
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from ocpp.exceptions import SecurityError
from ocpp.v16 import call
import pytest

from custom_components.ocpp_central.const import DOMAIN
from custom_components.ocpp_central.diagnostics import async_get_config_entry_diagnostics
from custom_components.ocpp_central.upstream_runtime import LINK_OPTIONS
from tests.protocol.upstream_backend import Backend, eventually

from .conftest import (
    CHARGER,
    Chargers,
    ConfigEntryFactory,
    charger_subentry,
    setup_entry,
    state_of,
    subentry_of,
    wait_for_state,
)

SENSOR = f"{CHARGER}_upstream_connected"
SWITCH = f"{CHARGER}_1_charging"


@pytest.fixture(autouse=True)
def fast_links() -> Iterator[None]:
    """Reconnect within a fraction of a second (the default backoff starts at 5 s)."""
    with patch.dict(LINK_OPTIONS, {"min_backoff": 0.05, "max_backoff": 0.2}):
        yield


@pytest.fixture
async def backend(socket_enabled: None) -> AsyncIterator[Backend]:
    upstream = Backend()
    await upstream.start()
    yield upstream
    await upstream.stop()


def forwarded(backend: Backend, **upstream: Any) -> Any:
    """The charger subentry with its upstream section filled in."""
    return charger_subentry(
        CHARGER, meter_interval=0, upstream={"url": backend.url, "mode": "full", **upstream}
    )


async def test_full_mode_session_remote_commands_and_the_sensor(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
    backend: Backend,
) -> None:
    """The upstream authorises, starts and stops; Home Assistant's state follows.

    In mode full the upstream keeps the charger's local list: Home Assistant sends none.
    """
    backend.tags["BLOCKED"] = "Blocked"
    entry = mock_config_entry(port=free_port, chargers=[forwarded(backend)], id_tags=["BLOCKED"])
    runtime = await setup_entry(hass, entry)
    sim = await chargers.connect(free_port, CHARGER)
    sensor = state_of(hass, "binary_sensor", SENSOR).entity_id
    await wait_for_state(hass, sensor, lambda s: s.state == "on")
    # Home Assistant accepts the tag; the upstream, in charge, blocks it.
    assert await sim.authorize("BLOCKED") == "Blocked"
    upstream = backend.charge_points[CHARGER]
    reply = await upstream.call(call.RemoteStartTransaction(id_tag="APP", connector_id=1))
    assert reply.status == "Accepted"
    switch = state_of(hass, "switch", SWITCH).entity_id
    await wait_for_state(hass, switch, lambda s: s.state == "on")
    link = runtime.upstreams.link(CHARGER)
    assert link is not None
    await eventually(lambda: link.transactions.local(5000) is not None)
    reply = await upstream.call(call.RemoteStopTransaction(transaction_id=5000))
    assert reply.status == "Accepted"
    await wait_for_state(hass, switch, lambda s: s.state == "off")
    await backend.wait(lambda: len(backend.calls("StopTransaction")) == 1)
    assert backend.calls("StopTransaction")[0]["transactionId"] == 5000
    await hass.async_block_till_done()
    assert runtime.upstreams.controls_local_list(CHARGER)
    assert "SendLocalList" not in [action for action, _ in sim.calls_received]
    assert sim.connected


async def test_observe_mode_refuses_commands_and_home_assistant_keeps_the_list(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
    backend: Backend,
) -> None:
    entry = mock_config_entry(
        port=free_port, chargers=[forwarded(backend, mode="observe")], id_tags=["TAG1"]
    )
    runtime = await setup_entry(hass, entry)
    sim = await chargers.connect(free_port, CHARGER)
    await sim.wait_for_call("SendLocalList")
    link = runtime.upstreams.link(CHARGER)
    assert link is not None
    await eventually(lambda: link.online)
    with pytest.raises(SecurityError):
        await backend.charge_points[CHARGER].call(
            call.RemoteStartTransaction(id_tag="APP", connector_id=1), suppress=False
        )
    assert "RemoteStartTransaction" not in [a for a, _ in sim.calls_received]


async def test_a_refused_password_is_a_repair_issue_until_fixed(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
    backend: Backend,
) -> None:
    """HTTP 401: an error issue names the charger and the reason; a fix clears it."""
    backend.password = "the-right-password"
    entry = mock_config_entry(port=free_port, chargers=[forwarded(backend, password="wrong")])
    runtime = await setup_entry(hass, entry)
    issue_id = f"upstream_refused_{CHARGER}"
    issues = ir.async_get(hass)
    await eventually(lambda: issues.async_get_issue(DOMAIN, issue_id) is not None)
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["reason"] == "HTTP 401"
    assert state_of(hass, "binary_sensor", SENSOR).state == "off"
    # The charger itself works meanwhile.
    sim = await chargers.connect(free_port, CHARGER)
    assert sim.connected
    subentry = subentry_of(entry, CHARGER)
    upstream = {**subentry.data["upstream"], "password": "the-right-password"}
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, "upstream": upstream}
    )
    await hass.async_block_till_done()
    link = runtime.upstreams.link(CHARGER)
    assert link is not None
    await eventually(lambda: link.online)
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert state_of(hass, "binary_sensor", SENSOR).state == "on"


async def test_a_long_outage_is_a_repair_issue_until_the_upstream_returns(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    backend: Backend,
) -> None:
    await backend.stop()
    with patch.dict(LINK_OPTIONS, {"unreachable_after": 0.0}):
        entry = mock_config_entry(port=free_port, chargers=[forwarded(backend)])
        runtime = await setup_entry(hass, entry)
    issue_id = f"upstream_unreachable_{CHARGER}"
    issues = ir.async_get(hass)
    await eventually(lambda: issues.async_get_issue(DOMAIN, issue_id) is not None)
    link = runtime.upstreams.link(CHARGER)
    assert link is not None
    # Without a boot of the charger yet, the link has nothing to send: it waits for one.
    runtime.central.sessions[CHARGER].handle_call(
        "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}
    )
    await backend.start()
    await eventually(lambda: link.online)
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is None


async def test_the_queue_survives_a_restart_of_home_assistant(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
    backend: Backend,
) -> None:
    """Messages for an absent upstream are in the store; the next run delivers them."""
    await backend.stop()
    entry = mock_config_entry(port=free_port, chargers=[forwarded(backend)], id_tags=["TAG1"])
    await setup_entry(hass, entry)
    sim = await chargers.connect(free_port, CHARGER)
    local_id = await sim.start_transaction(1, "TAG1")
    await sim.stop_transaction(1)
    await sim.close()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await backend.start()
    runtime = await setup_entry(hass, entry)
    link = runtime.upstreams.link(CHARGER)
    assert link is not None
    await backend.wait(lambda: len(backend.calls("StopTransaction")) == 1)
    assert backend.actions()[0] == "BootNotification"
    assert backend.calls("StopTransaction")[0]["transactionId"] == 5000
    assert link.transactions.upstream(local_id) == 5000
    await eventually(lambda: not len(link.queue))


async def test_clearing_the_url_stops_forwarding_and_removes_the_sensor(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
    backend: Backend,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=[forwarded(backend)])
    runtime = await setup_entry(hass, entry)
    await chargers.connect(free_port, CHARGER)
    sensor = state_of(hass, "binary_sensor", SENSOR).entity_id
    await wait_for_state(hass, sensor, lambda s: s.state == "on")
    subentry = subentry_of(entry, CHARGER)
    data = {key: value for key, value in subentry.data.items() if key != "upstream"}
    hass.config_entries.async_update_subentry(entry, subentry, data=data)
    await hass.async_block_till_done()
    assert runtime.upstreams.link(CHARGER) is None
    assert er.async_get(hass).async_get(sensor) is None
    assert hass.states.get(sensor) is None
    assert runtime.store.upstream(CHARGER) is None
    assert not runtime.upstreams.controls_local_list(CHARGER)


async def test_removing_a_forwarded_charger_stops_its_link(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    backend: Backend,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=[forwarded(backend)])
    runtime = await setup_entry(hass, entry)
    link = runtime.upstreams.link(CHARGER)
    assert link is not None
    hass.config_entries.async_remove_subentry(entry, subentry_of(entry, CHARGER).subentry_id)
    await hass.async_block_till_done()
    assert runtime.upstreams.link(CHARGER) is None
    assert link.session.forwarder is None


async def test_diagnostics_show_the_link_and_never_its_password(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    backend: Backend,
) -> None:
    await backend.stop()
    entry = mock_config_entry(
        port=free_port, chargers=[forwarded(backend, password="backend-secret-123")]
    )
    runtime = await setup_entry(hass, entry)
    runtime.central.sessions[CHARGER].handle_call(
        "StatusNotification", {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
    )
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert "backend-secret-123" not in json.dumps(diagnostics)
    upstream = diagnostics["chargers"][CHARGER]["upstream"]
    assert upstream["mode"] == "full"
    assert upstream["queued"] == {"StatusNotification": 1}


async def test_from_full_to_observe_home_assistant_sends_its_list_again(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
    backend: Backend,
) -> None:
    """OCPP 1.6 section 5.15: the charger held the upstream's list; ours replaces it."""
    entry = mock_config_entry(port=free_port, chargers=[forwarded(backend)], id_tags=["TAG1"])
    runtime = await setup_entry(hass, entry)
    sim = await chargers.connect(free_port, CHARGER)
    link = runtime.upstreams.link(CHARGER)
    assert link is not None
    await eventually(lambda: link.online)
    await hass.async_block_till_done()
    assert "SendLocalList" not in [action for action, _ in sim.calls_received]
    subentry = subentry_of(entry, CHARGER)
    upstream = {**subentry.data["upstream"], "mode": "observe"}
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, "upstream": upstream}
    )
    sent = await sim.wait_for_call("SendLocalList")
    assert [item["idTag"] for item in sent["localAuthorizationList"]] == ["TAG1"]
