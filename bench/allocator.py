"""The C allocator the benchmark servers run with: Home Assistant's, where the machine has it.

Home Assistant's container image and Home Assistant OS start Core with jemalloc preloaded
and these settings (their `run` script): freed memory goes back to the system after
20 s, where the C library's malloc keeps what a peak left fragmented. RSS per charger
then depends on the allocator more than on anything the integration holds, so every server
kind runs with the same one, jemalloc when the library is installed (Debian's package
`libjemalloc2`), and the report says which. `OCPP_BENCH_ALLOCATOR=system` (or `--allocator
system`) measures with the C library's malloc, as a Home Assistant installed with pip runs.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Final

ALLOCATOR_ENV: Final = "OCPP_BENCH_ALLOCATOR"
JEMALLOC: Final = "jemalloc"
SYSTEM: Final = "system"
# What Home Assistant's images set beside LD_PRELOAD.
HA_MALLOC_CONF: Final = (
    "background_thread:true,metadata_thp:auto,dirty_decay_ms:20000,muzzy_decay_ms:20000"
)
# Where distributions put jemalloc (Debian and Ubuntu by architecture, then Home
# Assistant's images and a build from source).
_CANDIDATES: Final = (
    "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
    "/usr/lib/arm-linux-gnueabihf/libjemalloc.so.2",
    "/usr/local/lib/libjemalloc.so.2",
    "/usr/lib/libjemalloc.so.2",
)


def find_jemalloc(candidates: tuple[str, ...] = _CANDIDATES) -> str | None:
    """The path of jemalloc's shared library, or None where it is not installed."""
    return next((path for path in candidates if Path(path).is_file()), None)


def wanted() -> str:
    """The allocator asked for: jemalloc unless the environment says system."""
    return SYSTEM if os.environ.get(ALLOCATOR_ENV, JEMALLOC) == SYSTEM else JEMALLOC


def server_env(candidates: tuple[str, ...] = _CANDIDATES) -> tuple[dict[str, str], str]:
    """The environment of a server process and a description of its allocator."""
    env = dict(os.environ)
    # A preload of the caller's own is not the benchmark's choice: start from none.
    env.pop("LD_PRELOAD", None)
    env.pop("MALLOC_CONF", None)
    if wanted() == SYSTEM:
        return env, "the C library's malloc (asked for)"
    path = find_jemalloc(candidates)
    if path is None:
        return env, (
            "the C library's malloc: jemalloc not installed (Debian: libjemalloc2), so RSS "
            "is higher than Home Assistant's images show"
        )
    env["LD_PRELOAD"] = path
    env["MALLOC_CONF"] = HA_MALLOC_CONF
    return env, "jemalloc, as Home Assistant's container and OS images run Core"


@functools.cache
def running() -> str:
    """The allocator of this process, read once from its memory map (Linux)."""
    try:
        maps = Path("/proc/self/maps").read_text(encoding="ascii", errors="replace")
    except OSError:
        return "unknown"
    return JEMALLOC if "libjemalloc" in maps else SYSTEM
