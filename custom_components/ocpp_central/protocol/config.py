"""Per-charger settings the central system needs to admit and drive one charger."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargerConfig:
    """How one charger is admitted (password) and driven (intervals, strictness)."""

    charge_box_id: str
    # HTTP Basic password (security profiles 1 and 2); None admits the charger without one.
    password: str | None = None
    heartbeat_interval: int = 300
    meter_interval: int = 30
    # Accept and normalise known firmware deviations from the schemas instead of refusing them.
    lenient: bool = False
