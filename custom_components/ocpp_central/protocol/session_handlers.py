"""The messages a charger sends (OCPP 1.6 chapter 4), one handler each.

`ChargerHandlers` is the part of `ChargerSession` that answers the charger: the
transport hands every CALL to `handle_call` (synchronous: the reply goes out as soon as
it returns), which checks the registration (section 4.2), runs the action's handler
(`_on_<action>`, listed in `_handler_table`) and announces what changed once. A handler
reads the payload (already validated against the schema), updates `state` through the
books of `Transactions`, and returns the reply's payload; work of ours it calls for
goes out after the reply (`_after_reply`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
import logging
from typing import Any, Final

from . import logs
from .errors import CallError, CallErrorCode
from .measurands import ENERGY_REGISTER, parse_meter_values
from .messages import format_timestamp, parse_timestamp
from .session_readiness import Readiness
from .session_transactions import TX_END, Transactions, register_reading
from .state import (
    BOOT,
    DIAGNOSTICS_STATUS,
    ENDED_STATUSES,
    FIRMWARE_STATUS,
    HEARTBEAT,
    READY,
    SECURITY_EVENT,
    STATUS,
    TRANSACTION,
    BootInfo,
    ChargerEvent,
    StateKey,
    Transaction,
)
from .tags import same_tag
from .vocabulary import (
    Action,
    AuthorizationStatus,
    ChargePointStatus,
    DataTransferStatus,
    ReadingContext,
    Reason,
    RegistrationStatus,
)

__all__ = ["KNOWN_ACTIONS", "ChargerHandlers"]

_LOGGER = logging.getLogger(__name__)

# The actions OCPP 1.6 (and its security whitepaper) defines. A charger sending one we do
# not serve gets NotSupported; any other name gets NotImplemented (OCPP-J 1.6 table 7).
KNOWN_ACTIONS: Final = frozenset(Action)

# Section 6.49: a StopTransaction without reason was stopped "Local".
_DEFAULT_STOP_REASON: Final = Reason.local.value
# ChargePointStatus values (section 7.7) of a connector that is idle: with no transaction
# running, nothing flows to a car (see `_end_live_values`).
_IDLE: Final = frozenset(
    {ChargePointStatus.available, ChargePointStatus.preparing, ChargePointStatus.finishing}
)
# ChargePointStatus values (section 7.7) only a connector with a running transaction reports.
_RUNNING_STATUSES: Final = frozenset(
    {
        ChargePointStatus.charging,
        ChargePointStatus.suspended_ev,
        ChargePointStatus.suspended_evse,
    }
)

type Handler = Callable[[dict[str, Any], set[StateKey]], dict[str, Any]]
"""A handler: (payload, keys changed so far) -> the reply's payload."""


def _now() -> datetime:
    return datetime.now(UTC)


class ChargerHandlers(Readiness, Transactions):
    """The charger-initiated messages of OCPP 1.6 (sections 4.1 to 4.10, security whitepaper)."""

    _handlers: dict[str, Handler]

    def _handler_table(self) -> dict[str, Handler]:
        """The handler of every action we serve; any other gets NotSupported."""
        return {
            Action.authorize: self._on_authorize,
            Action.boot_notification: self._on_boot_notification,
            Action.data_transfer: self._on_data_transfer,
            Action.diagnostics_status_notification: self._on_diagnostics_status,
            Action.firmware_status_notification: self._on_firmware_status,
            Action.heartbeat: self._on_heartbeat,
            Action.log_status_notification: self._on_diagnostics_status,
            Action.meter_values: self._on_meter_values,
            Action.security_event_notification: self._on_security_event,
            Action.signed_firmware_status_notification: self._on_firmware_status,
            Action.start_transaction: self._on_start_transaction,
            Action.status_notification: self._on_status_notification,
            Action.stop_transaction: self._on_stop_transaction,
        }

    def handle_call(
        self, action: str, payload: dict[str, Any]
    ) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        """Answer one CALL of the charger; raise CallError to answer with a CallError.

        The answer is this session's, unless a `forwarder` is set: it gets the CALL and
        our answer and returns the answer to send (or an awaitable of it).
        """
        handler = self._handlers.get(action)
        if handler is None:
            if action in KNOWN_ACTIONS:
                raise CallError(CallErrorCode.NOT_SUPPORTED, f"{action} is not supported")
            # The name is the charger's: at most its start goes back (and none to the log).
            raise CallError(
                CallErrorCode.NOT_IMPLEMENTED, f"unknown action {logs.shorten(action, 40)}"
            )
        if (
            action != Action.boot_notification
            and self.state.registration != RegistrationStatus.accepted
        ):
            self._check_registration(action)
        changed: set[StateKey] = set()
        try:
            response = handler(payload, changed)
        except (KeyError, TypeError, ValueError) as err:
            # Only reachable with unvalidated input: a required field missing or of the
            # wrong type. Answer as OCPP-J table 7 says rather than with InternalError.
            # The exception's text may quote a value (an id tag): only its type is logged.
            logs.problem(
                _LOGGER,
                self.charge_box_id,
                f"bad {action}",
                "Bad %s from %s (%s)",
                action,
                self.charge_box_id,
                type(err).__name__,
            )
            raise CallError(CallErrorCode.FORMATION_VIOLATION, f"{action}: {err!r}") from err
        finally:
            if changed:
                self.state.notify(changed)
            events, self._events = self._events, []
        for event in events:
            self.state.emit(event)
        forwarder = self.forwarder
        if forwarder is not None:
            # Another central system hears of it too and may give the answer (upstream.py).
            return forwarder(action, payload, response)
        return response

    def _check_registration(self, action: str) -> None:
        """Section 4.2: before an Accepted boot a charger sends nothing but BootNotification.

        Except what a TriggerMessage asked for while Pending; a trigger stays granted until
        the next boot, as one may bring several messages (section 5.17). A charger that
        never booted while we ran (a reconnect without reboot) is served.
        """
        registration = self.state.registration
        if registration == RegistrationStatus.rejected or (
            registration == RegistrationStatus.pending and action not in self._triggered
        ):
            raise CallError(CallErrorCode.SECURITY_ERROR, f"{action} before the boot was accepted")

    def _on_authorize(self, payload: dict[str, Any], changed: set[StateKey]) -> dict[str, Any]:
        """Section 4.1: tell the charger whether the tag may charge."""
        id_tag = payload["idTag"]
        info = self._authorize(id_tag)
        if not self._is_remote(id_tag, consume=False):
            self._tag_event(0, id_tag, info)
            self._presented.add(id_tag, info.get("status", ""))
        return {"idTagInfo": info}

    def _on_boot_notification(
        self, payload: dict[str, Any], changed: set[StateKey]
    ) -> dict[str, Any]:
        """Section 4.2: register the charger; once Accepted, read and align its configuration."""
        info = BootInfo(
            vendor=payload["chargePointVendor"],
            model=payload["chargePointModel"],
            serial_number=payload.get("chargePointSerialNumber"),
            charge_box_serial_number=payload.get("chargeBoxSerialNumber"),
            firmware_version=payload.get("firmwareVersion"),
            iccid=payload.get("iccid"),
            imsi=payload.get("imsi"),
            meter_type=payload.get("meterType"),
            meter_serial_number=payload.get("meterSerialNumber"),
        )
        status = (
            RegistrationStatus.accepted.value
            if self.boot_policy is None
            else self.boot_policy(self.charge_box_id, info)
        )
        self._booted = True
        self._triggered.clear()
        state = self.state
        if state.boot != info or state.registration != status:
            state.boot = info
            state.registration = status
            changed.add(BOOT)
        if state.ready:
            state.ready = False  # a new boot: ready again once it is answered
            changed.add(READY)
        if status == RegistrationStatus.accepted:
            self._after_reply(self._boot_answered)
        # For Pending/Rejected the interval is the wait before the next boot (section 4.2).
        return {
            "status": status,
            "currentTime": format_timestamp(_now()),
            "interval": self._config.heartbeat_interval,
        }

    def _on_data_transfer(self, payload: dict[str, Any], changed: set[StateKey]) -> dict[str, Any]:
        """Section 4.3: hand the data to the vendor's handler, if we have one."""
        handler = self._vendors.get(payload["vendorId"])
        if handler is None:
            # The spec's text says "UnknownVendor"; the enumeration (7.23) is UnknownVendorId.
            return {"status": DataTransferStatus.unknown_vendor_id}
        result = handler(payload.get("messageId"), payload.get("data"))
        response: dict[str, Any] = {"status": result.status}
        if result.data is not None:
            response["data"] = result.data
        return response

    def _on_diagnostics_status(
        self, payload: dict[str, Any], changed: set[StateKey]
    ) -> dict[str, Any]:
        """Section 4.4 (and LogStatusNotification of the security whitepaper)."""
        status = payload["status"]
        if self.state.diagnostics_status != status:
            self.state.diagnostics_status = status
            changed.add(DIAGNOSTICS_STATUS)
        return {}

    def _on_firmware_status(
        self, payload: dict[str, Any], changed: set[StateKey]
    ) -> dict[str, Any]:
        """Section 4.5 (and SignedFirmwareStatusNotification of the security whitepaper)."""
        status = payload["status"]
        if self.state.firmware_status != status:
            self.state.firmware_status = status
            changed.add(FIRMWARE_STATUS)
        return {}

    def _on_heartbeat(self, payload: dict[str, Any], changed: set[StateKey]) -> dict[str, Any]:
        """Section 4.6: note the charger is alive and give it our time."""
        now = _now()
        self.state.last_heartbeat = now
        changed.add(HEARTBEAT)
        return {"currentTime": format_timestamp(now)}

    def _on_meter_values(self, payload: dict[str, Any], changed: set[StateKey]) -> dict[str, Any]:
        """Section 4.7: keep the newest reading per measurand; advance the transaction."""
        connector = self._connector(payload["connectorId"], changed)
        parsed, skipped = parse_meter_values(payload["meterValue"])
        if skipped:
            logs.problem(
                _LOGGER,
                self.charge_box_id,
                "sampled values without a number",
                "%s: %d sampled values without a number",
                self.charge_box_id,
                skipped,
                level=logging.DEBUG,
            )
        transaction_id = payload.get("transactionId")
        # A transactionId names the transaction even when it is not (or no longer) the
        # connector's current one, e.g. restored after a restart or superseded.
        tx = (
            connector.running_transaction
            if transaction_id is None
            else self._transactions.get(transaction_id)
        )
        if self._apply_readings(connector, parsed, tx, changed) and tx is not None:
            self.hooks.transaction_updated(self.charge_box_id, tx)
            changed.add((tx.connector_id, TRANSACTION))
        return {}

    def _on_security_event(self, payload: dict[str, Any], changed: set[StateKey]) -> dict[str, Any]:
        """Security whitepaper: keep the last event (type, timestamp, techInfo as sent)."""
        self.state.last_security_event = dict(payload)
        changed.add(SECURITY_EVENT)
        logs.problem(
            _LOGGER,
            self.charge_box_id,
            "security event",
            "%s security event %s",
            self.charge_box_id,
            payload.get("type"),
            level=logging.INFO,
        )
        return {}

    def _on_start_transaction(
        self, payload: dict[str, Any], changed: set[StateKey]
    ) -> dict[str, Any]:
        """Section 4.8: give the transaction an id and check the tag.

        The transaction is recorded whatever the tag's status: the charger may have
        started it already (offline, or StopTransactionOnInvalidId false) and will send
        its StopTransaction later (section 3.5 and configuration key
        StopTransactionOnInvalidId).
        """
        connector_id = payload["connectorId"]
        id_tag = payload["idTag"]
        meter_start = float(payload["meterStart"])
        start_time = parse_timestamp(payload["timestamp"])
        if connector_id == 0:  # section 6.45: connectorId > 0
            raise CallError(
                CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION, "a transaction needs connectorId > 0"
            )
        connector = self._connector(connector_id, changed)
        info = self._authorize(id_tag)
        current = connector.running_transaction
        if (
            current is not None
            and same_tag(current.id_tag, id_tag)
            and current.meter_start == meter_start
            and current.start_time == start_time
        ):
            # The same StartTransaction again: our reply got lost and the charger retries
            # (section 4.8). Same transaction, same id; nothing new to record.
            return {"transactionId": current.transaction_id, "idTagInfo": info}
        if info.get("status") == AuthorizationStatus.accepted and self._tag_busy(
            id_tag, connector_id
        ):
            info["status"] = AuthorizationStatus.concurrent_tx
        # A transaction still open here lost its StopTransaction (a reboot, a lost frame):
        # the charger runs one transaction per connector, so this start ends it.
        self._supersede(connector, changed)
        tx = Transaction(
            transaction_id=self.hooks.next_transaction_id(),
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start=meter_start,
            start_time=start_time,
            meter_last=meter_start,
            last_update=start_time,
            reservation_id=payload.get("reservationId"),
        )
        self._transactions[tx.transaction_id] = tx
        connector.transaction = tx
        changed.add((connector_id, TRANSACTION))
        self._record_register(
            connector, meter_start, start_time, ReadingContext.transaction_begin.value, changed
        )
        self.hooks.transaction_started(self.charge_box_id, tx)
        announced = self._presented.take(id_tag)
        if not self._is_remote(id_tag, consume=True) and announced != info.get("status", ""):
            self._tag_event(connector_id, id_tag, info)
        self._events.append(
            ChargerEvent(
                connector_id,
                "session",
                "started",
                {
                    "transaction_id": tx.transaction_id,
                    "id_tag": id_tag,
                    "meter_start": meter_start,
                },
            )
        )
        return {"transactionId": tx.transaction_id, "idTagInfo": info}

    def _on_status_notification(
        self, payload: dict[str, Any], changed: set[StateKey]
    ) -> dict[str, Any]:
        """Section 4.9: status and error of the charger (connector 0) or one connector."""
        connector_id = payload["connectorId"]
        connector = self._connector(connector_id, changed)
        # Section 6.47: without timestamp, the time of receipt.
        connector.status_time = parse_timestamp(payload.get("timestamp"))
        reported = (
            payload["status"],
            payload["errorCode"],
            payload.get("info"),
            payload.get("vendorId"),
            payload.get("vendorErrorCode"),
        )
        known = (
            connector.status,
            connector.error_code,
            connector.info,
            connector.vendor_id,
            connector.vendor_error_code,
        )
        running = connector.running_transaction
        open_tx = connector.transaction
        if reported != known:
            (
                connector.status,
                connector.error_code,
                connector.info,
                connector.vendor_id,
                connector.vendor_error_code,
            ) = reported
            changed.add((connector_id, STATUS))
        if open_tx is not None and open_tx.stop_time is None:
            # The connector says whether its transaction runs: one that ended (a lost
            # StopTransaction) stays open for a StopTransaction still queued; firmware that
            # reports an idle status mid-session and then charges again is followed too.
            if payload["status"] in ENDED_STATUSES:
                open_tx.ended_by_status = True
            elif payload["status"] in _RUNNING_STATUSES:
                open_tx.ended_by_status = False
            if (connector.running_transaction is None) != (running is None):
                changed.add((connector_id, TRANSACTION))
        if (
            payload["status"] in _IDLE
            and connector.running_transaction is None
            and connector_id > 0
        ):
            stamped = payload.get("timestamp")
            self._end_live_values(
                connector, None if stamped is None else connector.status_time, changed
            )
        return {}

    def _on_stop_transaction(
        self, payload: dict[str, Any], changed: set[StateKey]
    ) -> dict[str, Any]:
        """Section 4.10: close the transaction; the central system cannot refuse a stop."""
        id_tag = payload.get("idTag")
        response: dict[str, Any] = {}
        if id_tag is not None:
            response["idTagInfo"] = self._authorize(id_tag)
        meter_stop = float(payload["meterStop"])
        stop_time = parse_timestamp(payload["timestamp"])
        transaction_id = payload["transactionId"]
        tx = self._transactions.pop(transaction_id, None)
        if tx is None:
            # Unknown, superseded or already stopped (a resend after a lost reply):
            # acknowledge it, or the charger would retry it forever (section 4.10). It
            # must not touch the connector, which may run a newer transaction by now.
            if transaction_id in self._superseded:
                del self._superseded[transaction_id]
                logs.problem(
                    _LOGGER,
                    self.charge_box_id,
                    "superseded transaction stopped",
                    "%s: late stop of superseded transaction %s acknowledged",
                    self.charge_box_id,
                    transaction_id,
                    level=logging.INFO,
                )
            else:
                logs.problem(
                    _LOGGER,
                    self.charge_box_id,
                    "unknown transaction stopped",
                    "%s stopped unknown transaction %s",
                    self.charge_box_id,
                    transaction_id,
                )
            return response
        connector = self._connector(tx.connector_id, changed)
        # Section 6.49: transactionData is the session's history; it only fills in what is
        # not known newer (readings apply in timestamp order).
        parsed, _ = parse_meter_values(payload.get("transactionData") or ())
        # Energy = meterStop - meterStart, but never less than a register already seen.
        parsed.append((ENERGY_REGISTER, register_reading(meter_stop, stop_time, TX_END)))
        self._apply_readings(connector, parsed, tx, changed)
        tx.stop_time = stop_time
        tx.stop_reason = payload.get("reason", _DEFAULT_STOP_REASON)
        if connector.transaction is tx or connector.transaction is None:
            self._end_live_values(connector, stop_time, changed)
        if connector.transaction is tx:
            connector.transaction = None
        changed.add((tx.connector_id, TRANSACTION))
        self.hooks.transaction_stopped(self.charge_box_id, tx)
        self._stopped_event(tx)
        return response
