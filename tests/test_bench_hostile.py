"""The benchmark's hostile section runs and reports the bounds it measures.

Nothing here asserts on time: the frames per second belong to `scripts/bench`. What a
hostile charger costs in replies and log bytes does not depend on the machine, so those
figures are held to the bounds here too.
"""

from __future__ import annotations

import pytest

from bench.closed import HOSTILE_TEMPLATES, hostile, hostile_frame, open_transactions
from custom_components.ocpp_central.protocol.logs import MAX_LINE

# Enough for every kind of bad frame several times over.
FRAMES = 20 * len(HOSTILE_TEMPLATES)


def test_hostile_frames_cover_every_kind_once_per_round() -> None:
    frames = [hostile_frame(n) for n in range(len(HOSTILE_TEMPLATES))]
    assert len(set(frames)) == len(HOSTILE_TEMPLATES)
    assert sum(isinstance(frame, bytes) for frame in frames) == 1
    assert max(len(frame) for frame in frames) > 50_000  # the 50 kB action name
    assert hostile_frame(len(HOSTILE_TEMPLATES)) != frames[0]  # ids differ per frame


async def test_hostile_section_runs_and_prints_its_figures(
    socket_enabled: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cost = await hostile(FRAMES, transactions=50)
    assert cost.frames == FRAMES
    assert cost.replies > FRAMES // 2  # every CALL whose id can be read is answered
    assert cost.over_bound == 0
    # One line per kind at most (each under MAX_LINE plus Home Assistant's prefix).
    assert 0 < cost.log_bytes < len(HOSTILE_TEMPLATES) * (MAX_LINE + 120)
    assert cost.transactions == 50
    for line in cost.lines():
        print(line)
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == ["hostile"] * 4
    assert "0 replies over" in out[1]


async def test_open_transactions_scenario_runs_and_prints(socket_enabled: None) -> None:
    found = await open_transactions("central", 30)
    assert found.starts == 30
    assert found.cpu_s > 0
    assert found.line().startswith("open transactions (central): 30 StartTransactions")
    assert found.verdict().startswith(("PASS", "FAIL"))
