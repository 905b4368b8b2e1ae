"""Tag events, tag names, connector and charger status as a homeowner sees them.

The whole integration over 127.0.0.1 websockets with the project's simulated charger (an
OCPP-J implementation independent of ours), states read from `hass.states`.
"""

from __future__ import annotations

from homeassistant.const import STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from ocpp.v16 import call
import pytest

from custom_components.ocpp_central.const import DEFAULT_REMOTE_ID_TAG, DOMAIN, SUBENTRY_ID_TAG

from .conftest import (
    ChargerFactory,
    Chargers,
    ConfigEntryFactory,
    charger_subentry,
    entity_id,
    id_tag_subentry,
    recorded_states,
    setup_entry,
    wait_for_state,
)


@pytest.mark.usefixtures("enable_all_entities")
async def test_one_tag_event_per_card_and_none_for_a_remote_start(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    entry = mock_config_entry(
        port=free_port, chargers=[charger_subentry("CP1", meter_interval=0)], id_tags=["TAG1"]
    )
    await setup_entry(hass, entry)
    cp = await chargers.connect(free_port, "CP1")
    tag_event = entity_id(hass, "event", "CP1_id_tag")
    with recorded_states(hass, tag_event) as fired:
        # OCPP 1.6 sections 4.1 and 4.8: Authorize, then StartTransaction of the same card.
        transaction_id = await cp.start_transaction(1, "TAG1", authorize=True)
        await wait_for_state(
            hass, entity_id(hass, "sensor", "CP1_1_transaction_id"), lambda s: s.state != "unknown"
        )
        assert [s.attributes["event_type"] for s in fired] == ["accepted"]
        assert fired[0].attributes["id_tag"] == "TAG1"
        await cp.stop_transaction(1)
        assert transaction_id > 0

        # A start from Home Assistant presents no card.
        switch = entity_id(hass, "switch", "CP1_1_charging")
        await hass.services.async_call("switch", "turn_on", {"entity_id": switch}, blocking=True)
        await wait_for_state(hass, switch, lambda s: s.state == STATE_ON)
        session_event = hass.states.get(entity_id(hass, "event", "CP1_1_session"))
        assert session_event is not None
        assert session_event.attributes["event_type"] == "started"
    assert len(fired) == 1


async def test_values_never_reported_leave_no_entity(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    """SoC, temperature, offered current and phases appear with their first value.

    An entity Home Assistant already knows (an existing install's, with its history) is
    created at once: its unique id and entity id stay.
    """
    entry = mock_config_entry(
        port=free_port, chargers=[charger_subentry("CP1", meter_interval=0)], id_tags=["TAG1"]
    )
    registry = er.async_get(hass)
    known = registry.async_get_or_create(
        "sensor", DOMAIN, "CP1_1_temperature", config_entry=entry, suggested_object_id="cp1_temp"
    )
    await setup_entry(hass, entry)
    cp = await chargers.connect(free_port, "CP1")

    def exists(unique_id: str) -> bool:
        return registry.async_get_entity_id("sensor", DOMAIN, unique_id) is not None

    assert exists("CP1_1_power")
    assert not exists("CP1_1_soc")
    assert not exists("CP1_1_current_offered")
    assert not exists("CP1_1_current_l1")
    kept = hass.states.get(known.entity_id)
    assert kept is not None
    assert kept.state == "unknown"  # served by the integration, not a leftover registry entry
    assert not kept.attributes.get("restored")

    await cp.start_transaction(1, "TAG1", authorize=False)
    chargers.clock.advance(60)
    await cp.send_meter_values(1)
    soc = await wait_for_state(
        hass, entity_id(hass, "sensor", "CP1_1_soc"), lambda s: s.state != "unknown"
    )
    assert float(soc.state) == pytest.approx(cp.connector(1).soc, abs=0.5)
    assert exists("CP1_1_current_offered")
    assert exists("CP1_1_current_l1")  # disabled by default, but it exists to enable
    assert entity_id(hass, "sensor", "CP1_1_temperature") == known.entity_id


async def test_out_of_service_is_not_offline_and_the_charger_has_a_status(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    """OCPP Unavailable shows as out_of_service; Home Assistant's unavailable means offline.

    Connector 0 (OCPP 1.6 section 4.9: the charger as a whole) has its own status and error
    code, so a fault of the whole charger is visible.
    """
    entry = mock_config_entry(port=free_port, chargers=[charger_subentry("CP1", meter_interval=0)])
    await setup_entry(hass, entry)
    cp = await chargers.connect(free_port, "CP1")
    charger_status = entity_id(hass, "sensor", "CP1_charger_status")
    charger_error = entity_id(hass, "sensor", "CP1_charger_error_code")
    assert hass.states.get(charger_status).state == "available"  # type: ignore[union-attr]
    assert hass.states.get(charger_error).state == "no_error"  # type: ignore[union-attr]

    await cp._call(  # a charger-wide fault, as the simulator has no public way to send it
        call.StatusNotification(connector_id=0, error_code="GroundFailure", status="Faulted")
    )
    await wait_for_state(hass, charger_status, lambda s: s.state == "faulted")
    assert hass.states.get(charger_error).state == "ground_failure"  # type: ignore[union-attr]

    # Section 5.2: ChangeAvailability Inoperative; the connector reports Unavailable.
    status = entity_id(hass, "sensor", "CP1_1_connector_status")
    await hass.services.async_call(
        "switch",
        "turn_off",
        {"entity_id": entity_id(hass, "switch", "CP1_1_available")},
        blocking=True,
    )
    await cp.wait_until(lambda: cp.connector(1).status == "Unavailable")
    shown = await wait_for_state(hass, status, lambda s: s.state != "available")
    assert shown.state == "out_of_service"
    assert "unavailable" not in shown.attributes["options"]

    await cp.close()
    offline = await wait_for_state(hass, status, lambda s: s.state == STATE_UNAVAILABLE)
    assert offline.state != shown.state
    assert hass.states.get(charger_status).state == STATE_UNAVAILABLE  # type: ignore[union-attr]


async def test_id_tag_sensor_shows_the_tag_by_its_name(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    """The id-tag subentry's title is the state; the raw id an attribute the recorder skips."""
    entry = mock_config_entry(
        port=free_port,
        chargers=[charger_subentry("CP1", meter_interval=0)],
        id_tags=[id_tag_subentry("04A1B2", name="Alice")],
    )
    await setup_entry(hass, entry)
    cp = await chargers.connect(free_port, "CP1")
    sensor = entity_id(hass, "sensor", "CP1_1_id_tag")

    await cp.start_transaction(1, "04a1b2", authorize=False)  # case-insensitive (7.28)
    shown = await wait_for_state(hass, sensor, lambda s: s.state != "unknown")
    assert shown.state == "Alice (04A1B2)"
    assert shown.attributes["id_tag"] == "04a1b2"
    assert shown.state_info is not None
    assert "id_tag" in shown.state_info["unrecorded_attributes"]

    # A rename shows at once.
    tag = next(s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_ID_TAG)
    hass.config_entries.async_update_subentry(entry, tag, title="Alice's car")
    renamed = await wait_for_state(hass, sensor, lambda s: s.state != "Alice (04A1B2)")
    assert renamed.state == "Alice's car"

    # A tag without a subentry (here the one remote starts use) shows its raw id.
    await cp.stop_transaction(1)
    stopped = await wait_for_state(hass, sensor, lambda s: s.state == "unknown")
    assert "id_tag" not in stopped.attributes
    await hass.services.async_call(
        "switch",
        "turn_on",
        {"entity_id": entity_id(hass, "switch", "CP1_1_charging")},
        blocking=True,
    )
    remote = await wait_for_state(hass, sensor, lambda s: s.state != "unknown")
    assert remote.state == remote.attributes["id_tag"] == DEFAULT_REMOTE_ID_TAG


@pytest.mark.usefixtures("enable_all_entities")
async def test_a_superseded_session_shows_as_stopped(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    """A start on a connector whose session never got its stop closes that session."""
    entry = mock_config_entry(port=free_port, chargers=["CP1"], id_tags=["TAG1"])
    runtime = await setup_entry(hass, entry)
    cp = await charger(free_port, "CP1")
    first = await cp.start_transaction("TAG1", meter_start=1000)
    await cp.meter_values(first.transaction_id, 1800)
    session_event = entity_id(hass, "event", "CP1_1_session")
    with recorded_states(hass, session_event) as fired:
        second = await cp.start_transaction("TAG1", meter_start=2000)
    assert [s.attributes["event_type"] for s in fired] == ["stopped", "started"]
    assert fired[0].attributes["transaction_id"] == first.transaction_id
    assert fired[0].attributes["reason"] == "Superseded"
    assert fired[0].attributes["energy_wh"] == 800
    transaction = entity_id(hass, "sensor", "CP1_1_transaction_id")
    assert hass.states.get(transaction).state == str(second.transaction_id)  # type: ignore[union-attr]
    assert [tx.transaction_id for tx in runtime.store.open_transactions("CP1")] == [
        second.transaction_id
    ]
    # Its late stop is acknowledged and changes nothing.
    late = await cp.stop_transaction(first.transaction_id, meter_stop=1900)
    assert late is not None
    assert hass.states.get(transaction).state == str(second.transaction_id)  # type: ignore[union-attr]
