"""Fixtures for every test: each test starts with an empty log rate limit.

The rate limit of `protocol/logs.py` is per process (a charger is one wherever its lines
come from); without a fresh one, a test would see its first warning counted as a repeat
of an earlier test's.
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_central.protocol import logs


@pytest.fixture(autouse=True)
def fresh_problem_log(monkeypatch: pytest.MonkeyPatch) -> logs.ProblemLog:
    """A new, empty `ProblemLog` for the test (returned for tests that look into it)."""
    problems = logs.ProblemLog()
    monkeypatch.setattr(logs, "_problems", problems)
    return problems
