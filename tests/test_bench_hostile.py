"""The benchmark's hostile-charger scenario runs and prints its figure (never asserted on)."""

from __future__ import annotations

from simulator.bench import hostile


async def test_hostile_scenario_runs_and_prints(socket_enabled: None) -> None:
    found = await hostile("central", 30)
    assert found.starts == 30
    assert found.cpu_s > 0
    assert found.line().startswith("hostile charger (central): 30 StartTransactions")
    assert found.verdict().startswith(("PASS", "FAIL"))
