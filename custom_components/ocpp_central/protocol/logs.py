"""Log lines about what chargers send: short, rate-limited per kind, secrets redacted.

A charger decides how often and what it sends, so a line about its frames must cost us a
bounded amount whatever it does. Every such line goes through `problem()`:

- **rate**: per charger and kind of problem, one line per `INTERVAL` seconds at most;
  the problems in between are only counted, and the next line tells how many there
  were ("... (312 more in the last 61 s)"). A flood gives one line per interval.
- **length**: a quoted frame or value keeps its first `MAX_QUOTED` characters
  (`quote()`), a line its first `MAX_LINE` characters, a traceback its last
  `MAX_TRACEBACK`.
- **secrets**: the values of `idTag`, `parentIdTag`, password-like keys and
  `Authorization` headers are replaced by `***` (`redact()`) in every line, whatever the
  level. Id tags are personal data (security whitepaper, section 1.3); a log is often
  pasted into a bug report.
- **memory**: at most `MAX_TRACKED` (charger, kind) pairs are remembered, the least
  recently seen forgotten first (a forgotten kind logs its next line at once).

Two variants of the rate, for problems that are not the charger's frames:

- **once until resolved**: `interval=ONCE` logs a kind once; its repeats are only counted
  until `resolved(charger, kind)` says it went away (a setup call that failed for good,
  `protocol.retry`).
- **summary**: with `summary=`, the count is not left for the next problem of the kind
  but told when its interval ends, by a timer of the running event loop: "... 4 failed
  attempts in the last 60 s" (failed authentication, `protocol.server.AuthFailures`).
  An interval without repeats ends the window: the next problem logs its line at once.
  `forget()` drops a charger's windows and their timers.

Kinds name the problem, never the charger's input (an unknown action is "unknown
action", not its name), so they come from a set the code bounds.

`RedactingLogger` gives the websockets library's own lines (its debug output shows
request headers and frames) the same redaction and length bound.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
import logging
import math
import re
import time
import traceback
from typing import Any, Final

# Characters of a frame or value quoted inside a line.
MAX_QUOTED: Final = 200
# Characters of one line (a traceback, when there is one, comes on top).
MAX_LINE: Final = 500
# Characters of a traceback logged with a line: its end, where the error is.
MAX_TRACEBACK: Final = 2000
# Seconds during which further problems of a kind are only counted.
INTERVAL: Final = 60.0
# An interval that never ends: a kind logged once, until `resolved()`.
ONCE: Final = math.inf
# (charger, kind) pairs remembered for the rate limit.
MAX_TRACKED: Final = 1024
# Longest kind kept as a key (kinds are the code's words; this only guards against misuse).
_MAX_KIND: Final = 128
_REDACTED: Final = "***"
_ELLIPSIS: Final = "..."

# A secret's key (a JSON or Python key, a header name, `key=value`) and its value: a
# quoted string (escapes allowed), or an optional auth scheme and one token. The key
# must stand alone, so `idTagInfo` (which holds no tag of its own) is left as it is.
_SECRET = re.compile(
    r"""(?<![\w-])(?P<key>(?:parent)?id_?tag|[\w-]*passw(?:or)?d[\w-]*|authorization(?:_?key)?)"""
    r"""(?P<close>["']?)(?P<sep>\s*[:=]\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|(?:(?:basic|bearer|digest)\s+)?[^\s,;}\]]+)""",
    re.IGNORECASE,
)


def _hide(match: re.Match[str]) -> str:
    value = match["value"]
    quote = value[0] if value[:1] in {'"', "'"} else ""
    return f"{match['key']}{match['close']}{match['sep']}{quote}{_REDACTED}{quote}"


def redact(text: str) -> str:
    """`text` with the value of every id tag, password and Authorization header hidden."""
    return _SECRET.sub(_hide, text)


def shorten(text: str, limit: int = MAX_QUOTED) -> str:
    """`text` cut to at most `limit` characters, ending in "..." when cut."""
    return text if len(text) <= limit else text[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def quote(value: str | bytes) -> str:
    """`value` as a Python literal, cut to about `MAX_QUOTED` characters.

    Only the start is quoted: a frame of 64 KiB is not copied to be cut afterwards.
    """
    text = repr(value[: MAX_QUOTED + 1])
    return shorten(text, MAX_QUOTED)


def bounded_line(text: str) -> str:
    """The line as it may be logged: secrets redacted, then cut to `MAX_LINE` characters."""
    # Cut before the redaction (which is linear, but needs no 64 KiB input), with room
    # for the redaction to lengthen it a little, then again.
    return shorten(redact(text[: MAX_LINE * 2]), MAX_LINE)


def _traceback_tail(error: BaseException) -> str:
    text = redact("".join(traceback.format_exception(error)).rstrip())
    if len(text) > MAX_TRACEBACK:
        text = _ELLIPSIS + text[-MAX_TRACEBACK:]
    return text


@dataclass(slots=True)
class _Summary:
    """What a window's summary line needs: where it goes, its text and the latest args."""

    logger: logging.Logger
    level: int
    charger: str
    text: str
    interval: float
    args: tuple[object, ...]
    timer: asyncio.TimerHandle | None = None


class _Window:
    """The rate limit of one (charger, kind).

    When its last line went out, until when further problems are only counted, and how
    many were; for a summarised kind, what its summary needs.
    """

    __slots__ = ("count", "end", "logged", "summary")

    def __init__(self, logged: float, end: float) -> None:
        self.logged = logged
        self.end = end
        self.count = 0
        self.summary: _Summary | None = None


class ProblemLog:
    """Logs problems per (charger, kind): a line, then at most one line per interval.

    A line after the first carries the count of those not logged since the one before:
    "... (312 more in the last 61 s)". No timer is involved, so nothing outlives its
    charger; a count is told with the next problem of its kind.
    """

    __slots__ = ("_capacity", "_clock", "_interval", "_windows")

    def __init__(
        self,
        *,
        interval: float = INTERVAL,
        capacity: int = MAX_TRACKED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Count repeats for `interval` seconds; remember at most `capacity` pairs."""
        self._interval = interval
        self._capacity = capacity
        self._clock = clock
        self._windows: OrderedDict[tuple[str, str], _Window] = OrderedDict()

    def __len__(self) -> int:
        """How many (charger, kind) pairs are remembered."""
        return len(self._windows)

    def log(
        self,
        logger: logging.Logger,
        level: int,
        charger: str,
        kind: str,
        msg: str,
        *args: object,
        exc_info: BaseException | None = None,
        interval: float | None = None,
        summary: str | None = None,
    ) -> bool:
        """Log `msg % args` unless a line of this kind went out lately; whether it was logged.

        `interval` overrides the log's own for this kind (`ONCE`: until `resolved`).
        `summary`, a `str.format` text, is logged when an interval with repeats ends, with
        the latest problem's `args` as positional fields and `count` and `seconds` (the
        interval) as named ones; it needs a running event loop (without one, the count
        goes with the next line as usual).
        """
        if not logger.isEnabledFor(level):
            return False
        key = (charger, kind[:_MAX_KIND])
        now = self._clock()
        window = self._windows.get(key)
        if window is not None:
            self._windows.move_to_end(key)
            if now < window.end:
                window.count += 1
                if window.summary is not None:
                    window.summary.args = args
                return False
        line = bounded_line(msg % args if args else msg)
        if window is not None and window.count:
            line = f"{line} ({window.count} more in the last {now - window.logged:.0f} s)"
        if exc_info is not None:
            line = f"{line}\n{_traceback_tail(exc_info)}"
        seconds = self._interval if interval is None else interval
        end = now + seconds
        if window is None:
            window = self._windows[key] = _Window(now, end)
            if len(self._windows) > self._capacity:
                _cancel(self._windows.popitem(last=False)[1])
        else:
            window.logged, window.end, window.count = now, end, 0
        if summary is not None and seconds < ONCE:
            self._summarise_later(
                key, window, _Summary(logger, level, key[0], summary, seconds, args)
            )
        logger.log(level, "%s", line, stacklevel=3)  # the caller of `problem()`
        return True

    def resolved(self, charger: str, kind: str) -> None:
        """The problem went away: its next occurrence logs a line at once."""
        _cancel(self._windows.pop((charger, kind[:_MAX_KIND]), None))

    def forget(self, charger: str | None = None, kind: str | None = None) -> None:
        """Drop the windows of `charger` (None: every charger) and `kind` (None: every kind).

        Pending summaries are dropped with them, untold.
        """
        for key in [
            key
            for key in self._windows
            if (charger is None or key[0] == charger) and (kind is None or key[1] == kind)
        ]:
            _cancel(self._windows.pop(key))

    def _summarise_later(self, key: tuple[str, str], window: _Window, summary: _Summary) -> None:
        """Count until the interval ends, then tell the count (see `log`)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop to tell it: the next line carries the count
        _cancel(window)
        window.end = ONCE  # the timer ends the window
        window.summary = summary
        summary.timer = loop.call_later(summary.interval, self._summarise, key, window)

    def _summarise(self, key: tuple[str, str], window: _Window) -> None:
        summary = window.summary
        if summary is None or self._windows.get(key) is not window:
            return
        if window.count == 0:  # a whole interval without repeat: the next logs at once
            del self._windows[key]
            return
        text = summary.text.format(*summary.args, count=window.count, seconds=summary.interval)
        window.logged, window.count = self._clock(), 0
        if summary.logger.isEnabledFor(summary.level):
            summary.logger.log(summary.level, "%s", bounded_line(text))
        summary.timer = asyncio.get_running_loop().call_later(
            summary.interval, self._summarise, key, window
        )


def _cancel(window: _Window | None) -> None:
    """Stop the summary timer of a window no longer kept."""
    if window is not None and window.summary is not None and window.summary.timer is not None:
        window.summary.timer.cancel()


_problems = ProblemLog()


def problem(
    logger: logging.Logger,
    charger: str,
    kind: str,
    msg: str,
    *args: object,
    level: int = logging.WARNING,
    exc_info: BaseException | None = None,
    interval: float | None = None,
    summary: str | None = None,
) -> bool:
    """Log a line about charger `charger` (or "" for no charger in particular); whether it was.

    `kind` names the problem, from a set the code bounds; `msg % args` is redacted and cut.
    `exc_info` adds the end of the exception's traceback, redacted too; `interval`
    replaces `INTERVAL` for this kind (`ONCE`: logged once until `resolved`); `summary`
    tells the count when an interval ends (see `ProblemLog.log`).
    """
    return _problems.log(
        logger,
        level,
        charger,
        kind,
        msg,
        *args,
        exc_info=exc_info,
        interval=interval,
        summary=summary,
    )


def resolved(charger: str, kind: str) -> None:
    """Problem `kind` of `charger` went away: the next one logs its line at once."""
    _problems.resolved(charger, kind)


def forget(charger: str | None = None, kind: str | None = None) -> None:
    """Drop the rate limit (and pending summaries) of a charger, a kind, or both."""
    _problems.forget(charger, kind)


class RedactingLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger for the websockets library: every line redacted and cut like ours.

    Its debug output shows the request headers (Authorization among them) and the start
    of every frame; its lines are not rate-limited (at INFO and above it writes one or
    two per connection).
    """

    def __init__(self, logger: logging.Logger) -> None:
        """Wrap `logger`."""
        super().__init__(logger)

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log the redacted, bounded line (tracebacks as they are)."""
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            self.logger.log(level, "%s", bounded_line(text), **kwargs)
