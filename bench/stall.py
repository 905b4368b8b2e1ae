"""Find what stalls the event loop of a benchmark server, cheaply and with asyncio debug off.

A task on the loop wakes every `TICK` seconds and stamps the time; a daemon thread looks
at the stamp every `TICK / 2` seconds. When the stamp is older than `LATE` (the loop has
not run the task for that long), the thread samples the stack of the loop's thread, and
of every other thread, with `sys._current_frames()` until the loop runs again. Each stall
is kept with its length, the loop thread's most frequent stack while it lasted, and
what the other threads (the recorder, the executor) were doing meanwhile: enough to tell
a long callback (its frames are on the loop's stack) from a loop waiting for the GIL or
for a CPU (the loop's stack then sits in its selector or between two callbacks).

Started with OCPP_BENCH_STALLS=1 (`scripts/bench --stalls`); the load generator asks the
server for the stalls with the 'stalls' command. `GcWatch` times the cycle collector's
pauses (always on for the Home Assistant kinds, command 'gc'): a full collection stops
every thread, and is the longest stall of a big Home Assistant.
"""

from __future__ import annotations

import asyncio
from collections import Counter
import contextlib
from dataclasses import dataclass, field
import gc
import os
import sys
import threading
import time
import traceback
from typing import Any, ClassVar, Final

STALLS_ENV: Final = "OCPP_BENCH_STALLS"
# How often the loop stamps the time, and how late it may be before we call it a stall.
TICK: Final = 0.010
LATE: Final = 0.020
# Frames kept per stack (innermost last), and stalls kept per window.
DEPTH: Final = 14
MAX_STALLS: Final = 2000
# Collections of the cycle collector kept per window (young ones run many times a second).
MAX_COLLECTIONS: Final = 100_000
# Stalls described in full per window (the answer is one line of the server's stdout).
LONGEST: Final = 12
# A thread whose innermost Python frame is in one of these waits for work.
_IDLE_FILES: Final = ("threading.py", "queue.py", "concurrent/futures/thread.py")


def _stack(frame: Any) -> tuple[str, ...]:
    """The innermost DEPTH frames as 'file:line function', innermost last."""
    frames = traceback.extract_stack(frame)[-DEPTH:]
    return tuple(f"{_short(f.filename)}:{f.lineno} {f.name}" for f in frames)


def _short(filename: str) -> str:
    for marker in ("site-packages/", "custom_components/", "simulator/", "/bench/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


@dataclass(slots=True)
class _Stall:
    started: float
    loop_stacks: Counter[tuple[str, ...]] = field(default_factory=Counter)
    other_stacks: Counter[tuple[str, str]] = field(default_factory=Counter)
    ended: float | None = None

    def summary(self) -> dict[str, Any]:
        length = (self.ended or time.monotonic()) - self.started
        loop_stack, samples = self.loop_stacks.most_common(1)[0] if self.loop_stacks else ((), 0)
        return {
            "at": self.started,  # time.monotonic(): system-wide, so the client can place it
            "ms": round(1000 * (length + LATE), 1),  # late since the last stamp
            "samples": sum(self.loop_stacks.values()),
            "loop_stack": list(loop_stack),
            "loop_stack_share": samples / max(1, sum(self.loop_stacks.values())),
            "other_threads": [
                f"{name}: {where} ({count})"
                for (name, where), count in self.other_stacks.most_common(4)
            ],
        }


class StallWatch:
    """The loop watchdog and its sampling thread (one per server process)."""

    current: ClassVar[StallWatch | None] = None

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._stamp = time.monotonic()
        self._stalls: list[_Stall] = []
        self._lock = threading.Lock()
        self._running = True
        self._task = loop.create_task(self._tick(), name="bench stall watch")
        self._thread = threading.Thread(target=self._watch, name="bench stall watch", daemon=True)
        self._thread.start()
        StallWatch.current = self

    @classmethod
    def from_env(cls) -> StallWatch | None:
        """Start a watch on the running loop when OCPP_BENCH_STALLS=1."""
        if os.environ.get(STALLS_ENV) != "1":
            return None
        return cls(asyncio.get_running_loop())

    async def _tick(self) -> None:
        while self._running:
            self._stamp = time.monotonic()
            await asyncio.sleep(TICK)

    def _watch(self) -> None:
        stall: _Stall | None = None
        names = {}
        while self._running:
            time.sleep(TICK / 2)
            now = time.monotonic()
            if now - self._stamp <= LATE + TICK:
                if stall is not None:
                    stall.ended = self._stamp
                    stall = None
                continue
            if stall is None:
                if len(self._stalls) >= MAX_STALLS:
                    continue
                stall = _Stall(started=self._stamp + TICK)
                with self._lock:
                    self._stalls.append(stall)
                names = {t.ident: t.name for t in threading.enumerate()}
            me = threading.get_ident()
            for ident, frame in sys._current_frames().items():
                if ident == self._loop_thread:
                    stall.loop_stacks[_stack(frame)] += 1
                elif ident != me and not frame.f_code.co_filename.endswith(_IDLE_FILES):
                    innermost = _stack(frame)[-3:]
                    name = names.get(ident, "?").rstrip("_0123456789")
                    stall.other_stacks[(name, " < ".join(reversed(innermost)))] += 1

    def take(self, longest: int = LONGEST) -> dict[str, Any]:
        """The stalls that ended since the last call: count, total and the longest ones."""
        with self._lock:
            done = [s for s in self._stalls if s.ended is not None]
            self._stalls = [s for s in self._stalls if s.ended is None]
        summaries = sorted((s.summary() for s in done), key=lambda s: -s["ms"])
        return {
            "count": len(summaries),
            "total_ms": round(sum(s["ms"] for s in summaries), 1),
            "longest": summaries[:longest],
        }

    def stop(self) -> None:
        """Stop the task and the thread."""
        self._running = False
        self._task.cancel()
        self._thread.join(timeout=1)
        if StallWatch.current is self:
            StallWatch.current = None


@dataclass(slots=True)
class _Collection:
    generation: int
    ms: float
    collected: int


class GcWatch:
    """The pauses of Python's cycle collector in a server process, by generation.

    A full collection (generation 2) looks at every tracked object of the process and
    holds the GIL meanwhile: every thread, the event loop included, waits. Its length grows
    with what the process holds (all of Home Assistant's objects), and it starts once the
    objects that outlived the young collections since the last one reach a quarter of
    the old ones. Installed for the Home Assistant kinds; the 'gc' command answers the
    collections since the previous call.
    """

    def __init__(self) -> None:
        self._started = 0.0
        self._collections: list[_Collection] = []
        self._lock = threading.Lock()
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        found = _Collection(
            info["generation"], 1000 * (time.perf_counter() - self._started), info["collected"]
        )
        with self._lock:
            if len(self._collections) < MAX_COLLECTIONS:
                self._collections.append(found)

    def take(self) -> dict[str, Any]:
        """The collections since the previous call, and the objects tracked now."""
        with self._lock:
            taken, self._collections = self._collections, []
        full = [c for c in taken if c.generation == 2]
        return {
            "full": len(full),
            "full_ms": sorted((round(c.ms, 1) for c in full), reverse=True),
            "full_collected": sum(c.collected for c in full),
            "young": len(taken) - len(full),
            "young_ms": round(sum(c.ms for c in taken if c.generation < 2), 1),
            "tracked": sum(gc.get_count()) + len(gc.get_objects(generation=2)),
        }

    def stop(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._callback)
