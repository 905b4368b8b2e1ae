"""Unknown chargers: offered to the user through a discovery flow, or refused and logged.

`UnknownChargers` is the central system's `unknown_charger` callback (`CentralSystem`
answers HTTP 404 whatever it returns False for, and it never admits one). Under the entry's
policy `offer` it starts an `integration_discovery` flow for an id, again only after
DISCOVERY_RETRY_SECONDS, with at most MAX_PENDING_OFFERS flows waiting at a time; under
`reject` it logs the refusal, one line per interval for all ids. What it remembers of
unknown ids is bounded (MAX_UNKNOWN_REMEMBERED): a scan of ids must not grow memory.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY, ConfigEntry
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.helpers import discovery_flow

from .const import (
    CONF_UNKNOWN_CHARGERS,
    DEFAULT_UNKNOWN_CHARGERS,
    DISCOVERY_CHARGE_BOX_ID,
    DISCOVERY_ENTRY_ID,
    DOMAIN,
    UNKNOWN_CHARGERS_OFFER,
)
from .protocol import logs

_LOGGER = logging.getLogger(__name__)

# Offer an unknown charger again only after this long: it retries every few seconds.
DISCOVERY_RETRY_SECONDS: Final = 300.0
# Unknown ids remembered for rate limiting and logging; a scan must not grow memory.
MAX_UNKNOWN_REMEMBERED: Final = 256
# Unknown chargers offered to the user at a time (discovery flows waiting for an answer);
# further unknown ids get 404 without a flow until one is added, ignored or dismissed.
MAX_PENDING_OFFERS: Final = 5
# An offer holds its slot this long before its flow shows in progress: the flow starts
# in a task of its own (queued until Home Assistant has started, counted all that time).
OFFER_START_SECONDS: Final = 30.0


class UnknownChargers:
    """Decides, for one config entry, what becomes of a charger id nobody configured."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
        """Remember nothing yet; the policy is read from `entry` at each knock."""
        self.hass = hass
        self.entry = entry
        self._seen: dict[str, float] = {}
        # Ids offered to the user: when (None once their flow was seen in progress).
        self._offers: dict[str, float | None] = {}

    def __call__(self, charge_box_id: str) -> bool:
        """Offer an unknown charger to the user (or log it once); never admit it yet."""
        policy = self.entry.options.get(CONF_UNKNOWN_CHARGERS, DEFAULT_UNKNOWN_CHARGERS)
        now = time.monotonic()
        last = self._seen.get(charge_box_id)
        if len(self._seen) >= MAX_UNKNOWN_REMEMBERED and last is None:
            self._seen.pop(next(iter(self._seen)))
        if policy == UNKNOWN_CHARGERS_OFFER:
            if (last is None or now - last >= DISCOVERY_RETRY_SECONDS) and self._may_offer(
                charge_box_id, now
            ):
                self._seen[charge_box_id] = now
                self._offers[charge_box_id] = now
                discovery_flow.async_create_flow(
                    self.hass,
                    DOMAIN,
                    context={"source": SOURCE_INTEGRATION_DISCOVERY},
                    data={
                        DISCOVERY_CHARGE_BOX_ID: charge_box_id,
                        DISCOVERY_ENTRY_ID: self.entry.entry_id,
                    },
                )
        elif last is None:
            self._seen[charge_box_id] = now
            # Any id can knock: one line per interval for all of them, with a count.
            logs.problem(
                _LOGGER,
                "",
                "unknown charger rejected",
                "Refused unknown charger %s (unknown chargers are rejected)",
                charge_box_id,
            )
        return False

    def _may_offer(self, charge_box_id: str, now: float) -> bool:
        """Whether a flow may be started for `charge_box_id`: a slot of MAX_PENDING_OFFERS.

        The slots are the discovery flows in progress (whoever started them) and our
        offers whose flow has not started yet; a flow the user completes, ignores or
        dismisses leaves the progress list, and its slot with it.
        """
        waiting = {
            flow["context"].get("unique_id") or flow["flow_id"]
            for flow in self.hass.config_entries.flow.async_progress_by_handler(
                DOMAIN,
                include_uninitialized=True,
                match_context={"source": SOURCE_INTEGRATION_DISCOVERY},
            )
        }
        starting = self.hass.state is not CoreState.running
        for offered, since in list(self._offers.items()):
            if offered in waiting:
                self._offers[offered] = None
            elif since is None or not (starting or now - since < OFFER_START_SECONDS):
                del self._offers[offered]  # its flow ended, or never started
            else:
                waiting.add(offered)
        if charge_box_id in waiting or len(waiting) < MAX_PENDING_OFFERS:
            return True
        logs.problem(
            _LOGGER,
            "",
            "unknown charger not offered",
            "Refused unknown charger %s without offering it: %d chargers wait to be added",
            charge_box_id,
            len(waiting),
            level=logging.INFO,
        )
        return False
