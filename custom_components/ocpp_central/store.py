"""What the central system must remember across Home Assistant restarts.

One store per config entry holds the transaction counter, each charger's open
transactions, the last energy register per connector, the local authorisation
list last sent to each charger and, for a charger forwarded to an upstream central
system, what its link must not lose (`protocol.upstream.UpstreamLink.snapshot`: the
messages queued for the upstream, the transaction id mapping). It implements the
persistence half of the protocol's `SessionHooks` (`next_transaction_id`,
`open_transactions`, `transaction_*`); the runtime adds `authorize`.

Transaction ids are integers the central system hands out in StartTransaction.conf
(OCPP 1.6 section 6.46) and must never be reused, even after a crash: ids are taken
from a block whose upper bound was written to disk before the first id of it was
handed out (`async_load` reserves the first block and waits for the write).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
import logging
from typing import Any, Final, NamedTuple, NotRequired, TypedDict, override

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .protocol.local_list import LocalList
from .protocol.register import EnergyRegister
from .protocol.state import Transaction

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION: Final = 1
STORAGE_MINOR_VERSION: Final = 1
# Ids reserved on disk ahead of use. A new block is written once half of the current
# one is used, so a write has many transactions' time to land before the block runs out.
TRANSACTION_ID_BLOCK: Final = 100
# Meter values arrive every few seconds per charger; their writes are coalesced, but a
# change waits at most this long (seconds) to be written, however many follow it: what a
# crash can lose of the energy register.
METER_SAVE_DELAY: Final = 30.0


class StoredTransaction(TypedDict):
    """An open transaction as written to disk."""

    transaction_id: int
    connector_id: int
    id_tag: str
    meter_start: float
    start_time: str
    meter_last: float | None
    last_update: str | None
    reservation_id: int | None
    meter_offset: NotRequired[float]  # absent in older files: 0


class StoredEnergy(TypedDict):
    """The energy register one connector publishes (see `protocol.register`)."""

    value: float
    timestamp: str
    offset: NotRequired[float]  # absent in older files: 0


class EnergyState(NamedTuple):
    """A connector's published energy register (Wh), its time and its offset."""

    value: float
    timestamp: datetime
    offset: float = 0.0

    def register(self) -> EnergyRegister:
        """A register that carries on from this state."""
        return EnergyRegister(self.value, self.timestamp, self.offset)


class StoredLocalList(TypedDict):
    """The local authorisation list as last accepted by a charger (SendLocalList)."""

    version: int
    entries: dict[str, dict[str, Any]]


class StoredCharger(TypedDict, total=False):
    """Everything remembered of one charger."""

    transactions: list[StoredTransaction]
    energy: dict[str, StoredEnergy]
    local_list: StoredLocalList
    limits: dict[str, float]  # the current limit (A) we set, by connector id
    caps: dict[str, float]  # the user's cap (A) of a connector whose limit is shared, by id
    upstream: dict[str, Any]  # the upstream link's snapshot (protocol.upstream)


class StoredData(TypedDict):
    """The whole store."""

    transaction_id_reserved: int
    next_transaction_id: int
    chargers: dict[str, StoredCharger]


# The local list a charger holds, as far as we know (OCPP 1.6 section 5.15).
LocalListState = LocalList


@dataclass(slots=True)
class _Charger:
    transactions: dict[int, Transaction] = field(default_factory=dict)
    energy: dict[int, EnergyState] = field(default_factory=dict)
    local_list: LocalListState | None = None
    limits: dict[int, float] = field(default_factory=dict)
    caps: dict[int, float] = field(default_factory=dict)
    # The upstream link's data as loaded, and the link's snapshot function once it runs
    # (read at each write, so a queued message costs nothing until then).
    upstream: dict[str, Any] | None = None
    upstream_source: Callable[[], dict[str, Any]] | None = None


def _empty() -> StoredData:
    return {"transaction_id_reserved": 1, "next_transaction_id": 1, "chargers": {}}


class _OcppStorage(Store[StoredData]):
    """The storage file, with its migration hook."""

    @override
    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> StoredData:
        """Bring data written by an older version to the current layout.

        Minor versions only add keys, which this fills with defaults (a newer major
        version is refused by `Store` itself rather than misread).
        """
        migrated = _empty()
        migrated.update(old_data)  # type: ignore[typeddict-item]
        return migrated


def _transaction_to_dict(tx: Transaction) -> StoredTransaction:
    return {
        "transaction_id": tx.transaction_id,
        "connector_id": tx.connector_id,
        "id_tag": tx.id_tag,
        "meter_start": tx.meter_start,
        "start_time": tx.start_time.isoformat(),
        "meter_last": tx.meter_last,
        "last_update": None if tx.last_update is None else tx.last_update.isoformat(),
        "reservation_id": tx.reservation_id,
        "meter_offset": tx.meter_offset,
    }


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else dt_util.parse_datetime(value)


def _transaction_from_dict(data: StoredTransaction) -> Transaction:
    return Transaction(
        transaction_id=int(data["transaction_id"]),
        connector_id=int(data["connector_id"]),
        id_tag=data["id_tag"],
        meter_start=float(data["meter_start"]),
        start_time=_parse_time(data["start_time"]) or dt_util.utcnow(),
        meter_last=None if data.get("meter_last") is None else float(data["meter_last"]),  # type: ignore[arg-type]
        last_update=_parse_time(data.get("last_update")),
        reservation_id=data.get("reservation_id"),
        meter_offset=float(data.get("meter_offset", 0.0)),
    )


class OcppStore:
    """Transaction counter, open transactions, energy registers and local lists of one entry."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Prepare the store of config entry `entry_id`; call `async_load` before use."""
        self._hass = hass
        self._storage = _OcppStorage(
            hass,
            STORAGE_VERSION,
            f"{DOMAIN}.{entry_id}",
            minor_version=STORAGE_MINOR_VERSION,
            atomic_writes=True,
        )
        self._next_id = 1
        self._reserved = 1
        self._chargers: dict[str, _Charger] = {}
        self._save_timer: CALLBACK_TYPE | None = None

    async def async_load(self) -> None:
        """Read the file and reserve a first block of transaction ids on disk."""
        data = await self._storage.async_load() or _empty()
        for charge_box_id, stored in data.get("chargers", {}).items():
            self._chargers[charge_box_id] = self._charger_from_dict(stored)
        highest_open = max(
            (tx for charger in self._chargers.values() for tx in charger.transactions),
            default=0,
        )
        # Ids below the reserved bound may have been handed out before a crash.
        self._next_id = max(
            int(data.get("transaction_id_reserved", 1)),
            int(data.get("next_transaction_id", 1)),
            highest_open + 1,
        )
        self._reserved = self._next_id + TRANSACTION_ID_BLOCK
        await self.async_save()

    @staticmethod
    def _charger_from_dict(stored: StoredCharger) -> _Charger:
        charger = _Charger()
        for item in stored.get("transactions", []):
            tx = _transaction_from_dict(item)
            charger.transactions[tx.transaction_id] = tx
        for connector, energy in stored.get("energy", {}).items():
            when = _parse_time(energy["timestamp"]) or dt_util.utcnow()
            charger.energy[int(connector)] = EnergyState(
                float(energy["value"]), when, float(energy.get("offset", 0.0))
            )
        if (local := stored.get("local_list")) is not None:
            charger.local_list = LocalListState(local["version"], dict(local["entries"]))
        charger.limits = {int(c): float(a) for c, a in stored.get("limits", {}).items()}
        charger.caps = {int(c): float(a) for c, a in stored.get("caps", {}).items()}
        charger.upstream = stored.get("upstream")
        return charger

    def _to_dict(self) -> StoredData:
        chargers: dict[str, StoredCharger] = {}
        for charge_box_id, charger in self._chargers.items():
            stored: StoredCharger = {
                "transactions": [_transaction_to_dict(tx) for tx in charger.transactions.values()],
                "energy": {
                    str(connector): {
                        "value": energy.value,
                        "timestamp": energy.timestamp.isoformat(),
                        "offset": energy.offset,
                    }
                    for connector, energy in charger.energy.items()
                },
            }
            if charger.limits:
                stored["limits"] = {str(c): a for c, a in charger.limits.items()}
            if charger.caps:
                stored["caps"] = {str(c): a for c, a in charger.caps.items()}
            upstream = (
                charger.upstream if charger.upstream_source is None else charger.upstream_source()
            )
            if upstream is not None:
                stored["upstream"] = upstream
            if charger.local_list is not None:
                stored["local_list"] = {
                    "version": charger.local_list.version,
                    "entries": dict(charger.local_list.entries),
                }
            chargers[charge_box_id] = stored
        return {
            "transaction_id_reserved": self._reserved,
            "next_transaction_id": self._next_id,
            "chargers": chargers,
        }

    async def async_save(self) -> None:
        """Write everything now (setup, unload, Home Assistant stop)."""
        self._cancel_save_timer()
        await self._storage.async_save(self._to_dict())

    @callback
    def _save_soon(self) -> None:
        """Write now without waiting: transaction starts and stops must not be lost."""
        self._hass.async_create_task(self.async_save(), "ocpp_central store save", eager_start=True)

    @callback
    def _save_later(self) -> None:
        """Write within METER_SAVE_DELAY of the oldest unsaved change.

        A bound, not a debounce: a debounce (`Store.async_delay_save`) is postponed by
        every meter value, so while a charger keeps sending, nothing is written, and a
        crash loses the whole session's register.
        """
        if self._save_timer is None:
            self._save_timer = async_call_later(self._hass, METER_SAVE_DELAY, self._save_due)

    @callback
    def _save_due(self, _now: datetime) -> None:
        self._save_timer = None
        self._save_soon()

    def _cancel_save_timer(self) -> None:
        if self._save_timer is not None:
            self._save_timer()
            self._save_timer = None

    def _charger(self, charge_box_id: str) -> _Charger:
        return self._chargers.setdefault(charge_box_id, _Charger())

    # --- SessionHooks (persistence half) ---

    def next_transaction_id(self) -> int:
        """Hand out a transaction id never used before by this entry."""
        transaction_id = self._next_id
        self._next_id = transaction_id + 1
        if self._next_id + TRANSACTION_ID_BLOCK // 2 > self._reserved:
            self._reserved = self._next_id + TRANSACTION_ID_BLOCK
            self._save_soon()
        return transaction_id

    def open_transactions(self, charge_box_id: str) -> list[Transaction]:
        """Return the transactions of `charge_box_id` still open when we last ran."""
        charger = self._chargers.get(charge_box_id)
        return [] if charger is None else list(charger.transactions.values())

    def transaction_started(self, charge_box_id: str, tx: Transaction) -> None:
        """Remember a new transaction at once."""
        self._charger(charge_box_id).transactions[tx.transaction_id] = tx
        self._save_soon()

    def transaction_updated(self, charge_box_id: str, tx: Transaction) -> None:
        """Remember the transaction's latest meter value (written within METER_SAVE_DELAY)."""
        self._charger(charge_box_id).transactions[tx.transaction_id] = tx
        self._save_later()

    def transaction_stopped(self, charge_box_id: str, tx: Transaction) -> None:
        """Forget a finished transaction at once."""
        self._charger(charge_box_id).transactions.pop(tx.transaction_id, None)
        self._save_soon()

    # --- energy registers (the connector's, as published; recorded by the runtime) ---

    def energy_register(self, charge_box_id: str, connector_id: int) -> EnergyState | None:
        """Return a connector's last published energy register, or None if never seen."""
        charger = self._chargers.get(charge_box_id)
        return None if charger is None else charger.energy.get(connector_id)

    def energy_registers(self, charge_box_id: str) -> dict[int, EnergyState]:
        """Return the last energy register of every connector of `charge_box_id`."""
        charger = self._chargers.get(charge_box_id)
        return {} if charger is None else dict(charger.energy)

    def record_energy(
        self, charge_box_id: str, connector_id: int, register: EnergyRegister
    ) -> None:
        """Remember what a connector's register publishes (written within METER_SAVE_DELAY)."""
        if register.value is None or register.timestamp is None:
            return
        state = EnergyState(register.value, register.timestamp, register.offset)
        charger = self._charger(charge_box_id)
        if charger.energy.get(connector_id) == state:
            return
        charger.energy[connector_id] = state
        self._save_later()

    # --- local authorisation lists ---

    def local_list(self, charge_box_id: str) -> LocalListState | None:
        """Return the local list `charge_box_id` holds, or None before the first full sync."""
        charger = self._chargers.get(charge_box_id)
        return None if charger is None else charger.local_list

    def set_local_list(
        self, charge_box_id: str, version: int, entries: dict[str, dict[str, Any]]
    ) -> None:
        """Remember the list a charger accepted, at once."""
        self._charger(charge_box_id).local_list = LocalListState(version, dict(entries))
        self._save_soon()

    def forget_local_list(self, charge_box_id: str) -> None:
        """The charger's list is unknown now (a full update failed): send it in full next."""
        charger = self._chargers.get(charge_box_id)
        if charger is not None and charger.local_list is not None:
            charger.local_list = None
            self._save_soon()

    # --- current limits (smart charging) ---

    def limits(self, charge_box_id: str) -> dict[int, float]:
        """The current limit (A) last set and accepted, by connector id."""
        charger = self._chargers.get(charge_box_id)
        return {} if charger is None else dict(charger.limits)

    def set_limit(self, charge_box_id: str, connector_id: int, amps: float) -> None:
        """Remember a limit the charger accepted, at once: after a crash it is sent again.

        Limits change at most once per control period of a charger, not with each message.
        """
        limits = self._charger(charge_box_id).limits
        if limits.get(connector_id) != amps:
            limits[connector_id] = amps
            self._save_soon()

    def user_caps(self, charge_box_id: str) -> dict[int, float]:
        """The user's caps (A) of connectors whose limit a circuit or shared solar sets."""
        charger = self._chargers.get(charge_box_id)
        return {} if charger is None else dict(charger.caps)

    def set_user_cap(self, charge_box_id: str, connector_id: int, amps: float | None) -> None:
        """Remember (None: forget) a user's cap, at once: a restart keeps it."""
        caps = self._charger(charge_box_id).caps
        if caps.get(connector_id) != amps:
            if amps is None:
                caps.pop(connector_id, None)
            else:
                caps[connector_id] = amps
            self._save_soon()

    # --- forwarding to an upstream central system (protocol.upstream) ---

    def upstream(self, charge_box_id: str) -> dict[str, Any] | None:
        """The upstream link's data as last written (queue, transaction ids), if any."""
        charger = self._chargers.get(charge_box_id)
        if charger is None:
            return None
        if charger.upstream_source is not None:
            return charger.upstream_source()
        return charger.upstream

    def follow_upstream(
        self, charge_box_id: str, source: Callable[[], dict[str, Any]] | None
    ) -> None:
        """Write `source()` as the charger's upstream data from now on (None: keep the data).

        The link calls `upstream_changed` when its data changed.
        """
        charger = self._charger(charge_box_id)
        if source is None and charger.upstream_source is not None:
            charger.upstream = charger.upstream_source()
        charger.upstream_source = source

    @callback
    def upstream_changed(self) -> None:
        """The upstream data changed: written within METER_SAVE_DELAY.

        Most changes are queued MeterValues; the transaction messages among them are
        written at once anyway, with the transaction itself (`transaction_started`).
        """
        self._save_later()

    def forget_upstream(self, charge_box_id: str) -> None:
        """Forwarding was turned off: drop its queue and ids."""
        charger = self._chargers.get(charge_box_id)
        if charger is not None and (charger.upstream or charger.upstream_source):
            charger.upstream = None
            charger.upstream_source = None
            self._save_soon()

    # --- chargers ---

    def remove_charger(self, charge_box_id: str) -> None:
        """Forget everything about a charger removed from the configuration."""
        if self._chargers.pop(charge_box_id, None) is not None:
            self._save_soon()

    def summary(self) -> dict[str, Any]:
        """Describe the store for diagnostics (id tags left to the caller to redact)."""
        return {
            "next_transaction_id": self._next_id,
            "transaction_id_reserved": self._reserved,
            "chargers": {
                charge_box_id: {
                    "open_transactions": [
                        _transaction_to_dict(tx) for tx in charger.transactions.values()
                    ],
                    "energy": {str(k): v.value for k, v in charger.energy.items()},
                    "local_list_version": (
                        None if charger.local_list is None else charger.local_list.version
                    ),
                }
                for charge_box_id, charger in self._chargers.items()
            },
        }

    async def async_remove(self) -> None:
        """Delete the file (the config entry was removed)."""
        self._cancel_save_timer()
        await self._storage.async_remove()
