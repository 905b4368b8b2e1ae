"""`python -m bench` (`scripts/bench`): every section of the benchmark, and its servers.

`python -m bench serve KIND CHARGERS` is the server process the load generator starts
(`closed.ServerProcess`): it serves one of SERVER_KINDS and answers commands on stdin.
Without `serve`, the load generator runs the closed loop and the hostile section
(`closed`), the Home Assistant scenarios (`ha`), then the open-loop, start-up and database
sections (`open_loop`). Imports go one way: this module imports the sections, the sections
import `closed` (and `ha`, `stall`), and the benchmark imports the simulator's model and
clock; nothing in `simulator/` imports the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import cProfile
import json
import os
import sys

from . import open_loop
from .allocator import server_env
from .closed import (
    HA_KINDS,
    HEADER,
    HOSTILE_STARTS,
    STATUS_READY_TIMEOUT,
    Figures,
    LogMeter,
    Probe,
    Stop,
    hostile,
    latency_line,
    open_transactions,
    profile_commands,
    serve_central,
    serve_floor,
    status_latency,
    throughput,
)

DESCRIPTION = (
    "Benchmark of the protocol server: round trips, latency, server CPU and memory per charger."
)


async def serve_ha(chargers: int, probe: Probe) -> tuple[int, Stop]:
    """The integration in a running Home Assistant core (imported only for this kind)."""
    from .ha import serve_ha as serve

    return await serve(chargers, probe)


async def serve_ha_floor(chargers: int, probe: Probe) -> tuple[int, Stop]:
    """Home Assistant with one energy state per MeterValues, no integration (`ha_floor`)."""
    from .ha_floor import serve_ha_floor as serve

    return await serve(chargers, probe)


SERVER_KINDS: dict[str, Callable[[int, Probe], Awaitable[tuple[int, Stop]]]] = {
    "floor": serve_floor,
    "central": serve_central,
    "ha": serve_ha,
    "ha-floor": serve_ha_floor,
}


async def server_main(kind: str, chargers: int) -> None:
    """Serve; print the port, then answer 'stats' (or another command) lines on stdin.

    'status_ready' answers the stats once the status charger's listener is in place.
    """
    probe = Probe(log_meter=LogMeter.install())
    probe.status_ready.set()
    port, stop = await SERVER_KINDS[kind](chargers, probe)
    # OCPP_BENCH_PROFILE=FILE: profile the serving (not the start-up) into FILE for pstats.
    profile_to = os.environ.get("OCPP_BENCH_PROFILE")
    profiler = cProfile.Profile() if profile_to else None
    if profiler is not None:
        profiler.enable()
        probe.commands.update(profile_commands(profiler))
    print(port, flush=True)
    try:
        while True:
            line = (await asyncio.to_thread(sys.stdin.readline)).strip()
            if line in ("stats", "status_ready") and probe.flush is not None:
                await probe.flush()
            if line == "stats":
                answer = probe.stats()
            elif line == "status_ready":
                async with asyncio.timeout(STATUS_READY_TIMEOUT):
                    await probe.status_ready.wait()
                answer = probe.stats()
            elif line in probe.commands:
                answer = await probe.commands[line]()
            else:
                break
            print(json.dumps(answer), flush=True)
    finally:
        if profiler is not None and profile_to:
            profiler.disable()
            profiler.dump_stats(profile_to)
        await stop()


async def bench_main(
    sizes: list[int],
    seconds: float,
    kinds: list[str],
    ha_sizes: list[int],
    *,
    hostile_frames: int = 20_000,
    hostile_transactions: int = 5_000,
    hostile_starts: int = HOSTILE_STARTS,
    wide: bool = False,
) -> None:
    print(f"server CPU and RSS measured in the server process; {seconds:g} s per scenario")
    measured = [kind for kind in kinds if kind in SERVER_KINDS]
    if measured:
        print(HEADER)
    results: dict[str, dict[int, Figures]] = {}
    for kind in measured:
        for size in ha_sizes if kind in HA_KINDS else sizes:
            figures = results.setdefault(kind, {})[size] = await throughput(
                kind, size, seconds, wide=wide
            )
            print(figures.row(f"{kind} N={size}"), flush=True)
    if "central" in kinds:
        print(latency_line("central", await status_latency(seconds)), flush=True)
    if "ha" in kinds:
        from .ha import status_and_churn, targets

        latencies, changes = await status_and_churn(seconds)
        print(latency_line("ha", latencies))
        print(changes.line(), flush=True)
    # The hostile section measures open transactions in the protocol server; here in
    # Home Assistant, with its store and entities.
    hostiles = (
        [await open_transactions("ha", hostile_starts)] if hostile_starts and "ha" in kinds else []
    )
    for found in hostiles:
        print(found.line(), flush=True)
    if "ha" in kinds:
        print()
        for line in targets(results["ha"], latencies, changes, results.get("ha-floor")):
            print(line)
    for found in hostiles:
        print(found.verdict())
    if "hostile" in kinds:
        print()
        cost = await hostile(hostile_frames, hostile_transactions)
        for line in cost.lines():
            print(line, flush=True)


def _numbers(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help="(internal) run a benchmark server")
    serve_cmd.add_argument("kind", choices=sorted(SERVER_KINDS))
    serve_cmd.add_argument("chargers", type=int)
    parser.add_argument("--sizes", default="1,10,100", help="numbers of chargers (protocol)")
    parser.add_argument(
        "--ha-sizes", default="1,10,50", help="numbers of chargers (Home Assistant)"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each scenario")
    parser.add_argument(
        "--kinds", default="floor,central,ha,hostile", help="server kinds to measure, and hostile"
    )
    parser.add_argument(
        "--hostile-frames", type=int, default=20_000, help="bad frames of the hostile charger"
    )
    parser.add_argument(
        "--hostile-transactions",
        type=int,
        default=5_000,
        help="transactions the hostile charger starts and never stops",
    )
    parser.add_argument(
        "--hostile",
        type=int,
        default=HOSTILE_STARTS,
        help="StartTransactions without a stop from one charger in Home Assistant (0: skip)",
    )
    open_loop.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.command == "serve":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(server_main(args.kind, args.chargers))
        return
    open_loop.apply_environment(args)
    print(f"allocator of the servers: {server_env()[1]}")
    kinds = [kind for kind in args.kinds.split(",") if kind]
    asyncio.run(
        bench_main(
            _numbers(args.sizes),
            args.seconds,
            kinds,
            _numbers(args.ha_sizes),
            hostile_frames=args.hostile_frames,
            hostile_transactions=args.hostile_transactions,
            hostile_starts=args.hostile,
            wide=args.wide,
        )
    )
    asyncio.run(open_loop.open_main(args))


if __name__ == "__main__":
    main()
