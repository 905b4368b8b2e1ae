"""Each connector of a charger with more than one connector is a device of its own.

Its entities belong to that device, linked to the charger's (`via_device_id`), and keep
the plain translation key ("<charger> Connector 2" + "Power"). A single-connector
charger keeps them on its own device; when a second connector appears (OCPP 1.6 section
3.8 numbers connectors from 1), connector 1's entities move to their device without
being removed and added again. An installation from 0.1.0, whose entities of such
chargers carried `connector_<key>` translation keys on the charger's device, comes out
with the same entity ids and unique ids on the connector devices.

The charger talks to the real server over 127.0.0.1 (`make_harness`, tests/ha/conftest.py).
"""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.entity_platform import async_get_platforms
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ocpp_central.const import CONF_CHARGE_BOX_ID, DOMAIN

from .conftest import (
    CHARGER,
    ConfigEntryFactory,
    HarnessFactory,
    LoopbackCharger,
    setup_entry,
    subentry_of,
)


def _device(hass: HomeAssistant, entry_id: str, identifier: str) -> dr.DeviceEntry:
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, identifier), entry_id)
    assert device is not None, identifier
    return device


def _entity_object(hass: HomeAssistant, entity_id: str) -> object:
    for platform in async_get_platforms(hass, DOMAIN):
        if entity_id in platform.entities:
            return platform.entities[entity_id]
    raise AssertionError(entity_id)


async def test_connectors_of_a_two_connector_charger_are_devices(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    """Connector devices are named after the charger and linked to it; charger-wide stay."""
    h = await make_harness([Platform.SENSOR, Platform.SWITCH])
    await h.boot(connectors=2)
    await h.meter(0, {"Power.Active.Import": 900})
    await hass.async_block_till_done()
    entry_id = h.entry.entry_id
    charger = _device(hass, entry_id, CHARGER)
    registry = er.async_get(hass)
    for connector_id in (1, 2):
        device = _device(hass, entry_id, f"{CHARGER}_connector_{connector_id}")
        assert device.name == f"{CHARGER} Connector {connector_id}"
        assert device.via_device_id == charger.id
        assert device.config_subentry_id == charger.config_subentry_id
        for platform, key in (("sensor", "power"), ("switch", "charging")):
            entity_id = h.entity_id(platform, f"{CHARGER}_{connector_id}_{key}")
            entry = registry.async_get(entity_id)
            assert entry is not None
            assert entry.device_id == device.id
            assert entry.translation_key == key
        state = hass.states.get(h.entity_id("sensor", f"{CHARGER}_{connector_id}_power"))
        assert state is not None
        assert state.attributes["friendly_name"] == f"{CHARGER} Connector {connector_id} Power"
    # Charger-wide entities stay on the charger, with their own keys.
    for unique_id, key in (
        (f"{CHARGER}_power", "charger_power"),
        (f"{CHARGER}_last_heartbeat", None),
    ):
        entry = registry.async_get(h.entity_id("sensor", unique_id))
        assert entry is not None
        assert entry.device_id == charger.id
        if key is not None:
            assert entry.translation_key == key


async def test_single_connector_charger_keeps_connector_entities(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=1)
    entry_id = h.entry.entry_id
    charger = _device(hass, entry_id, CHARGER)
    entry = er.async_get(hass).async_get(h.entity_id("sensor", f"{CHARGER}_1_power"))
    assert entry is not None
    assert entry.device_id == charger.id
    assert (
        dr.async_get(hass).async_get_device_by_identifier(
            (DOMAIN, f"{CHARGER}_connector_1"), entry_id
        )
        is None
    )
    state = hass.states.get(entry.entity_id)
    assert state is not None
    assert state.attributes["friendly_name"] == f"{CHARGER} Power"


async def test_second_connector_moves_entities_without_adding_them_again(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    """The same entity objects, entity ids and unique ids: only their device changes."""
    h = await make_harness([Platform.SENSOR, Platform.SWITCH])
    await h.boot(connectors=1)
    power = h.entity_id("sensor", f"{CHARGER}_1_power")
    charging = h.entity_id("switch", f"{CHARGER}_1_charging")
    objects = {entity_id: _entity_object(hass, entity_id) for entity_id in (power, charging)}
    removed: list[str] = []
    registry_actions: list[tuple[str, str]] = []

    @callback
    def on_state(event: Event[EventStateChangedData]) -> None:
        if event.data["new_state"] is None:
            removed.append(event.data["entity_id"])

    @callback
    def on_registry(event: Event[er.EventEntityRegistryUpdatedData]) -> None:
        registry_actions.append((event.data["action"], event.data["entity_id"]))

    hass.bus.async_listen("state_changed", on_state)
    hass.bus.async_listen(er.EVENT_ENTITY_REGISTRY_UPDATED, on_registry)
    await h.status(2, "Available")
    await hass.async_block_till_done()

    assert removed == []
    assert ("update", power) in registry_actions
    assert not [a for a in registry_actions if a[1] in objects and a[0] != "update"]
    connector = _device(hass, h.entry.entry_id, f"{CHARGER}_connector_1")
    registry = er.async_get(hass)
    for entity_id, obj in objects.items():
        assert _entity_object(hass, entity_id) is obj
        entry = registry.async_get(entity_id)
        assert entry is not None
        assert entry.device_id == connector.id
    state = hass.states.get(power)
    assert state is not None
    assert state.attributes["friendly_name"] == f"{CHARGER} Connector 1 Power"
    assert power == "sensor.cp_1_power"  # the entity id it had stays


async def test_installation_from_0_1_0_moves_to_connector_devices(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, free_port: int
) -> None:
    """Registry entries as 0.1.0 left them for a two-connector charger.

    The charger reports only connector 1 after the restart: the `connector_<key>` names
    tell it had more, so its entities, disabled ones too, go to the connector devices.
    """
    entry: MockConfigEntry = mock_config_entry(port=free_port, chargers=[CHARGER])
    subentry = subentry_of(entry, CHARGER)
    devices = dr.async_get(hass)
    charger = devices.async_get_or_create(
        config_entry_id=entry.entry_id,
        config_subentry_id=subentry.subentry_id,
        identifiers={(DOMAIN, CHARGER)},
        name=CHARGER,
    )
    registry = er.async_get(hass)
    old: dict[str, tuple[str, int, str]] = {}
    for platform, connector_id, key, disabled in (
        ("sensor", 1, "power", False),
        ("sensor", 2, "power", False),
        ("sensor", 1, "connector_status", False),
        ("sensor", 1, "current_l1", True),
        ("switch", 1, "charging", False),
        ("switch", 2, "charging", False),
    ):
        unique_id = f"{CHARGER}_{connector_id}_{key}"
        created = registry.async_get_or_create(
            platform,
            DOMAIN,
            unique_id,
            config_entry=entry,
            config_subentry_id=subentry.subentry_id,
            device_id=charger.id,
            has_entity_name=True,
            translation_key=f"connector_{key}",
            original_name=f"Connector {connector_id} {key}",
            suggested_object_id=f"cp_1_connector_{connector_id}_{key}",
            disabled_by=er.RegistryEntryDisabler.INTEGRATION if disabled else None,
        )
        old[created.entity_id] = (unique_id, connector_id, key)
    # A charger-wide entity stays where it is.
    heartbeat = registry.async_get_or_create(
        "sensor",
        DOMAIN,
        f"{CHARGER}_last_heartbeat",
        config_entry=entry,
        config_subentry_id=subentry.subentry_id,
        device_id=charger.id,
        has_entity_name=True,
        translation_key="last_heartbeat",
    )

    await setup_entry(hass, entry)
    link = LoopbackCharger(free_port)
    try:
        await link.connect()
        await link.call("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "W"})
        await link.call(
            "StatusNotification", {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
        )
        await hass.async_block_till_done()

        assert "sensor.cp_1_connector_1_power" in old
        for entity_id, (unique_id, connector_id, key) in old.items():
            moved = registry.async_get(entity_id)
            assert moved is not None, entity_id
            assert moved.unique_id == unique_id
            device = _device(hass, entry.entry_id, f"{CHARGER}_connector_{connector_id}")
            assert device.via_device_id == charger.id
            assert moved.device_id == device.id, entity_id
            assert moved.translation_key == key, entity_id
            assert registry.async_get_entity_id(entity_id.split(".")[0], DOMAIN, unique_id) == (
                entity_id
            )
        kept = registry.async_get(heartbeat.entity_id)
        assert kept is not None
        assert kept.device_id == charger.id
        power = next(e for e, (_u, c, k) in old.items() if (c, k) == (1, "power"))
        state = hass.states.get(power)
        assert state is not None
        assert state.attributes["friendly_name"] == f"{CHARGER} Connector 1 Power"
    finally:
        await link.close()


async def test_action_on_a_connector_device_reaches_its_charger(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    """Actions list the connector devices too: one picked there acts on its charger."""
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=2)
    connector = _device(hass, h.entry.entry_id, f"{CHARGER}_connector_2")
    response = await hass.services.async_call(
        DOMAIN,
        "get_configuration",
        {"device_id": connector.id, "keys": ["NumberOfConnectors"]},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert response["configuration"] == [
        {"key": "NumberOfConnectors", "value": "2", "readonly": False}
    ]


async def test_new_charge_box_id_removes_the_connector_devices_too(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    """A charger replaced by another id leaves none of its devices or entities behind."""
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=2)
    entry_id = h.entry.entry_id
    old = [
        _device(hass, entry_id, identifier).id
        for identifier in (CHARGER, f"{CHARGER}_connector_1", f"{CHARGER}_connector_2")
    ]
    power = h.entity_id("sensor", f"{CHARGER}_2_power")
    subentry = subentry_of(h.entry, CHARGER)
    hass.config_entries.async_update_subentry(
        h.entry, subentry, data={**subentry.data, CONF_CHARGE_BOX_ID: "CP-9"}
    )
    await hass.async_block_till_done()
    devices = dr.async_get(hass)
    assert [device_id for device_id in old if devices.async_get(device_id) is not None] == []
    assert er.async_get(hass).async_get(power) is None


async def test_connector_devices_kept_after_a_restart_that_knows_one_connector(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    """After a reload the state knows no connector: connector 1's entities stay on its device."""
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=2)
    connector = _device(hass, h.entry.entry_id, f"{CHARGER}_connector_1")
    power = h.entity_id("sensor", f"{CHARGER}_1_power")
    await h.link.close()
    assert await hass.config_entries.async_reload(h.entry.entry_id)
    await hass.async_block_till_done()
    h.runtime = h.entry.runtime_data
    await h.connect()
    await h.status(1, "Available")
    await hass.async_block_till_done()
    assert h.session.state.connector_ids == [1]
    entry = er.async_get(hass).async_get(power)
    assert entry is not None
    assert entry.device_id == connector.id
    state = hass.states.get(power)
    assert state is not None
    assert state.attributes["friendly_name"] == f"{CHARGER} Connector 1 Power"
