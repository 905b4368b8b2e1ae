"""Benchmark of the protocol server: round trips, latency, server CPU and memory per charger.

The server runs in its own process (`python -m simulator.bench serve KIND`) so its CPU
time (`time.process_time()`) and RSS are its own; the load generator here is cheap on
purpose: raw websockets clients sending prebuilt MeterValues frames (10 sampled values)
as fast as the replies come. Everything runs on 127.0.0.1 and every scenario is bounded
in time.

Server kinds (SERVER_KINDS):
- "floor": a bare websockets server doing json.loads + json.dumps (what any server costs);
- "central": `CentralSystem` with `MemoryHooks`, chargers configured with `set_charger`.
A Home Assistant kind ("ha": the integration set up in a running hass) belongs in
SERVER_KINDS next to these, with a `serve_*` function of the same shape.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass
import json
import os
from pathlib import Path
import sys
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from .clock import WallClock, iso
from .model import ConnectorModel, Vehicle

SUBPROTOCOL = Subprotocol("ocpp1.6")
# The repository root: the server process imports the central system from there.
_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
BUSY_PREFIX, STATUS_ID = "B-", "S-0"
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


# -- server process ----------------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def serve_floor(
    chargers: int, status_times: list[float]
) -> tuple[int, Callable[[], Awaitable[None]]]:
    """The floor: parse every frame, answer CALLs with an empty CallResult."""
    del chargers, status_times  # nothing to configure, no state to watch

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            frame = json.loads(message)
            if frame[0] == 2:
                await ws.send(json.dumps([3, frame[1], {}], separators=(",", ":")))

    server = await serve(
        handler, HOST, 0, compression=None, ping_interval=None, subprotocols=[SUBPROTOCOL]
    )
    port: int = next(iter(server.sockets)).getsockname()[1]

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    return port, stop


async def serve_central(
    chargers: int, status_times: list[float]
) -> tuple[int, Callable[[], Awaitable[None]]]:
    """`CentralSystem` with in-memory hooks; the status charger's listener records times."""
    from custom_components.ocpp_central.protocol.config import ChargerConfig
    from custom_components.ocpp_central.protocol.hooks import MemoryHooks
    from custom_components.ocpp_central.protocol.server import CentralSystem

    central = CentralSystem(host=HOST, port=0, hooks=MemoryHooks(), ping_interval=None)
    for n in range(chargers):
        central.set_charger(ChargerConfig(charge_box_id=f"{BUSY_PREFIX}{n}"))
    watched = central.set_charger(ChargerConfig(charge_box_id=STATUS_ID))
    watched.state.subscribe([(1, "status")], lambda: status_times.append(time.monotonic()))
    await central.start()
    return central.port, central.stop


SERVER_KINDS: dict[
    str, Callable[[int, list[float]], Awaitable[tuple[int, Callable[[], Awaitable[None]]]]]
] = {
    "floor": serve_floor,
    "central": serve_central,
}


async def server_main(kind: str, chargers: int) -> None:
    """Serve; print the port, then answer 'stats' lines on stdin with a JSON line."""
    status_times: list[float] = []
    port, stop = await SERVER_KINDS[kind](chargers, status_times)
    print(port, flush=True)
    try:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if line.strip() != "stats":
                break
            stats = {"cpu": time.process_time(), "rss": rss_bytes(), "status_times": status_times}
            print(json.dumps(stats), flush=True)
    finally:
        await stop()


# -- load generator ----------------------------------------------------------------------------


class ServerProcess:
    """A benchmark server in a child process."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port

    @classmethod
    async def start(cls, kind: str, chargers: int) -> ServerProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "simulator.bench",
            "serve",
            kind,
            str(chargers),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=_ROOT,
        )
        assert process.stdout is not None
        port = int(await process.stdout.readline())
        return cls(process, port)

    async def stats(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(b"stats\n")
        await self.process.stdin.drain()
        result: dict[str, Any] = json.loads(await self.process.stdout.readline())
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


class RawCharger:
    """A websocket client that sends prebuilt CALL frames and waits for each reply."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0

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

    async def call(self, action: str, payload: str) -> None:
        self.next_id += 1
        message_id = str(self.next_id)
        await self.ws.send(f'[2,"{message_id}","{action}",{payload}]')
        expected = (f'[3,"{message_id}"', f'[4,"{message_id}"')
        while True:
            reply = await self.ws.recv()
            assert isinstance(reply, str)
            if reply.startswith(expected):  # the usual case, without parsing
                return
            frame = json.loads(reply)
            if frame[0] in (3, 4) and frame[1] == message_id:
                return
            if frame[0] == 2:
                # The central system's own CALLs (configuration sync): not supported here.
                await self.ws.send(json.dumps([4, frame[1], "NotSupported", "", {}]))

    async def close(self) -> None:
        await self.ws.close()


@dataclass(slots=True)
class Figures:
    """What one scenario measured."""

    messages: int
    seconds: float
    rtts: list[float]
    cpu_s: float
    rss_per_charger: float

    def row(self, label: str) -> str:
        p50, p99 = percentiles(self.rtts)
        rate = self.messages / self.seconds
        cpu_ms = 1000 * self.cpu_s / max(1, self.messages)
        return (
            f"{label:<22} {rate:>10.0f} {p50 * 1000:>9.2f} {p99 * 1000:>9.2f} "
            f"{cpu_ms:>10.3f} {self.rss_per_charger / 1e6:>10.3f}"
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


async def busy_loop(charger: RawCharger, payload: str, deadline: float, rtts: list[float]) -> int:
    sent = 0
    while time.monotonic() < deadline:
        start = time.monotonic()
        await charger.call("MeterValues", payload)
        rtts.append(time.monotonic() - start)
        sent += 1
    return sent


async def throughput(kind: str, chargers: int, seconds: float) -> Figures:
    server = await ServerProcess.start(kind, chargers)
    try:
        base = await server.stats()
        clients = await asyncio.gather(
            *(RawCharger.open(server.port, f"{BUSY_PREFIX}{n}") for n in range(chargers))
        )
        await asyncio.sleep(0.5)  # let the configuration sync after each boot settle
        before = await server.stats()
        payload = meter_values_payload()
        rtts: list[float] = []
        started = time.monotonic()
        counts = await asyncio.gather(
            *(busy_loop(c, payload, started + seconds, rtts) for c in clients)
        )
        elapsed = time.monotonic() - started
        after = await server.stats()
        await asyncio.gather(*(c.close() for c in clients))
    finally:
        await server.stop()
    return Figures(
        sum(counts),
        elapsed,
        rtts,
        after["cpu"] - before["cpu"],
        (before["rss"] - base["rss"]) / chargers,
    )


async def status_latency(seconds: float, busy: int = 10, statuses: int = 200) -> list[float]:
    """Ten chargers busy with MeterValues while one sends StatusNotification: send -> listener."""
    server = await ServerProcess.start("central", busy)
    try:
        clients = await asyncio.gather(
            *(RawCharger.open(server.port, f"{BUSY_PREFIX}{n}") for n in range(busy))
        )
        watched = await RawCharger.open(server.port, STATUS_ID)
        await asyncio.sleep(0.5)
        payload = meter_values_payload()
        deadline = time.monotonic() + seconds
        load = [asyncio.ensure_future(busy_loop(c, payload, deadline, [])) for c in clients]
        sent_at: list[float] = []
        already = len((await server.stats())["status_times"])
        for n in range(statuses):
            if time.monotonic() >= deadline:
                break
            status = ("Available", "Preparing")[n % 2]  # a change every time: one notification each
            frame = json.dumps({"connectorId": 1, "errorCode": "NoError", "status": status})
            sent_at.append(time.monotonic())
            await watched.call("StatusNotification", frame)
            await asyncio.sleep(0.005)
        await asyncio.gather(*load)
        fired = (await server.stats())["status_times"][already:]
        await asyncio.gather(*(c.close() for c in [*clients, watched]))
    finally:
        await server.stop()
    # CLOCK_MONOTONIC is system-wide on Linux, so times of both processes compare.
    return [f - s for s, f in zip(sent_at, fired, strict=False)]


async def bench_main(sizes: list[int], seconds: float, kinds: list[str]) -> None:
    print(f"server CPU and RSS measured in the server process; {seconds:.0f} s per scenario")
    print(HEADER)
    for kind in kinds:
        for size in sizes:
            figures = await throughput(kind, size, seconds)
            print(figures.row(f"{kind} N={size}"), flush=True)
    if "central" in kinds:
        latencies = await status_latency(seconds)
        p50, p99 = percentiles(latencies)
        print(
            f"status latency (10 busy + 1): p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms "
            f"over {len(latencies)} StatusNotifications"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help="(internal) run a benchmark server")
    serve_cmd.add_argument("kind", choices=sorted(SERVER_KINDS))
    serve_cmd.add_argument("chargers", type=int)
    parser.add_argument("--sizes", default="1,10,100", help="numbers of chargers")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each scenario")
    parser.add_argument("--kinds", default="floor,central", help="server kinds to measure")
    args = parser.parse_args(argv)
    if args.command == "serve":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(server_main(args.kind, args.chargers))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    asyncio.run(bench_main(sizes, args.seconds, args.kinds.split(",")))


if __name__ == "__main__":
    main()
