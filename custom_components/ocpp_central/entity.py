"""Base entity of the integration: charger and connector devices, entities that follow state keys.

Every platform describes its entities with a tuple of descriptions and lets
`async_setup_charger_entities` create them for each charger (charger-wide ones once,
per-connector ones for each connector, including connectors reported later). A
charger with more than one connector has one device per connector, linked to the
charger's device (`via_device_id`): its connector entities belong there and keep their
plain translation key, so "<charger> Connector 2" + "Power" names them. A
description marked `when_reported` waits until the charger reports its value, so values a
charger never sends (a car's state of charge on many chargers, phases it does not have)
leave no entity on the device page; one Home Assistant already knows is created at once. An
entity subscribes to the `(connector_id, field)` keys it shows and writes its state
only when its value or availability changed: this runs for every MeterValues message.
The value comes from the description's `value_fn`; `OcppEntity._update_value` is the one
compare-and-set, and the platform classes only present `_value` (`native_value`, `is_on`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, auto
from functools import cache, partial
from typing import TYPE_CHECKING, Any, Final, override

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import CALLBACK_TYPE, Context, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import async_get_current_platform

from .const import DOMAIN
from .devices import charger_device_info, connector_identifier

# The error mapping shared with the services; re-exported for the modules that import it here.
from .helpers import command_error, run_command, send_command
from .protocol.session import ChargerSession
from .protocol.state import (
    CONNECTED,
    CONNECTORS,
    BootInfo,
    ChargerState,
    ConnectorState,
    StateKey,
)

if TYPE_CHECKING:
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .runtime import OcppConfigEntry
    from .solar_charging import SolarCharging

__all__ = ["command_error", "run_command", "send_command"]


@dataclass(slots=True)
class Charger:
    """One charger as its entities see it: entry, subentry and session."""

    entry: OcppConfigEntry
    subentry: ConfigSubentry
    session: ChargerSession
    # The charger's device in the registry (set once its entities are created), and
    # whether its connectors have devices of their own (more than one connector).
    device_id: str | None = None
    connector_devices: bool = False
    # The device info for the BootNotification it was made from, shared by the entities
    # (one dict per charger and platform instead of one per entity).
    _device: tuple[BootInfo | None, DeviceInfo] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    # The context of the states written for one notification (see `context_for`).
    _context: tuple[int, Context] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def context_for(self, notification: int) -> Context:
        """The one context of the states the entities write for `notification`.

        What one message changes (energy, session energy, power, current) is one change
        to Home Assistant: the states share its context, as those of one service call do
        (per platform: the entities of one platform share their `Charger`).
        Each new context becomes a reference cycle with the first event fired with it
        (`Context.origin_event`), which only Python's cycle collector frees: one per
        message instead of one per state written.
        """
        found = self._context
        if found is None or found[0] != notification:
            found = self._context = (notification, Context())
        return found[1]

    @property
    def state(self) -> ChargerState:
        """The charger's state."""
        return self.session.state

    @property
    def name(self) -> str:
        """The charger's name: its subentry's title."""
        return self.subentry.title or self.state.charge_box_id

    @property
    def device_info(self) -> DeviceInfo:
        """The device of the charger, with what its last BootNotification told."""
        boot = self.session.state.boot
        if self._device is None or self._device[0] is not boot:
            self._device = (boot, charger_device_info(self.name, self.state))
        return self._device[1]

    def device_info_for(self, connector_id: int) -> DeviceInfo:
        """The device of connector `connector_id` (0: the charger's own device)."""
        if connector_id == 0 or not self.connector_devices or self.device_id is None:
            return self.device_info
        return DeviceInfo(
            identifiers={(DOMAIN, connector_identifier(self.state.charge_box_id, connector_id))},
            translation_key="connector",
            translation_placeholders={"charger": self.name, "connector": str(connector_id)},
            via_device_id=self.device_id,
        )


def _no_value(_state: ChargerState, _connector: ConnectorState) -> Any:
    return None


@dataclass(frozen=True, kw_only=True)
class OcppEntityDescription(EntityDescription):
    """What every entity of the integration declares besides Home Assistant's fields."""

    # ChargerState fields shown; the entity subscribes to (its connector, field).
    fields: tuple[str, ...] = ()
    # What the entity shows, read from the charger's state and the entity's connector
    # (a sensor's value, a switch's or binary sensor's on, a number's value).
    value_fn: Callable[[ChargerState, ConnectorState], Any] = _no_value
    # True: one entity per connector (1..n); False: one for the charger (connector 0).
    per_connector: bool = True
    # Create the entity only once the charger reports a value for it (see the module's
    # docstring); the platform's `reported` function decides.
    when_reported: bool = False
    # Per-connector descriptions only: also create one for connector 0 once the
    # charger reports this value there (charger-wide meter values).
    on_charger_when_reported: bool = False
    # Whether the last value stays meaningful while the charger is disconnected.
    available_when_offline: bool = False


def unique_id(charge_box_id: str, connector_id: int, description: OcppEntityDescription) -> str:
    """`{chargeBoxId}_{connector}_{key}` per connector, `{chargeBoxId}_{key}` for the charger."""
    if description.per_connector and connector_id > 0:
        return f"{charge_box_id}_{connector_id}_{description.key}"
    return f"{charge_box_id}_{description.key}"


class Keep(Enum):
    """Returned by `_read` when there is nothing new to show: the last value stays."""

    KEEP = auto()


KEEP: Final = Keep.KEEP


class OcppEntity(Entity):
    """An entity of one charger or connector that follows the ChargerState keys it shows."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description: OcppEntityDescription
    # What the entity shows, as `_read` last returned it; the platform's state properties
    # (`native_value`, `is_on`, ...) present it.
    _value: Any = None
    # Whether the states written for one notification share one context
    # (`Charger.context_for`): for entities no user acts on, whose changes all come from
    # the charger. Not for those a service call changes: a state that follows a user's
    # command keeps the context Home Assistant gave the call.
    _notification_context: bool = False

    def __init__(
        self, charger: Charger, connector_id: int, description: OcppEntityDescription
    ) -> None:
        """Bind the entity to its connector and compute its first value."""
        self.entity_description = description
        self._charger = charger
        self._state = charger.state
        self._connector_id = connector_id
        # The connector this entity shows (0: the charger). Held, not looked up on each
        # change: a ChargerState never replaces its ConnectorState objects.
        self.connector: ConnectorState = self._state.connectors[connector_id]
        self._attr_unique_id = unique_id(self._state.charge_box_id, connector_id, description)
        if description.per_connector and connector_id == 0:
            # Charger-wide twin of a per-connector entity (meter values on connector 0).
            self._attr_translation_key = f"charger_{description.translation_key}"
        self._keys = _state_keys(connector_id, description.fields)
        self._attr_available = self._is_available()
        self._update_value()

    @property
    @override
    def device_info(self) -> DeviceInfo:
        """The connector's device, or the charger's; read when Home Assistant adds the entity.

        Read then, not at creation: a second connector reported meanwhile moves the
        entity to its connector's device.
        """
        connector_id = self._connector_id if self.entity_description.per_connector else 0
        return self._charger.device_info_for(connector_id)

    @override
    async def async_added_to_hass(self) -> None:
        """Follow the keys this entity shows until it is removed."""
        await super().async_added_to_hass()
        self.async_on_remove(self._state.subscribe(self._keys, self._handle_change))
        # The state may have changed between construction and now.
        self._attr_available = self._is_available()
        self._update_value()

    def _is_available(self) -> bool:
        return self._state.connected or self.entity_description.available_when_offline

    @callback
    def _handle_change(self) -> None:
        """Write state only when the value or the availability changed."""
        changed = self._update_value()
        available = self._is_available()
        if available is not self._attr_available:
            self._attr_available = available
            changed = True
        if changed:
            if self._notification_context:
                self.async_set_context(self._charger.context_for(self._state.notifications))
            self.async_write_ha_state()

    def _read(self) -> Any:
        """What the entity shows now; `KEEP` keeps the value shown."""
        return self.entity_description.value_fn(self._state, self.connector)

    def _update_value(self) -> bool:
        """Recompute the value from the state; return whether it changed.

        The one compare-and-set of every entity: this runs for each notification of the
        keys it follows (every MeterValues message), and a state is written only on change.
        """
        value = self._read()
        if value is KEEP or value == self._value:
            return False
        self._value = value
        return True


@cache
def _state_keys(connector_id: int, fields: tuple[str, ...]) -> tuple[StateKey, ...]:
    """The keys an entity follows: one tuple per connector and fields, shared by all chargers."""
    return (CONNECTED, *((connector_id, name) for name in fields))


def _deferred(connector_id: int, description: OcppEntityDescription) -> bool:
    """Whether the entity waits for the charger to report its value."""
    return description.when_reported or (connector_id == 0 and description.per_connector)


class _ChargerEntities[D: OcppEntityDescription]:
    """Creates one platform's entities of one charger, as its connectors and values appear."""

    def __init__(
        self,
        hass: HomeAssistant,
        charger: Charger,
        descriptions: tuple[D, ...],
        *,
        factory: Callable[[Charger, int, D], OcppEntity],
        add: AddConfigEntryEntitiesCallback,
        reported: Callable[[D, ChargerState, ConnectorState], bool],
        domain: str,
    ) -> None:
        self._charger = charger
        self._factory = factory
        self._add = add
        self._reported = reported
        self._domain = domain
        self._registry = er.async_get(hass)
        self._devices = dr.async_get(hass)
        # What each connector has (0: the charger itself and charger-wide twins).
        self._charger_wide = [
            d for d in descriptions if not d.per_connector or d.on_charger_when_reported
        ]
        self._per_connector = {d.key: d for d in descriptions if d.per_connector}
        # Connectors whose entities were made (those due; the others wait).
        self._connectors: set[int] = set()
        # Descriptions waiting for their value, per connector, and the subscription that
        # watches their fields (dropped once none waits).
        self._pending: dict[int, list[D]] = {}
        self._watching: dict[int, CALLBACK_TYPE] = {}
        self._unsubscribe: list[CALLBACK_TYPE] = []

    def start(self) -> CALLBACK_TYPE:
        """Create what is known now and follow new connectors; return the stop function."""
        charger = self._charger
        # The charger's device first: the connectors' devices are linked to it.
        charger.device_id = self._device(0).id
        if self._had_connector_devices():
            self._use_connector_devices()
        self._connectors.add(0)
        self._emit(self._make(0))
        self._unsubscribe.append(charger.state.subscribe((CONNECTORS,), self._sync_connectors))
        self._sync_connectors()
        return self._stop

    def _stop(self) -> None:
        for unsubscribe in (*self._unsubscribe, *self._watching.values()):
            unsubscribe()
        self._unsubscribe.clear()
        self._watching.clear()

    def _device(self, connector_id: int) -> dr.DeviceEntry:
        charger = self._charger
        return self._devices.async_get_or_create(
            config_entry_id=charger.entry.entry_id,
            config_subentry_id=charger.subentry.subentry_id,
            **charger.device_info_for(connector_id),
        )

    def _had_connector_devices(self) -> bool:
        """Whether the charger had more than one connector before (its state may not know yet).

        Its connectors have devices, or its entities carry the names that 0.1.0 gave
        the entities of a charger with more than one connector (`connector_<key>`).
        """
        device_id = self._charger.device_id
        if any(
            device.via_device_id == device_id
            for device in dr.async_entries_for_config_entry(
                self._devices, self._charger.entry.entry_id
            )
        ):
            return True
        return any(
            entry.translation_key == f"connector_{description.translation_key}"
            for entry, _connector_id, description in self._on_charger_device()
        )

    def _on_charger_device(self) -> list[tuple[er.RegistryEntry, int, D]]:
        """The platform's registry entries of connectors (1..n) on the charger's device.

        Disabled ones too: they move with the others.
        """
        assert self._charger.device_id is not None
        prefix = f"{self._charger.state.charge_box_id}_"
        found: list[tuple[er.RegistryEntry, int, D]] = []
        for entry in er.async_entries_for_device(
            self._registry, self._charger.device_id, include_disabled_entities=True
        ):
            if entry.domain != self._domain or not entry.unique_id.startswith(prefix):
                continue
            # `{chargeBoxId}_{connector}_{key}` (see `unique_id`).
            number, _, key = entry.unique_id.removeprefix(prefix).partition("_")
            description = self._per_connector.get(key)
            if description is not None and number.isascii() and number.isdigit():
                found.append((entry, int(number), description))
        return found

    @callback
    def _use_connector_devices(self) -> None:
        """Give each connector its device and move the entities already made there.

        The entities stay what they are (entity id, unique id, history): only their
        registry entry's device changes, and Home Assistant renames them with it.
        """
        self._charger.connector_devices = True
        for entry, connector_id, description in self._on_charger_device():
            self._registry.async_update_entity(
                entry.entity_id,
                device_id=self._device(connector_id).id,
                translation_key=description.translation_key,
            )

    def _emit(self, entities: list[OcppEntity]) -> None:
        if entities:
            self._add(entities, config_subentry_id=self._charger.subentry.subentry_id)

    def _make(self, connector_id: int) -> list[OcppEntity]:
        """The connector's entities that are due; the others wait for their value."""
        wanted = self._charger_wide if connector_id == 0 else list(self._per_connector.values())
        due = [d for d in wanted if not _deferred(connector_id, d) or self._due(connector_id, d)]
        self._wait_for(connector_id, [d for d in wanted if d not in due])
        return [self._factory(self._charger, connector_id, d) for d in due]

    def _due(self, connector_id: int, description: D) -> bool:
        """Reported by the charger, or known to Home Assistant from before (its history)."""
        state = self._charger.state
        if self._reported(description, state, state.connectors[connector_id]):
            return True
        known = unique_id(state.charge_box_id, connector_id, description)
        return self._registry.async_get_entity_id(self._domain, DOMAIN, known) is not None

    def _wait_for(self, connector_id: int, descriptions: list[D]) -> None:
        """Watch the fields of `descriptions` until each is reported (replaces any watch)."""
        if (unsubscribe := self._watching.pop(connector_id, None)) is not None:
            unsubscribe()
        if not descriptions:
            self._pending.pop(connector_id, None)
            return
        self._pending[connector_id] = descriptions
        keys = {(connector_id, name) for d in descriptions for name in d.fields}
        self._watching[connector_id] = self._charger.state.subscribe(
            keys, partial(self._sync_pending, connector_id)
        )

    @callback
    def _sync_pending(self, connector_id: int) -> None:
        pending = self._pending.get(connector_id)
        if not pending:
            return
        state = self._charger.state
        connector = state.connectors[connector_id]
        ready = [d for d in pending if self._reported(d, state, connector)]
        if not ready:
            return
        self._wait_for(connector_id, [d for d in pending if d not in ready])
        self._emit([self._factory(self._charger, connector_id, d) for d in ready])

    @callback
    def _sync_connectors(self) -> None:
        ids = self._charger.state.connector_ids
        # Connectors are numbered from 1 (OCPP 1.6 section 3.8): one above 1 means more
        # than one connector.
        if not self._charger.connector_devices and ids and ids[-1] > 1:
            self._use_connector_devices()
        new: list[OcppEntity] = []
        for connector_id in ids:
            if connector_id not in self._connectors:
                self._connectors.add(connector_id)
                new.extend(self._make(connector_id))
        self._emit(new)


def _has_value(
    description: OcppEntityDescription, state: ChargerState, connector: ConnectorState
) -> bool:
    return description.value_fn(state, connector) is not None


@callback
def async_setup_charger_entities[D: OcppEntityDescription](
    hass: HomeAssistant,
    entry: OcppConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    descriptions: tuple[D, ...],
    *,
    factory: Callable[[Charger, int, D], OcppEntity],
    reported: Callable[[D, ChargerState, ConnectorState], bool] | None = None,
) -> None:
    """Create a platform's entities for every charger, now and as chargers are added.

    `factory(charger, connector_id, description)` builds one entity (the platform's entity
    class); `reported(description, state, connector)` tells whether the
    charger reported the value of a `when_reported` description (or of a charger-wide
    twin) on `connector`: by default, whether its `value_fn` has a value there.
    """
    domain = async_get_current_platform().domain

    @callback
    def add_charger(subentry: ConfigSubentry, session: ChargerSession) -> None:
        charger = Charger(entry, subentry, session)
        entities = _ChargerEntities(
            hass,
            charger,
            descriptions,
            factory=factory,
            add=async_add_entities,
            reported=reported or _has_value,
            domain=domain,
        )
        entry.async_on_unload(entities.start())

    entry.async_on_unload(entry.runtime_data.async_add_charger_listener(add_charger))


class SolarEntity(OcppEntity):
    """An entity of a charger's solar controller: available while a grid sensor is configured."""

    def __init__(self, charger: Charger, control: SolarCharging, *args: Any, **kwargs: Any) -> None:
        """Bind the entity to the charger's controller."""
        self._control = control
        super().__init__(charger, *args, **kwargs)

    @override
    async def async_added_to_hass(self) -> None:
        """Follow the controller too."""
        await super().async_added_to_hass()
        self.async_on_remove(self._control.async_add_listener(self._handle_change))

    @override
    def _is_available(self) -> bool:
        return self._control.configured


@callback
def async_setup_solar_entities[D: OcppEntityDescription](
    entry: OcppConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    descriptions: tuple[D, ...],
    entity_class: Callable[[Charger, SolarCharging, int, D], SolarEntity],
) -> None:
    """Create a platform's solar entities of each charger once its controller is configured.

    One `entity_class` entity per description, on the charger (connector 0).
    """
    runtime = entry.runtime_data

    @callback
    def add_charger(subentry: ConfigSubentry, session: ChargerSession) -> None:
        control = runtime.solar.get(session.state.charge_box_id)
        if control is None:
            return
        charger = Charger(entry, subentry, session)
        added = False

        @callback
        def add_when_configured() -> None:
            nonlocal added
            if added or not control.configured:
                return
            added = True
            async_add_entities(
                [entity_class(charger, control, 0, d) for d in descriptions],
                config_subentry_id=subentry.subentry_id,
            )

        entry.async_on_unload(control.async_add_listener(add_when_configured))
        add_when_configured()

    entry.async_on_unload(runtime.async_add_charger_listener(add_charger))
