"""What the central system knows of one charger, and who to tell when it changes.

The session writes these objects; everything else (Home Assistant entities, diagnostics,
the smart-charging controller) only reads them. A change is announced once per handled
message as a set of keys `(connector_id, field)`, so a listener learns what changed
without comparing whole objects. Connector 0 is the charger itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
import logging
from typing import Any

from .listeners import Listeners
from .register import EnergyRegister
from .vocabulary import ChargePointStatus, ReadingContext, UnitOfMeasure

_LOGGER = logging.getLogger(__name__)

# Keys of change notifications: (connector_id, field). Fields in use:
#   connector 0: "connected", "ready", "boot", "heartbeat", "firmware_status",
#                "diagnostics_status", "connectors" (a connector appeared),
#                "configuration", "security_event"
#   every connector (0 too): "status", "readings", "transaction", "current_limit"
type StateKey = tuple[int, str]
type Listener = Callable[[], None]
type EventListener = Callable[[ChargerEvent], None]

CONNECTED: StateKey = (0, "connected")
# The connection is ready for the central system's own calls: the charger's boot was
# accepted and answered, or a charger reconnecting without boot was resynchronised.
READY: StateKey = (0, "ready")
BOOT: StateKey = (0, "boot")
HEARTBEAT: StateKey = (0, "heartbeat")
FIRMWARE_STATUS: StateKey = (0, "firmware_status")
DIAGNOSTICS_STATUS: StateKey = (0, "diagnostics_status")
CONNECTORS: StateKey = (0, "connectors")
CONFIGURATION: StateKey = (0, "configuration")
SECURITY_EVENT: StateKey = (0, "security_event")
STATUS = "status"
READINGS = "readings"
TRANSACTION = "transaction"
CURRENT_LIMIT = "current_limit"
# The timestamp of a value known without a sample: older than any sample.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class BootInfo:
    """The identity a charger gave in its BootNotification (OCPP 1.6 section 6.2)."""

    vendor: str
    model: str
    serial_number: str | None = None
    charge_box_serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None


@dataclass(slots=True)
class Reading:
    """One sampled value, normalised to base units: W, Wh, var, varh, A, V, %, Celsius, Hz."""

    value: float
    unit: str
    timestamp: datetime
    context: str = ReadingContext.sample_periodic.value
    location: str | None = None


@dataclass(slots=True)
class Transaction:
    """A charging session as the central system records it.

    `meter_start` is the charger's energy register in Wh at the start, `meter_last` the
    transaction's register as `EnergyRegister` publishes it (in timestamp order, never
    backwards, carried across a meter restart by `meter_offset`); session energy is their
    difference (meterStart 0 is valid).
    """

    transaction_id: int
    connector_id: int
    id_tag: str
    meter_start: float
    start_time: datetime
    meter_last: float | None = None
    last_update: datetime | None = None
    reservation_id: int | None = None
    stop_time: datetime | None = None
    stop_reason: str | None = None
    meter_offset: float = 0.0
    # The connector reported a status in ENDED_STATUSES after this transaction started (in
    # the order messages arrived, not by timestamps: charger clocks drift): it no longer
    # runs, though its StopTransaction may still come.
    ended_by_status: bool = field(default=False, compare=False)
    _register: EnergyRegister | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def energy(self) -> float:
        """Energy delivered in this session so far, in Wh (never negative)."""
        if self.meter_last is None:
            return 0.0
        return max(0.0, self.meter_last - self.meter_start)

    def advance(self, raw: float, timestamp: datetime) -> bool:
        """Take a sample of the charger's register; return whether `meter_last` changed."""
        register = self._register
        if register is None:
            last = self.meter_start if self.meter_last is None else self.meter_last
            register = self._register = EnergyRegister(
                last, self.last_update or self.start_time, self.meter_offset
            )
        if not register.update(raw, timestamp):
            return False
        self.meter_last, self.last_update = register.value, register.timestamp
        self.meter_offset = register.offset
        return True


# ChargePointStatus values (OCPP 1.6 section 7.7) a connector reports only once its
# transaction ended: reported after a transaction's start, they show the transaction no
# longer runs, whether or not its StopTransaction came (a charger that rebooted and lost it,
# or one that sends it later from its queue). Faulted and the suspended states may come
# mid-transaction; Preparing may follow a StartTransaction sent before the cable was plugged;
# Finishing usually comes before the StopTransaction of a session that ends normally.
ENDED_STATUSES: frozenset[str] = frozenset(
    {
        ChargePointStatus.available,
        ChargePointStatus.reserved,
        ChargePointStatus.unavailable,
    }
)


@dataclass(slots=True)
class ConnectorState:
    """One connector (or, for id 0, the charger as a whole)."""

    connector_id: int
    status: str | None = None  # ChargePointStatus, e.g. "Charging"
    error_code: str | None = None  # ChargePointErrorCode, e.g. "NoError"
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    status_time: datetime | None = None
    # Latest value per measurand, keyed "Measurand" or "Measurand.Phase", e.g.
    # "Energy.Active.Import.Register", "Current.Import.L1", "Voltage.L1-N". A reading
    # is only replaced by one at least as new (the charger's timestamps); a register's
    # reading is the value its EnergyRegister in `registers` publishes.
    readings: dict[str, Reading] = field(default_factory=dict)
    registers: dict[str, EnergyRegister] = field(default_factory=dict)
    transaction: Transaction | None = None
    # The limit in A the charger accepted last (None: never limited by us).
    current_limit: float | None = None

    @property
    def running_transaction(self) -> Transaction | None:
        """The transaction running on this connector; None when none runs.

        The one rule for it: a transaction runs from its StartTransaction until it has a
        stop time (its StopTransaction, or the start that superseded it; the session clears
        `transaction` then), or until the connector reports, after the start, a status in
        ENDED_STATUSES. The transaction stays open for its StopTransaction meanwhile.
        """
        tx = self.transaction
        if tx is None or tx.stop_time is not None or tx.ended_by_status:
            return None
        return tx

    def reading(self, key: str) -> float | None:
        """Return the latest value for `key`, or None when the charger never sent it."""
        found = self.readings.get(key)
        return None if found is None else found.value

    def hold_register(self, key: str, value: float) -> bool:
        """Never publish register `key` below `value` (`EnergyRegister.hold`).

        Return whether the reading rose; the caller announces (connector_id, READINGS).
        """
        register = self.registers.get(key)
        if register is None:
            register = self.registers[key] = EnergyRegister()
        if not register.hold(value):
            return False
        previous = self.readings.get(key)
        # Not newer than what the charger sent: its next sample still applies.
        timestamp = previous.timestamp if previous is not None else register.timestamp or EPOCH
        self.readings[key] = Reading(value, UnitOfMeasure.wh.value, timestamp)
        return True


@dataclass(slots=True)
class ConfigurationValue:
    """One key of the charger's configuration (GetConfiguration)."""

    value: str | None
    readonly: bool = False


@dataclass(slots=True, frozen=True)
class ChargerEvent:
    """Something that happened rather than a state: a tag presented, a session started.

    "id_tag" fires once per card presented (an Authorize and the StartTransaction that
    follows it are one presentation) and never for a remote start.
    """

    connector_id: int
    kind: str  # "id_tag" or "session"
    # id_tag: accepted/blocked/expired/invalid/concurrent_tx/unknown; session: started/stopped
    event_type: str
    # id_tag: {"id_tag"}; session started: {"transaction_id", "id_tag", "meter_start"};
    # session stopped: {"transaction_id", "id_tag", "energy_wh", "duration_s", "reason"}, the
    # reason as the StopTransaction gave it (section 7.36), or "Superseded" when a new start on
    # the connector closed a transaction whose stop never came
    data: dict[str, Any]


class ChargerState:
    """Everything known of one charger, with change notification by key."""

    __slots__ = (
        "_event_listeners",
        "_listeners",
        "boot",
        "charge_box_id",
        "configuration",
        "connected",
        "connectors",
        "diagnostics_status",
        "firmware_status",
        "last_heartbeat",
        "last_security_event",
        "notifications",
        "ready",
        "registration",
    )

    def __init__(self, charge_box_id: str) -> None:
        """Start with what we know before the charger ever connected: nothing."""
        self.charge_box_id = charge_box_id
        self.connected = False
        self.ready = False  # see READY
        self.registration: str | None = None  # Accepted / Pending / Rejected
        self.boot: BootInfo | None = None
        self.last_heartbeat: datetime | None = None
        self.firmware_status: str | None = None
        self.diagnostics_status: str | None = None
        self.last_security_event: dict[str, Any] | None = None
        self.connectors: dict[int, ConnectorState] = {0: ConnectorState(0)}
        self.configuration: dict[str, ConfigurationValue] = {}
        self._listeners: dict[StateKey, tuple[Listener, ...]] = {}
        self._event_listeners: Listeners[[ChargerEvent]] = Listeners()
        # Counts `notify` calls: what the listeners of one call hear comes from one cause
        # (a message, a command's answer), which they may tell apart by this number.
        self.notifications = 0

    def connector(self, connector_id: int) -> ConnectorState:
        """Return connector `connector_id`, creating it if new.

        A connector, once created, is never replaced: readers may hold on to it.
        """
        found = self.connectors.get(connector_id)
        if found is None:
            found = self.connectors[connector_id] = ConnectorState(connector_id)
        return found

    @property
    def connector_ids(self) -> list[int]:
        """Real connectors (1..n) in order, without the charger itself (0)."""
        return sorted(c for c in self.connectors if c > 0)

    def subscribe(self, keys: Iterable[StateKey], listener: Listener) -> Callable[[], None]:
        """Call `listener` whenever one of `keys` changes; return the unsubscribe function."""
        keys = tuple(keys)
        listeners = self._listeners
        # Tuples, not lists: a key's listeners change only when entities come and go, and
        # a tuple is half a list's memory (no separate, over-allocated item array), for
        # each of the keys of every charger.
        for key in keys:
            listeners[key] = (*listeners.get(key, ()), listener)
        # A partial, not a closure: a few hundred bytes less for each of the ~30
        # subscriptions of every charger.
        return partial(self._unsubscribe, keys, listener)

    def _unsubscribe(self, keys: tuple[StateKey, ...], listener: Listener) -> None:
        for key in keys:
            listeners = self._listeners.get(key, ())
            if listener in listeners:
                at = listeners.index(listener)
                if rest := listeners[:at] + listeners[at + 1 :]:
                    self._listeners[key] = rest
                else:
                    del self._listeners[key]

    async def until_ready(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until the connected charger is ready (its boot answered or its resync done).

        True once ready; False when it is not connected, loses its connection meanwhile or
        is not ready within `timeout` seconds (None: no limit). OCPP-J 5.4: a charger
        refuses CALLs before its boot is answered, so commands wait here rather than fail
        there (the current limiter's, an upstream's).
        """
        if self.ready:
            return True
        changed = asyncio.Event()
        unsubscribe = self.subscribe((READY, CONNECTED), changed.set)
        try:
            async with asyncio.timeout(timeout):
                while self.connected and not self.ready:
                    changed.clear()
                    await changed.wait()
        except TimeoutError:
            return False
        finally:
            unsubscribe()
        return self.ready

    def subscribe_events(self, listener: EventListener) -> Callable[[], None]:
        """Call `listener` with every ChargerEvent; return the unsubscribe function."""
        return self._event_listeners.add(listener)

    def notify(self, changed: Iterable[StateKey]) -> None:
        """Tell each listener of `changed` once, however many of its keys changed."""
        self.notifications += 1
        listeners = self._listeners
        # Insertion-ordered and without repeats; cheaper than a membership test per listener.
        called: dict[Listener, None] = {}
        for key in changed:
            for listener in listeners.get(key, ()):
                called[listener] = None
        for listener in called:
            try:
                listener()
            except Exception:
                # Listeners run inside the handling of a charger's message: one failing
                # (a bug in an entity) must not turn the charger's reply into an error,
                # nor keep the other listeners from hearing of the change.
                _LOGGER.exception("%s: state listener failed", self.charge_box_id)

    def emit(self, event: ChargerEvent) -> None:
        """Hand `event` to every event listener (isolated from each other, as in notify)."""
        for listener in self._event_listeners:
            try:
                listener(event)
            except Exception:
                _LOGGER.exception("%s: event listener failed", self.charge_box_id)
