"""Open-loop scenarios of the benchmark: chargers that send on their own clock, as real ones do.

The closed loop (`closed.throughput`) sends the next MeterValues as soon as the reply
comes: it measures the cost of a message but hides stalls, since a charger waiting for
a reply sends nothing meanwhile. Here every charger sends one MeterValues per interval,
the chargers staggered over the interval, whether the server keeps up or not (a charger
still waits for the reply to its previous CALL before the next one, as OCPP-J section
4.1.1 asks; a reply later than its next due time then delays that one, and the lateness
shows in the late-reply count, which is taken from the due time). Measured per run:

- server CPU per message above its idle baseline: the same chargers connected and
  silent for a while first, in the same server, so connection upkeep and periodic
  tasks (the recorder's commits, the store's delayed saves) of an idle install are not
  charged to the messages;
- p50/p99 round trip (send -> reply) and replies later than 1 s after their due time;
- RSS per connected charger (after each charger connected, started a transaction and
  sent one MeterValues, so its entities exist), the entry's own cost shared among them;
- for Home Assistant, the CPU of each thread of the server (the event loop, the
  recorder, the executor), and with `--stalls` the loop stalls found by `stall`.

Kind "ha-floor" (`bench.ha_floor`: Home Assistant with one energy state per message, no
integration) runs here as "ha" does; the targets show its figures beside the floor's.

Also here: Home Assistant's start with a config entry of many chargers (entities in
the registry from a previous run) against the same start without the entry, and the
database growth (rows of the recorder's tables per charger-hour at a 10 s meter interval).

`--wide` sends the 24 sampled values of a three-phase charger with a car that reports
its state of charge, as the performance issue's measurement did.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
import json
import math
import os
from pathlib import Path
import pstats
import re
import shutil
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any, Final

from websockets.exceptions import ConnectionClosed

from simulator.clock import iso

from .allocator import ALLOCATOR_ENV, JEMALLOC, SYSTEM
from .closed import (
    _ROOT,
    BUSY_PREFIX,
    HA_KINDS,
    METER_START,
    REMOTE_ID_TAG,
    MeterFeed,
    RawCharger,
    ServerProcess,
    WideFeed,
    percentiles,
    settle,
    status_payload,
)
from .stall import LATE, STALLS_ENV, TICK

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

# A reply this long after its due time is late (a user would see a stale value).
LATE_REPLY: Final = 1.0
# The product's targets for the open loop (measured here, never in tests).
OPEN_CPU_TARGET_MS: Final = 0.8
OPEN_P99_TARGET_MS: Final = 50.0
OPEN_RSS_TARGET_MB: Final = 0.5
# Silence measured before the load, for the idle baseline (at most the load's length).
IDLE_SECONDS: Final = 5.0
# Profile lines printed per profiled run.
PROFILE_LINES: Final = 30
PROFILE_ENV: Final = "OCPP_BENCH_PROFILE"
# A stall sampled at fewer than this share of the sampler's ticks: the process was starved.
STARVED_COVERAGE: Final = 0.25


async def charging_charger(
    port: int, charge_box_id: str, *, wide: bool, interval: float = 1.0
) -> RawCharger:
    """Connect, boot, start a transaction (section 4.8) and send a first MeterValues.

    The first MeterValues makes the connector's readings (and their entities) appear.
    `interval`: the seconds between its messages, by which its energy register moves.
    """
    charger = await RawCharger.open(port, charge_box_id)
    await charger.call("StatusNotification", status_payload("Charging"))
    start = {
        "connectorId": 1,
        "idTag": REMOTE_ID_TAG,
        "meterStart": METER_START,
        "timestamp": iso(datetime.now(UTC)),
    }
    reply = json.loads(await charger.call("StartTransaction", json.dumps(start)))
    transaction_id = (reply[2] if reply[0] == 3 else {}).get("transactionId")
    charger.feed = (
        WideFeed(transaction_id, interval)  # type: ignore[assignment]
        if wide
        else MeterFeed(transaction_id, interval)
    )
    await charger.call("MeterValues", charger.feed.next())
    return charger


# -- the open loop ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Tally:
    rtts: list[float] = field(default_factory=list)
    late: int = 0
    lag: float = 0.0  # the generator's worst delay in sending a message when due
    behind: int = 0  # messages sent after their due time, the previous reply being late


async def _paced(
    charger: RawCharger, first: float, interval: float, until: float, tally: _Tally
) -> int:
    """Send one MeterValues per `interval` from `first` until `until`; return how many."""
    due, sent = first, 0
    try:
        while due < until:
            delay = due - time.monotonic()
            start = time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                # Only the generator's own lateness: a late reply delays the next send too.
                start = time.monotonic()
                tally.lag = max(tally.lag, start - due)
            else:
                tally.behind += 1
            await charger.call("MeterValues", charger.feed.next())
            done = time.monotonic()
            tally.rtts.append(done - start)
            if done - due > LATE_REPLY:
                tally.late += 1
            sent += 1
            due += interval
    except ConnectionClosed:
        charger.dropped = True
    return sent


async def _answer_calls(charger: RawCharger, until: float) -> None:
    """Stay silent until `until`, answering the central system's CALLs (configuration sync).

    A charger reads what the server sends at any time; one that only read while waiting
    for its own replies would leave the server's CALLs to time out.
    """
    while (left := until - time.monotonic()) > 0:
        try:
            async with asyncio.timeout(left):
                frame = json.loads(await charger.ws.recv())
        except TimeoutError:
            return
        if frame[0] == 2:
            await charger.ws.send(json.dumps([4, frame[1], "NotSupported", "", {}]))


@dataclass(slots=True)
class OpenRun:
    """What one open-loop run measured."""

    kind: str
    chargers: int
    interval: float
    messages: int
    seconds: float  # wall time of the load window (from stats to stats)
    rtts: list[float]
    late: int
    lag: float
    behind: int
    due: int  # messages due in the window (sent or not)
    idle_cpu_rate: float  # server CPU seconds per second, chargers connected and silent
    load_cpu_s: float
    rss_per_charger: float  # once connected, in a session, one MeterValues sent
    dropped: int = 0
    threads: dict[str, float] = field(default_factory=dict)  # CPU s per thread in the window
    # The loop stalls of the window: count, total_ms and the longest (with --stalls).
    stalls: dict[str, Any] | None = None
    # The cycle collector's pauses in the window (Home Assistant kinds; stall.GcWatch).
    collections: dict[str, Any] | None = None
    rows: dict[str, int] | None = None  # recorder rows written in the window
    # State rows of the window by kind of entity (the charger's part of the id left out).
    rows_by_entity: dict[str, int] = field(default_factory=dict)
    profile: str | None = None
    # At the end of the load window: every charger in its session for the whole window.
    rss_in_session_per_charger: float = 0.0
    allocator: str = ""  # the server's C allocator (bench.allocator)

    @property
    def cpu_ms_above_idle(self) -> float:
        """Server CPU per message above the idle baseline, in ms."""
        above = self.load_cpu_s - self.idle_cpu_rate * self.seconds
        return 1000 * above / max(1, self.messages)

    def row(self) -> str:
        p50, p99 = percentiles(self.rtts)
        return (
            f"{self.kind + ' N=' + str(self.chargers):<14} {self.messages / self.seconds:>8.0f} "
            f"{p50 * 1000:>8.2f} {p99 * 1000:>8.2f} {max(self.rtts, default=0) * 1000:>8.1f} "
            f"{self.late:>6} {self.cpu_ms_above_idle:>11.3f} {100 * self.idle_cpu_rate:>7.2f} "
            f"{self.rss_per_charger / 1e6:>10.3f} {self.rss_in_session_per_charger / 1e6:>10.3f}"
        )

    def gc_line(self) -> str:
        """The cycle collector's pauses of the window: full ones stop every thread."""
        found = self.collections or {}
        pauses = ", ".join(f"{ms:.0f}" for ms in found.get("full_ms", [])[:5]) or "none"
        return (
            f"  cycle collector: {found.get('full', 0)} full collections (ms: {pauses}; "
            f"{found.get('full_collected', 0)} objects in cycles freed), "
            f"{found.get('young', 0)} young ones ({found.get('young_ms', 0):.0f} ms in all); "
            f"{found.get('tracked', 0)} objects tracked"
        )

    def thread_line(self) -> str:
        per = {
            name: 1000 * cpu / max(1, self.messages)
            for name, cpu in sorted(self.threads.items(), key=lambda kv: -kv[1])
            if cpu > 0
        }
        parts = ", ".join(f"{name} {ms:.3f}" for name, ms in per.items())
        return f"  threads, CPU ms per message (idle not subtracted): {parts}"


OPEN_HEADER: Final = (
    f"{'open loop':<14} {'msg/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
    f"{'late':>6} {'ms/msg>idle':>11} {'idle %':>7} {'MB/charger':>10} {'after load':>10}"
)


async def open_loop(
    kind: str,
    chargers: int,
    *,
    interval: float,
    seconds: float,
    wide: bool,
    idle_seconds: float = IDLE_SECONDS,
    count_rows: bool = False,
) -> OpenRun:
    """One server of `kind`, `chargers` chargers connected: idle, then the open loop."""
    ha = kind in HA_KINDS
    profile_base = os.environ.get(PROFILE_ENV) if ha else None
    label = "" if kind == "ha" else f"{kind}-"
    profile_to = f"{profile_base}.open-{label}{chargers}" if profile_base else None
    server = await _start_server(kind, chargers, profile_to)
    try:
        base = await server.stats()
        clients = await asyncio.gather(
            *(
                charging_charger(server.port, f"{BUSY_PREFIX}{n}", wide=wide, interval=interval)
                for n in range(chargers)
            )
        )
        connected = await settle(server)
        base_rss = base["rss"] if base["base_rss"] is None else base["base_rss"]
        rss_per_charger = (connected["rss"] - base_rss) / chargers
        # The idle baseline: the same chargers connected and silent.
        idle_start = time.monotonic()
        idle_before = await server.stats()
        idle_until = time.monotonic() + min(idle_seconds, seconds)
        await asyncio.gather(*(_answer_calls(c, idle_until) for c in clients))
        idle_after = await server.stats()
        idle_cpu_rate = (idle_after["cpu"] - idle_before["cpu"]) / (time.monotonic() - idle_start)
        if ha:
            await server.command("stalls")  # forget those of the start-up
            await server.command("gc")
            rows_before = (await server.command("db_rows"))["rows"] if count_rows else None
            threads_before = (await server.command("threads"))["threads"]
        if profile_to:
            await server.command("profile_window")
        tally = _Tally()
        started = time.monotonic()
        before = await server.stats()
        first = time.monotonic()
        counts = await asyncio.gather(
            *(
                _paced(c, first + n * interval / chargers, interval, first + seconds, tally)
                for n, c in enumerate(clients)
            )
        )
        after = await server.stats()
        elapsed = time.monotonic() - started
        run = OpenRun(
            kind=kind,
            chargers=chargers,
            interval=interval,
            messages=sum(counts),
            seconds=elapsed,
            rtts=tally.rtts,
            late=tally.late,
            lag=tally.lag,
            behind=tally.behind,
            due=chargers * math.ceil(seconds / interval),
            idle_cpu_rate=idle_cpu_rate,
            load_cpu_s=after["cpu"] - before["cpu"],
            rss_per_charger=rss_per_charger,
            dropped=sum(c.dropped for c in clients),
            rss_in_session_per_charger=(after["rss"] - base_rss) / chargers,
            allocator=after.get("allocator", ""),
        )
        if profile_to:
            await server.command("profile_pause")
        if ha:
            run.collections = (await server.command("gc"))["gc"]
            threads_after = (await server.command("threads"))["threads"]
            run.threads = {
                name: cpu - threads_before.get(name, 0.0) for name, cpu in threads_after.items()
            }
            if (stalls := (await server.command("stalls"))["stalls"]) is not None:
                run.stalls = {
                    **stalls,
                    "longest": [
                        {**s, "at_s": round(s["at"] - first, 3)} for s in stalls["longest"]
                    ],
                }
            if count_rows and rows_before is not None:
                found = await server.command("db_rows")
                run.rows = {t: found["rows"][t] - rows_before[t] for t in found["rows"]}
                run.rows_by_entity = _by_entity_kind(found["by_entity"])
        await asyncio.gather(*(c.close() for c in clients))
    finally:
        await server.stop()
    if profile_to and os.path.exists(profile_to):  # noqa: ASYNC240 (once, after the run)
        run.profile = profile_to
    return run


async def _start_server(kind: str, chargers: int, profile_to: str | None) -> ServerProcess:
    """Start a server; a profiled one writes to its own file (the child reads the env)."""
    saved = os.environ.get(PROFILE_ENV)
    if profile_to:
        os.environ[PROFILE_ENV] = profile_to
    else:
        os.environ.pop(PROFILE_ENV, None)
    try:
        return await ServerProcess.start(kind, chargers)
    finally:
        if saved is None:
            os.environ.pop(PROFILE_ENV, None)
        else:
            os.environ[PROFILE_ENV] = saved


def profile_lines(path: str, messages: int, lines: int = PROFILE_LINES) -> list[str]:
    """The profiled window's functions by cumulative time, in ms per message."""
    stats = pstats.Stats(path)
    rows: list[tuple[float, float, float, str]] = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = _short_path(filename)
        rows.append((cumtime, tottime, calls, f"{where}:{line} {name}"))
    rows.sort(reverse=True)
    per = 1000 / max(1, messages)
    out = [f"  {'cum ms/msg':>10} {'own ms/msg':>10} {'calls/msg':>9}  function"]
    for cumtime, tottime, calls, label in rows[:lines]:
        out.append(
            f"  {cumtime * per:>10.4f} {tottime * per:>10.4f} "
            f"{calls / max(1, messages):>9.2f}  {label}"
        )
    out.append("  own time, the heaviest:")
    for cumtime, tottime, calls, label in sorted(rows, key=lambda r: -r[1])[:12]:
        del cumtime
        out.append(f"  {'':>10} {tottime * per:>10.4f} {calls / max(1, messages):>9.2f}  {label}")
    return out


def _short_path(filename: str) -> str:
    if filename.startswith(root := f"{_ROOT}/"):
        return filename.removeprefix(root)
    for marker in ("site-packages/", "lib/python3.14/"):
        if marker in filename:
            return filename.rsplit(marker, 1)[1]
    return Path(filename).name if filename.startswith("/") else filename


def stall_lines(run: OpenRun, limit: int = 8) -> list[str]:
    """The loop stalls of a run, the longest first, with the loop's and other threads' stacks."""
    if not run.stalls or not run.stalls["count"]:
        return ["  loop stalls > 20 ms: none"]
    stalls = run.stalls["longest"]
    out = [
        f"  loop stalls > 20 ms: {run.stalls['count']}, {run.stalls['total_ms']:.0f} ms in all "
        f"({100 * run.stalls['total_ms'] / 1000 / run.seconds:.1f}% of the window); "
        f"the longest {min(limit, len(stalls))}:"
    ]
    for s in stalls[:limit]:
        # The sampler needs the GIL too: few samples for the stall's length mean no thread
        # of the server ran Python (the process was off the CPU, or a C call held the GIL).
        expected = max(1.0, (s["ms"] - LATE * 1000) / (TICK * 500))
        coverage = s["samples"] / expected
        why = "loop busy" if coverage >= STARVED_COVERAGE else "process starved"
        out.append(
            f"  - {s['ms']:.0f} ms at +{s['at_s']:.2f} s ({why}: {s['samples']} samples of "
            f"~{expected:.0f} ticks, {100 * s['loop_stack_share']:.0f}% at this loop stack):"
        )
        out.extend(f"      {frame}" for frame in s["loop_stack"][-8:])
        out.extend(f"      other thread {other}" for other in s["other_threads"][:3])
    return out


# -- Home Assistant's start with many chargers -----------------------------------------------------


async def _prepare_config(config_dir: Path, chargers: int, *, wide: bool) -> dict[str, Any]:
    """A previous run: the entry with `chargers` chargers, each connected once and charged.

    Leaves the config entry, the entity and device registries, the restore state, the
    store and the recorder's database behind, as a stopped Home Assistant does.
    """
    from homeassistant.config_entries import ConfigEntryState

    from custom_components.ocpp_central.const import DOMAIN

    from .ha import _central_entry, _free_port, _start_hass, recorder_enabled

    hass = await _start_hass(config_dir, recorder=recorder_enabled())
    entry = _central_entry(_free_port(), [f"{BUSY_PREFIX}{n}" for n in range(chargers)])
    await hass.config_entries.async_add(entry)
    if entry.state is not ConfigEntryState.LOADED:
        raise RuntimeError(f"the central system did not set up: {entry.state}")
    port = entry.runtime_data.central.port
    clients: list[RawCharger] = []
    for n in range(0, chargers, 50):  # in batches: one process serves and charges
        clients.extend(
            await asyncio.gather(
                *(
                    charging_charger(port, f"{BUSY_PREFIX}{i}", wide=wide)
                    for i in range(n, min(chargers, n + 50))
                )
            )
        )
    await hass.async_block_till_done()
    entities = sum(1 for s in hass.states.async_all() if _ours(hass, s.entity_id, DOMAIN))
    await asyncio.gather(*(c.close() for c in clients))
    await hass.async_stop()
    return {"entities": entities}


def _ours(hass: HomeAssistant, entity_id: str, domain: str) -> bool:
    from homeassistant.helpers import entity_registry as er

    found = er.async_get(hass).async_get(entity_id)
    return found is not None and found.platform == domain


async def _timed_start(config_dir: Path) -> dict[str, Any]:
    """Start Home Assistant on `config_dir`: times to running and to all entities loaded.

    Home Assistant's own modules are imported before the clock starts (both starts pay
    them alike); the integration's imports, its setup and its entities are timed.
    """
    from homeassistant import bootstrap, config_entries, core, loader, setup
    from homeassistant.helpers import entity_registry as er

    from .ha import _start_hass, recorder_enabled

    del bootstrap, config_entries, core, loader
    domain = "ocpp_central"
    started = time.monotonic()

    async def set_up_entries(hass: HomeAssistant) -> None:
        # As the bootstrap does: every integration with a config entry, before the start.
        for name in hass.config_entries.async_domains():
            await setup.async_setup_component(hass, name, {})

    hass = await _start_hass(config_dir, recorder=recorder_enabled(), before_start=set_up_entries)
    running = time.monotonic()
    registry = er.async_get(hass)
    entry_ids = {e.entry_id for e in hass.config_entries.async_entries(domain)}
    wanted = [
        e.entity_id
        for e in registry.entities.values()
        if e.config_entry_id in entry_ids and e.disabled_by is None
    ]
    loaded = 0
    for _ in range(12000):  # up to 120 s
        loaded = sum(
            1
            for entity_id in wanted
            if (state := hass.states.get(entity_id)) is not None
            and not state.attributes.get("restored")
        )
        if loaded == len(wanted):
            break
        await asyncio.sleep(0.01)
    done = time.monotonic()
    return {
        "running_s": running - started,
        "loaded_s": done - started,
        "entities": len(wanted),
        "loaded": loaded,
    }


async def _start_and_exit(config_dir: Path) -> None:
    """Print the start's times and end the process: the copy is thrown away unstopped."""
    print(json.dumps(await _timed_start(config_dir)), flush=True)
    os._exit(0)


def _without_entry(config_dir: Path, target: Path) -> None:
    """A copy of `config_dir` whose config entries leave the integration's out."""
    shutil.copytree(config_dir, target)
    path = target / ".storage" / "core.config_entries"
    data = json.loads(path.read_text())
    data["data"]["entries"] = [e for e in data["data"]["entries"] if e["domain"] != "ocpp_central"]
    path.write_text(json.dumps(data))


async def _child(*args: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.open_loop",
        *args,
        stdout=asyncio.subprocess.PIPE,
        cwd=_ROOT,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"bench.open_loop {args[0]} failed ({process.returncode})")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


@dataclass(slots=True)
class Startup:
    """Starts of one Home Assistant with and without the entry (the best of each)."""

    chargers: int
    entities: int
    with_entry: list[dict[str, Any]]
    without_entry: list[dict[str, Any]]

    def lines(self) -> list[str]:
        best = min(self.with_entry, key=lambda r: r["loaded_s"])
        bare = min(self.without_entry, key=lambda r: r["running_s"])
        extra = best["loaded_s"] - bare["running_s"]
        return [
            f"start with {self.chargers} configured chargers ({best['entities']} enabled "
            f"entities in the registry, {best['loaded']} loaded): all entities loaded "
            f"{best['loaded_s']:.2f} s after the start began (core running at "
            f"{best['running_s']:.2f} s); without the entry running at {bare['running_s']:.2f} s; "
            f"the integration adds {extra:.2f} s (best of {len(self.with_entry)} each: "
            + ", ".join(f"{r['loaded_s']:.2f}" for r in self.with_entry)
            + " / "
            + ", ".join(f"{r['running_s']:.2f}" for r in self.without_entry)
            + " s)"
        ]


async def startup(chargers: int, *, wide: bool, repeats: int = 2) -> Startup:
    """Prepare a config with `chargers` chargers, then time starts with and without it."""
    root = Path(tempfile.mkdtemp(prefix="ocpp-central-bench-start-"))
    try:
        prepared = await _child("prepare", str(root / "with"), str(chargers), str(int(wide)))
        _without_entry(root / "with", root / "without")
        with_entry: list[dict[str, Any]] = []
        without_entry: list[dict[str, Any]] = []
        for n in range(repeats):  # alternate, so the machine's load changes hit both
            # Each start on a fresh copy of the stopped install (a start changes it).
            for name, results in (("with", with_entry), ("without", without_entry)):
                run = root / f"{name}-{n}"
                shutil.copytree(root / name, run)
                results.append(await _child("start", str(run)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return Startup(chargers, prepared["entities"], with_entry, without_entry)


# -- the section of scripts/bench ------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The switches of this section (and the recorder's) on the benchmark's parser."""
    parser.add_argument(
        "--no-recorder",
        action="store_true",
        help="Home Assistant without the recorder (default: with it, as users run it)",
    )
    parser.add_argument(
        "--allocator",
        choices=(JEMALLOC, SYSTEM),
        default=None,
        help="C allocator of the servers (default: jemalloc where installed, as Home "
        "Assistant's images run Core)",
    )
    parser.add_argument(
        "--open-sizes", default="1,10,200", help="numbers of chargers of the open loop ('' skips)"
    )
    parser.add_argument("--open-kinds", default="floor,ha", help="server kinds of the open loop")
    parser.add_argument(
        "--open-seconds", type=float, default=10.0, help="length of each open-loop run"
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between a charger's MeterValues"
    )
    parser.add_argument(
        "--wide", action="store_true", help="24 sampled values per MeterValues instead of 10"
    )
    parser.add_argument(
        "--stalls", action="store_true", help="find what stalls Home Assistant's event loop"
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="Home Assistant's thread switch interval in s (diagnosis; Python's default 0.005)",
    )
    parser.add_argument(
        "--startup", type=int, default=200, help="chargers of the start-up scenario (0 skips)"
    )
    parser.add_argument(
        "--db-chargers", type=int, default=50, help="chargers of the database growth run (0 skips)"
    )
    parser.add_argument(
        "--db-seconds", type=float, default=90.0, help="length of the database growth run"
    )
    parser.add_argument(
        "--db-interval", type=float, default=10.0, help="meter interval of the database growth run"
    )


def apply_environment(args: argparse.Namespace) -> None:
    """Pass the server-side switches to the server processes (they inherit the env)."""
    from .ha import RECORDER_ENV, SWITCH_INTERVAL_ENV

    os.environ[RECORDER_ENV] = "0" if args.no_recorder else "1"
    if args.stalls:
        os.environ[STALLS_ENV] = "1"
    if args.switch_interval:
        os.environ[SWITCH_INTERVAL_ENV] = str(args.switch_interval)
    if args.allocator:
        os.environ[ALLOCATOR_ENV] = args.allocator


def _sizes(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n]


async def open_main(args: argparse.Namespace) -> None:
    """The open-loop, memory, start-up and database sections of `scripts/bench`."""
    sizes, kinds = _sizes(args.open_sizes), [k for k in args.open_kinds.split(",") if k]
    recorder = "without the recorder" if args.no_recorder else "with the recorder"
    values = 24 if args.wide else 10
    runs: dict[tuple[str, int], OpenRun] = {}
    if sizes and kinds:
        print()
        print(
            f"open loop: each charger sends MeterValues ({values} sampled values) every "
            f"{args.interval:g} s, staggered; {args.open_seconds:g} s per run; Home Assistant "
            f"{recorder}; CPU above the idle baseline (same chargers connected, silent)"
        )
        print(OPEN_HEADER)
        for kind in kinds:
            for size in sizes:
                run = runs[kind, size] = await open_loop(
                    kind, size, interval=args.interval, seconds=args.open_seconds, wide=args.wide
                )
                print(run.row(), flush=True)
                if run.lag > 0.1 or run.dropped or run.behind:
                    print(
                        f"  ({run.messages} of {run.due} due messages sent, {run.behind} after "
                        "their due time as the previous reply came late; the load generator "
                        f"itself up to {run.lag * 1000:.0f} ms late; {run.dropped} connections "
                        "dropped)"
                    )
                if run.threads:
                    print(run.thread_line())
                if run.collections is not None:
                    print(run.gc_line())
                if kind in HA_KINDS and args.stalls:
                    print("\n".join(stall_lines(run)))
                if run.profile:
                    print(f"  profile of the load window: {run.profile}")
                    print("\n".join(profile_lines(run.profile, run.messages)), flush=True)
    start: Startup | None = None
    if args.startup > 0 and "ha" in kinds:
        print()
        start = await startup(args.startup, wide=args.wide)
        print("\n".join(start.lines()), flush=True)
    growth: OpenRun | None = None
    if args.db_chargers > 0 and "ha" in kinds and not args.no_recorder:
        print()
        growth = await open_loop(
            "ha",
            args.db_chargers,
            interval=args.db_interval,
            seconds=args.db_seconds,
            wide=args.wide,
            count_rows=True,
        )
        print("\n".join(growth_lines(growth, values)), flush=True)
    if runs:
        print()
        print("\n".join(open_targets(runs, recorder)))


def _by_entity_kind(by_entity: dict[str, int]) -> dict[str, int]:
    """State rows by entity id without the charger's part (sensor.b_7_power: sensor.*_power)."""
    slug = re.compile(rf"\.{BUSY_PREFIX.lower().rstrip('-')}_\d+(_|$)")
    kinds: dict[str, int] = {}
    for entity_id, count in by_entity.items():
        kind = slug.sub(r".*\1", entity_id)
        kinds[kind] = kinds.get(kind, 0) + count
    return kinds


def growth_lines(run: OpenRun, values: int, top: int = 15) -> list[str]:
    """The growth line, then the kinds of entity that wrote the most state rows."""
    per_hour = 3600 / run.interval / max(1, run.messages)  # rows per message -> per hour
    ranked = sorted(run.rows_by_entity.items(), key=lambda kv: -kv[1])
    out = [growth_line(run, values)]
    if ranked:
        out.append(
            f"  state rows per charger-hour by entity ({len(ranked)} kinds wrote in the window):"
        )
        out.extend(f"  {count * per_hour:>8.0f}  {kind}" for kind, count in ranked[:top])
    return out


def growth_line(run: OpenRun, values: int) -> str:
    """Rows the recorder wrote, per MeterValues and per charger-hour at the run's interval.

    Short-term statistics come every 5 minutes whatever the states: per period compiled.
    """
    rows = dict(run.rows or {})
    periods = rows.pop("statistics_periods", 0)
    short_term = rows.pop("statistics_short_term", 0)
    per_hour = 3600 / run.interval
    parts = [
        f"{table} {count / max(1, run.messages):.2f}/msg = "
        f"{count / max(1, run.messages) * per_hour:.0f}/charger-hour"
        for table, count in rows.items()
    ]
    if periods:
        per_period = short_term / periods / run.chargers
        parts.append(
            f"statistics_short_term {per_period:.1f}/charger per 5-minute period = "
            f"{per_period * 12:.0f}/charger-hour"
        )
    else:
        parts.append("statistics_short_term: no 5-minute period compiled in the window")
    return (
        f"database growth ({run.chargers} chargers, MeterValues of {values} sampled values "
        f"every {run.interval:g} s, {run.messages} messages in {run.seconds:.0f} s): "
        + ", ".join(parts)
    )


def _verdict(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'FAIL'}  {text}"


def open_targets(runs: dict[tuple[str, int], OpenRun], recorder: str) -> list[str]:
    """PASS/FAIL lines of the open loop's targets at its largest size, beside the floor."""
    largest = max(size for _kind, size in runs)
    ha = runs.get(("ha", largest))
    if ha is None:
        return []
    floor_text = "".join(
        f"; {label} {floor.cpu_ms_above_idle:.3f} ms, p99 "
        f"{percentiles(floor.rtts)[1] * 1000:.2f} ms"
        for kind, label in (("floor", "floor"), ("ha-floor", "floor with one state per message"))
        if (floor := runs.get((kind, largest))) is not None
    )
    _, p99 = percentiles(ha.rtts)
    # Memory in a session: at the end of the load, every charger charging and sending all
    # along (once connected, the set-up's peak may not have gone back to the system yet).
    mb = ha.rss_in_session_per_charger / 1e6
    return [
        f"targets (open loop, Home Assistant {recorder}, N={largest} x 1 MeterValues per "
        f"{ha.interval:g} s)",
        _verdict(
            ha.cpu_ms_above_idle <= OPEN_CPU_TARGET_MS,
            f"HA CPU per message above idle <= {OPEN_CPU_TARGET_MS} ms: "
            f"{ha.cpu_ms_above_idle:.3f} ms{floor_text}",
        ),
        _verdict(
            p99 * 1000 < OPEN_P99_TARGET_MS and ha.late == 0,
            f"round trip p99 < {OPEN_P99_TARGET_MS:g} ms, no reply over {LATE_REPLY:g} s late: "
            f"p99 {p99 * 1000:.2f} ms, {ha.late} late of {ha.messages}",
        ),
        _verdict(
            mb <= OPEN_RSS_TARGET_MB,
            f"RSS per connected charger in a session <= {OPEN_RSS_TARGET_MB} MB: {mb:.3f} MB "
            f"at N={largest} after the load ({ha.rss_per_charger / 1e6:.3f} MB once connected; "
            f"allocator {ha.allocator or 'unknown'})",
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    """Child processes of the start-up scenario: 'prepare DIR N WIDE' and 'start DIR'."""
    args = sys.argv[1:] if argv is None else argv
    if args[0] == "prepare":
        Path(args[1]).mkdir(parents=True)
        result = asyncio.run(_prepare_config(Path(args[1]), int(args[2]), wide=args[3] == "1"))
    elif args[0] == "start":
        asyncio.run(_start_and_exit(Path(args[1])))
    else:
        raise SystemExit(f"unknown command {args[0]!r}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
