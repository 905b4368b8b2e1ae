"""Setup calls that are retried a few times and reported once.

What the central system sends on its own after a charger connects (reading the
configuration, aligning intervals, the local authorisation list, current limits) must
not be lost to one timeout or a charger busy while booting: `SetupRetry.run` tries a
call a few times with growing pauses, and logs a failure at WARNING once per charger and
problem (later repeats at DEBUG, until the same call succeeds again): the rule of
`protocol.logs` (`logs.problem` with `interval=logs.ONCE`, `logs.resolved`).

A CallError meaning "never" (NotImplemented, NotSupported: OCPP-J 1.6 section 4.2.3,
table 7) and a lost connection are not retried: asking again cannot change the answer,
and a new connection starts its own setup. "Never" is logged at INFO only: an optional
message a charger does not support is no fault, and the caller shows what matters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
import logging
from typing import Final

from . import logs
from .errors import CallErrorCode, CallErrorReceived, NotConnectedError, OcppError

__all__ = ["DEFAULT_RETRY_DELAYS", "FINAL_CODES", "SetupRetry"]

_LOGGER = logging.getLogger(__name__)

# Pauses between the tries of one setup call (3 tries in all).
DEFAULT_RETRY_DELAYS: Final[tuple[float, ...]] = (5.0, 30.0)
# CallError codes that will not change however often we ask.
FINAL_CODES: Final = frozenset({CallErrorCode.NOT_IMPLEMENTED, CallErrorCode.NOT_SUPPORTED})


class SetupRetry:
    """Retries of one charger's setup calls, and which problems were reported already."""

    def __init__(self, charge_box_id: str, delays: Sequence[float] = DEFAULT_RETRY_DELAYS) -> None:
        """Retry after each pause of `delays` (an empty sequence: one try only)."""
        self.charge_box_id = charge_box_id
        self.delays: tuple[float, ...] = tuple(delays)

    async def run[T](self, problem: str, call: Callable[[], Awaitable[T]]) -> T:
        """Await `call()` until it succeeds or the tries run out; raise the last error.

        `problem` names the call in the log ("GetConfiguration", "SendLocalList", ...):
        the first failure of a problem is a WARNING, repeats are DEBUG.
        """
        pauses = iter(self.delays)
        while True:
            try:
                result = await call()
            except NotConnectedError:
                raise
            except OcppError as err:
                final = isinstance(err, CallErrorReceived) and err.code in FINAL_CODES
                pause = None if final else next(pauses, None)
                if final:
                    # The charger does not do this at all: the caller decides what it means.
                    logs.problem(
                        _LOGGER,
                        self.charge_box_id,
                        f"{problem} not supported",
                        "%s: %s not supported: %s",
                        self.charge_box_id,
                        problem,
                        err,
                        level=logging.INFO,
                    )
                    raise
                if pause is None:
                    self.report(problem, str(err))
                    raise
                _LOGGER.debug(
                    "%s: %s failed (%s); trying again in %s s",
                    self.charge_box_id,
                    problem,
                    err,
                    pause,
                )
                await asyncio.sleep(pause)
            else:
                self.resolved(problem)
                return result

    def report(self, problem: str, detail: str) -> None:
        """Log `problem` at WARNING the first time, at DEBUG while it persists."""
        if not logs.problem(
            _LOGGER,
            self.charge_box_id,
            _kind(problem),
            "Charger %s: %s failed: %s",
            self.charge_box_id,
            problem,
            detail,
            interval=logs.ONCE,
        ):
            _LOGGER.debug("%s: %s failed again: %s", self.charge_box_id, problem, detail)

    def resolved(self, problem: str) -> None:
        """`problem` went away: a new failure is worth a WARNING again."""
        logs.resolved(self.charge_box_id, _kind(problem))


def _kind(problem: str) -> str:
    """The `logs` kind of a failed setup call."""
    return f"{problem} failed"
