"""The energy register the central system publishes: in timestamp order, never backwards.

A charger's energy register (OCPP 1.6 section 7.31, e.g. Energy.Active.Import.Register)
should only grow, but what arrives does not always: samples come late (a MeterValues
queued offline, the transactionData of a StopTransaction, section 6.49), are resent after
a lost reply, glitch to 0 once, or restart lower for real when the charger reboots or its
meter is exchanged. Home Assistant's statistics take a lower value of a `total_increasing`
sensor for a new meter cycle and count the whole register again, so this one rule decides
what is published, for the connector's register and for a transaction's energy alike:

- a sample older than the one held changes nothing (a resend, or news already overtaken);
- a newer sample not lower than the published value is published;
- a newer, lower sample is held back. If the next sample is back at or above the published
  value, the dip was a glitch and is dropped. If the next one is lower too (and not lower
  than the held one), the meter really restarted: from then on `offset` (published minus
  the charger's own value) carries the published value across the drop, and it grows by
  what the meter counts after it.

The price of the last point: after a meter restart the published value differs from the
charger's own display by `offset`. `offset` is persisted with the value so that it
survives a restart of the central system.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class EnergyRegister:
    """The published value of one energy register (Wh or varh) and how it follows the meter."""

    value: float | None = None  # published; None until the first sample
    timestamp: datetime | None = None  # of the newest sample taken
    offset: float = 0.0  # published minus the charger's value, after meter restarts
    # A newer but lower sample waiting for the next one to tell a glitch from a restart.
    _held: tuple[float, datetime] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def update(self, raw: float, timestamp: datetime) -> bool:
        """Take a sample `raw` of the charger's register; return whether `value` changed."""
        value = self.value
        if value is None:
            self.value, self.timestamp, self._held = raw + self.offset, timestamp, None
            return True
        published = raw + self.offset
        # Older, or as old: a resend, a late sample, or meterStop in whole Wh at the time
        # of the last sample. Only a higher value of the very same moment is news.
        if self.timestamp is not None and (
            timestamp < self.timestamp or (timestamp == self.timestamp and published <= value)
        ):
            return False
        if published >= value:
            self.value, self.timestamp, self._held = published, timestamp, None
            return published != value
        held = self._held
        if held is not None and timestamp <= held[1]:
            return False  # older than the sample held back: a resend of the drop
        if held is None or raw < held[0]:
            # A first drop, or a drop below the one held (the held one was the glitch).
            self._held = (raw, timestamp)
            return False
        # Confirmed: the meter restarted at held[0] and has counted raw - held[0] since.
        self.offset = value - held[0]
        self.value, self.timestamp, self._held = raw + self.offset, timestamp, None
        return self.value != value

    def hold(self, value: float) -> bool:
        """Never publish less than `value`, a value this register was already published at.

        For what outlives the central system's own memory: the state Home Assistant
        recorded last, when a crash lost the latest saved register. The offset stays: the
        recorded value was published with it, so the charger's register was that high.
        """
        if self.value is not None and self.value >= value:
            return False
        self.value = value
        return True
