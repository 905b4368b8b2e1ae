"""The running central system of one config entry: server, chargers, authorisation, store.

`OcppRuntime` is what `entry.runtime_data` holds. It keeps the running chargers in step
with the entry's subentries without reloading the entry (so one charger's change never
drops another's connection), answers the sessions' authorisation questions from the
id-tag subentries (`authorization.Authorizer`), pushes those tags to chargers with
SendLocalList, and offers unknown chargers to the user through a discovery flow
(`discovery.UnknownChargers`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial
import logging
import ssl
from typing import Any, Final, override

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigSubentry,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import (
    device_registry as dr,
)

from . import repairs
from .authorization import Authorizer
from .const import (
    CONF_CHARGE_BOX_ID,
    CONF_HEARTBEAT_INTERVAL,
    CONF_HOST,
    CONF_LENIENT,
    CONF_METER_INTERVAL,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_SSL_CERTFILE,
    CONF_SSL_KEYFILE,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_METER_INTERVAL,
    DEFAULT_REMOTE_ID_TAG,
    DOMAIN,
    SUBENTRY_CHARGER,
)
from .devices import async_remove_devices, async_update_device
from .discovery import UnknownChargers
from .load_runtime import LoadManagement
from .protocol import local_list
from .protocol.config import ChargerConfig
from .protocol.errors import CallErrorReceived, CallTimeoutError, NotConnectedError
from .protocol.hooks import SessionHooks
from .protocol.listeners import Listeners
from .protocol.measurands import ENERGY_REGISTER
from .protocol.server import CentralSystem
from .protocol.session import ChargerSession
from .protocol.smart_charging import CurrentLimiter
from .protocol.state import (
    BOOT,
    CONNECTED,
    CONNECTORS,
    READINGS,
    READY,
    Reading,
    Transaction,
)
from .protocol.vocabulary import (
    Action,
    ConfigurationKey,
    UnitOfMeasure,
    succeeded,
)
from .repairs import (
    ISSUE_CHARGER_REJECTED_CONFIGURATION,
    ISSUE_CHARGER_WITHOUT_PASSWORD,
    ISSUE_LOCAL_LIST_REFUSED,
)
from .running import Chargers, RunningCharger
from .solar_charging import SolarCharging
from .store import OcppStore
from .upstream_runtime import UpstreamForwarding

_LOGGER = logging.getLogger(__name__)

type OcppConfigEntry = ConfigEntry[OcppRuntime]
type ChargerListener = Callable[[ConfigSubentry, ChargerSession], None]

# The intervals a charger subentry sets (OCPP 1.6 sections 9.1.18 and 9.1.22).
INTERVAL_KEYS: Final = frozenset(
    {ConfigurationKey.heartbeat_interval, ConfigurationKey.meter_value_sample_interval}
)
# Repair issues.


def listen_data(entry: ConfigEntry[Any]) -> tuple[Any, ...]:
    """Where the server listens: a change needs a new server (a reload)."""
    return tuple(
        entry.data.get(key) for key in (CONF_HOST, CONF_PORT, CONF_SSL_CERTFILE, CONF_SSL_KEYFILE)
    )


def charger_config(subentry: ConfigSubentry) -> ChargerConfig:
    """The protocol settings of a charger subentry."""
    data = subentry.data
    return ChargerConfig(
        charge_box_id=data[CONF_CHARGE_BOX_ID],
        password=data.get(CONF_PASSWORD) or None,
        heartbeat_interval=int(data.get(CONF_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_INTERVAL)),
        meter_interval=int(data.get(CONF_METER_INTERVAL, DEFAULT_METER_INTERVAL)),
        lenient=bool(data.get(CONF_LENIENT, False)),
    )


class OcppHooks:
    """The `SessionHooks` of the protocol: the store plus the authoriser."""

    def __init__(self, store: OcppStore, authorizer: Authorizer) -> None:
        """Delegate persistence to `store` and decisions to `authorizer`."""
        self._store = store
        self._authorizer = authorizer

    def next_transaction_id(self) -> int:
        """A transaction id never used before."""
        return self._store.next_transaction_id()

    def authorize(self, charge_box_id: str, id_tag: str) -> dict[str, Any]:
        """The IdTagInfo for `id_tag` at `charge_box_id`."""
        return self._authorizer.authorize(id_tag)

    def open_transactions(self, charge_box_id: str) -> list[Transaction]:
        """Transactions still open when the store was last written."""
        return self._store.open_transactions(charge_box_id)

    def transaction_started(self, charge_box_id: str, tx: Transaction) -> None:
        """Persist a new transaction."""
        self._store.transaction_started(charge_box_id, tx)

    def transaction_updated(self, charge_box_id: str, tx: Transaction) -> None:
        """Persist a transaction's new meter value."""
        self._store.transaction_updated(charge_box_id, tx)

    def transaction_stopped(self, charge_box_id: str, tx: Transaction) -> None:
        """Persist the end of a transaction."""
        self._store.transaction_stopped(charge_box_id, tx)


class OcppChargerSession(ChargerSession):
    """A charger session that reports how the charger takes our interval settings."""

    def __init__(
        self,
        config: ChargerConfig,
        hooks: SessionHooks,
        *,
        on_configuration: Callable[[str, str, str], None],
    ) -> None:
        """Let remote starts from Home Assistant run on several connectors at once.

        Their tag is no card presented: it fires no tag event.
        """
        super().__init__(
            config,
            hooks,
            concurrent_tags=(DEFAULT_REMOTE_ID_TAG,),
            remote_tags=(DEFAULT_REMOTE_ID_TAG,),
        )
        self._on_configuration = on_configuration

    @override
    async def change_configuration(self, key: str, value: str) -> str:
        """ChangeConfiguration; the result for an interval key raises or clears a repair."""
        status = await super().change_configuration(key, value)
        if key in INTERVAL_KEYS:
            self._on_configuration(self.charge_box_id, key, status)
        return status


class _ByChargeBoxId[T](Mapping[str, T]):
    """A read-only view of one part of the running chargers, by charge box id."""

    __slots__ = ("_get", "_records")

    def __init__(
        self, records: Mapping[str, RunningCharger], get: Callable[[RunningCharger], T]
    ) -> None:
        self._records = records
        self._get = get

    def __getitem__(self, charge_box_id: str) -> T:
        return self._get(self._records[charge_box_id])

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)


class OcppRuntime:
    """The central system of one config entry and the chargers it serves."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: OcppConfigEntry,
        *,
        store: OcppStore,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Build the server (not started) with our hooks and unknown-charger policy."""
        self.hass = hass
        self.entry = entry
        self.listen_data = listen_data(entry)
        self._stopped = False
        self.store = store
        self.authorizer = Authorizer()
        self.authorizer.update(entry)
        self.hooks = OcppHooks(store, self.authorizer)
        self.central = CentralSystem(
            host=entry.data[CONF_HOST],
            port=entry.data[CONF_PORT],
            hooks=self.hooks,
            ssl_context=ssl_context,
            unknown_charger=UnknownChargers(hass, entry),
            session_factory=self._new_session,
        )
        # Chargers forwarded to an upstream central system ("Keep your backend").
        self.upstreams = UpstreamForwarding(hass, entry, store)
        # One record per running charger, by subentry id and by charge box id.
        self._chargers: dict[str, RunningCharger] = {}
        self._by_charge_box_id: dict[str, RunningCharger] = {}
        self._listeners: Listeners[[ConfigSubentry, ChargerSession]] = Listeners()
        # Circuits: the chargers' current shared on one supply (load management).
        self.load = LoadManagement(hass, Chargers(entry, self.store, self.running))

    # --- chargers ---

    def _new_session(self, config: ChargerConfig, hooks: SessionHooks) -> ChargerSession:
        return OcppChargerSession(config, hooks, on_configuration=self.async_configuration_result)

    @property
    def chargers(self) -> Mapping[str, ChargerSession]:
        """The running sessions by charger subentry id."""
        return {sid: running.session for sid, running in self._chargers.items()}

    @property
    def limiters(self) -> Mapping[str, CurrentLimiter]:
        """The current limiter of each running charger, by charge box id (read-only)."""
        return _ByChargeBoxId(self._by_charge_box_id, _limiter_of)

    @property
    def solar(self) -> Mapping[str, SolarCharging]:
        """The solar surplus controller of each running charger, by charge box id (read-only).

        It acts once a grid power sensor is configured.
        """
        return _ByChargeBoxId(self._by_charge_box_id, _solar_of)

    def running(self, charge_box_id: str) -> RunningCharger | None:
        """The record of a running charger by its charge box id."""
        return self._by_charge_box_id.get(charge_box_id)

    @callback
    def async_add_charger_listener(self, listener: ChargerListener) -> CALLBACK_TYPE:
        """Call `listener` for every charger set up now and for each one added later."""
        remove = self._listeners.add(listener)
        for subentry_id, running in self._chargers.items():
            listener(self.entry.subentries[subentry_id], running.session)
        return remove

    def session_of_device(self, device_id: str) -> ChargerSession | None:
        """The session of the charger behind `device_id`, None for no charger of this entry.

        A connector's device (see entity.py) stands for its charger.
        """
        registry = dr.async_get(self.hass)
        device = registry.async_get(device_id)
        if isinstance(device, dr.DeviceEntry) and device.via_device_id is not None:
            device = registry.async_get(device.via_device_id)
        if device is not None and device.config_entry_id == self.entry.entry_id:
            for domain, charge_box_id in device.identifiers:
                running = self._by_charge_box_id.get(charge_box_id)
                if domain == DOMAIN and running is not None:
                    return running.session
        return None

    def session_for_device(self, device_id: str) -> ChargerSession:
        """The session of the charger behind `device_id`, or ServiceValidationError."""
        session = self.session_of_device(device_id)
        if session is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_device",
                translation_placeholders={"device_id": device_id},
            )
        return session

    @callback
    def async_sync_entry(self) -> None:
        """Bring chargers, tags and policies in line with the entry, without a reload."""
        wanted = {
            subentry_id: subentry
            for subentry_id, subentry in self.entry.subentries.items()
            if subentry.subentry_type == SUBENTRY_CHARGER
        }
        for subentry_id in [sid for sid in self._chargers if sid not in wanted]:
            self._remove_charger(subentry_id)
        for subentry in wanted.values():
            self._set_charger(subentry)
        self.load.async_sync()
        if self.authorizer.update(self.entry):
            for running in self._chargers.values():
                self._schedule_local_list_sync(running)

    def _set_charger(self, subentry: ConfigSubentry) -> None:
        config = charger_config(subentry)
        self._async_password_issue(config)
        running = self._chargers.get(subentry.subentry_id)
        if running is not None and running.config.charge_box_id != config.charge_box_id:
            self._remove_charger(subentry.subentry_id)
            running = None
        if running is not None:
            running.solar.async_update_options(subentry.data)
            if running.config != config:
                # Intervals apply at once; a new password on the next connection.
                running.session = self.central.set_charger(config)
                running.config = config
            upstream_kept_list = self.upstreams.controls_local_list(config.charge_box_id)
            self.upstreams.async_set(subentry, running.session)
            if upstream_kept_list and not self.upstreams.controls_local_list(config.charge_box_id):
                # The charger holds the upstream's list: ours goes to it again.
                self._schedule_local_list_sync(running)
            return
        session = self.central.set_charger(config)
        self._restore_energy(session)
        limiter = CurrentLimiter(
            session, on_accepted=partial(self.store.set_limit, config.charge_box_id)
        )
        # Shown at once after a restart, applied again once the charger is ready.
        limiter.restore(self.store.limits(config.charge_box_id))
        solar = SolarCharging(self.hass, session.state, limiter, subentry.data)
        # The user's caps of connectors sharing their limit (circuit or shared surplus).
        solar.user_limits = self.store.user_caps(config.charge_box_id)
        solar.phase_mode_of = partial(self.load.phase_mode, config.charge_box_id)
        running = RunningCharger(subentry.subentry_id, config, session, limiter, solar)
        self._chargers[running.subentry_id] = self._by_charge_box_id[config.charge_box_id] = running
        running.unsubscribe.append(solar.async_start())
        self._follow(running)
        self._listeners(subentry, session)
        self.upstreams.async_set(subentry, session)

    def _remove_charger(self, subentry_id: str) -> None:
        running = self._chargers.pop(subentry_id)
        charge_box_id = running.charge_box_id
        del self._by_charge_box_id[charge_box_id]
        running.stop()
        self.upstreams.async_remove(charge_box_id)
        self.store.remove_charger(charge_box_id)
        repairs.async_clear_charger(self.hass, charge_box_id)
        async_remove_devices(self.hass, self.entry.entry_id, charge_box_id)
        self.entry.async_create_task(
            self.hass, self.central.remove_charger(charge_box_id), f"remove {charge_box_id}"
        )

    def _restore_energy(self, session: ChargerSession) -> None:
        """Carry each connector's energy register on from where it was saved.

        The register (value, time and offset, see `protocol.register`) is shown until the
        charger reports again, and its rule goes on from there: a restart never lowers it.
        """
        state = session.state
        for connector_id, saved in self.store.energy_registers(state.charge_box_id).items():
            connector = state.connector(connector_id)
            if ENERGY_REGISTER in connector.registers:
                continue
            connector.registers[ENERGY_REGISTER] = saved.register()
            connector.readings[ENERGY_REGISTER] = Reading(
                saved.value, UnitOfMeasure.wh.value, saved.timestamp
            )

    def _follow(self, running: RunningCharger) -> None:
        """Watch a charger for connections (local list sync) and energy registers."""
        state = running.session.state
        watched: set[int] = set()

        @callback
        def on_connected() -> None:
            # Once per outage and once on return, as the quality scale's log-when-unavailable asks.
            if state.connected:
                _LOGGER.info("Charger %s connected", state.charge_box_id)
            else:
                _LOGGER.info("Charger %s disconnected", state.charge_box_id)

        @callback
        def on_ready() -> None:
            # Not on connect: nothing may reach a charger before its boot is answered
            # (OCPP-J 1.6 section 5.4); the session says when it is.
            if state.ready:
                self._schedule_local_list_sync(running)

        @callback
        def on_readings() -> None:
            for connector_id in watched:
                register = state.connectors[connector_id].registers.get(ENERGY_REGISTER)
                if register is not None:
                    self.store.record_energy(state.charge_box_id, connector_id, register)

        @callback
        def on_connectors() -> None:
            new = [c for c in state.connectors if c not in watched]
            watched.update(new)
            if new:
                running.unsubscribe.append(
                    state.subscribe([(c, READINGS) for c in new], on_readings)
                )

        # The device follows each BootNotification, whichever entities are enabled.
        update_device = partial(async_update_device, self.hass, self.entry.entry_id, state)
        running.unsubscribe.append(state.subscribe([BOOT], update_device))
        running.unsubscribe.append(state.subscribe([CONNECTED], on_connected))
        running.unsubscribe.append(state.subscribe([READY], on_ready))
        running.unsubscribe.append(state.subscribe([CONNECTORS], on_connectors))
        on_connectors()

    # --- local authorisation list (OCPP 1.6 sections 5.10 and 5.15; protocol.local_list) ---

    @callback
    def _schedule_local_list_sync(self, running: RunningCharger) -> None:
        """Sync soon; one sync per charger at a time, the next one after it (never cut short)."""
        if not running.session.state.ready:
            return  # synchronised when it becomes ready
        if self.upstreams.controls_local_list(running.charge_box_id):
            return  # mode full: the upstream's SendLocalList keeps the charger's list
        if running.sync_task is not None and not running.sync_task.done():
            running.sync_again = True
            return
        running.sync_task = self.entry.async_create_background_task(
            self.hass, self._sync_local_list(running), f"local list {running.charge_box_id}"
        )

    async def _sync_local_list(self, running: RunningCharger) -> None:
        session = running.session
        charge_box_id = running.charge_box_id
        while True:
            running.sync_again = False
            try:
                result = await local_list.synchronise(
                    session, self.authorizer.local_list(), self.store.local_list(charge_box_id)
                )
            except (NotConnectedError, CallTimeoutError, CallErrorReceived) as err:
                # A lasting failure was reported by the session's SetupRetry.
                _LOGGER.debug("%s: local list not synchronised: %s", charge_box_id, err)
            else:
                self._local_list_result(charge_box_id, result)
            if not running.sync_again:
                return

    @callback
    def _local_list_result(self, charge_box_id: str, result: local_list.SyncResult) -> None:
        """Remember what the charger holds; show a refusal as a repair issue until it passes."""
        known = self.store.local_list(charge_box_id)
        if result.held is None:
            if known is not None:
                self.store.forget_local_list(charge_box_id)
        elif known is None or result.held != known:
            self.store.set_local_list(charge_box_id, result.held.version, result.held.entries)
        if not result.refused:
            repairs.async_clear(self.hass, ISSUE_LOCAL_LIST_REFUSED, charge_box_id)
            return
        placeholders = {"charge_box_id": charge_box_id, "status": result.status}
        if repairs.async_raise(self.hass, ISSUE_LOCAL_LIST_REFUSED, charge_box_id, placeholders):
            # Once per problem; the repair issue shows it for as long as it lasts.
            _LOGGER.warning(
                "%s refused the local authorisation list (%s): %s",
                charge_box_id,
                result.update_type or Action.get_local_list_version,
                result.status,
            )

    # --- repairs ---

    @callback
    def async_configuration_result(self, charge_box_id: str, key: str, status: str) -> None:
        """Raise or clear the repair issue of a charger refusing our interval settings."""
        kind = ISSUE_CHARGER_REJECTED_CONFIGURATION
        if succeeded(Action.change_configuration, status):
            repairs.async_clear(self.hass, kind, charge_box_id)
            return
        placeholders = {"charge_box_id": charge_box_id, "key": key, "status": status}
        repairs.async_raise(self.hass, kind, charge_box_id, placeholders)

    @callback
    def _async_password_issue(self, config: ChargerConfig) -> None:
        """Raise a warning for a charger admitted without a password; clear it once it has one.

        Without one, anybody on the network can connect with the charger's identity (the
        security whitepaper's profile 1, section 2, adds HTTP Basic authentication). The
        issue is not persistent (raised again at each start from the configuration), so
        one the user ignored stays ignored.
        """
        charge_box_id = config.charge_box_id
        if config.password is not None:
            repairs.async_clear(self.hass, ISSUE_CHARGER_WITHOUT_PASSWORD, charge_box_id)
            return
        placeholders = {"charge_box_id": charge_box_id}
        repairs.async_raise(self.hass, ISSUE_CHARGER_WITHOUT_PASSWORD, charge_box_id, placeholders)

    # --- life cycle ---

    async def async_stop(self) -> None:
        """Close the server and every connection, then write the store (once)."""
        if self._stopped:
            return
        self._stopped = True
        self.load.async_stop()
        for running in self._chargers.values():
            running.stop()
        await self.upstreams.async_stop()
        await self.central.stop()
        await self.store.async_save()


def _limiter_of(running: RunningCharger) -> CurrentLimiter:
    return running.limiter


def _solar_of(running: RunningCharger) -> SolarCharging:
    return running.solar
