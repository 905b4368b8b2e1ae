"""One running charger as the runtime keeps it, and what others may reach of the chargers.

`RunningCharger` is the record of one charger subentry: its session, current limiter and
solar adapter, found by subentry id or charge box id. `Chargers` is the narrow view of the
runtime that load management gets (the entry, the store and a charger by its charge box id),
so that the runtime builds load management without load management importing the runtime.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE

from .protocol.config import ChargerConfig
from .protocol.session import ChargerSession
from .protocol.smart_charging import CurrentLimiter
from .solar_charging import SolarCharging
from .store import OcppStore


@dataclass(slots=True)
class RunningCharger:
    """Everything the runtime runs for one charger subentry, found by either of its keys."""

    subentry_id: str
    config: ChargerConfig
    session: ChargerSession
    limiter: CurrentLimiter
    solar: SolarCharging
    unsubscribe: list[CALLBACK_TYPE] = field(default_factory=list)
    # The local list synchronisation running for it, and whether another one is due.
    sync_task: asyncio.Task[None] | None = None
    sync_again: bool = False

    @property
    def charge_box_id(self) -> str:
        """The charger's identity."""
        return self.config.charge_box_id

    def stop(self) -> None:
        """Stop following the charger: listeners, local list sync, limiter."""
        for unsubscribe in self.unsubscribe:
            unsubscribe()
        self.unsubscribe.clear()
        if self.sync_task is not None:
            self.sync_task.cancel()
        self.limiter.close()


@dataclass(frozen=True, slots=True)
class Chargers:
    """What load management reaches of the runtime."""

    entry: ConfigEntry[Any]
    store: OcppStore
    running: Callable[[str], RunningCharger | None]
