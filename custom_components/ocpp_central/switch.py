"""Switches of a connector: charging (remote start/stop) and availability."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, override

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DEFAULT_REMOTE_ID_TAG
from .entity import (
    Charger,
    OcppEntity,
    OcppEntityDescription,
    OcppEntityEntry,
    async_setup_charger_entities,
    run_command,
    send_command,
)
from .protocol.state import STATUS, TRANSACTION, ConnectorState

# One command at a time per platform: the charger handles our CALLs one by one anyway.
PARALLEL_UPDATES = 1

# ChangeAvailability.conf (section 6.6): Scheduled means "once the transaction ends".
AVAILABILITY_ACCEPTED = ("Accepted", "Scheduled")


@dataclass(frozen=True, kw_only=True)
class OcppSwitchEntityDescription(OcppEntityDescription, SwitchEntityDescription):
    """A switch: its state from the connector, the command that turns it on or off."""

    is_on_fn: Callable[[ConnectorState], bool | None]
    set_fn: Callable[[Charger, ConnectorState, bool], Awaitable[object]]


def _charging(connector: ConnectorState) -> bool:
    # The real transaction, not the last press: a remote start only lets the
    # driver start (sections 5.11, 5.12); charging starts with StartTransaction.
    tx = connector.transaction
    return tx is not None and tx.stop_time is None


async def _set_charging(charger: Charger, connector: ConnectorState, on: bool) -> None:
    session = charger.session
    if on:
        # With a current limit set, the transaction starts within it: a TxProfile in the
        # RemoteStartTransaction (OCPP 1.6 sections 5.11 and 5.16.2).
        limiter = charger.entry.runtime_data.limiters[charger.state.charge_box_id]
        profile = await run_command("remote_start", limiter.start_profile(connector.connector_id))
        await send_command(
            "remote_start",
            session.remote_start(DEFAULT_REMOTE_ID_TAG, connector.connector_id, profile),
        )
    elif (tx := connector.transaction) is not None and tx.stop_time is None:
        await send_command("remote_stop", session.remote_stop(tx.transaction_id))


def _available(connector: ConnectorState) -> bool | None:
    return None if connector.status is None else connector.status != "Unavailable"


SWITCHES: tuple[OcppSwitchEntityDescription, ...] = (
    # No entity category: a primary control that voice assistants may use.
    OcppSwitchEntityDescription(
        key="charging",
        translation_key="charging",
        fields=(TRANSACTION,),
        is_on_fn=_charging,
        set_fn=_set_charging,
    ),
    OcppSwitchEntityDescription(
        key="available",
        translation_key="available",
        fields=(STATUS,),
        entity_category=EntityCategory.CONFIG,
        is_on_fn=_available,
        set_fn=lambda charger, connector, on: send_command(
            "change_availability",
            charger.session.change_availability(connector.connector_id, on),
            AVAILABILITY_ACCEPTED,
        ),
    ),
)


def _make(
    charger: Charger, connector_id: int, description: OcppSwitchEntityDescription, multi: bool
) -> OcppEntity:
    return OcppSwitch(charger, connector_id, description, multi_connector=multi)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppEntityEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the switches of every charger."""
    async_setup_charger_entities(hass, entry, async_add_entities, SWITCHES, factory=_make)


class OcppSwitch(OcppEntity, SwitchEntity):
    """A switch whose state follows the charger, not the last command."""

    entity_description: OcppSwitchEntityDescription

    @override
    def _update_value(self) -> bool:
        is_on = self.entity_description.is_on_fn(self.connector)
        if is_on == self._attr_is_on:
            return False
        self._attr_is_on = is_on
        return True

    @override
    async def async_turn_on(self, **kwargs: Any) -> None:
        """Send the command that turns it on; a refusal raises a translated error."""
        await self.entity_description.set_fn(self._charger, self.connector, True)

    @override
    async def async_turn_off(self, **kwargs: Any) -> None:
        """Send the command that turns it off; a refusal raises a translated error."""
        await self.entity_description.set_fn(self._charger, self.connector, False)
