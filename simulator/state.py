"""What the simulated charge point knows of itself (connectors, transactions), and its errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .model import ConnectorModel


class SimulatorError(Exception):
    """Base of the simulator's own errors."""


class NotConnectedError(SimulatorError):
    """The charger is not connected (or lost the connection while waiting for a reply)."""


class TransactionRefused(SimulatorError):
    """A transaction could not start; `status` is the spec's word for why.

    An AuthorizationStatus ("Invalid", "Blocked", "Expired", "ConcurrentTx") when the
    central system refused the id tag, or a ChargePointStatus ("Unavailable", "Reserved",
    "Faulted", "Charging") when the connector cannot take a new transaction.
    """

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True, slots=True)
class ReceivedProfile:
    """A SetChargingProfile (or a RemoteStartTransaction profile) as it arrived, and our answer."""

    connector_id: int
    profile: dict[str, Any]  # csChargingProfiles, as on the wire
    status: str  # ChargingProfileStatus we answered


@dataclass(slots=True)
class ActiveTransaction:
    """A transaction the central system accepted."""

    transaction_id: int
    id_tag: str
    meter_start: int
    start: datetime
    reservation_id: int | None = None


@dataclass(slots=True)
class Reservation:
    """A ReserveNow the charger accepted (OCPP 1.6 section 5.13)."""

    reservation_id: int
    id_tag: str
    expiry: datetime
    parent_id_tag: str | None = None


@dataclass(slots=True)
class Connector:
    """One connector (1..n): what the central system sees of it and the electrical model."""

    connector_id: int
    model: ConnectorModel
    status: str = "Available"
    error_code: str = "NoError"
    operative: bool = True
    # ChangeAvailability to Inoperative during a transaction waits for its end ("Scheduled").
    inoperative_after_tx: bool = False
    plugged: bool = False
    finishing: bool = False
    fault: str | None = None  # ChargePointErrorCode while Faulted
    transaction: ActiveTransaction | None = None
    reservation: Reservation | None = None
    current_limit: float | None = None  # A, from the charging profiles now (None: unlimited)
    # A TxProfile that came with RemoteStartTransaction, installed once the transaction starts.
    pending_profile: dict[str, Any] | None = None

    @property
    def offered_current(self) -> float:
        return self.model.offered_current

    @property
    def energy_wh(self) -> float:
        return self.model.energy_wh

    @property
    def power_w(self) -> float:
        return self.model.power_w

    @property
    def soc(self) -> float | None:
        return self.model.soc

    @property
    def transaction_id(self) -> int | None:
        return None if self.transaction is None else self.transaction.transaction_id
