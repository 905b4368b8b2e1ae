"""Configuration keys of the charge point (OCPP 1.6 section 9) and their Get/Change calls."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from .model import SUPPORTED_MEASURANDS
from .profiles import ProfileRules


class ValueKind(StrEnum):
    """How a value is checked before ChangeConfiguration accepts it."""

    TEXT = "text"
    INTEGER = "integer"  # non-negative
    BOOLEAN = "boolean"
    MEASURANDS = "measurands"  # comma-separated list of supported measurands


@dataclass(slots=True)
class Setting:
    """One configuration key."""

    value: str
    readonly: bool = False
    kind: ValueKind = ValueKind.TEXT


def _valid(kind: ValueKind, value: str) -> bool:
    match kind:
        case ValueKind.INTEGER:
            return value.isdigit()
        case ValueKind.BOOLEAN:
            return value.lower() in ("true", "false")
        case ValueKind.MEASURANDS:
            items = [v.strip() for v in value.split(",") if v.strip()]
            return all(v in SUPPORTED_MEASURANDS for v in items)
        case ValueKind.TEXT:
            return True


class Configuration:
    """Configuration keys by name; names compare case-insensitively (CiString50Type)."""

    def __init__(self, settings: dict[str, Setting]) -> None:
        self._settings = settings
        self._names = {name.lower(): name for name in settings}
        # Called after an accepted change, with the key's canonical name.
        self.on_change: Callable[[str], None] = lambda _key: None

    def canonical(self, key: str) -> str | None:
        return self._names.get(key.lower())

    def __getitem__(self, key: str) -> str:
        return self._settings[key].value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._names

    def integer(self, key: str) -> int:
        return int(self[key])

    def boolean(self, key: str) -> bool:
        return self[key].lower() == "true"

    def items(self, key: str) -> tuple[str, ...]:
        return tuple(v.strip() for v in self[key].split(",") if v.strip())

    def set(self, key: str, value: str) -> None:
        """Set a value from inside the charger (read-only keys too)."""
        self._settings[key].value = value

    def report(self, keys: Iterable[str] | None) -> tuple[list[dict[str, str | bool]], list[str]]:
        """GetConfiguration (section 5.8): known keys as KeyValue objects, and the unknown ones."""
        names = list(self._settings) if keys is None else list(keys)
        known: list[dict[str, str | bool]] = []
        unknown: list[str] = []
        for requested in names:
            name = self.canonical(requested)
            if name is None:
                unknown.append(requested)
                continue
            setting = self._settings[name]
            known.append({"key": name, "readonly": setting.readonly, "value": setting.value})
        return known, unknown

    def change(self, key: str, value: str) -> str:
        """ChangeConfiguration (5.3): Accepted, Rejected (read-only, bad value), NotSupported."""
        name = self.canonical(key)
        if name is None:
            return "NotSupported"
        setting = self._settings[name]
        if setting.readonly or not _valid(setting.kind, value):
            return "Rejected"
        setting.value = value.lower() if setting.kind is ValueKind.BOOLEAN else value
        self.on_change(name)
        return "Accepted"


def default_configuration(
    *,
    rules: ProfileRules,
    meter_interval: int,
    measurands: tuple[str, ...],
    authorize_remote: bool,
    local_auth_list: bool,
) -> Configuration:
    """The key set of a typical AC wallbox supporting every 1.6 feature profile."""
    profiles = ["Core", "FirmwareManagement", "RemoteTrigger", "Reservation", "SmartCharging"]
    if local_auth_list:
        profiles.append("LocalAuthListManagement")
    units = ",".join({"A": "Current", "W": "Power"}[u] for u in sorted(rules.rate_units))

    def rw(value: str | int | bool, kind: ValueKind) -> Setting:
        return Setting(_text(value), False, kind)

    def ro(value: str | int | bool, kind: ValueKind = ValueKind.TEXT) -> Setting:
        return Setting(_text(value), True, kind)

    b, i, m, t = ValueKind.BOOLEAN, ValueKind.INTEGER, ValueKind.MEASURANDS, ValueKind.TEXT
    settings = {
        "AllowOfflineTxForUnknownId": rw(False, b),
        "AuthorizationCacheEnabled": rw(True, b),
        "AuthorizeRemoteTxRequests": rw(authorize_remote, b),
        "ClockAlignedDataInterval": rw(0, i),
        "ConnectionTimeOut": rw(60, i),
        "ConnectorPhaseRotation": rw(",".join(f"{c}.RST" for c in range(rules.connectors + 1)), t),
        "ConnectorPhaseRotationMaxLength": ro(rules.connectors + 1, i),
        "GetConfigurationMaxKeys": ro(64, i),
        "HeartbeatInterval": rw(0, i),
        "LocalAuthorizeOffline": rw(True, b),
        "LocalPreAuthorize": rw(False, b),
        "MeterValuesAlignedData": rw("Energy.Active.Import.Register", m),
        "MeterValuesAlignedDataMaxLength": ro(len(SUPPORTED_MEASURANDS), i),
        "MeterValuesSampledData": rw(",".join(measurands), m),
        "MeterValuesSampledDataMaxLength": ro(len(SUPPORTED_MEASURANDS), i),
        "MeterValueSampleInterval": rw(meter_interval, i),
        "MinimumStatusDuration": rw(0, i),
        "NumberOfConnectors": ro(rules.connectors, i),
        "ResetRetries": rw(3, i),
        "StopTransactionOnEVSideDisconnect": rw(True, b),
        "StopTransactionOnInvalidId": rw(True, b),
        "StopTxnAlignedData": rw("", m),
        "StopTxnAlignedDataMaxLength": ro(len(SUPPORTED_MEASURANDS), i),
        "StopTxnSampledData": rw("Energy.Active.Import.Register", m),
        "StopTxnSampledDataMaxLength": ro(len(SUPPORTED_MEASURANDS), i),
        "SupportedFeatureProfiles": ro(",".join(profiles)),
        "SupportedFeatureProfilesMaxLength": ro(6, i),
        "TransactionMessageAttempts": rw(3, i),
        "TransactionMessageRetryInterval": rw(60, i),
        "UnlockConnectorOnEVSideDisconnect": rw(True, b),
        "WebSocketPingInterval": rw(20, i),
        "ReserveConnectorZeroSupported": ro(False, b),
        "ChargeProfileMaxStackLevel": ro(rules.max_stack_level, i),
        "ChargingScheduleAllowedChargingRateUnit": ro(units),
        "ChargingScheduleMaxPeriods": ro(rules.max_periods, i),
        "ConnectorSwitch3to1PhaseSupported": ro(rules.phase_switching, b),
        "MaxChargingProfilesInstalled": ro(rules.max_profiles, i),
    }
    if local_auth_list:
        settings |= {
            "LocalAuthListEnabled": rw(True, b),
            "LocalAuthListMaxLength": ro(100, i),
            "SendLocalListMaxLength": ro(50, i),
        }
    return Configuration(settings)


def _text(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
