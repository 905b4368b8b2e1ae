"""The OCPP 1.6 vocabulary: actions, statuses, measurands, units and configuration keys.

Every name of the protocol comes from here, built on the `ocpp` package's
`ocpp.v16.enums` (the enumerations of OCPP 1.6 chapter 7 and of the security whitepaper).
They are `StrEnum`s: a member compares equal to, and hashes like, its wire string, so
payloads are written and read without conversion. Where a name becomes a key of data that
is stored or serialised (a readings key, a configuration key), its `.value` is used: a
plain `str`, as JSON encoders (orjson) take no `str` subclass as a mapping key.

`SUCCESS` says, for every command the central system sends (chapter 5 and the security
whitepaper), which statuses of its answer mean the charger did (or will do) what was
asked; `succeeded(action, status)` is the one test of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    AvailabilityStatus,
    AvailabilityType,
    CancelReservationStatus,
    CertificateSignedStatus,
    CertificateStatus,
    ChargePointErrorCode,
    ChargePointStatus,
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ChargingRateUnitType,
    ClearCacheStatus,
    ClearChargingProfileStatus,
    ConfigurationKey,
    ConfigurationStatus,
    DataTransferStatus,
    DeleteCertificateStatus,
    DiagnosticsStatus,
    FirmwareStatus,
    GenericStatus,
    GetCompositeScheduleStatus,
    GetInstalledCertificateStatus,
    Location,
    LogStatus,
    Measurand,
    MessageTrigger,
    Phase,
    ReadingContext,
    Reason,
    RegistrationStatus,
    RemoteStartStopStatus,
    ReservationStatus,
    ResetStatus,
    ResetType,
    TriggerMessageStatus,
    UnitOfMeasure,
    UnlockStatus,
    UpdateFirmwareStatus,
    UpdateStatus,
    UpdateType,
    ValueFormat,
)

__all__ = [
    "SUCCESS",
    "Action",
    "AuthorizationStatus",
    "AvailabilityStatus",
    "AvailabilityType",
    "CancelReservationStatus",
    "CertificateSignedStatus",
    "CertificateStatus",
    "ChargePointErrorCode",
    "ChargePointStatus",
    "ChargingProfileKindType",
    "ChargingProfilePurposeType",
    "ChargingProfileStatus",
    "ChargingRateUnitType",
    "ClearCacheStatus",
    "ClearChargingProfileStatus",
    "ConfigurationKey",
    "ConfigurationStatus",
    "DataTransferStatus",
    "DeleteCertificateStatus",
    "DiagnosticsStatus",
    "FeatureProfile",
    "FirmwareStatus",
    "GenericStatus",
    "GetCompositeScheduleStatus",
    "GetInstalledCertificateStatus",
    "Location",
    "LogStatus",
    "Measurand",
    "MessageTrigger",
    "Phase",
    "ReadingContext",
    "Reason",
    "RegistrationStatus",
    "RemoteStartStopStatus",
    "ReservationStatus",
    "ResetStatus",
    "ResetType",
    "TriggerMessageStatus",
    "UnitOfMeasure",
    "UnlockStatus",
    "UpdateFirmwareStatus",
    "UpdateStatus",
    "UpdateType",
    "ValueFormat",
    "succeeded",
    "success_statuses",
]


class FeatureProfile(StrEnum):
    """The feature profiles of SupportedFeatureProfiles (OCPP 1.6 chapter 3, section 9.1.33)."""

    CORE = "Core"
    FIRMWARE_MANAGEMENT = "FirmwareManagement"
    LOCAL_AUTH_LIST_MANAGEMENT = "LocalAuthListManagement"
    REMOTE_TRIGGER = "RemoteTrigger"
    RESERVATION = "Reservation"
    SMART_CHARGING = "SmartCharging"


_ACCEPTED: Final = frozenset({GenericStatus.accepted})

# The statuses of a command's answer that mean it was done (OCPP 1.6 chapter 7; security
# whitepaper edition 2, chapter 5): Accepted, and where the enumeration has them the
# statuses of a command that is taken but takes effect later.
SUCCESS: Final[Mapping[str, frozenset[str]]] = {
    Action.cancel_reservation: frozenset({CancelReservationStatus.accepted}),
    # 7.3: Scheduled, "once the transactions that run have finished".
    Action.change_availability: frozenset(
        {AvailabilityStatus.accepted, AvailabilityStatus.scheduled}
    ),
    # 7.5: RebootRequired, "accepted, but effective after a reboot".
    Action.change_configuration: frozenset(
        {ConfigurationStatus.accepted, ConfigurationStatus.reboot_required}
    ),
    Action.clear_cache: frozenset({ClearCacheStatus.accepted}),
    # 7.11: Unknown, no profile matched.
    Action.clear_charging_profile: frozenset({ClearChargingProfileStatus.accepted}),
    Action.data_transfer: frozenset({DataTransferStatus.accepted}),
    # 6.26: a Rejected schedule carries no schedule.
    Action.get_composite_schedule: frozenset({GetCompositeScheduleStatus.accepted}),
    Action.remote_start_transaction: frozenset({RemoteStartStopStatus.accepted}),
    Action.remote_stop_transaction: frozenset({RemoteStartStopStatus.accepted}),
    Action.reserve_now: frozenset({ReservationStatus.accepted}),
    Action.reset: frozenset({ResetStatus.accepted}),
    Action.send_local_list: frozenset({UpdateStatus.accepted}),
    Action.set_charging_profile: frozenset({ChargingProfileStatus.accepted}),
    Action.trigger_message: frozenset({TriggerMessageStatus.accepted}),
    # 7.44: Unlocked is the one success.
    Action.unlock_connector: frozenset({UnlockStatus.unlocked}),
    # Security whitepaper: AcceptedCanceled accepts and cancels an earlier request.
    Action.certificate_signed: frozenset({CertificateSignedStatus.accepted}),
    Action.delete_certificate: frozenset({DeleteCertificateStatus.accepted}),
    Action.extended_trigger_message: frozenset({TriggerMessageStatus.accepted}),
    Action.get_installed_certificate_ids: frozenset({GetInstalledCertificateStatus.accepted}),
    Action.get_log: frozenset({LogStatus.accepted, LogStatus.accepted_canceled}),
    Action.install_certificate: frozenset({CertificateStatus.accepted}),
    Action.signed_update_firmware: frozenset(
        {UpdateFirmwareStatus.accepted, UpdateFirmwareStatus.accepted_canceled}
    ),
}


def success_statuses(action: str) -> frozenset[str]:
    """The statuses that mean `action` was done (Accepted for an action not in SUCCESS)."""
    return SUCCESS.get(action, _ACCEPTED)


def succeeded(action: str, status: object) -> bool:
    """Whether `status`, the answer to our `action`, means the charger does what was asked.

    `status` is the answer's status as received (None or another type when it had none).
    """
    return status in success_statuses(action)
