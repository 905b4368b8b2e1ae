"""Sending a circuit's new shares to its chargers in an order that never overloads it.

Each connector's share becomes a current limit through its charger's
`CurrentLimiter` (charging profiles, OCPP 1.6 section 3.13; SetChargingProfile section
5.16). Profiles do not take effect everywhere at the same instant, so the order matters:

1. Every change that lowers a connector's current on each phase is sent first (all at
   once: lowering is always safe), and each must be confirmed: the charger accepted a
   limit no higher than asked.
2. Only when every lowering is confirmed are the raises sent. A charger that does not
   confirm (refused, no answer, not connected) counts as offering its maximum until it
   confirms a limit again (what it had is not known for sure any more), and
   nothing is raised on the strength of it in this step; the next step tries again.

So at any instant the chargers together offer at most the larger of the old and the
new allocation, each of which fits the budget. A connector whose limit is not known
(never set by us) counts as offering the charger's maximum on three phases.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
import logging
from typing import Final

from ..errors import OcppError
from ..smart_charging import CurrentLimiter
from .allocation import PHASE_COUNT, ConnectorKey, PhaseCurrents, _load

__all__ = ["ApplyResult", "LimitApplier", "Target"]

_LOGGER = logging.getLogger(__name__)
# An accepted limit this close (A) to the one asked for confirms it (one decimal, 7.14).
_TOLERANCE: Final = 0.05


@dataclass(frozen=True, slots=True)
class Target:
    """A limit for one connector: A per phase (0 pauses) and the phases (None: not sent)."""

    amps: float
    phases: int | None = None

    def load(self) -> PhaseCurrents:
        """The current it allows on L1, L2, L3."""
        return _load(self.amps, self.phases or PHASE_COUNT)


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What one `apply` did."""

    lowered: tuple[ConnectorKey, ...] = ()
    raised: tuple[ConnectorKey, ...] = ()
    unconfirmed: tuple[ConnectorKey, ...] = ()  # lowerings not confirmed
    held: tuple[ConnectorKey, ...] = ()  # raises not sent because of them


def _lowers(old: Target, new: Target) -> bool:
    return all(n <= o + 1e-9 for n, o in zip(new.load(), old.load(), strict=True))


class LimitApplier:
    """Applies targets through the chargers' limiters, lowering before raising."""

    def __init__(self) -> None:
        """Nothing is known to be in force yet."""
        self.confirmed: dict[ConnectorKey, Target] = {}

    def in_force(self, key: ConnectorKey, charger_max: float) -> Target:
        """What we count the connector as offering: the confirmed limit, else its maximum."""
        return self.confirmed.get(key) or Target(charger_max, PHASE_COUNT)

    def forget(self, charge_box_id: str) -> None:
        """A charger reconnected or rebooted: what it had in force is no longer known."""
        for key in [k for k in self.confirmed if k[0] == charge_box_id]:
            del self.confirmed[key]

    async def apply(
        self,
        targets: Mapping[ConnectorKey, Target],
        limiters: Mapping[str, CurrentLimiter],
        charger_max: Mapping[ConnectorKey, float],
    ) -> ApplyResult:
        """Send the targets that differ from what is in force, lowerings first."""
        changes = {key: t for key, t in targets.items() if self.confirmed.get(key) != t}
        lower = {k: t for k, t in changes.items() if _lowers(self.in_force(k, charger_max[k]), t)}
        raise_ = {k: t for k, t in changes.items() if k not in lower and k[0] in limiters}
        # A charger that is not connected cannot lower: it counts as not confirming.
        failed = [key for key in lower if key[0] not in limiters]
        sendable = {k: t for k, t in lower.items() if k[0] in limiters}
        failed += [k for k, ok in (await self._send(sendable, limiters)).items() if not ok]
        if failed:
            _LOGGER.info("Lower limits not confirmed on %s: nothing is raised", failed)
            done = tuple(sorted(k for k in lower if k not in failed))
            return ApplyResult(done, (), tuple(sorted(failed)), tuple(sorted(raise_)))
        raised = await self._send(raise_, limiters)
        return ApplyResult(tuple(sorted(lower)), tuple(sorted(k for k, ok in raised.items() if ok)))

    async def _send(
        self, targets: Mapping[ConnectorKey, Target], limiters: Mapping[str, CurrentLimiter]
    ) -> dict[ConnectorKey, bool]:
        """Set each limit (one charger's connectors in turn, chargers side by side)."""
        by_charger: dict[str, list[tuple[ConnectorKey, Target]]] = {}
        for key, target in sorted(targets.items()):
            by_charger.setdefault(key[0], []).append((key, target))
        outcome: dict[ConnectorKey, bool] = {}

        async def charger(items: list[tuple[ConnectorKey, Target]]) -> None:
            for key, target in items:
                outcome[key] = await self._set(key, target, limiters[key[0]])

        await asyncio.gather(*(charger(items) for items in by_charger.values()))
        return outcome

    async def _set(self, key: ConnectorKey, target: Target, limiter: CurrentLimiter) -> bool:
        try:
            accepted = await limiter.set_limit(key[1], target.amps, phases=target.phases)
        except OcppError as err:
            _LOGGER.info("%s connector %s: limit %s A not set: %s", *key, target.amps, err)
            self.confirmed.pop(key, None)  # unknown now: counted at its maximum
            return False
        if accepted > target.amps + _TOLERANCE:
            self.confirmed.pop(key, None)
            return False
        self.confirmed[key] = Target(accepted, target.phases)
        return True
