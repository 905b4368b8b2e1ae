"""Benchmark of the protocol server: round trips, latency, server CPU and memory per charger.

The server runs in its own process (`python -m bench serve KIND`) so its CPU
time (`time.process_time()`, all its threads) and RSS are its own; the load generator
here is cheap on purpose: raw websockets clients, each charging in a transaction, sending
MeterValues frames (10 sampled values) filled in from a template as fast as the replies
come. The values move with every message as a charging car's do, so a server that only
writes what changed still does its real work. Everything runs on 127.0.0.1 and every
scenario is bounded in time.

Server kinds (`__main__.SERVER_KINDS`):
- "floor": a bare websockets server doing json.loads + json.dumps (what any server costs);
- "central": `CentralSystem` with `MemoryHooks`, chargers configured with `set_charger`;
- "ha": the integration set up in a running Home Assistant core (see `bench.ha`);
- "ha-floor": the floor on a running Home Assistant core's event loop, setting one energy
  state per MeterValues (see `bench.ha_floor`): what any integration that puts each
  reading into Home Assistant's state machine costs.

The "hostile" section runs against "central": one charger sends a fixed mix of bad frames
(not JSON, unknown actions with 50 kB names, over-long and numeric ids, invalid payloads,
binary frames, answers to nothing, duplicates) and counts the frames handled per second,
the replies over `MAX_CALL_ERROR_SIZE` and the log bytes per 1,000 bad frames (the server
process counts what its loggers write at INFO, formatted as Home Assistant does); then
StartTransactions without stops measure memory growth per 1,000 open transactions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
import cProfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
import itertools
import json
import logging
import os
from pathlib import Path
import sys
import time
from typing import Any, Final
from urllib.parse import unquote

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from simulator.clock import WallClock, iso
from simulator.model import ConnectorModel, Vehicle

from .allocator import running, server_env

SUBPROTOCOL = Subprotocol("ocpp1.6")
# The repository root: the server process imports the central system from there.
_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
BUSY_PREFIX, STATUS_ID = "B-", "S-0"
# How long a server may take to watch the status charger once it reported its connector.
STATUS_READY_TIMEOUT = 10.0
# The 10 sampled values of the benchmark's MeterValues (the simulator's default set
# without Temperature).
BENCH_MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Voltage",
    "SoC",
    "Current.Offered",
)


# OCPP_BENCH_TRACEMALLOC=FILE (or 1: stderr): the Home Assistant server traces Python
# allocations from its baseline on; the memory scenarios ask it for a report (`ha.MemoryTrace`)
# once the chargers are connected, and before and after the open transactions.
TRACEMALLOC_ENV = "OCPP_BENCH_TRACEMALLOC"


# -- server process ----------------------------------------------------------------------------

type Stop = Callable[[], Awaitable[None]]
type Command = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(slots=True)
class Probe:
    """What a server kind records for the load generator (sent back on each 'stats' line)."""

    # When the watched charger's status change reached its listener (time.monotonic()).
    status_times: list[float] = field(default_factory=list)
    # Set once that listener is in place (for Home Assistant: once the entity exists).
    status_ready: asyncio.Event = field(default_factory=asyncio.Event)
    # RSS before any charger was configured; None: when the first stats were asked for.
    base_rss: int | None = None
    # Events the load generator should know about, e.g. reloads and dropped connections.
    counters: dict[str, int] = field(default_factory=dict)
    # Extra stdin commands of the kind: name -> coroutine answering a JSON object.
    commands: dict[str, Command] = field(default_factory=dict)
    # What the server process logged (installed by `server_main`).
    log_meter: LogMeter | None = None
    # Awaited before stats are taken (Home Assistant: until the recorder committed).
    flush: Callable[[], Awaitable[None]] | None = None

    def stats(self) -> dict[str, Any]:
        return {
            "cpu": time.process_time(),
            "rss": rss_bytes(),
            "base_rss": self.base_rss,
            "status_times": self.status_times,
            "counters": self.counters,
            "log_bytes": 0 if self.log_meter is None else self.log_meter.bytes,
            "allocator": running(),
        }


# Home Assistant's log line format, so the bytes counted are the bytes a log file gets.
LOG_FORMAT = "%(asctime)s %(levelname)s (%(threadName)s) [%(name)s] %(message)s"


class LogMeter(logging.Handler):
    """Counts the bytes of every line logged at INFO and above, formatted as Home Assistant
    writes them; warnings and errors also go to stderr as they did without it."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter(LOG_FORMAT))
        self.bytes = 0

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        self.bytes += len(line.encode()) + 1
        if record.levelno >= logging.WARNING:
            print(line, file=sys.stderr)

    @classmethod
    def install(cls) -> LogMeter:
        """Count the integration's lines from INFO up, everyone's warnings and errors."""
        meter = cls()
        logging.getLogger().addHandler(meter)
        logging.getLogger("custom_components.ocpp_central").setLevel(logging.INFO)
        return meter


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# Kinds that run inside a Home Assistant core: the Home Assistant sizes (`--ha-sizes`), the
# per-thread CPU, the recorder's rows and its flush before stats, the allocation trace.
HA_KINDS: Final = ("ha", "ha-floor")

# What a floor does with one charger's MeterValues.req payloads (made once per connection
# from the charger's id, the request path).
type MeterHandler = Callable[[dict[str, Any]], None]


def floor_reply(action: str, transaction_ids: Iterator[int]) -> dict[str, Any]:
    """A minimal valid CallResult payload for a charger's CALL other than MeterValues.

    What the load generator reads of them is the StartTransaction.conf's transactionId
    (OCPP 1.6 section 6.46); the others hold the fields sections 6.2, 6.4, 6.16, 6.30 and
    6.50 require.
    """
    if action == "BootNotification":
        return {"currentTime": iso(datetime.now(UTC)), "interval": 300, "status": "Accepted"}
    if action == "StartTransaction":
        return {"idTagInfo": {"status": "Accepted"}, "transactionId": next(transaction_ids)}
    if action in ("Authorize", "StopTransaction"):
        return {"idTagInfo": {"status": "Accepted"}}
    if action == "Heartbeat":
        return {"currentTime": iso(datetime.now(UTC))}
    if action == "DataTransfer":
        return {"status": "UnknownVendorId"}
    return {}  # StatusNotification, MeterValues, the notifications of firmware and diagnostics


async def floor_server(
    meter_handler: Callable[[str], MeterHandler] | None = None,
) -> tuple[int, Stop]:
    """A bare websockets server: parse every frame, answer CALLs with a minimal CallResult.

    A MeterValues CALL gets an empty one, once `meter_handler(charge box id)`'s handler
    (if any) had its payload.
    """
    transaction_ids = itertools.count(1)

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        on_meter = None if meter_handler is None else meter_handler(charge_box_id(ws.request.path))
        async for message in ws:
            frame = json.loads(message)
            if frame[0] != 2:
                continue
            if frame[2] == "MeterValues":
                if on_meter is not None:
                    on_meter(frame[3])
                payload: dict[str, Any] = {}
            else:
                payload = floor_reply(frame[2], transaction_ids)
            await ws.send(json.dumps([3, frame[1], payload], separators=(",", ":")))

    server = await serve(
        handler, HOST, 0, compression=None, ping_interval=None, subprotocols=[SUBPROTOCOL]
    )
    port: int = next(iter(server.sockets)).getsockname()[1]

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    return port, stop


def charge_box_id(path: str) -> str:
    """The charger's id: the last segment of the request path (OCPP-J section 3.1)."""
    return unquote(path.rsplit("/", 1)[-1])


async def serve_floor(chargers: int, probe: Probe) -> tuple[int, Stop]:
    """The floor: parse every frame, answer CALLs with a minimal CallResult."""
    del chargers, probe  # nothing to configure, no state to watch
    return await floor_server()


async def serve_central(chargers: int, probe: Probe) -> tuple[int, Stop]:
    """`CentralSystem` with in-memory hooks; the status charger's listener records times."""
    from custom_components.ocpp_central.protocol.config import ChargerConfig
    from custom_components.ocpp_central.protocol.hooks import MemoryHooks
    from custom_components.ocpp_central.protocol.schemas import async_load_schemas
    from custom_components.ocpp_central.protocol.server import CentralSystem

    await async_load_schemas()  # compiled once per process, whatever the number of chargers
    probe.base_rss = rss_bytes()
    central = CentralSystem(host=HOST, port=0, hooks=MemoryHooks(), ping_interval=None)
    for n in range(chargers):
        central.set_charger(ChargerConfig(charge_box_id=f"{BUSY_PREFIX}{n}"))
    watched = central.set_charger(ChargerConfig(charge_box_id=STATUS_ID))
    watched.state.subscribe([(1, "status")], lambda: probe.status_times.append(time.monotonic()))
    await central.start()
    return central.port, central.stop


def profile_commands(profiler: cProfile.Profile) -> dict[str, Command]:
    """'profile_window' starts the profile afresh, 'profile_pause' stops it (one window)."""

    async def window() -> dict[str, Any]:
        profiler.disable()
        profiler.clear()
        profiler.enable()
        return {}

    async def pause() -> dict[str, Any]:
        profiler.disable()
        return {}

    return {"profile_window": window, "profile_pause": pause}


# -- load generator ----------------------------------------------------------------------------


class ServerProcess:
    """A benchmark server in a child process."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port

    @classmethod
    async def start(cls, kind: str, chargers: int) -> ServerProcess:
        env, _described = server_env()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench",
            "serve",
            kind,
            str(chargers),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=_ROOT,
            env=env,
        )
        assert process.stdout is not None
        port = int(await process.stdout.readline())
        return cls(process, port)

    async def stats(self) -> dict[str, Any]:
        return await self.command("stats")

    async def command(self, name: str) -> dict[str, Any]:
        """Send one stdin command to the server and return its JSON answer."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"{name}\n".encode())
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {name!r} command ended the benchmark server")
        result: dict[str, Any] = json.loads(line)
        return result

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"quit\n")
        await self.process.stdin.drain()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def meter_values_payload() -> str:
    model = ConnectorModel(
        phases=3, voltage=230.0, energy_wh=12345.0, noise=0.0, seed=1, now=WallClock().now()
    )
    model.vehicle, model.charging, model.offered_current = Vehicle(), True, 16.0
    value = {
        "timestamp": iso(WallClock().now()),
        "sampledValue": model.sampled_values(BENCH_MEASURANDS),
    }
    assert len(value["sampledValue"]) == 10
    return json.dumps({"connectorId": 1, "meterValue": [value]}, separators=(",", ":"))


BOOT = '{"chargePointVendor":"Bench","chargePointModel":"Raw"}'
# The energy register when the benchmark's transactions start, in Wh.
METER_START = 12345
# The id tag the busy chargers charge with: one the integration always accepts.
REMOTE_ID_TAG = "HomeAssistant"


def status_payload(status: str, connector_id: int = 1) -> str:
    """A StatusNotification.req without error (OCPP 1.6 section 6.47)."""
    return json.dumps({"connectorId": connector_id, "errorCode": "NoError", "status": status})


# How each measurand of the benchmark moves with message n (i: the sample's place, so the
# phases differ): enough change that every message brings news, as a real charger's does.
# What a car charging at about 11 kW adds to the energy register per second (Wh). A feed
# moves the register by this times its interval with every message (the closed loop's
# messages count as one second apart), so the register follows the power it reports.
WH_PER_SECOND: Final = 3.1
ENERGY_REGISTER: Final = "Energy.Active.Import.Register"


def _register_move(interval: float) -> Callable[[int], float]:
    wh = WH_PER_SECOND * interval
    return lambda n: METER_START + wh * n


_MOVES: dict[str, Callable[[int, int], float]] = {
    ENERGY_REGISTER: lambda n, _i: METER_START + WH_PER_SECOND * n,
    "Power.Active.Import": lambda n, _i: 11000.0 + n % 17,
    "Current.Import": lambda n, i: 16.0 + (n + i) % 5 / 10,
    "Voltage": lambda n, i: 230.0 + (n + i) % 7 / 10,
    "SoC": lambda n, _i: 40.0 + n // 200 % 60,
    "Current.Offered": lambda _n, _i: 16.0,
}


def _template(
    payload: dict[str, Any], values: int, transaction_id: int | None, value_format: str
) -> str:
    """A %-template of `payload`: its "@t" the timestamp, its "@0".. the values in order."""
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    template = json.dumps(payload, separators=(",", ":")).replace("%", "%%")
    template = template.replace('"@t"', '"%s"')
    for i in range(values):
        template = template.replace(f'"@{i}"', f'"{value_format}"')
    return template


class MeterFeed:
    """MeterValues payloads of a charging car, each with new values, from a template.

    Energy, power and voltage move with every message, the highest phase current with
    most, the state of charge every 200 messages, the offered current never; the
    timestamp is the time of sending.
    """

    def __init__(self, transaction_id: int | None = None, interval: float = 1.0) -> None:
        payload = json.loads(meter_values_payload())
        meter_value = payload["meterValue"][0]
        samples = meter_value["sampledValue"]
        register = _register_move(interval)

        def register_at(n: int, _i: int) -> float:
            return register(n)

        moves = {**_MOVES, ENERGY_REGISTER: register_at}
        self._moves = tuple((moves[sample["measurand"]], i) for i, sample in enumerate(samples))
        for i, sample in enumerate(samples):
            sample["value"] = f"@{i}"
        meter_value["timestamp"] = "@t"
        self._template = _template(payload, len(samples), transaction_id, "%.1f")
        self._sent = 0

    def next(self) -> str:
        """The next message's payload."""
        self._sent = n = self._sent + 1
        values = tuple(move(n, i) for move, i in self._moves)
        return self._template % (iso(datetime.now(UTC)), *values)


# -- 24 sampled values ---------------------------------------------------------------------------

type Move = Callable[[int], float]

# (measurand, phase, unit, location, how it moves with message n). Every value but the
# offered ones and the export registers moves, most with every message.
WIDE_SAMPLES: Final[tuple[tuple[str, str | None, str | None, str, Move], ...]] = (
    (ENERGY_REGISTER, None, "Wh", "Outlet", _register_move(1.0)),
    ("Current.Import", "L1", "A", "Outlet", lambda n: 16.0 + n % 5 / 10),
    ("Current.Import", "L2", "A", "Outlet", lambda n: 16.0 + (n + 1) % 5 / 10),
    ("Current.Import", "L3", "A", "Outlet", lambda n: 16.0 + (n + 2) % 5 / 10),
    ("Current.Import", "N", "A", "Outlet", lambda n: 0.2 + n % 3 / 10),
    ("Voltage", "L1-N", "V", "Outlet", lambda n: 230.0 + n % 7 / 10),
    ("Voltage", "L2-N", "V", "Outlet", lambda n: 230.0 + (n + 2) % 7 / 10),
    ("Voltage", "L3-N", "V", "Outlet", lambda n: 230.0 + (n + 4) % 7 / 10),
    ("Voltage", "L1-L2", "V", "Outlet", lambda n: 398.0 + n % 9 / 10),
    ("Voltage", "L2-L3", "V", "Outlet", lambda n: 398.0 + (n + 3) % 9 / 10),
    ("Voltage", "L3-L1", "V", "Outlet", lambda n: 398.0 + (n + 6) % 9 / 10),
    ("Power.Active.Import", "L1", "W", "Outlet", lambda n: 3680.0 + n % 13),
    ("Power.Active.Import", "L2", "W", "Outlet", lambda n: 3680.0 + (n + 4) % 13),
    ("Power.Active.Import", "L3", "W", "Outlet", lambda n: 3680.0 + (n + 8) % 13),
    ("Power.Active.Import", None, "W", "Outlet", lambda n: 11040.0 + n % 17),
    ("Power.Reactive.Import", None, "var", "Outlet", lambda n: 120.0 + n % 11),
    ("Power.Factor", None, None, "Outlet", lambda n: 0.95 + n % 4 / 100),
    ("Energy.Reactive.Import.Register", None, "varh", "Outlet", lambda n: 800.0 + 0.1 * n),
    ("Energy.Active.Export.Register", None, "Wh", "Outlet", lambda _n: 0.0),
    ("Current.Offered", None, "A", "Outlet", lambda _n: 16.0),
    ("Power.Offered", None, "W", "Outlet", lambda _n: 11040.0),
    ("Frequency", None, None, "Outlet", lambda n: 50.0 + (n % 5 - 2) / 100),
    ("Temperature", None, "Celsius", "Body", lambda n: 35.0 + n // 50 % 10),
    ("SoC", None, "Percent", "EV", lambda n: 40.0 + n // 200 % 60),
)


class WideFeed:
    """MeterValues payloads with the 24 sampled values of WIDE_SAMPLES, from a template."""

    def __init__(self, transaction_id: int | None = None, interval: float = 1.0) -> None:
        samples: list[dict[str, Any]] = []
        for i, (measurand, phase, unit, location, _move) in enumerate(WIDE_SAMPLES):
            sample: dict[str, Any] = {
                "value": f"@{i}",
                "context": "Sample.Periodic",
                "format": "Raw",
                "measurand": measurand,
                "location": location,
            }
            if phase is not None:
                sample["phase"] = phase
            if unit is not None:
                sample["unit"] = unit
            samples.append(sample)
        payload: dict[str, Any] = {
            "connectorId": 1,
            "meterValue": [{"timestamp": "@t", "sampledValue": samples}],
        }
        self._template = _template(payload, len(samples), transaction_id, "%.2f")
        register = _register_move(interval)
        self._moves = tuple(
            register if (measurand, phase) == (ENERGY_REGISTER, None) else move
            for measurand, phase, _unit, _location, move in WIDE_SAMPLES
        )
        self._sent = 0

    def next(self) -> str:
        """The next message's payload."""
        self._sent = n = self._sent + 1
        return self._template % (iso(datetime.now(UTC)), *(move(n) for move in self._moves))


class RawCharger:
    """A websocket client that sends CALL frames built by the caller and waits for each reply."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0
        self.feed = MeterFeed()
        self.dropped = False  # the server closed the connection while we were busy

    @classmethod
    async def open(cls, port: int, charge_box_id: str) -> RawCharger:
        ws = await connect(
            f"ws://{HOST}:{port}/{charge_box_id}",
            subprotocols=[SUBPROTOCOL],
            compression=None,
            ping_interval=None,
            open_timeout=30,
        )
        charger = cls(ws)
        await charger.call("BootNotification", BOOT)
        return charger

    async def call(self, action: str, payload: str) -> str:
        """Send one CALL and return the raw reply frame (CallResult or CallError)."""
        self.next_id += 1
        message_id = str(self.next_id)
        await self.ws.send(f'[2,"{message_id}","{action}",{payload}]')
        expected = (f'[3,"{message_id}"', f'[4,"{message_id}"')
        while True:
            reply = await self.ws.recv()
            assert isinstance(reply, str)
            if reply.startswith(expected):  # the usual case, without parsing
                return reply
            frame = json.loads(reply)
            if frame[0] in (3, 4) and frame[1] == message_id:
                return reply
            if frame[0] == 2:
                # The central system's own CALLs (configuration sync): not supported here.
                await self.ws.send(json.dumps([4, frame[1], "NotSupported", "", {}]))

    async def start_charging(self, connector_id: int = 1, *, wide: bool = False) -> None:
        """Start a transaction (section 4.8); the feed then carries the id the server gave.

        `wide`: the feed sends the 24 sampled values of `WideFeed`.
        """
        await self.call("StatusNotification", status_payload("Charging", connector_id))
        start = {
            "connectorId": connector_id,
            "idTag": REMOTE_ID_TAG,
            "meterStart": METER_START,
            "timestamp": iso(datetime.now(UTC)),
        }
        reply = json.loads(await self.call("StartTransaction", json.dumps(start)))
        result = reply[2] if reply[0] == 3 else {}
        if wide:
            self.feed = WideFeed(result.get("transactionId"))  # type: ignore[assignment]
        else:
            self.feed = MeterFeed(result.get("transactionId"))

    async def close(self) -> None:
        await self.ws.close()


async def open_busy(port: int, count: int, *, wide: bool = False) -> list[RawCharger]:
    """Connect, boot and start charging the busy chargers, and send one MeterValues each.

    The first MeterValues makes the connector's readings (and their entities) appear: a
    one-off cost that the measured window leaves out. `wide`: the 24 sampled values of
    `WideFeed` instead of 10.
    """
    clients = await asyncio.gather(
        *(RawCharger.open(port, f"{BUSY_PREFIX}{n}") for n in range(count))
    )
    await asyncio.gather(*(c.start_charging(wide=wide) for c in clients))
    await asyncio.gather(*(c.call("MeterValues", c.feed.next()) for c in clients))
    return clients


async def trace_memory(server: ServerProcess, kind: str, what: str) -> None:
    """With OCPP_BENCH_TRACEMALLOC, have a Home Assistant server report its allocations."""
    if kind in HA_KINDS and os.environ.get(TRACEMALLOC_ENV):
        found = await server.command("tracemalloc")
        where = found.get("file", "stderr")
        print(f"  tracemalloc report {found['report']} ({what}): {where}", flush=True)


async def settle(server: ServerProcess) -> dict[str, Any]:
    """Wait until the server is idle (under 5 ms CPU in 0.25 s, or 10 s); return its stats."""
    stats = await server.stats()
    for _ in range(40):
        await asyncio.sleep(0.25)
        previous, stats = stats, await server.stats()
        if stats["cpu"] - previous["cpu"] < 0.005:
            break
    return stats


@dataclass(slots=True)
class Figures:
    """What one scenario measured."""

    messages: int
    seconds: float
    rtts: list[float]
    cpu_s: float
    rss_per_charger: float

    @property
    def cpu_ms(self) -> float:
        """Server CPU per round trip, in ms."""
        return 1000 * self.cpu_s / max(1, self.messages)

    def row(self, label: str) -> str:
        p50, p99 = percentiles(self.rtts)
        rate = self.messages / self.seconds
        return (
            f"{label:<22} {rate:>10.0f} {p50 * 1000:>9.2f} {p99 * 1000:>9.2f} "
            f"{self.cpu_ms:>10.3f} {self.rss_per_charger / 1e6:>10.3f}"
        )


HEADER = (
    f"{'scenario':<22} {'msg/s':>10} {'p50 ms':>9} {'p99 ms':>9} "
    f"{'cpu ms/msg':>10} {'MB/charger':>10}"
)


def percentiles(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    ordered = sorted(values)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def busy_loop(charger: RawCharger, deadline: float, rtts: list[float]) -> int:
    """Send MeterValues as fast as the replies come until `deadline`; return how many."""
    sent = 0
    try:
        while time.monotonic() < deadline:
            start = time.monotonic()
            await charger.call("MeterValues", charger.feed.next())
            rtts.append(time.monotonic() - start)
            sent += 1
    except ConnectionClosed:
        charger.dropped = True
    return sent


def _check_connected(clients: list[RawCharger]) -> None:
    dropped = sum(c.dropped for c in clients)
    if dropped:
        raise RuntimeError(f"the server dropped {dropped} of {len(clients)} busy chargers")


async def throughput(kind: str, chargers: int, seconds: float, *, wide: bool = False) -> Figures:
    server = await ServerProcess.start(kind, chargers)
    try:
        base = await server.stats()
        clients = await open_busy(server.port, chargers, wide=wide)
        before = await settle(server)
        await trace_memory(server, kind, f"{chargers} chargers connected")
        rtts: list[float] = []
        started = time.monotonic()
        counts = await asyncio.gather(*(busy_loop(c, started + seconds, rtts) for c in clients))
        elapsed = time.monotonic() - started
        after = await server.stats()
        await asyncio.gather(*(c.close() for c in clients))
    finally:
        await server.stop()
    _check_connected(clients)
    base_rss = base["rss"] if base["base_rss"] is None else base["base_rss"]
    return Figures(
        sum(counts),
        elapsed,
        rtts,
        after["cpu"] - before["cpu"],
        (before["rss"] - base_rss) / chargers,
    )


async def measure_status(
    server: ServerProcess, busy: list[RawCharger], seconds: float, statuses: int
) -> list[float]:
    """While `busy` send MeterValues, one more sends StatusNotifications: send -> listener."""
    watched = await RawCharger.open(server.port, STATUS_ID)
    # Connector 1 appears (for Home Assistant: with its entities) before we measure.
    await watched.call("StatusNotification", status_payload("Unavailable"))
    already = len((await server.command("status_ready"))["status_times"])
    await settle(server)
    deadline = time.monotonic() + seconds
    load = [asyncio.ensure_future(busy_loop(c, deadline, [])) for c in busy]
    sent_at: list[float] = []
    for n in range(statuses):
        if time.monotonic() >= deadline:
            break
        status = ("Available", "Preparing")[n % 2]  # a change every time: one notification each
        sent_at.append(time.monotonic())
        await watched.call("StatusNotification", status_payload(status))
        await asyncio.sleep(0.005)
    await asyncio.gather(*load)
    fired = (await server.stats())["status_times"][already:]
    await watched.close()
    _check_connected(busy)
    if len(fired) != len(sent_at):
        raise RuntimeError(f"{len(sent_at)} status changes sent, {len(fired)} seen by the server")
    # CLOCK_MONOTONIC is system-wide on Linux, so times of both processes compare.
    return [f - s for s, f in zip(sent_at, fired, strict=True)]


async def status_latency(
    seconds: float, busy: int = 10, statuses: int = 200, kind: str = "central"
) -> list[float]:
    """Ten chargers busy with MeterValues while one sends StatusNotification: send -> listener."""
    server = await ServerProcess.start(kind, busy)
    try:
        clients = await open_busy(server.port, busy)
        latencies = await measure_status(server, clients, seconds, statuses)
        await asyncio.gather(*(c.close() for c in clients))
    finally:
        await server.stop()
    return latencies


# -- hostile charger ---------------------------------------------------------------------------

HOSTILE_ID = f"{BUSY_PREFIX}0"
# Bad frames sent between two Heartbeats: the Heartbeat's answer shows all were handled.
HOSTILE_BATCH = 100


# The bad frames of the hostile mix, in turn; "@" becomes the frame's number (unique ids).
HOSTILE_TEMPLATES: tuple[str, ...] = (
    '[2,"h@","Heartbeat",{',  # not JSON, id recoverable
    "garbage " * 100,
    '[2,"h@","' + "Unknown" * 7200 + '",{}]',  # an unknown action named with 50 kB
    '[2,"' + "i" * 5000 + '","Heartbeat",{}]',  # an id over 36 characters
    '[2,@,"Heartbeat",{}]',  # a numeric id
    '[2,"h@","StatusNotification",{"connectorId":"1","status":"Sleeping"}]',
    '[2,"h@","StartTransaction",{"connectorId":1,"idTag":"' + "T" * 30 + '",'
    '"meterStart":0,"timestamp":"yesterday"}]',
    '[2,"h@","Authorize",{"idTag":"TAG","extra":"' + "x" * 2000 + '"}]',
    '[2,"h@","Heartbeat",{}]',  # sent as a binary frame
    '[3,"nobody@",{}]',
    '[9,"h@"]',
    '[2,"dup","Heartbeat",{}]',  # a duplicate id after its first time
)
HOSTILE_BINARY = 8  # the index of the template sent as a binary frame


def hostile_frame(n: int) -> str | bytes:
    """The n-th bad frame of the hostile mix."""
    index = n % len(HOSTILE_TEMPLATES)
    frame = HOSTILE_TEMPLATES[index].replace("@", str(n))
    return frame.encode() if index == HOSTILE_BINARY else frame


@dataclass(slots=True)
class HostileFigures:
    """What the hostile charger cost the server."""

    frames: int
    seconds: float
    replies: int
    over_bound: int
    log_bytes: int
    transactions: int
    rss_growth: int

    def lines(self) -> list[str]:
        from custom_components.ocpp_central.protocol.errors import MAX_CALL_ERROR_SIZE

        return [
            f"hostile: {self.frames / self.seconds:.0f} bad frames/s handled "
            f"({self.frames} frames, {self.replies} replies)",
            f"hostile: {self.over_bound} replies over {MAX_CALL_ERROR_SIZE} bytes (must be 0)",
            f"hostile: {1000 * self.log_bytes / max(1, self.frames):.0f} log bytes "
            f"per 1,000 bad frames (INFO and up, Home Assistant's line format)",
            f"hostile: {self.rss_growth / max(1, self.transactions) * 1000 / 1e6:.3f} MB "
            f"RSS growth per 1,000 open transactions ({self.transactions} started, none stopped)",
        ]


async def _flood(ws: ClientConnection, frames: int) -> tuple[int, int]:
    """Send `frames` bad frames in batches, each closed by a Heartbeat; count the replies
    and those over the bound."""
    from custom_components.ocpp_central.protocol.errors import MAX_CALL_ERROR_SIZE

    replies = over = 0
    for start in range(0, frames, HOSTILE_BATCH):
        for n in range(start, min(start + HOSTILE_BATCH, frames)):
            await ws.send(hostile_frame(n))
        await ws.send(f'[2,"hb{start}","Heartbeat",{{}}]')
        while True:
            reply = await ws.recv(decode=False)
            frame = json.loads(reply)
            if frame[0] == 2:  # the central system's own CALLs: not supported here
                await ws.send(json.dumps([4, frame[1], "NotSupported", "", {}]))
                continue
            replies += 1
            over += len(reply) >= MAX_CALL_ERROR_SIZE
            if frame[1] == f"hb{start}":
                break
    return replies - frames // HOSTILE_BATCH - (frames % HOSTILE_BATCH > 0), over


async def start_without_stops(charger: RawCharger, count: int) -> None:
    """Send `count` StartTransactions on connector 1 and never a StopTransaction.

    Each start supersedes the one before it (its stop was "lost"), so what the server keeps
    must not grow with `count`.
    """
    for n in range(count):
        start = {
            "connectorId": 1,
            "idTag": "HOSTILE",
            "meterStart": METER_START + n,
            "timestamp": iso(datetime.now(UTC)),
        }
        reply = await charger.call("StartTransaction", json.dumps(start))
        if not reply.startswith("[3,"):
            raise RuntimeError(f"StartTransaction {n} refused: {reply}")


async def hostile(frames: int, transactions: int) -> HostileFigures:
    """A charger sending only bad frames, then transactions it never stops."""
    server = await ServerProcess.start("central", 1)
    try:
        charger = await RawCharger.open(server.port, HOSTILE_ID)
        before = await settle(server)
        started = time.monotonic()
        replies, over = await _flood(charger.ws, frames)
        elapsed = time.monotonic() - started
        after = await settle(server)
        await start_without_stops(charger, transactions)
        opened = await settle(server)
        await charger.close()
    finally:
        await server.stop()
    return HostileFigures(
        frames=frames,
        seconds=elapsed,
        replies=replies,
        over_bound=over,
        log_bytes=after["log_bytes"] - before["log_bytes"],
        transactions=transactions,
        rss_growth=opened["rss"] - after["rss"],
    )


# Open transactions: StartTransactions on one connector, never a stop.
HOSTILE_STARTS = 2000
HOSTILE_TARGET_MB = 20.0


@dataclass(slots=True)
class OpenTransactions:
    """What a charger starting transactions without ever stopping one cost the server."""

    kind: str
    starts: int
    rss_growth: int  # bytes, settled after the starts against settled before
    cpu_s: float

    def line(self) -> str:
        return (
            f"open transactions ({self.kind}): {self.starts} StartTransactions without a stop: "
            f"RSS {self.rss_growth / 1e6:+.1f} MB "
            f"({self.rss_growth / max(1, self.starts):.0f} bytes each), "
            f"{1000 * self.cpu_s / max(1, self.starts):.3f} ms CPU each"
        )

    def verdict(self) -> str:
        ok = self.rss_growth / 1e6 <= HOSTILE_TARGET_MB
        return (
            f"{'PASS' if ok else 'FAIL'}  {self.starts} StartTransactions without a stop grow "
            f"the server by <= {HOSTILE_TARGET_MB:g} MB ({self.kind}): "
            f"{self.rss_growth / 1e6:.1f} MB"
        )


async def open_transactions(kind: str, starts: int = HOSTILE_STARTS) -> OpenTransactions:
    """One charger sends `starts` StartTransactions on connector 1 and never a stop.

    Each start closes the one before it (OCPP 1.6 section 4.10 stops can be lost), so what
    the server keeps must not grow with the count.
    """
    server = await ServerProcess.start(kind, 1)
    try:
        charger = await RawCharger.open(server.port, f"{BUSY_PREFIX}0")
        await charger.start_charging()
        before = await settle(server)
        await trace_memory(server, kind, "before the open transactions")
        await start_without_stops(charger, starts)
        after = await settle(server)
        await trace_memory(server, kind, f"after {starts} open transactions")
        # Longer still: what is transient (a backlog) is gone by now, what is held stays.
        await asyncio.sleep(10)
        await settle(server)
        await trace_memory(server, kind, "10 s later")
        await charger.close()
    finally:
        await server.stop()
    return OpenTransactions(
        kind, starts, after["rss"] - before["rss"], after["cpu"] - before["cpu"]
    )


def latency_line(label: str, latencies: list[float]) -> str:
    p50, p99 = percentiles(latencies)
    return (
        f"status latency {label} (10 busy + 1): p50 {p50 * 1000:.2f} ms, "
        f"p99 {p99 * 1000:.2f} ms over {len(latencies)} StatusNotifications"
    )
