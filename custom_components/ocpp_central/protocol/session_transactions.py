"""Transactions of one charger and the readings that advance them (OCPP 1.6 section 3.5).

`Transactions` is the part of `ChargerSession` that keeps the books the handlers of
StartTransaction, MeterValues, StatusNotification and StopTransaction write: at most one
open transaction per connector (a new start supersedes the one before, `_supersede`),
readings stored in timestamp order (`_apply_readings`), live values ended when nothing
runs any more (`_end_live_values`), and the "session" and "id_tag" events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
import logging
from typing import Any, Final

from .measurands import (
    DEFAULT_LOCATION,
    ENERGY_REGISTER,
    SESSION_CAR,
    SESSION_FLOWS,
    is_register,
    measurand_of,
)
from .register import EnergyRegister
from .session_core import SessionCore
from .state import (
    EPOCH,
    READINGS,
    TRANSACTION,
    ChargerEvent,
    ConnectorState,
    Reading,
    StateKey,
    Transaction,
)
from .tags import same_tag
from .vocabulary import AuthorizationStatus, Measurand, ReadingContext, UnitOfMeasure

__all__ = ["MAX_SUPERSEDED_REMEMBERED", "SUPERSEDED", "TX_END", "Transactions", "register_reading"]

_LOGGER = logging.getLogger(__name__)

# IdTagInfo status (section 7.2) -> event_type of an "id_tag" ChargerEvent.
_ID_TAG_EVENTS: Final = {status: status.name for status in AuthorizationStatus}
TX_END: Final = ReadingContext.transaction_end.value  # section 7.39
_POWER: Final = Measurand.power_active_import.value
_CURRENT: Final = Measurand.current_import.value
# How much later than the reading it replaces a 0 left by a session's end is timestamped.
_TICK: Final = timedelta(microseconds=1)
# The stop reason we give a transaction closed because a new one started on its connector
# without its StopTransaction (not one of section 7.36's: the charger never said why).
SUPERSEDED: Final = "Superseded"
# Ids of superseded transactions remembered to recognise their late StopTransaction; a
# charger starting without ever stopping must not grow memory.
MAX_SUPERSEDED_REMEMBERED: Final = 32


class Transactions(SessionCore):
    """The open transactions, the connectors' readings and the events they bring."""

    @property
    def transactions(self) -> dict[int, Transaction]:
        """Open transactions by id, one per connector at most (a copy; the objects are live)."""
        return dict(self._transactions)

    @property
    def tag_window(self) -> float:
        """Seconds a StartTransaction may follow the Authorize or remote start of its tag."""
        return self._presented.window

    @tag_window.setter
    def tag_window(self, seconds: float) -> None:
        self._presented.window = self._remote_started.window = seconds

    def _restore(self, open_transactions: Iterable[Transaction]) -> None:
        """Take the transactions a store still has open (at startup, nothing announced)."""
        restored: set[StateKey] = set()
        for tx in sorted(open_transactions, key=_start_order):
            # A store may hold several per connector (written before superseding existed).
            connector = self.state.connector(tx.connector_id)
            self._supersede(connector, restored)
            self._transactions[tx.transaction_id] = tx
            connector.transaction = tx
        # Nobody listens yet; closing a leftover of a past run is no news to announce.
        self._events.clear()

    def _apply_readings(
        self,
        connector: ConnectorState,
        parsed: list[tuple[str, Reading]],
        tx: Transaction | None,
        changed: set[StateKey],
    ) -> bool:
        """Store readings on the connector in timestamp order; advance `tx` by its register.

        A reading older than the one held for its key is left out (a MeterValues queued
        offline and delivered after newer ones, the history in a StopTransaction); an
        energy register goes through its `EnergyRegister` (never backwards). Return
        whether `tx`'s register moved.
        """
        readings = connector.readings
        registers = connector.registers
        stored = advanced = False
        for key, sample in parsed:
            if key == ENERGY_REGISTER and tx is not None:
                advanced = tx.advance(sample.value, sample.timestamp) or advanced
            previous = readings.get(key)
            if previous is not None and sample.timestamp < previous.timestamp:
                continue
            reading = sample
            if is_register(key):
                register = registers.get(key)
                if register is None:
                    register = registers[key] = EnergyRegister()
                if not register.update(sample.value, sample.timestamp):
                    continue
                value = register.value
                if value is not None and value != sample.value:  # after a meter restart
                    reading = replace(sample, value=value)
            readings[key] = reading
            stored = True
        if stored:
            changed.add((connector.connector_id, READINGS))
        return advanced

    def _record_register(
        self,
        connector: ConnectorState,
        value: float,
        timestamp: datetime,
        context: str,
        changed: set[StateKey],
    ) -> None:
        """Take meterStart/meterStop as a sample of the connector's register.

        A charger that sends no MeterValues still moves the register the Energy dashboard
        reads; the register's rule (`EnergyRegister`) decides, as for any sample.
        """
        self._apply_readings(
            connector,
            [(ENERGY_REGISTER, register_reading(value, timestamp, context))],
            None,
            changed,
        )

    def _end_live_values(
        self, connector: ConnectorState, moment: datetime | None, changed: set[StateKey]
    ) -> None:
        """No transaction runs on `connector` any more: what flowed to the car is over.

        Most chargers send no last sample (MeterValuesInTxOnly, an empty
        StopTxnSampledData, section 9.1), so power and currents, total and per phase, go
        to 0 and the car's state of charge to unknown; what belongs to the charger
        (voltage, temperature, the energy register) stays. Current.Offered and
        Power.Offered go to 0 too: with no session the charger offers no car anything.
        A charger that never reported its power or current gets 0 for them, nothing else.

        The zeros are timestamped `moment` (the charger's time of the stop or idle
        status) but never before the reading they replace: any later sample of the
        charger wins, an older one (a queued MeterValues) does not bring the value back.
        """
        readings = connector.readings
        ended = False
        for key in [k for k in readings if measurand_of(k) in SESSION_CAR]:
            del readings[key]
            ended = True
        for key, reading in readings.items():
            if measurand_of(key) in SESSION_FLOWS and reading.value != 0:
                after = reading.timestamp + _TICK
                when = after if moment is None or moment < after else moment
                readings[key] = replace(reading, value=0.0, timestamp=when, context=TX_END)
                ended = True
        # What the dashboard shows of every connector (power, current) reads 0 rather than
        # unknown; nothing else is invented (state of charge, temperature: not reported).
        when = EPOCH if moment is None else moment
        for measurand, unit in ((_POWER, UnitOfMeasure.w.value), (_CURRENT, UnitOfMeasure.a.value)):
            if not any(measurand_of(key) == measurand for key in readings):
                readings[measurand] = Reading(0.0, unit, when, TX_END, DEFAULT_LOCATION)
                ended = True
        if ended:
            changed.add((connector.connector_id, READINGS))

    def _authorize(self, id_tag: str) -> dict[str, Any]:
        """Return a copy of the hooks' IdTagInfo for `id_tag` (we may change its status)."""
        return dict(self.hooks.authorize(self.charge_box_id, id_tag))

    def _tag_busy(self, id_tag: str, connector_id: int) -> bool:
        """Whether the tag runs a transaction on another connector of this charger.

        A transaction counts only while it may still run: a leftover whose connector
        has since reported a status without a transaction (its StopTransaction lost,
        e.g. across a reboot) must not refuse the tag forever with ConcurrentTx.
        """
        if id_tag.casefold() in self.concurrent_tags:
            return False
        return any(
            tx.connector_id != connector_id and same_tag(tx.id_tag, id_tag) and self._may_run(tx)
            for tx in self._transactions.values()
        )

    def _may_run(self, tx: Transaction) -> bool:
        """Whether `tx` still runs on its connector (`ConnectorState.running_transaction`)."""
        connector = self.state.connectors.get(tx.connector_id)
        return connector is None or connector.running_transaction is tx

    def _supersede(self, connector: ConnectorState, changed: set[StateKey]) -> None:
        """Close the connector's open transaction: a new one starts there without its stop.

        Its energy is what its last reading showed and it ends at that reading, with
        reason `SUPERSEDED`; the store forgets it. A late StopTransaction for it is still
        acknowledged (section 4.10) but changes nothing.
        """
        old = connector.transaction
        if old is None:
            return
        connector.transaction = None
        self._transactions.pop(old.transaction_id, None)
        old.stop_time = old.last_update or old.start_time
        old.stop_reason = SUPERSEDED
        superseded = self._superseded
        superseded[old.transaction_id] = None
        if len(superseded) > MAX_SUPERSEDED_REMEMBERED:
            del superseded[next(iter(superseded))]
        changed.add((connector.connector_id, TRANSACTION))
        _LOGGER.info(
            "%s: transaction %s on connector %s superseded by a new start",
            self.charge_box_id,
            old.transaction_id,
            connector.connector_id,
        )
        self.hooks.transaction_stopped(self.charge_box_id, old)
        self._stopped_event(old)

    def _stopped_event(self, tx: Transaction) -> None:
        """Announce a closed transaction (stop_time and stop_reason set)."""
        stop_time = tx.stop_time or tx.start_time
        self._events.append(
            ChargerEvent(
                tx.connector_id,
                "session",
                "stopped",
                {
                    "transaction_id": tx.transaction_id,
                    "id_tag": tx.id_tag,
                    "energy_wh": tx.energy,
                    "duration_s": max(0.0, (stop_time - tx.start_time).total_seconds()),
                    "reason": tx.stop_reason,
                },
            )
        )

    def _is_remote(self, id_tag: str, *, consume: bool) -> bool:
        """Whether `id_tag` comes from a remote start rather than a card presented."""
        if id_tag.casefold() in self.remote_tags:
            return True
        recent = self._remote_started
        return (recent.take(id_tag) if consume else recent.get(id_tag)) is not None

    def _tag_event(self, connector_id: int, id_tag: str, info: dict[str, Any]) -> None:
        event_type = _ID_TAG_EVENTS.get(info.get("status", ""), "unknown")
        self._events.append(ChargerEvent(connector_id, "id_tag", event_type, {"id_tag": id_tag}))


def register_reading(value: float, timestamp: datetime, context: str) -> Reading:
    """meterStart/meterStop (whole Wh) as a reading of the active import register."""
    return Reading(value, UnitOfMeasure.wh.value, timestamp, context, DEFAULT_LOCATION)


def _start_order(tx: Transaction) -> datetime:
    return tx.start_time
