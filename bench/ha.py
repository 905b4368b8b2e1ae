"""Home Assistant kind of the benchmark: the integration inside a running Home Assistant core.

The server process builds a Home Assistant core the way its bootstrap does (registries,
the `homeassistant` integration, the entity platforms), with a temporary config
directory, and adds a central system config entry with one charger subentry per busy
charger plus the status charger, on a free 127.0.0.1 port. The integration is found as a
custom integration on the path, as in a real install. The recorder is loaded as every real
install has it: a SQLite database in the temporary config directory, Home Assistant's
default commit interval (OCPP_BENCH_RECORDER=0, `--no-recorder`, leaves it out for
comparison). It writes from a thread of the same process, so `time.process_time()` counts
it; the stats the server answers are taken once the recorder committed what it was given,
so a measured window holds all the recording its messages caused.

The process's CPU time therefore includes Home Assistant's own work for every state the
entities write (state objects, state_changed events, their listeners, the rows). The status
latency is taken where a user would see it: a state-change listener on the connector
status entity records when the new state is in the state machine.

This module also holds the load generator's Home Assistant scenarios: adding one charger
and changing another while ten are busy (counting reloads and dropped connections), and
the verdicts on the product's targets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import ctypes
from dataclasses import dataclass
import gc
import linecache
import logging
import os
from pathlib import Path
import shutil
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import tracemalloc
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from .closed import (
    BUSY_PREFIX,
    HOST,
    STATUS_ID,
    TRACEMALLOC_ENV,
    Figures,
    Probe,
    RawCharger,
    ServerProcess,
    Stop,
    busy_loop,
    measure_status,
    open_busy,
    percentiles,
    rss_bytes,
    settle,
)
from .stall import GcWatch, StallWatch

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant

# The product's targets (measured here, never in tests).
CPU_TARGET_MS: Final = 0.5
# "Flat in the number of chargers": the largest figure at most this much above the smallest.
CPU_FLAT_RATIO: Final = 1.5
LATENCY_TARGET_MS: Final = 20.0
RSS_TARGET_MB: Final = 0.3

# The charger the churn scenario adds, and the new meter interval it gives a busy one.
ADDED_ID: Final = "C-added"
CHANGED_METER_INTERVAL: Final = 15
# The entity platforms Home Assistant loads for any install with sensors, switches...;
# set up before the baseline so their one-off cost is not counted per charger.
_PLATFORM_DOMAINS: Final = (
    "binary_sensor",
    "button",
    "event",
    "number",
    "select",
    "sensor",
    "switch",
)
# OCPP_BENCH_RECORDER=0: Home Assistant without the recorder (for comparison).
RECORDER_ENV: Final = "OCPP_BENCH_RECORDER"
# OCPP_BENCH_SWITCH_INTERVAL=SECONDS: the interpreter's thread switch interval (diagnosis).
SWITCH_INTERVAL_ENV: Final = "OCPP_BENCH_SWITCH_INTERVAL"
# The recorder's tables that grow with every state written.
DB_TABLES: Final = ("states", "state_attributes", "statistics_short_term", "events")
# OCPP_BENCH_TRACEMALLOC=FILE (or 1: stderr): trace Python allocations from the baseline on;
# the load generator's 'tracemalloc' command writes what grew since the baseline and since
# its previous call, grouped by file and line (see `MemoryTrace`).
# Lines of each ranking written.
TRACE_LINES: Final = 40
# Counters the server reports.
RELOADS: Final = "entry_state_changes"
DISCONNECTS: Final = "disconnects"


# -- server process ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


def recorder_enabled() -> bool:
    """Whether the Home Assistant kind loads the recorder (the default, as users run it)."""
    return os.environ.get(RECORDER_ENV, "1") != "0"


async def _start_hass(
    config_dir: Path,
    *,
    recorder: bool,
    before_start: Callable[[HomeAssistant], Awaitable[None]] | None = None,
) -> HomeAssistant:
    """A running Home Assistant core with its registries, the recorder and the entity platforms.

    `before_start` sets up more (e.g. the integrations of stored config entries) where
    Home Assistant's bootstrap does: before the core starts.
    """
    from homeassistant import bootstrap, loader
    from homeassistant.config_entries import ConfigEntries
    from homeassistant.core import HomeAssistant
    from homeassistant.core_config import async_process_ha_core_config
    from homeassistant.setup import async_setup_component

    # The one warning expected: ours is a custom integration.
    logging.getLogger("homeassistant.loader").setLevel(logging.ERROR)
    hass = HomeAssistant(str(config_dir))
    loader.async_setup(hass)
    hass.config.skip_pip = True
    hass.config_entries = ConfigEntries(hass, {})
    await loader.async_get_custom_components(hass)
    if not await bootstrap.async_load_base_functionality(hass):
        raise RuntimeError("Home Assistant's registries did not load")
    await async_process_ha_core_config(hass, {"time_zone": "UTC"})
    # The recorder first, as the bootstrap's first stage does; its defaults: SQLite in the
    # config directory, a commit every 5 s.
    if recorder:
        from homeassistant.helpers.recorder import async_initialize_recorder

        async_initialize_recorder(hass)
    for domain in (*(("recorder",) if recorder else ()), "homeassistant", *_PLATFORM_DOMAINS):
        if not await async_setup_component(hass, domain, {domain: {}}):
            raise RuntimeError(f"Home Assistant could not set up {domain}")
    if before_start is not None:
        await before_start(hass)
    await hass.async_start()
    return hass


async def flush_recorder(hass: HomeAssistant) -> None:
    """Wait until the recorder committed every state it was given (at once if none)."""
    from homeassistant.helpers.recorder import get_instance

    await get_instance(hass).async_block_till_done()


def database_rows(config_dir: Path, since_state_id: int) -> dict[str, Any]:
    """Rows of the recorder's tables that grow with states (read beside the recorder).

    Also the state rows written after `since_state_id`, by entity id, and the last id.
    """
    path = config_dir / "home-assistant_v2.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = {
            table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in DB_TABLES
        }
        # Short-term statistics are compiled every 5 minutes, not per state: count the periods.
        rows["statistics_periods"] = db.execute(
            "SELECT COUNT(DISTINCT start_ts) FROM statistics_short_term"
        ).fetchone()[0]
        last = db.execute("SELECT COALESCE(MAX(state_id), 0) FROM states").fetchone()[0]
        by_entity = dict(
            db.execute(
                "SELECT states_meta.entity_id, COUNT(*) FROM states JOIN states_meta"
                " ON states.metadata_id = states_meta.metadata_id"
                " WHERE state_id > ? GROUP BY states_meta.entity_id",
                (since_state_id,),
            ).fetchall()
        )
    return {"rows": rows, "last_state_id": last, "by_entity": by_entity}


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each thread of this process by name (Linux), threads of a kind summed."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        name = names.get(int(task.name), "other")
        # Executor threads carry their pool's name and a number: one line per pool.
        name = name.rstrip("_0123456789") or name
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def _charger_data(charge_box_id: str) -> dict[str, Any]:
    """A charger subentry's data as the charger flow stores it (default settings)."""
    from custom_components.ocpp_central.const import (
        CONF_CHARGE_BOX_ID,
        CONF_HEARTBEAT_INTERVAL,
        CONF_LENIENT,
        CONF_MAX_CURRENT,
        CONF_METER_INTERVAL,
        DEFAULT_HEARTBEAT_INTERVAL,
        DEFAULT_MAX_CURRENT,
        DEFAULT_METER_INTERVAL,
    )

    return {
        CONF_CHARGE_BOX_ID: charge_box_id,
        CONF_HEARTBEAT_INTERVAL: DEFAULT_HEARTBEAT_INTERVAL,
        CONF_METER_INTERVAL: DEFAULT_METER_INTERVAL,
        CONF_MAX_CURRENT: DEFAULT_MAX_CURRENT,
        CONF_LENIENT: False,
    }


def _central_entry(port: int, charge_box_ids: list[str]) -> ConfigEntry:
    """A central system entry as the config flow creates it, with charger subentries."""
    from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigSubentryData

    from custom_components.ocpp_central.config_values import central_title
    from custom_components.ocpp_central.const import (
        CONF_HOST,
        CONF_PORT,
        CONF_UNKNOWN_CHARGERS,
        CONF_UNKNOWN_TAGS,
        DEFAULT_UNKNOWN_CHARGERS,
        DEFAULT_UNKNOWN_TAGS,
        DOMAIN,
        SUBENTRY_CHARGER,
    )

    return ConfigEntry(
        data={CONF_HOST: HOST, CONF_PORT: port},
        discovery_keys=MappingProxyType({}),
        domain=DOMAIN,
        minor_version=1,
        options={
            CONF_UNKNOWN_CHARGERS: DEFAULT_UNKNOWN_CHARGERS,
            CONF_UNKNOWN_TAGS: DEFAULT_UNKNOWN_TAGS,
        },
        source=SOURCE_USER,
        subentries_data=[
            ConfigSubentryData(
                data=_charger_data(cbid),
                subentry_type=SUBENTRY_CHARGER,
                title=cbid,
                unique_id=cbid,
            )
            for cbid in charge_box_ids
        ],
        title=central_title(port),
        unique_id=None,
        version=1,
    )


def _watch_status(hass: HomeAssistant, probe: Probe) -> None:
    """Record when each new state of the status charger's connector status entity is set.

    The entity exists once the charger reported connector 1; the listener is attached
    when the entity registry creates it, and is ready once its first state is written.
    """
    from homeassistant.core import Event, EventStateChangedData, callback
    from homeassistant.helpers import entity_registry as er
    from homeassistant.helpers.event import async_track_state_change_event

    from custom_components.ocpp_central.const import DOMAIN

    unique_id = f"{STATUS_ID}_1_connector_status"
    registry = er.async_get(hass)
    probe.status_ready.clear()

    @callback
    def on_state(event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        if old is None:
            probe.status_ready.set()
        elif new is not None and new.state != old.state:
            probe.status_times.append(time.monotonic())

    @callback
    def on_registry(event: Event[er.EventEntityRegistryUpdatedData]) -> None:
        data = event.data
        if data["action"] != "create":
            return
        found = registry.async_get(data["entity_id"])
        if found is not None and found.platform == DOMAIN and found.unique_id == unique_id:
            async_track_state_change_event(hass, found.entity_id, on_state)

    hass.bus.async_listen(er.EVENT_ENTITY_REGISTRY_UPDATED, on_registry)


def _count_interruptions(entry: ConfigEntry, probe: Probe) -> None:
    """Count the entry's state changes (a reload is several) and connections lost."""
    from custom_components.ocpp_central.protocol.state import CONNECTED

    counters = probe.counters
    counters[RELOADS] = counters[DISCONNECTS] = 0

    def on_entry_state() -> None:
        counters[RELOADS] += 1

    entry.async_on_state_change(on_entry_state)
    for session in entry.runtime_data.central.sessions.values():
        state = session.state

        def on_connected(state: Any = state) -> None:
            if not state.connected:
                counters[DISCONNECTS] += 1

        state.subscribe([CONNECTED], on_connected)


async def _churn(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, Any]:
    """Add one charger subentry and change another's meter interval, as the UI's flows do."""
    from homeassistant.config_entries import ConfigSubentry

    from custom_components.ocpp_central.const import CONF_METER_INTERVAL, SUBENTRY_CHARGER

    runtime = entry.runtime_data
    changed_id = f"{BUSY_PREFIX}0"
    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            data=MappingProxyType(_charger_data(ADDED_ID)),
            subentry_type=SUBENTRY_CHARGER,
            title=ADDED_ID,
            unique_id=ADDED_ID,
        ),
    )
    changed = next(s for s in entry.subentries.values() if s.unique_id == changed_id)
    hass.config_entries.async_update_subentry(
        entry, changed, data={**changed.data, CONF_METER_INTERVAL: CHANGED_METER_INTERVAL}
    )
    # The entry's update listener applies both in a task of its own: wait (up to 10 s).
    sessions = runtime.central.sessions
    for _ in range(1000):
        await asyncio.sleep(0.01)
        if (
            ADDED_ID in sessions
            and sessions[changed_id].config.meter_interval == CHANGED_METER_INTERVAL
        ):
            break
    else:
        raise RuntimeError("the charger subentries were not applied")
    return {
        "added": ADDED_ID,
        "changed": changed_id,
        "same_runtime": entry.runtime_data is runtime,
    }


async def serve_ha(chargers: int, probe: Probe) -> tuple[int, Stop]:
    """Run Home Assistant with the integration serving `chargers` busy chargers and one more."""
    from homeassistant import loader
    from homeassistant.config_entries import ConfigEntryState

    from custom_components.ocpp_central import PLATFORMS
    from custom_components.ocpp_central.const import DOMAIN
    from custom_components.ocpp_central.protocol.schemas import async_load_schemas

    if switch := os.environ.get(SWITCH_INTERVAL_ENV):
        # A diagnosis: how long a thread may hold the GIL while another waits (default 5 ms).
        sys.setswitchinterval(float(switch))
    config_dir = Path(tempfile.mkdtemp(prefix="ocpp-central-bench-"))
    recorder = recorder_enabled()
    hass = await _start_hass(config_dir, recorder=recorder)
    integration = await loader.async_get_integration(hass, DOMAIN)
    await integration.async_get_component()
    await integration.async_get_platforms([str(p) for p in PLATFORMS])
    await async_load_schemas()  # compiled once per process, whatever the number of chargers
    # Everything loaded so far is paid once per install: the baseline of RSS per charger.
    trace = MemoryTrace.from_env(hass)
    probe.base_rss = rss_bytes()
    entry = _central_entry(
        _free_port(), [f"{BUSY_PREFIX}{n}" for n in range(chargers)] + [STATUS_ID]
    )
    _watch_status(hass, probe)
    await hass.config_entries.async_add(entry)
    if entry.state is not ConfigEntryState.LOADED:
        raise RuntimeError(f"the central system did not set up: {entry.state} {entry.reason}")
    _count_interruptions(entry, probe)

    async def churn() -> dict[str, Any]:
        return await _churn(hass, entry)

    probe.commands["churn"] = churn
    stop = _instrument(hass, probe, config_dir, recorder=recorder, trace=trace)
    port: int = entry.runtime_data.central.port
    return port, stop


class MemoryTrace:
    """Where Python memory went since the baseline (before any charger was configured).

    Each report is taken once the recorder committed what it was given (its queue drained)
    and after a garbage collection, so what it shows is held, not in flight. It ranks the
    growth by file and line, by file, and by the objects' traceback (a few frames, to
    tell whose call allocated in a shared helper), against the baseline and against the
    previous report.
    """

    def __init__(self, hass: HomeAssistant, target: str) -> None:
        self._hass = hass
        self._target = target
        self._reports = 0
        tracemalloc.start(FRAMES)
        self._base = self._previous = self._snapshot()

    @classmethod
    def from_env(cls, hass: HomeAssistant) -> MemoryTrace | None:
        target = os.environ.get(TRACEMALLOC_ENV)
        return cls(hass, target) if target else None

    @staticmethod
    def _snapshot() -> tracemalloc.Snapshot:
        gc.collect()
        # Not the tracer's own, nor the source lines a report's tracebacks read.
        return tracemalloc.take_snapshot().filter_traces(
            (
                tracemalloc.Filter(False, tracemalloc.__file__),
                tracemalloc.Filter(False, linecache.__file__),
            )
        )

    async def report(self) -> dict[str, Any]:
        if recorder_enabled():
            await flush_recorder(self._hass)
        await self._hass.async_block_till_done()
        snapshot = self._snapshot()
        self._reports += 1
        traced, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        rss = rss_bytes()
        # What the C allocator holds free: RSS a trim gives back was no live object's.
        trimmed = rss - rss_bytes() if _malloc_trim() else None
        from homeassistant.helpers import device_registry as dr, entity_registry as er

        lines = [
            f"== tracemalloc report {self._reports}: {self._hass.states.async_entity_ids_count()} "
            f"states, {len(er.async_get(self._hass).entities)} entity registry entries, "
            f"{len(dr.async_get(self._hass).devices)} devices; "
            f"traced {traced / 1e6:.2f} MB now, "
            f"peak {peak / 1e6:.2f} MB since the last report; RSS {rss / 1e6:.1f} MB, "
            + (
                "malloc_trim not available"
                if trimmed is None
                else f"{trimmed / 1e6:.1f} MB of it free in the C allocator (given back)"
            )
        ]
        for label, against in (
            ("since the baseline", self._base),
            ("since the last report", self._previous),
        ):
            for key in ("lineno", "filename", "traceback"):
                stats = snapshot.compare_to(against, key)
                grown = sum(s.size_diff for s in stats)
                lines.append(f"-- {label}, by {key}: {grown / 1e6:+.2f} MB in all")
                for stat in stats[: TRACE_LINES if key != "traceback" else TRACE_LINES // 2]:
                    if key == "traceback":
                        lines.append(
                            f"{stat.size_diff / 1e3:>10.1f} kB {stat.count_diff:>+8} blocks"
                        )
                        lines.extend(
                            f"      {frame}" for frame in stat.traceback.format()[-2 * FRAMES :]
                        )
                    else:
                        frame = stat.traceback[0]
                        lines.append(
                            f"{stat.size_diff / 1e3:>10.1f} kB {stat.count_diff:>+8} blocks  "
                            f"{_short(frame.filename)}"
                            + (f":{frame.lineno}" if key == "lineno" else "")
                        )
        self._previous = snapshot
        text = "\n".join(lines) + "\n"
        if self._target == "1":
            print(text, file=sys.stderr, flush=True)
            return {"report": self._reports}
        path = f"{self._target}.{os.getpid()}.{self._reports}"
        await self._hass.async_add_executor_job(Path(path).write_text, text)
        return {"report": self._reports, "file": path}


# Frames kept per traced allocation (the traceback ranking shows them).
FRAMES: Final = 6


def _malloc_trim() -> bool:
    """Have glibc give the free memory it holds back to the system (False: not glibc)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    libc.malloc_trim(0)
    return True


def _short(filename: str) -> str:
    for marker in ("site-packages/", "custom_components/", "lib/python3.14/"):
        if marker in filename:
            return filename.rsplit(marker, 1)[1]
    return filename


def _instrument(
    hass: HomeAssistant,
    probe: Probe,
    config_dir: Path,
    *,
    recorder: bool,
    trace: MemoryTrace | None,
) -> Stop:
    """The recorder flush before stats, the commands the scenarios use, the watches.

    Returns how to stop: the watches, then Home Assistant, and its config directory goes.
    """

    async def threads() -> dict[str, Any]:
        return {"threads": thread_cpu()}

    since = 0

    async def db_rows() -> dict[str, Any]:
        """The tables' rows, and the state rows by entity since the previous call."""
        nonlocal since
        if not recorder:
            return {"rows": None}
        await flush_recorder(hass)
        found: dict[str, Any] = await hass.async_add_executor_job(database_rows, config_dir, since)
        since = found["last_state_id"]
        return found

    async def stalls() -> dict[str, Any]:
        watch = StallWatch.current
        return {"stalls": None if watch is None else watch.take()}

    collector = GcWatch()

    async def collections() -> dict[str, Any]:
        return {"gc": collector.take()}

    if recorder:

        async def flush() -> None:
            await flush_recorder(hass)

        probe.flush = flush
    probe.commands.update(
        {"threads": threads, "db_rows": db_rows, "stalls": stalls, "gc": collections}
    )
    if trace is not None:
        probe.commands["tracemalloc"] = trace.report
    watch = StallWatch.from_env()

    async def stop() -> None:
        if watch is not None:
            watch.stop()
        collector.stop()
        await hass.async_stop()
        shutil.rmtree(config_dir, ignore_errors=True)

    return stop


# -- load generator ----------------------------------------------------------------------------


@dataclass(slots=True)
class Churn:
    """What adding one charger and changing another did to the busy ones."""

    busy: int  # chargers sending MeterValues meanwhile
    messages: int  # MeterValues answered meanwhile
    entry_state_changes: int  # a reload shows as several
    server_disconnects: int
    client_drops: int
    same_runtime: bool
    added_served: bool

    @property
    def undisturbed(self) -> bool:
        return (
            self.entry_state_changes == 0
            and self.server_disconnects == 0
            and self.client_drops == 0
            and self.same_runtime
            and self.added_served
        )

    def line(self) -> str:
        return (
            f"add a charger + change another ({self.busy} busy): "
            f"{self.messages} MeterValues answered, "
            f"{self.entry_state_changes} entry state changes (reloads), "
            f"{self.server_disconnects + self.client_drops} dropped connections, "
            f"new charger {'served' if self.added_served else 'NOT served'}"
        )


async def status_and_churn(
    seconds: float, busy: int = 10, statuses: int = 200
) -> tuple[list[float], Churn]:
    """With `busy` chargers busy: the status latency, then adding and changing a charger.

    One Home Assistant serves both, one after the other (starting it is slow).
    """
    server = await ServerProcess.start("ha", busy)
    try:
        clients = await open_busy(server.port, busy)
        latencies = await measure_status(server, clients, seconds, statuses)
        changes = await _churn_while_busy(server, clients, seconds)
        await asyncio.gather(*(c.close() for c in clients))
    finally:
        await server.stop()
    return latencies, changes


async def _churn_while_busy(server: ServerProcess, busy: list[RawCharger], seconds: float) -> Churn:
    """A third of the way into `seconds` of load, add a charger subentry and change another."""
    before = (await settle(server))["counters"]
    deadline = time.monotonic() + seconds
    load = [asyncio.ensure_future(busy_loop(c, deadline, [])) for c in busy]
    await asyncio.sleep(seconds / 3)
    done = await server.command("churn")
    added = await RawCharger.open(server.port, done["added"])
    await added.start_charging()
    reply = await added.call("MeterValues", added.feed.next())
    counts = await asyncio.gather(*load)
    after = (await server.stats())["counters"]
    await added.close()
    return Churn(
        busy=len(busy),
        messages=sum(counts),
        entry_state_changes=after[RELOADS] - before[RELOADS],
        server_disconnects=after[DISCONNECTS] - before[DISCONNECTS],
        client_drops=sum(c.dropped for c in busy),
        same_runtime=done["same_runtime"],
        added_served=reply.startswith("[3,"),
    )


def _verdict(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'FAIL'}  {text}"


def targets(
    figures: dict[int, Figures],
    latencies: list[float],
    churned: Churn,
    floor: dict[int, Figures] | None = None,
) -> list[str]:
    """One PASS/FAIL line per product target, with the figure behind it.

    `floor`: the "ha-floor" kind's figures of the same run; the CPU line shows each beside
    the "ha" figure of the same number of chargers.
    """
    cpu = {size: f.cpu_ms for size, f in sorted(figures.items())}
    flat = max(cpu.values()) / min(cpu.values())
    floor = floor or {}
    cpu_text = ", ".join(
        f"{ms:.3f} ms at N={size}"
        + (
            f" (floor with one state per message: {floor[size].cpu_ms:.3f} ms)"
            if size in floor
            else ""
        )
        for size, ms in cpu.items()
    )
    _, p99 = percentiles(latencies)
    largest = max(figures)
    mb = figures[largest].rss_per_charger / 1e6
    return [
        "targets (Home Assistant kind, closed loop, "
        + ("with the recorder)" if recorder_enabled() else "without the recorder)"),
        _verdict(
            max(cpu.values()) <= CPU_TARGET_MS and flat <= CPU_FLAT_RATIO,
            f"HA CPU per MeterValues round trip <= {CPU_TARGET_MS} ms, flat in N: {cpu_text} "
            f"(max/min {flat:.2f}, at most {CPU_FLAT_RATIO})",
        ),
        _verdict(
            p99 * 1000 < LATENCY_TARGET_MS,
            f"status change -> entity state p99 < {LATENCY_TARGET_MS:g} ms with 10 busy "
            f"chargers: {p99 * 1000:.2f} ms over {len(latencies)} changes",
        ),
        _verdict(
            mb <= RSS_TARGET_MB,
            f"RSS per connected charger (device and entities included) <= {RSS_TARGET_MB} MB: "
            f"{mb:.3f} MB at N={largest} (the entry's own cost shared among them)",
        ),
        _verdict(
            churned.undisturbed,
            "adding one charger and changing another reloads and drops nothing: "
            f"{churned.entry_state_changes} entry state changes, "
            f"{churned.server_disconnects + churned.client_drops} dropped connections",
        ),
    ]
