"""Typed results of central-system commands, and the OCPP dateTime wire format (section 3.15)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from .state import ConfigurationValue


@dataclass(frozen=True, slots=True)
class DataTransferResult:
    """A DataTransfer.conf (section 6.16): status and optional vendor data.

    Also what a vendor handler registered with `ChargerSession.register_vendor` returns.
    """

    status: str  # Accepted, Rejected, UnknownMessageId, UnknownVendorId
    data: str | None = None


@dataclass(frozen=True, slots=True)
class ConfigurationResult:
    """A GetConfiguration.conf (section 6.24): the known keys and the unknown ones."""

    values: dict[str, ConfigurationValue] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)


def parse_timestamp(text: str | None, default: datetime | None = None) -> datetime:
    """Parse an OCPP dateTime (UTC, ISO 8601, usually with "Z"); naive times are taken as UTC.

    Missing or unparsable times give `default` (or now): a reading's time is not worth
    refusing a transaction-related message for (section 4.7: sanity checks SHOULD NOT
    stop the Central System from answering).
    """
    if text:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return default if default is not None else datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """Write `moment` as OCPP wants it: UTC, ISO 8601, milliseconds, "Z" (section 3.15)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"
