"""Switches of a connector: charging (remote start/stop) and availability."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
import logging
from typing import TYPE_CHECKING, Any, override

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .const import DEFAULT_REMOTE_ID_TAG
from .entity import Charger, OcppEntity, OcppEntityDescription, async_setup_charger_entities
from .helpers import run_command, send_command
from .protocol.config_keys import lookup_int
from .protocol.state import STATUS, TRANSACTION, ChargerState, ConnectorState
from .protocol.vocabulary import Action

if TYPE_CHECKING:
    from .runtime import OcppConfigEntry

_LOGGER = logging.getLogger(__name__)

# One command at a time per platform: the charger handles our CALLs one by one anyway.
PARALLEL_UPDATES = 1

# Connector statuses (section 7.7) after which an accepted remote start will not come: the
# charger gave up waiting for the car or cannot charge.
START_ABANDONED = frozenset({"Unavailable", "Faulted"})
# How long a charger waits for the car after a remote start (ConnectionTimeOut, section
# 9.1.7), in seconds, when it did not tell its own; a start later than that is not ours.
DEFAULT_CONNECTION_TIMEOUT = 300.0


@dataclass(frozen=True, kw_only=True)
class OcppSwitchEntityDescription(OcppEntityDescription, SwitchEntityDescription):
    """A switch: whether it is on (`value_fn`), the command that turns it on or off."""

    set_fn: Callable[[Charger, ConnectorState, bool], Awaitable[object]]


def _charging(_state: ChargerState, connector: ConnectorState) -> bool:
    # The real transaction, not the last press: a remote start only lets the
    # driver start (sections 5.11, 5.12); charging starts with StartTransaction.
    return connector.running_transaction is not None


async def _set_charging(charger: Charger, connector: ConnectorState, on: bool) -> None:
    session = charger.session
    # Turning on what is on is done (as for any switch): a second remote start would only
    # be refused by the busy connector, e.g. when a voice command or a planner repeats itself.
    if on:
        if not _charging(charger.state, connector):
            # With a current limit set, the transaction starts within it: a TxProfile in the
            # RemoteStartTransaction (OCPP 1.6 sections 5.11 and 5.16.2).
            limiter = charger.entry.runtime_data.limiters[charger.state.charge_box_id]
            profile = await run_command(
                "remote_start", limiter.start_profile(connector.connector_id)
            )
            await send_command(
                Action.remote_start_transaction,
                session.remote_start(DEFAULT_REMOTE_ID_TAG, connector.connector_id, profile),
            )
    elif (tx := connector.running_transaction) is not None:
        await send_command(Action.remote_stop_transaction, session.remote_stop(tx.transaction_id))


def _available(_state: ChargerState, connector: ConnectorState) -> bool | None:
    return None if connector.status is None else connector.status != "Unavailable"


SWITCHES: tuple[OcppSwitchEntityDescription, ...] = (
    # No entity category: a primary control that voice assistants may use.
    OcppSwitchEntityDescription(
        key="charging",
        translation_key="charging",
        # The status too: it tells when an accepted remote start will not come.
        fields=(TRANSACTION, STATUS),
        value_fn=_charging,
        set_fn=_set_charging,
    ),
    OcppSwitchEntityDescription(
        key="available",
        translation_key="available",
        fields=(STATUS,),
        entity_category=EntityCategory.CONFIG,
        value_fn=_available,
        set_fn=lambda charger, connector, on: send_command(
            Action.change_availability,
            charger.session.change_availability(connector.connector_id, on),
        ),
    ),
)


def _switch(
    charger: Charger, connector_id: int, description: OcppSwitchEntityDescription
) -> OcppEntity:
    """The charging switch has its own class (see ChargingSwitch)."""
    switch = ChargingSwitch if description.key == "charging" else OcppSwitch
    return switch(charger, connector_id, description)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the switches of every charger."""
    async_setup_charger_entities(hass, entry, async_add_entities, SWITCHES, factory=_switch)


class OcppSwitch(OcppEntity, SwitchEntity):
    """A switch whose state follows the charger, not the last command."""

    entity_description: OcppSwitchEntityDescription

    @property
    @override
    def is_on(self) -> bool | None:
        """What the charger reports, not the last command."""
        value: bool | None = self._value
        return value

    @override
    async def async_turn_on(self, **kwargs: Any) -> None:
        """Send the command that turns it on; a refusal raises a translated error."""
        await self.entity_description.set_fn(self._charger, self.connector, True)

    @override
    async def async_turn_off(self, **kwargs: Any) -> None:
        """Send the command that turns it off; a refusal raises a translated error."""
        await self.entity_description.set_fn(self._charger, self.connector, False)


class ChargingSwitch(OcppSwitch):
    """The charging switch: its last command counts, even against a start on its way.

    OCPP 1.6 cannot take back an accepted RemoteStartTransaction (section 5.11): the charger
    starts the transaction once the car is ready, maybe minutes later. Turned off before
    that, the switch stops the transaction as soon as it starts (RemoteStopTransaction,
    section 5.12), when it is the one the switch asked for (its id tag). The start is no
    longer awaited once the charger's ConnectionTimeOut (section 9.1.7) has passed, the
    connector reports a status in START_ABANDONED, or the switch is turned on again.
    Planners and automations that switch on and off in quick succession rely on this.
    """

    # Until when a remote start of this switch, accepted, may still begin its transaction.
    _start_pending: datetime | None = None
    # Turned off while the start was pending: stop its transaction when it starts.
    _stop_on_start = False

    @override
    async def async_turn_on(self, **kwargs: Any) -> None:
        """Start charging unless it charges; a refusal raises a translated error."""
        self._stop_on_start = False
        await super().async_turn_on(**kwargs)
        # Accepted (a refusal raised): the transaction follows unless it already did.
        charging = _charging(self._state, self.connector)
        self._start_pending = None if charging else self._start_deadline()

    @override
    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop charging now, or as soon as a start still on its way arrives."""
        self._stop_on_start = self._start_pending is not None and not _charging(
            self._state, self.connector
        )
        await super().async_turn_off(**kwargs)

    @override
    def _read(self) -> bool | None:
        connector = self.connector
        pending = self._start_pending
        if pending is not None and (
            connector.status in START_ABANDONED or dt_util.utcnow() > pending
        ):
            self._start_pending = None
            self._stop_on_start = False
        if (tx := connector.running_transaction) is not None:
            self._start_pending = None
            if self._stop_on_start and tx.id_tag == DEFAULT_REMOTE_ID_TAG:
                # Once the StartTransaction.conf has told the charger the id to stop.
                self._charger.session.after_reply(self._stop_started)
            self._stop_on_start = False
        is_on: bool | None = super()._read()
        return is_on

    def _start_deadline(self) -> datetime:
        """Return until when a remote start accepted now may begin its transaction."""
        # Section 9.1.7, an integer in seconds (keys are case-insensitive).
        seconds = lookup_int(self._charger.state.configuration, "ConnectionTimeOut")
        timeout = DEFAULT_CONNECTION_TIMEOUT if seconds is None else seconds
        return dt_util.utcnow() + timedelta(seconds=timeout)

    async def _stop_started(self) -> None:
        """Stop the transaction a start the switch was turned off during has begun."""
        try:
            await _set_charging(self._charger, self.connector, False)
        except HomeAssistantError as err:
            _LOGGER.warning("%s: could not stop charging as asked: %s", self.entity_id, err)
