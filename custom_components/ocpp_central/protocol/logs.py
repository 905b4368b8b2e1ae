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

Kinds name the problem, never the charger's input (an unknown action is "unknown
action", not its name), so they come from a set the code bounds.

`RedactingLogger` gives the websockets library's own lines (its debug output shows
request headers and frames) the same redaction and length bound.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
import logging
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


class _Window:
    """The rate limit of one (charger, kind).

    When its last line went out, until when further problems are only counted, and how
    many were.
    """

    __slots__ = ("count", "end", "logged")

    def __init__(self, logged: float, end: float) -> None:
        self.logged = logged
        self.end = end
        self.count = 0


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
    ) -> bool:
        """Log `msg % args` unless a line of this kind went out lately; whether it was logged.

        `interval` overrides the log's own for this kind.
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
                return False
        line = bounded_line(msg % args if args else msg)
        if window is not None and window.count:
            line = f"{line} ({window.count} more in the last {now - window.logged:.0f} s)"
        if exc_info is not None:
            line = f"{line}\n{_traceback_tail(exc_info)}"
        end = now + (self._interval if interval is None else interval)
        if window is None:
            self._windows[key] = _Window(now, end)
            if len(self._windows) > self._capacity:
                self._windows.popitem(last=False)
        else:
            window.logged, window.end, window.count = now, end, 0
        logger.log(level, "%s", line, stacklevel=3)  # the caller of `problem()`
        return True


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
) -> None:
    """Log a line about charger `charger`'s input (or "" for no charger in particular).

    `kind` names the problem, from a set the code bounds; `msg % args` is redacted and cut.
    `exc_info` adds the end of the exception's traceback, redacted too; `interval`
    replaces `INTERVAL` for this kind.
    """
    _problems.log(logger, level, charger, kind, msg, *args, exc_info=exc_info, interval=interval)


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
