"""End to end: the simulated charger against the whole integration over 127.0.0.1 websockets.

Every test loads a real config entry (server, sessions, store, platforms) and drives
`simulator.SimulatedCharger` (an OCPP-J implementation independent of ours) on a
`ManualClock` with no background intervals, so each step is explicit and the test
waits for events, never for time. States are read from `hass.states`, as a homeowner's
dashboard sees them.

The helpers at the top (`Chargers`, `entity_id`, `wait_for_state`, ...) are shared with
`test_robustness.py`.
"""

from __future__ import annotations

from types import MappingProxyType
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY, ConfigSubentry
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
import websockets

from custom_components.ocpp_central.const import (
    CONF_METER_INTERVAL,
    CONF_UNKNOWN_CHARGERS,
    CONF_UNKNOWN_TAGS,
    DEFAULT_REMOTE_ID_TAG,
    DOMAIN,
    UNKNOWN_CHARGERS_OFFER,
    UNKNOWN_CHARGERS_REJECT,
    UNKNOWN_TAGS_REJECT,
)
from custom_components.ocpp_central.protocol.state import CONNECTED
from simulator import NotConnectedError

from .conftest import (
    Chargers,
    ConfigEntryFactory,
    charger_subentry,
    cut_network,
    device_of,
    energy_wh,
    entity_id,
    number,
    recorded_states,
    setup_entry,
    state_of,
    subentry_of,
    wait_for_state,
)


@pytest.mark.usefixtures("enable_all_entities")
async def test_full_session(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    """Boot, tag, start, meter values, a current limit, stop: every state on the way."""
    entry = mock_config_entry(
        port=free_port, chargers=[charger_subentry("CP1", meter_interval=0)], id_tags=["TAG1"]
    )
    await setup_entry(hass, entry)
    cp = await chargers.connect(
        free_port, "CP1", vendor="Acme", model="Wallbox 22", firmware_version="4.2.1"
    )
    with recorded_states(hass, entity_id(hass, "sensor", "CP1_1_energy")) as energy_states:
        # Section 4.2: the BootNotification names the device.
        device = device_of(hass, entry.entry_id, "CP1")
        assert (device.manufacturer, device.model, device.sw_version) == (
            "Acme",
            "Wallbox 22",
            "4.2.1",
        )
        assert state_of(hass, "binary_sensor", "CP1_connected").state == STATE_ON
        assert state_of(hass, "sensor", "CP1_1_connector_status").state == "available"
        assert state_of(hass, "switch", "CP1_1_charging").state == STATE_OFF

        # Section 4.1: a tag presented at the charger becomes an event.
        assert await cp.authorize("TAG1") == "Accepted"
        tag_event = state_of(hass, "event", "CP1_id_tag")
        assert tag_event.attributes["event_type"] == "accepted"
        assert tag_event.attributes["id_tag"] == "TAG1"

        # Section 4.8: StartTransaction.
        tx_id = await cp.start_transaction(1, "TAG1", authorize=False)
        assert state_of(hass, "switch", "CP1_1_charging").state == STATE_ON
        assert state_of(hass, "sensor", "CP1_1_transaction_id").state == str(tx_id)
        assert state_of(hass, "sensor", "CP1_1_id_tag").state == "TAG1"
        assert state_of(hass, "sensor", "CP1_1_connector_status").state == "charging"
        started = state_of(hass, "event", "CP1_1_session")
        assert started.attributes["event_type"] == "started"
        assert started.attributes["transaction_id"] == tx_id

        # Section 4.7: ten minutes of charging at 32 A on three phases.
        chargers.clock.advance(600)
        await cp.send_meter_values(1)
        connector = cp.connector(1)
        power = state_of(hass, "sensor", "CP1_1_power")
        assert number(power) == pytest.approx(connector.power_w / 1000, abs=0.01)
        assert power.attributes["unit_of_measurement"] == "kW"
        assert number(state_of(hass, "sensor", "CP1_1_current")) == pytest.approx(32.0)
        assert number(state_of(hass, "sensor", "CP1_1_voltage")) == pytest.approx(230.0)
        assert number(state_of(hass, "sensor", "CP1_1_soc")) == pytest.approx(
            connector.soc,
            abs=0.5,  # shown in whole percent
        )
        assert energy_wh(state_of(hass, "sensor", "CP1_1_energy")) == pytest.approx(
            connector.energy_wh, abs=0.05
        )
        session_energy = energy_wh(state_of(hass, "sensor", "CP1_1_session_energy"))
        assert session_energy == pytest.approx(connector.energy_wh - 0, abs=1)
        assert session_energy > 0

        # Section 3.13: the current limit reaches the charger and shows what it accepted.
        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": entity_id(hass, "number", "CP1_1_current_limit"), "value": 16},
            blocking=True,
        )
        assert number(state_of(hass, "number", "CP1_1_current_limit")) == 16
        await cp.wait_until(lambda: connector.offered_current == 16)
        chargers.clock.advance(600)
        await cp.send_meter_values(1)
        assert number(state_of(hass, "sensor", "CP1_1_current_offered")) == 16
        assert number(state_of(hass, "sensor", "CP1_1_current")) == pytest.approx(16.0)

        # Section 4.10: StopTransaction an hour after the start.
        chargers.clock.advance(2400)
        await cp.stop_transaction(1, "EVDisconnected")
        assert state_of(hass, "switch", "CP1_1_charging").state == STATE_OFF
        stopped = state_of(hass, "event", "CP1_1_session")
        assert stopped.attributes["event_type"] == "stopped"
        assert stopped.attributes["transaction_id"] == tx_id
        assert stopped.attributes["duration_s"] == 3600
        final_wh = int(connector.energy_wh)
        assert stopped.attributes["energy_wh"] == final_wh
        assert energy_wh(state_of(hass, "sensor", "CP1_1_session_energy")) == final_wh
        assert state_of(hass, "sensor", "CP1_1_connector_status").state == "available"

    readings = [energy_wh(s) for s in energy_states if s.state != STATE_UNAVAILABLE]
    assert readings == sorted(readings)
    assert readings[-1] == pytest.approx(final_wh, abs=1)


async def test_remote_start_and_stop(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    """The charging switch and the remote_start action drive the charger; refusals translate."""
    entry = mock_config_entry(port=free_port, chargers=[charger_subentry("CP1", meter_interval=0)])
    await setup_entry(hass, entry)
    cp = await chargers.connect(free_port, "CP1")
    switch = entity_id(hass, "switch", "CP1_1_charging")

    # Sections 5.11 and 5.12: the switch state follows the transaction, not the press.
    await hass.services.async_call("switch", "turn_on", {"entity_id": switch}, blocking=True)
    await wait_for_state(hass, switch, lambda s: s.state == STATE_ON)
    # Our StartTransaction.conf went out before the charger took it in.
    await cp.wait_until(lambda: cp.connector(1).transaction is not None)
    transaction = cp.connector(1).transaction
    assert transaction is not None
    assert transaction.id_tag == DEFAULT_REMOTE_ID_TAG
    assert state_of(hass, "sensor", "CP1_1_id_tag").state == DEFAULT_REMOTE_ID_TAG

    # A busy connector refuses another remote start: a translated error, nothing changes.
    with pytest.raises(HomeAssistantError) as refused:
        await hass.services.async_call(
            DOMAIN,
            "remote_start",
            {"device_id": device_of(hass, entry.entry_id, "CP1").id, "connector_id": 1},
            blocking=True,
            return_response=True,
        )
    assert refused.value.translation_key == "refused"
    assert refused.value.translation_placeholders == {
        "action": "RemoteStartTransaction",
        "status": "Rejected",
    }
    assert str(refused.value).startswith("The charger refused RemoteStartTransaction: Rejected")

    await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)
    await wait_for_state(hass, switch, lambda s: s.state == STATE_OFF)
    stopped = state_of(hass, "event", "CP1_1_session")
    assert stopped.attributes["event_type"] == "stopped"
    assert stopped.attributes["reason"] == "Remote"

    # The action with a tag of the user's choice, answered with the charger's status.
    response = await hass.services.async_call(
        DOMAIN,
        "remote_start",
        {"device_id": device_of(hass, entry.entry_id, "CP1").id, "id_tag": DEFAULT_REMOTE_ID_TAG},
        blocking=True,
        return_response=True,
    )
    assert response == {"status": "Accepted"}
    await wait_for_state(hass, switch, lambda s: s.state == STATE_ON)
    await cp.wait_until(lambda: cp.connector(1).transaction is not None)

    # Turning the switch off with nothing to stop is not an error; a refused stop is.
    await cp.stop_transaction(1)
    assert hass.states.get(switch).state == STATE_OFF  # type: ignore[union-attr]
    await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)


@pytest.mark.usefixtures("enable_all_entities")
async def test_two_chargers_and_two_connectors(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    """Two chargers charge at once; a two-connector charger names each connector."""
    entry = mock_config_entry(
        port=free_port,
        chargers=[
            charger_subentry("CP1", meter_interval=0),
            charger_subentry("CP2", meter_interval=0),
        ],
        id_tags=["TAG1", "TAG2", "TAG3"],
    )
    await setup_entry(hass, entry)
    cp1 = await chargers.connect(free_port, "CP1")
    cp2 = await chargers.connect(free_port, "CP2", connectors=2, max_current=16.0)

    # Connector 1 is known before connector 2: its entities, first on the charger's
    # device, move to connector 1's device (also the disabled per-phase ones).
    await hass.async_block_till_done()
    assert state_of(hass, "sensor", "CP1_1_power").attributes["friendly_name"] == "CP1 Power"
    for connector_id in (1, 2):
        power = state_of(hass, "sensor", f"CP2_{connector_id}_power")
        assert power.attributes["friendly_name"] == f"CP2 Connector {connector_id} Power"
    registry = er.async_get(hass)
    entries = er.async_entries_for_config_entry(registry, entry.entry_id)
    assert len({e.unique_id for e in entries}) == len(entries)
    for registered in entries:
        if registered.unique_id.startswith(("CP2_1_", "CP2_2_")):
            _, connector, key = registered.unique_id.split("_", 2)
            device = dr.async_get(hass).async_get(str(registered.device_id))
            assert device is not None
            assert device.identifiers == {(DOMAIN, f"CP2_connector_{connector}")}
            # The connector's charging mode is named as the charger's (one translation key).
            translation_key = {"connector_charging_mode": "charging_mode"}.get(key, key)
            assert registered.translation_key == translation_key, registered.unique_id
            if not registered.disabled:
                assert hass.states.get(registered.entity_id) is not None, registered.entity_id

    tx1 = await cp1.start_transaction(1, "TAG1", authorize=False)
    tx2a = await cp2.start_transaction(1, "TAG2", authorize=False)
    tx2b = await cp2.start_transaction(2, "TAG3", authorize=False)
    assert len({tx1, tx2a, tx2b}) == 3
    chargers.clock.advance(900)
    for cp, connector_id in ((cp1, 1), (cp2, 1), (cp2, 2)):
        await cp.send_meter_values(connector_id)
    for cbid, connector_id, tx_id, amps in (
        ("CP1", 1, tx1, 32.0),
        ("CP2", 1, tx2a, 16.0),
        ("CP2", 2, tx2b, 16.0),
    ):
        prefix = f"{cbid}_{connector_id}"
        assert state_of(hass, "sensor", f"{prefix}_transaction_id").state == str(tx_id)
        assert number(state_of(hass, "sensor", f"{prefix}_current")) == pytest.approx(amps)
        assert state_of(hass, "switch", f"{prefix}_charging").state == STATE_ON

    # Stopping one connector leaves the other connector and the other charger charging.
    await cp2.stop_transaction(1)
    assert state_of(hass, "switch", "CP2_1_charging").state == STATE_OFF
    assert state_of(hass, "switch", "CP2_2_charging").state == STATE_ON
    assert state_of(hass, "switch", "CP1_1_charging").state == STATE_ON
    assert state_of(hass, "event", "CP2_2_session").attributes["event_type"] == "started"


def _entity_ids(hass: HomeAssistant, entry_id: str) -> list[str]:
    return sorted(
        e.entity_id for e in er.async_entries_for_config_entry(er.async_get(hass), entry_id)
    )


async def test_reconnect_without_boot_resyncs(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    """OCPP-J section 5.4: a charger back without a BootNotification is resynchronised."""
    entry = mock_config_entry(port=free_port, chargers=[charger_subentry("CP1", meter_interval=0)])
    runtime = await setup_entry(hass, entry)
    session = runtime.central.sessions["CP1"]
    cp = await chargers.connect(free_port, "CP1")
    session.resync_delay = 0  # on reconnect, ask at once instead of waiting for a boot
    await hass.async_block_till_done()
    entities = _entity_ids(hass, entry.entry_id)
    boots = cp.boot_count

    await cp.close()
    connected = entity_id(hass, "binary_sensor", "CP1_connected")
    await wait_for_state(hass, connected, lambda s: s.state == STATE_OFF)
    status = entity_id(hass, "sensor", "CP1_1_connector_status")
    assert hass.states.get(status).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    # A car is plugged in while the charger is offline: its StatusNotification is lost.
    with pytest.raises(NotConnectedError):
        await cp.plug_in(1)

    calls_before = len(cp.calls_received)
    await cp.connect()
    assert cp.boot_count == boots  # no new BootNotification
    await cp.wait_for_call("TriggerMessage", count=2)
    await wait_for_state(hass, status, lambda s: s.state == "preparing")
    assert hass.states.get(connected).state == STATE_ON  # type: ignore[union-attr]
    requested = [
        p["requestedMessage"] for a, p in cp.calls_received[calls_before:] if a == "TriggerMessage"
    ]
    assert requested[:2] == ["StatusNotification", "MeterValues"]
    await hass.async_block_till_done()
    assert _entity_ids(hass, entry.entry_id) == entities


async def test_charger_vanishes_mid_transaction(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    """A dropped TCP link keeps the transaction; the charger's later messages settle it once."""
    entry = mock_config_entry(
        port=free_port, chargers=[charger_subentry("CP1", meter_interval=0)], id_tags=["TAG1"]
    )
    runtime = await setup_entry(hass, entry)
    session = runtime.central.sessions["CP1"]
    cp = await chargers.connect(free_port, "CP1", energy_wh=50_000.0)
    session.resync_delay = 0
    tx_id = await cp.start_transaction(1, "TAG1", authorize=False)
    meter_start = cp.connector(1).transaction.meter_start  # type: ignore[union-attr]
    chargers.clock.advance(600)
    await cp.send_meter_values(1)
    energy = entity_id(hass, "sensor", "CP1_1_energy")

    with recorded_states(hass, energy) as energy_states:
        cut_network(cp)
        connected = entity_id(hass, "binary_sensor", "CP1_connected")
        await wait_for_state(hass, connected, lambda s: s.state == STATE_OFF)
        await cp.wait_until(lambda: not cp.connected)
        # What is only true while connected is unavailable; what stays true is kept.
        for platform, unique_id in (
            ("sensor", "CP1_1_power"),
            ("sensor", "CP1_1_connector_status"),
            ("switch", "CP1_1_charging"),
        ):
            assert state_of(hass, platform, unique_id).state == STATE_UNAVAILABLE, unique_id
        for unique_id in ("CP1_1_energy", "CP1_1_session_energy", "CP1_1_session_duration"):
            assert state_of(hass, "sensor", unique_id).state != STATE_UNAVAILABLE, unique_id
        assert tx_id in session.transactions  # section 4.10: only the charger ends it
        assert [t.transaction_id for t in runtime.store.open_transactions("CP1")] == [tx_id]

        # Offline, the car charges on; back online the charger sends what it queued.
        chargers.clock.advance(1200)
        await cp.connect()
        await cp.send_meter_values(1)
        await cp.wait_for_call("TriggerMessage", count=2)
        chargers.clock.advance(1800)
        await cp.stop_transaction(1)

    meter_stop = int(cp.connector(1).energy_wh)
    stopped = state_of(hass, "event", "CP1_1_session")
    assert stopped.attributes["transaction_id"] == tx_id
    assert stopped.attributes["energy_wh"] == meter_stop - meter_start
    assert stopped.attributes["duration_s"] == 3600
    assert energy_wh(state_of(hass, "sensor", "CP1_1_session_energy")) == meter_stop - meter_start
    assert tx_id not in session.transactions
    assert runtime.store.open_transactions("CP1") == []
    readings = [energy_wh(s) for s in energy_states if s.state != STATE_UNAVAILABLE]
    assert readings == sorted(readings)
    assert readings[-1] == pytest.approx(meter_stop, abs=1)


@pytest.mark.usefixtures("enable_all_entities")
async def test_home_assistant_restart_mid_transaction(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    """Stopping Home Assistant mid-session loses neither the transaction nor its energy."""
    entry = mock_config_entry(
        port=free_port, chargers=[charger_subentry("CP1", meter_interval=0)], id_tags=["TAG1"]
    )
    await setup_entry(hass, entry)
    cp = await chargers.connect(free_port, "CP1", energy_wh=1_000.0)
    tx_id = await cp.start_transaction(1, "TAG1", authorize=False)
    chargers.clock.advance(900)
    await cp.send_meter_values(1)
    before_restart = energy_wh(state_of(hass, "sensor", "CP1_1_energy"))
    session_before = energy_wh(state_of(hass, "sensor", "CP1_1_session_energy"))
    assert session_before > 0

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await cp.wait_until(lambda: not cp.connected)
    runtime = await setup_entry(hass, entry)
    session = runtime.central.sessions["CP1"]
    assert list(session.transactions) == [tx_id]
    # The register is back before the charger is, and never below what was shown.
    assert energy_wh(state_of(hass, "sensor", "CP1_1_energy")) == before_restart
    assert energy_wh(state_of(hass, "sensor", "CP1_1_session_energy")) == session_before

    session.resync_delay = 0
    await cp.connect()
    assert state_of(hass, "sensor", "CP1_1_transaction_id").state == str(tx_id)
    assert state_of(hass, "switch", "CP1_1_charging").state == STATE_ON
    chargers.clock.advance(900)
    await cp.stop_transaction(1)
    meter_stop = int(cp.connector(1).energy_wh)
    stopped = state_of(hass, "event", "CP1_1_session")
    assert stopped.attributes["transaction_id"] == tx_id
    assert stopped.attributes["energy_wh"] == meter_stop - 1_000
    assert energy_wh(state_of(hass, "sensor", "CP1_1_energy")) == pytest.approx(meter_stop, abs=1)
    assert state_of(hass, "switch", "CP1_1_charging").state == STATE_OFF

    # A new transaction never reuses the id.
    assert await cp.start_transaction(1, "TAG1", authorize=False) > tx_id


async def test_wrong_password_and_unknown_chargers(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    """Security profile 1 refuses a wrong password; unknown chargers are offered or refused."""
    entry = mock_config_entry(
        port=free_port,
        chargers=[charger_subentry("CP1", password="correct-horse-battery")],
        options={
            CONF_UNKNOWN_CHARGERS: UNKNOWN_CHARGERS_OFFER,
            CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_REJECT,
        },
    )
    runtime = await setup_entry(hass, entry)
    with pytest.raises(websockets.InvalidStatus) as wrong:
        await chargers.connect(free_port, "CP1", password="wrong-password-000")
    assert wrong.value.response.status_code == 401
    assert not runtime.central.sessions["CP1"].state.connected
    assert device_of(hass, entry.entry_id, "CP1").manufacturer is None  # it never booted
    assert state_of(hass, "binary_sensor", "CP1_connected").state == STATE_OFF

    # OCPP-J section 3.2: an unknown identity gets 404; the user is offered to add it.
    with pytest.raises(websockets.InvalidStatus) as unknown:
        await chargers.connect(free_port, "NEWCP")
    assert unknown.value.response.status_code == 404
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == [SOURCE_INTEGRATION_DISCOVERY]
    assert (
        dr.async_get(hass).async_get_device_by_identifier((DOMAIN, "NEWCP"), entry.entry_id) is None
    )
    hass.config_entries.flow.async_abort(flows[0]["flow_id"])

    # Policy reject: the same 404, no flow.
    hass.config_entries.async_update_entry(
        entry,
        options={
            CONF_UNKNOWN_CHARGERS: UNKNOWN_CHARGERS_REJECT,
            CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_REJECT,
        },
    )
    await hass.async_block_till_done()
    with pytest.raises(websockets.InvalidStatus) as rejected:
        await chargers.connect(free_port, "OTHERCP")
    assert rejected.value.response.status_code == 404
    await hass.async_block_till_done()
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []
    assert entry.runtime_data is runtime  # options applied without a reload


async def test_subentry_changes_leave_charging_charger_alone(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    """Adding a charger and changing another never reloads the entry nor drops a session."""
    entry = mock_config_entry(
        port=free_port,
        chargers=[
            charger_subentry("CP1", meter_interval=0),
            charger_subentry("CP3", meter_interval=0),
        ],
        id_tags=["TAG3"],
    )
    runtime = await setup_entry(hass, entry)
    central = runtime.central
    cp1 = await chargers.connect(free_port, "CP1")
    cp3 = await chargers.connect(free_port, "CP3")
    tx_id = await cp3.start_transaction(1, "TAG3", authorize=False)
    await hass.async_block_till_done()
    state3 = central.sessions["CP3"].state
    connection_changes: list[bool] = []
    state3.subscribe([CONNECTED], lambda: connection_changes.append(state3.connected))
    websocket3 = cp3._ws
    reloads: list[str] = []

    with (
        patch.object(hass.config_entries, "async_schedule_reload", side_effect=reloads.append),
        patch.object(hass.config_entries, "async_reload", side_effect=reloads.append),
    ):
        added = charger_subentry("CP2", meter_interval=0)
        hass.config_entries.async_add_subentry(
            entry,
            ConfigSubentry(
                data=MappingProxyType(dict(added["data"])),
                subentry_type=added["subentry_type"],
                title=added["title"],
                unique_id=added["unique_id"],
            ),
        )
        await hass.async_block_till_done()
        sub1 = subentry_of(entry, "CP1")
        hass.config_entries.async_update_subentry(
            entry, sub1, data={**sub1.data, CONF_METER_INTERVAL: 60}
        )
        # Section 5.3: the new interval goes to the charger at once.
        change = await cp1.wait_for_call("ChangeConfiguration")
        assert change == {"key": "MeterValueSampleInterval", "value": "60"}
        await hass.async_block_till_done()
        cp2 = await chargers.connect(free_port, "CP2")

    assert reloads == []
    assert entry.runtime_data is runtime
    assert runtime.central is central
    assert connection_changes == []
    assert cp3._ws is websocket3
    assert cp3.connected
    assert cp2.connected
    assert cp1.meter_interval == 60
    assert state_of(hass, "binary_sensor", "CP2_connected").state == STATE_ON
    chargers.clock.advance(600)
    await cp3.send_meter_values(1)
    await cp3.stop_transaction(1)
    assert state_of(hass, "event", "CP3_1_session").attributes["transaction_id"] == tx_id
