"""A simulated OCPP 1.6J charge point for tests, demos and benchmarks of the central system."""

from .charger import SimulatedCharger
from .clock import Clock, ManualClock, WallClock
from .model import DEFAULT_MEASURANDS, Vehicle
from .state import (
    ActiveTransaction,
    Connector,
    NotConnectedError,
    ReceivedProfile,
    Reservation,
    SimulatorError,
    TransactionRefused,
)

__all__ = [
    "DEFAULT_MEASURANDS",
    "ActiveTransaction",
    "Clock",
    "Connector",
    "ManualClock",
    "NotConnectedError",
    "ReceivedProfile",
    "Reservation",
    "SimulatedCharger",
    "SimulatorError",
    "TransactionRefused",
    "Vehicle",
    "WallClock",
]
