"""The benchmark servers' C allocator: Home Assistant's (jemalloc) where installed."""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys

import pytest

from bench.allocator import (
    ALLOCATOR_ENV,
    HA_MALLOC_CONF,
    JEMALLOC,
    SYSTEM,
    find_jemalloc,
    running,
    server_env,
)


@pytest.fixture
def library(tmp_path: Path) -> str:
    path = tmp_path / "libjemalloc.so.2"
    path.write_bytes(b"")
    return str(path)


def test_jemalloc_with_home_assistants_settings_where_installed(
    library: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOCATOR_ENV, raising=False)
    monkeypatch.setenv("LD_PRELOAD", "/elsewhere/libother.so")
    env, described = server_env(("/nowhere/libjemalloc.so.2", library))
    assert env["LD_PRELOAD"] == library
    assert env["MALLOC_CONF"] == HA_MALLOC_CONF
    assert "jemalloc" in described
    assert env["PATH"] == os.environ["PATH"]  # the rest of the environment is passed on


def test_the_c_librarys_malloc_when_asked_for_or_missing(
    library: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LD_PRELOAD", "/elsewhere/libother.so")
    monkeypatch.setenv("MALLOC_CONF", "narenas:1")
    monkeypatch.setenv(ALLOCATOR_ENV, SYSTEM)
    env, described = server_env((library,))
    # Neither the benchmark's preload nor one of the caller's.
    assert "LD_PRELOAD" not in env
    assert "MALLOC_CONF" not in env
    assert "asked for" in described
    monkeypatch.setenv(ALLOCATOR_ENV, JEMALLOC)
    env, described = server_env(("/nowhere/libjemalloc.so.2",))
    assert "LD_PRELOAD" not in env
    assert "not installed" in described
    assert find_jemalloc(("/nowhere/libjemalloc.so.2",)) is None


def test_the_allocator_of_this_process_is_read_from_its_memory_map() -> None:
    preloaded = "libjemalloc" in os.environ.get("LD_PRELOAD", "")
    assert running() == (JEMALLOC if preloaded else SYSTEM)


@pytest.mark.skipif(find_jemalloc() is None, reason="jemalloc is not installed here")
def test_a_server_process_runs_jemalloc(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the server reports of itself is read from its memory map."""
    monkeypatch.delenv(ALLOCATOR_ENV, raising=False)
    env, _ = server_env()
    out = subprocess.run(
        [sys.executable, "-c", "from bench.allocator import running; print(running())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert out.stdout.strip() == JEMALLOC
