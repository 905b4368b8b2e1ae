"""How the simulated charge point answers the central system's CALLs (OCPP 1.6 chapter 5).

`Link` is the `ocpp` package's `ChargePoint` bound to one websocket. Each handler answers
from the charger's state at once; work that must follow the answer (StartTransaction after
RemoteStartTransaction, the message a TriggerMessage asks for, a reboot) is queued with
`after_reply` and runs once the reply has gone out, as the spec expects (e.g. section 5.17:
the requested message is sent after TriggerMessage.conf).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
import functools
import json
import logging
from typing import TYPE_CHECKING, Any

from ocpp.routing import on as _ocpp_on
from ocpp.v16 import ChargePoint, call_result

from .clock import iso, parse_iso
from .profiles import TX_PROFILE, Profile
from .state import Connector, ReceivedProfile, Reservation, TransactionRefused

if TYPE_CHECKING:
    from .charger import SimulatedCharger

LOG = logging.getLogger("simulator")
# The ocpp package logs every frame at INFO; the simulator logs its own summary instead.
_OCPP_LOG = logging.getLogger("simulator.frames")

type Followup = Callable[[], Coroutine[Any, Any, Any]]


def on[F: Callable[..., Any]](action: str) -> Callable[[F], F]:
    """The ocpp package's routing decorator, typed."""
    decorator: Callable[[F], F] = _ocpp_on(action)
    return decorator


def _is_reply(frame: str | bytes) -> bool:
    text = frame if isinstance(frame, str) else frame.decode(errors="replace")
    return text.lstrip("[ \t\r\n")[:1] in ("3", "4")


class Link(ChargePoint):  # type: ignore[misc]
    """The OCPP-J endpoint of one connection; handlers read the CALL's payload as sent."""

    def __init__(self, sim: SimulatedCharger, connection: Any, *, response_timeout: float) -> None:
        super().__init__(
            sim.charge_box_id, connection, response_timeout=response_timeout, logger=_OCPP_LOG
        )
        self.sim = sim
        self.raw: dict[str, Any] = {}
        self._followups: list[tuple[Followup, str]] = []

    # -- plumbing ----------------------------------------------------------------------------
    async def route_message(self, raw_msg: str | bytes) -> None:
        await super().route_message(raw_msg)
        if _is_reply(raw_msg):
            await self.sim.digest_reply()

    async def _handle_call(self, msg: Any) -> Any:
        # The payload as on the wire (plain floats; the ocpp package turns some into Decimal).
        self.raw = json.loads(json.dumps(msg.payload))
        self.sim.record_call(msg.action, self.raw)
        self._followups = []
        result = await super()._handle_call(msg)
        # Reached only when the reply (or CallError) has been sent.
        for followup, name in self._followups:
            self.sim.spawn_followup(followup(), name)
        self._followups = []
        return result

    def after_reply(self, followup: Followup, name: str) -> None:
        self._followups.append((followup, name))

    def _report_status_changes(self) -> None:
        changed = self.sim.recompute()
        if changed:
            self.after_reply(lambda: self.sim.send_statuses(changed), "status")

    def _connector(self, connector_id: int | None) -> Connector | None:
        return None if connector_id is None else self.sim.connectors.get(connector_id)

    # -- configuration -----------------------------------------------------------------------
    @on("GetConfiguration")
    def on_get_configuration(self, **_: Any) -> Any:
        known, unknown = self.sim.configuration.report(self.raw.get("key"))
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ChangeConfiguration")
    def on_change_configuration(self, **_: Any) -> Any:
        status = self.sim.configuration.change(self.raw["key"], self.raw["value"])
        return call_result.ChangeConfiguration(status=status)

    # -- authorisation -----------------------------------------------------------------------
    @on("ClearCache")
    def on_clear_cache(self, **_: Any) -> Any:
        self.sim.auth_cache.clear()
        return call_result.ClearCache(status="Accepted")

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **_: Any) -> Any:
        # Section 5.10: -1 when the charger has no Local Authorization List.
        supported = "LocalAuthListEnabled" in self.sim.configuration
        return call_result.GetLocalListVersion(
            list_version=self.sim.local_list_version if supported else -1
        )

    @on("SendLocalList")
    def on_send_local_list(self, **_: Any) -> Any:
        return call_result.SendLocalList(status=self._apply_local_list())

    def _apply_local_list(self) -> str:
        # Section 5.15 and 6.52 (UpdateStatus).
        sim, config = self.sim, self.sim.configuration
        if "LocalAuthListEnabled" not in config:
            return "NotSupported"
        entries: list[dict[str, Any]] = self.raw.get("localAuthorizationList") or []
        version = int(self.raw["listVersion"])
        if len(entries) > config.integer("SendLocalListMaxLength"):
            return "Failed"
        differential = self.raw["updateType"] == "Differential"
        if differential and version <= sim.local_list_version:
            return "VersionMismatch"
        updated = dict(sim.local_list) if differential else {}
        for entry in entries:
            if "idTagInfo" in entry:
                updated[entry["idTag"]] = entry["idTagInfo"]
            else:
                updated.pop(entry["idTag"], None)
        if len(updated) > config.integer("LocalAuthListMaxLength"):
            return "Failed"
        sim.local_list, sim.local_list_version = updated, version
        return "Accepted"

    # -- transactions ------------------------------------------------------------------------
    @on("RemoteStartTransaction")
    def on_remote_start_transaction(self, **_: Any) -> Any:
        return call_result.RemoteStartTransaction(status=self._remote_start())

    def _free_connector(self, id_tag: str) -> Connector | None:
        for c in self.sim.connectors.values():
            reserved_for = None if c.reservation is None else c.reservation.id_tag
            if c.transaction is None and c.fault is None and reserved_for in (None, id_tag):
                return c
        return None

    def _remote_start(self) -> str:
        # Section 5.11.
        sim = self.sim
        id_tag = str(self.raw["idTag"])
        requested = self.raw.get("connectorId")
        c = self._free_connector(id_tag) if requested is None else self._connector(requested)
        if c is None or c.transaction is not None or c.fault is not None:
            return "Rejected"
        if not (c.operative and sim.operative):
            return "Rejected"
        profile = self.raw.get("chargingProfile")
        if profile is not None:
            # Section 5.16.2: only a TxProfile, without transactionId, in an acceptable unit.
            parsed = Profile.from_wire(c.connector_id, profile, sim.clock.now())
            ok = (
                parsed.purpose == TX_PROFILE
                and parsed.transaction_id is None
                and parsed.unit in sim.rules.rate_units
            )
            sim.profiles_received.append(
                _received(c.connector_id, profile, "Accepted" if ok else "Rejected")
            )
            if not ok:
                return "Rejected"
            c.pending_profile = profile
        authorize = sim.configuration.boolean("AuthorizeRemoteTxRequests")
        connector_id = c.connector_id
        self.after_reply(
            lambda: self._start_remotely(connector_id, id_tag, authorize), "remote start"
        )
        return "Accepted"

    async def _start_remotely(self, connector_id: int, id_tag: str, authorize: bool) -> None:
        try:
            await self.sim.start_transaction(connector_id, id_tag, authorize=authorize)
        except TransactionRefused as refused:
            LOG.info("%s remote start refused: %s", self.sim.charge_box_id, refused.status)

    @on("RemoteStopTransaction")
    def on_remote_stop_transaction(self, **_: Any) -> Any:
        # Section 5.12.
        wanted = self.raw["transactionId"]
        for c in self.sim.connectors.values():
            if c.transaction_id == wanted:
                self.after_reply(
                    functools.partial(self.sim.stop_transaction, c.connector_id, "Remote"),
                    "remote stop",
                )
                return call_result.RemoteStopTransaction(status="Accepted")
        return call_result.RemoteStopTransaction(status="Rejected")

    @on("UnlockConnector")
    def on_unlock_connector(self, **_: Any) -> Any:
        # Section 5.18: an unlock during a transaction stops it (reason UnlockCommand).
        c = self._connector(self.raw["connectorId"])
        if c is None:
            return call_result.UnlockConnector(status="NotSupported")
        connector_id = c.connector_id
        if c.transaction is not None:
            self.after_reply(
                lambda: self.sim.stop_transaction(connector_id, "UnlockCommand"), "unlock"
            )
        elif c.plugged:
            self.after_reply(lambda: self.sim.unplug(connector_id), "unlock")
        return call_result.UnlockConnector(status="Unlocked")

    # -- availability and reservations -------------------------------------------------------
    @on("ChangeAvailability")
    def on_change_availability(self, **_: Any) -> Any:
        return call_result.ChangeAvailability(status=self._change_availability())

    def _change_availability(self) -> str:
        # Section 5.2: Scheduled when a transaction runs; it applies when that ends.
        sim = self.sim
        connector_id = int(self.raw["connectorId"])
        operative = self.raw["type"] == "Operative"
        if connector_id == 0:
            targets = list(sim.connectors.values())
            sim.operative = operative
        else:
            found = self._connector(connector_id)
            if found is None:
                return "Rejected"
            targets = [found]
        scheduled = False
        for c in targets:
            if not operative and c.transaction is not None:
                c.inoperative_after_tx = True
                scheduled = True
            elif connector_id != 0 or operative:
                c.operative, c.inoperative_after_tx = operative, False
        self._report_status_changes()
        return "Scheduled" if scheduled else "Accepted"

    @on("ReserveNow")
    def on_reserve_now(self, **_: Any) -> Any:
        return call_result.ReserveNow(status=self._reserve())

    def _reserve(self) -> str:
        # Section 5.13 and 6.49 (ReservationStatus).
        sim = self.sim
        reservation_id = int(self.raw["reservationId"])
        c = self._connector(self.raw["connectorId"])
        if c is None:  # connector 0 only with ReserveConnectorZeroSupported, which is false
            return "Rejected"
        if c.fault is not None:
            return "Faulted"
        if not (c.operative and sim.operative):
            return "Unavailable"
        same = c.reservation is not None and c.reservation.reservation_id == reservation_id
        if not same and (c.transaction is not None or c.plugged or c.reservation is not None):
            return "Occupied"
        for other in sim.connectors.values():
            if other.reservation is not None and other.reservation.reservation_id == reservation_id:
                other.reservation = None  # a reservation id moves with a new ReserveNow
        c.reservation = Reservation(
            reservation_id,
            str(self.raw["idTag"]),
            parse_iso(self.raw["expiryDate"]),
            self.raw.get("parentIdTag"),
        )
        self._report_status_changes()
        return "Accepted"

    @on("CancelReservation")
    def on_cancel_reservation(self, **_: Any) -> Any:
        wanted = self.raw["reservationId"]
        for c in self.sim.connectors.values():
            if c.reservation is not None and c.reservation.reservation_id == wanted:
                c.reservation = None
                self._report_status_changes()
                return call_result.CancelReservation(status="Accepted")
        return call_result.CancelReservation(status="Rejected")

    # -- smart charging ----------------------------------------------------------------------
    @on("SetChargingProfile")
    def on_set_charging_profile(self, **_: Any) -> Any:
        sim = self.sim
        connector_id = int(self.raw["connectorId"])
        wire: dict[str, Any] = self.raw["csChargingProfiles"]
        profile = Profile.from_wire(connector_id, wire, sim.clock.now())
        c = self._connector(connector_id)
        refusal = sim.profiles.refusal(profile, None if c is None else c.transaction_id)
        status = "Accepted" if refusal is None else "Rejected"
        sim.profiles_received.append(_received(connector_id, wire, status))
        if refusal is not None:
            LOG.info("%s refuses profile %s: %s", sim.charge_box_id, profile.profile_id, refusal)
            return call_result.SetChargingProfile(status=status)
        sim.recompute()  # energy so far at the old current
        sim.profiles.install(profile)
        self._report_status_changes()
        return call_result.SetChargingProfile(status=status)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **_: Any) -> Any:
        raw = self.raw
        self.sim.recompute()
        removed = self.sim.profiles.clear(
            profile_id=raw.get("id"),
            connector_id=raw.get("connectorId"),
            purpose=raw.get("chargingProfilePurpose"),
            stack_level=raw.get("stackLevel"),
        )
        self._report_status_changes()
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, **_: Any) -> Any:
        sim = self.sim
        connector_id = int(self.raw["connectorId"])
        units = sim.rules.rate_units
        unit = self.raw.get("chargingRateUnit") or ("A" if "A" in units else "W")
        if (connector_id != 0 and connector_id not in sim.connectors) or unit not in units:
            return call_result.GetCompositeSchedule(status="Rejected")
        now = sim.clock.now().replace(microsecond=0)
        c = self._connector(connector_id)
        origin = c.transaction.start if c is not None and c.transaction is not None else now
        hardware = sim.max_current * (len(sim.connectors) if connector_id == 0 else 1)
        schedule = sim.profiles.composite(
            connector_id,
            now,
            int(self.raw["duration"]),
            unit=unit,
            origin=origin,
            volts=sim.voltage,
            phases=sim.phases,
            hardware_max=hardware,
        )
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=iso(now),
            charging_schedule=schedule,
        )

    # -- remote trigger, reset, data transfer ------------------------------------------------
    @on("TriggerMessage")
    def on_trigger_message(self, **_: Any) -> Any:
        return call_result.TriggerMessage(status=self._trigger())

    def _trigger(self) -> str:
        # Section 5.17: Accepted, then the requested message after the reply.
        sim = self.sim
        requested = self.raw["requestedMessage"]
        connector_id: int | None = self.raw.get("connectorId")
        if connector_id not in (None, 0) and connector_id not in sim.connectors:
            return "Rejected"
        ids = list(sim.connectors) if not connector_id else [connector_id]
        followups: dict[str, Followup] = {
            "BootNotification": self._triggered_boot,
            "DiagnosticsStatusNotification": lambda: sim.send_diagnostics_status(
                sim.diagnostics_status if sim.diagnostics_status == "Uploading" else "Idle"
            ),
            "FirmwareStatusNotification": lambda: sim.send_firmware_status(
                sim.firmware_status if sim.firmware_status in _FIRMWARE_BUSY else "Idle"
            ),
            "Heartbeat": sim.heartbeat,
            "MeterValues": lambda: _each(
                ids, lambda n: sim.send_meter_values(n, context="Trigger")
            ),
            "StatusNotification": lambda: sim.send_statuses(
                [0, *ids] if connector_id is None else ids if connector_id else [0]
            ),
        }
        followup = followups.get(requested)
        if followup is None:
            return "NotImplemented"
        self.after_reply(followup, f"trigger {requested}")
        return "Accepted"

    async def _triggered_boot(self) -> None:
        sim = self.sim
        if sim.registration == "Accepted":
            await sim.boot()
        else:
            sim.wake_boot()

    @on("Reset")
    def on_reset(self, **_: Any) -> Any:
        kind = str(self.raw["type"])
        self.after_reply(lambda: self.sim.reboot(kind), "reset")
        return call_result.Reset(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(self, **_: Any) -> Any:
        # Section 5.6: this simulator knows one message of its own vendor id: "Echo".
        if self.raw["vendorId"] != self.sim.vendor:
            return call_result.DataTransfer(status="UnknownVendorId")
        if self.raw.get("messageId") != "Echo":
            return call_result.DataTransfer(status="UnknownMessageId")
        return call_result.DataTransfer(status="Accepted", data=self.raw.get("data"))

    # -- firmware and diagnostics ------------------------------------------------------------
    @on("UpdateFirmware")
    def on_update_firmware(self, **_: Any) -> Any:
        # Section 5.19: FirmwareStatusNotification progress from retrieveDate on.
        sim = self.sim
        delay = (parse_iso(self.raw["retrieveDate"]) - sim.clock.now()).total_seconds()
        steps = ("Downloading", "Downloaded", "Installing", "Installed")
        self.after_reply(
            lambda: self._progress(max(0.0, delay), steps, sim.send_firmware_status), "firmware"
        )
        return call_result.UpdateFirmware()

    @on("GetDiagnostics")
    def on_get_diagnostics(self, **_: Any) -> Any:
        # Section 5.9: answer with the file name, then report the upload.
        sim = self.sim
        name = f"diagnostics-{sim.charge_box_id}-{sim.clock.now():%Y%m%dT%H%M%S}.log"
        steps = ("Uploading", "Uploaded")
        self.after_reply(lambda: self._progress(0.0, steps, sim.send_diagnostics_status), "diag")
        return call_result.GetDiagnostics(file_name=name)

    async def _progress(
        self, delay: float, steps: tuple[str, ...], send: Callable[[str], Coroutine[Any, Any, None]]
    ) -> None:
        await asyncio.sleep(delay)
        for step in steps:
            await send(step)
            await asyncio.sleep(self.sim.firmware_step)


_FIRMWARE_BUSY = frozenset({"Downloading", "Installing"})


async def _each(ids: list[int], send: Callable[[int], Coroutine[Any, Any, Any]]) -> None:
    for connector_id in ids:
        await send(connector_id)


def _received(connector_id: int, profile: dict[str, Any], status: str) -> ReceivedProfile:
    return ReceivedProfile(connector_id, profile, status)
