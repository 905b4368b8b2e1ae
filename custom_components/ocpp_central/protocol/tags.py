"""Id tags seen lately at one charger: which StartTransaction belongs to which Authorize.

A driver presents a card (Authorize), then plugs in (StartTransaction); a remote start of
ours (RemoteStartTransaction) is followed the same way. `RecentTags` remembers such tags
for `TAG_WINDOW` seconds, at most `MAX_RECENT_TAGS` of them, so the session announces a
presented tag once (see `protocol.session_handlers`).
"""

from __future__ import annotations

import time
from typing import Final

__all__ = ["MAX_RECENT_TAGS", "TAG_WINDOW", "RecentTags", "same_tag"]

# How long after an Authorize (or our RemoteStartTransaction) a StartTransaction of the same
# tag at the same charger belongs to it: the driver presents the card, then plugs in, and
# the charger gives up after its ConnectionTimeOut (section 9.1.7), commonly 30 to 180 s.
TAG_WINDOW: Final = 300.0
# Tags remembered per charger for that (a charger cannot have more drivers at once).
MAX_RECENT_TAGS: Final = 16


def same_tag(a: str, b: str) -> bool:
    """Compare id tags as section 7.28 wants: IdToken is case-insensitive."""
    return a.casefold() == b.casefold()


class RecentTags:
    """Id tags seen lately at one charger, each with a note; bounded in count and in time."""

    __slots__ = ("_seen", "window")

    def __init__(self, window: float) -> None:
        self.window = window
        self._seen: dict[str, tuple[float, str]] = {}  # casefolded tag -> (when, note)

    def add(self, id_tag: str, note: str) -> None:
        seen = self._seen
        key = id_tag.casefold()
        seen.pop(key, None)  # re-inserted last: the oldest goes first
        seen[key] = (time.monotonic(), note)
        if len(seen) > MAX_RECENT_TAGS:
            del seen[next(iter(seen))]

    def get(self, id_tag: str) -> str | None:
        """The note of `id_tag` if it was seen within the window."""
        found = self._seen.get(id_tag.casefold())
        if found is None or time.monotonic() - found[0] > self.window:
            return None
        return found[1]

    def take(self, id_tag: str) -> str | None:
        """Like `get`, and forget the tag."""
        note = self.get(id_tag)
        self._seen.pop(id_tag.casefold(), None)
        return note
