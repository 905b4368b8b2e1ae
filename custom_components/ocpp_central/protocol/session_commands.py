"""The commands the central system sends (OCPP 1.6 chapter 5), one method each.

`CsmsCommands` is the part of `ChargerSession` that talks to the charger: every CSMS
command of section 5 is one method here, named for it, in the order of the chapter.
A command returns what the charger answered (the status as sent, for most); callers
count it as success with `vocabulary.succeeded(action, status)`, the one rule for every
command, and so do the commands that keep state of their own (an accepted
ChangeConfiguration value goes into `state.configuration`). A command raises what
`SessionConnection.call` raises (`NotConnectedError`, `CallErrorReceived`, a timeout).

Adding a command: one method here (the action's schemas already come with
`protocol.schemas`); see docs/architecture.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .messages import ConfigurationResult, DataTransferResult, format_timestamp
from .session_core import SessionCore
from .state import CONFIGURATION, ConfigurationValue
from .vocabulary import Action, AvailabilityType, RegistrationStatus, ResetType, succeeded

__all__ = ["CsmsCommands", "trigger_payload"]


class CsmsCommands(SessionCore):
    """The CSMS-initiated messages of OCPP 1.6 (sections 5.1 to 5.19)."""

    async def _status(self, action: str, payload: dict[str, Any]) -> str:
        return str((await self.call(action, payload))["status"])

    async def cancel_reservation(self, reservation_id: int) -> str:
        """CancelReservation (section 5.1)."""
        return await self._status(Action.cancel_reservation, {"reservationId": reservation_id})

    async def change_availability(self, connector_id: int, operative: bool) -> str:
        """ChangeAvailability (section 5.2): Accepted, Rejected or Scheduled."""
        return await self._status(
            Action.change_availability,
            {
                "connectorId": connector_id,
                "type": AvailabilityType.operative if operative else AvailabilityType.inoperative,
            },
        )

    async def change_configuration(self, key: str, value: str) -> str:
        """ChangeConfiguration (section 5.3); an accepted value goes into the cache."""
        status = await self._status(Action.change_configuration, {"key": key, "value": value})
        if succeeded(Action.change_configuration, status):
            configuration = self.state.configuration
            known = configuration.get(key)
            if known is None or known.value != value:
                configuration[key] = ConfigurationValue(value)
                self.state.notify((CONFIGURATION,))
        return status

    async def clear_cache(self) -> str:
        """ClearCache (section 5.4)."""
        return await self._status(Action.clear_cache, {})

    async def clear_charging_profile(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> str:
        """ClearChargingProfile (section 5.5): Accepted or Unknown."""
        return await self._status(
            Action.clear_charging_profile,
            _without_none(
                id=profile_id,
                connectorId=connector_id,
                chargingProfilePurpose=purpose,
                stackLevel=stack_level,
            ),
        )

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> DataTransferResult:
        """DataTransfer (section 5.6)."""
        reply = await self.call(
            Action.data_transfer, _without_none(vendorId=vendor_id, messageId=message_id, data=data)
        )
        return DataTransferResult(reply["status"], reply.get("data"))

    async def get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None
    ) -> dict[str, Any]:
        """GetCompositeSchedule (section 5.7): the response as sent."""
        return await self.call(
            Action.get_composite_schedule,
            _without_none(
                connectorId=connector_id, duration=duration, chargingRateUnit=charging_rate_unit
            ),
        )

    async def get_configuration(self, keys: list[str] | None = None) -> ConfigurationResult:
        """GetConfiguration (section 5.8); the values also go into `state.configuration`."""
        reply = await self.call(Action.get_configuration, {"key": keys} if keys else {})
        values = {
            item["key"]: ConfigurationValue(item.get("value"), bool(item.get("readonly", False)))
            for item in reply.get("configurationKey", ())
        }
        configuration = self.state.configuration
        if any(configuration.get(key) != value for key, value in values.items()):
            configuration.update(values)
            self.state.notify((CONFIGURATION,))
        return ConfigurationResult(values, list(reply.get("unknownKey", ())))

    async def get_diagnostics(
        self,
        location: str,
        *,
        retries: int | None = None,
        retry_interval: int | None = None,
        start_time: datetime | None = None,
        stop_time: datetime | None = None,
    ) -> str | None:
        """GetDiagnostics (section 5.9): the file name, or None when there is nothing."""
        reply = await self.call(
            Action.get_diagnostics,
            _without_none(
                location=location,
                retries=retries,
                retryInterval=retry_interval,
                startTime=_time_or_none(start_time),
                stopTime=_time_or_none(stop_time),
            ),
        )
        file_name = reply.get("fileName")
        return None if file_name is None else str(file_name)

    async def get_local_list_version(self) -> int:
        """GetLocalListVersion (section 5.10): -1 none supported, 0 empty list."""
        return int((await self.call(Action.get_local_list_version, {}))["listVersion"])

    async def remote_start(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
    ) -> str:
        """RemoteStartTransaction (section 5.11); its Authorize and start present no card."""
        # Noted before sending: the charger may send its Authorize right after its reply.
        self._remote_started.add(id_tag, "remote")
        status = ""
        try:
            status = await self._status(
                Action.remote_start_transaction,
                _without_none(
                    idTag=id_tag, connectorId=connector_id, chargingProfile=charging_profile
                ),
            )
        finally:
            if not succeeded(Action.remote_start_transaction, status):
                # Refused or failed: no start of ours will follow.
                self._remote_started.take(id_tag)
        return status

    async def remote_stop(self, transaction_id: int) -> str:
        """RemoteStopTransaction (section 5.12)."""
        return await self._status(Action.remote_stop_transaction, {"transactionId": transaction_id})

    async def reserve_now(
        self,
        connector_id: int,
        expiry_date: datetime,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
    ) -> str:
        """ReserveNow (section 5.13)."""
        return await self._status(
            Action.reserve_now,
            _without_none(
                connectorId=connector_id,
                expiryDate=format_timestamp(expiry_date),
                idTag=id_tag,
                reservationId=reservation_id,
                parentIdTag=parent_id_tag,
            ),
        )

    async def reset(self, hard: bool) -> str:
        """Reset (section 5.14)."""
        return await self._status(
            Action.reset, {"type": ResetType.hard if hard else ResetType.soft}
        )

    async def send_local_list(
        self, version: int, update_type: str, entries: list[dict[str, Any]]
    ) -> str:
        """SendLocalList (section 5.15); `entries` are AuthorizationData as on the wire."""
        return await self._status(
            Action.send_local_list,
            {"listVersion": version, "updateType": update_type, "localAuthorizationList": entries},
        )

    async def set_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        """SetChargingProfile (section 5.16); `profile` is a ChargingProfile as on the wire."""
        return await self._status(
            Action.set_charging_profile,
            {"connectorId": connector_id, "csChargingProfiles": profile},
        )

    async def trigger_message(self, requested_message: str, connector_id: int | None = None) -> str:
        """TriggerMessage (section 5.17); a Pending charger may then send that message."""
        status = await self._status(
            Action.trigger_message, trigger_payload(requested_message, connector_id)
        )
        if (
            succeeded(Action.trigger_message, status)
            and self.state.registration == RegistrationStatus.pending
        ):
            self._triggered.add(requested_message)
        return status

    async def unlock_connector(self, connector_id: int) -> str:
        """UnlockConnector (section 5.18): Unlocked, UnlockFailed or NotSupported."""
        return await self._status(Action.unlock_connector, {"connectorId": connector_id})

    async def update_firmware(
        self,
        location: str,
        retrieve_date: datetime,
        *,
        retries: int | None = None,
        retry_interval: int | None = None,
    ) -> None:
        """UpdateFirmware (section 5.19); progress comes as FirmwareStatusNotification."""
        await self.call(
            Action.update_firmware,
            _without_none(
                location=location,
                retrieveDate=format_timestamp(retrieve_date),
                retries=retries,
                retryInterval=retry_interval,
            ),
        )


def trigger_payload(requested_message: str, connector_id: int | None) -> dict[str, Any]:
    """A TriggerMessage payload (section 5.17), the connector only when given."""
    return _without_none(requestedMessage=requested_message, connectorId=connector_id)


def _time_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


def _without_none(**fields: Any) -> dict[str, Any]:
    """Build a payload, leaving out the optional fields not given."""
    return {key: value for key, value in fields.items() if value is not None}
