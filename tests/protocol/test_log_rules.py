"""One logging rule (`protocol/logs.py`) for every rate-limited line: its two variants.

"Once until resolved" serves setup calls that failed for good (`protocol.retry`); the
timed summary serves failed HTTP Basic authentication (security whitepaper section 2,
`protocol.server.AuthFailures`; through the real server in test_auth_failures.py).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from custom_components.ocpp_central.protocol import logs
from custom_components.ocpp_central.protocol.retry import SetupRetry

from .conftest import wait_for

LOGGER = logging.getLogger("custom_components.ocpp_central.protocol.test_rules")
SUMMARY = "Charger {0}: {count} failures in the last {seconds:g} s (latest from {1})"


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER.name]


def test_once_until_resolved(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    for attempt in range(3):
        logged = logs.problem(LOGGER, "CP1", "setup", "CP1: failed %s", attempt, interval=logs.ONCE)
        assert logged == (attempt == 0)
    # Another charger and another kind have their own "once".
    assert logs.problem(LOGGER, "CP2", "setup", "CP2: failed", interval=logs.ONCE)
    assert logs.problem(LOGGER, "CP1", "other", "CP1: other", interval=logs.ONCE)
    logs.resolved("CP1", "setup")
    assert logs.problem(LOGGER, "CP1", "setup", "CP1: failed again", interval=logs.ONCE)
    # The repeats were counted, not told: resolved ended them.
    assert lines(caplog) == ["CP1: failed 0", "CP2: failed", "CP1: other", "CP1: failed again"]


def test_setup_retry_reports_through_the_rule(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.ocpp_central.protocol.retry")
    retry = SetupRetry("CP1")
    retry.report("GetConfiguration", "no answer")
    retry.report("GetConfiguration", "no answer")
    retry.resolved("GetConfiguration")
    retry.report("GetConfiguration", "no answer")
    levels = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert levels == [
        (logging.WARNING, "Charger CP1: GetConfiguration failed: no answer"),
        (logging.DEBUG, "CP1: GetConfiguration failed again: no answer"),
        (logging.WARNING, "Charger CP1: GetConfiguration failed: no answer"),
    ]


async def test_summary_tells_the_count_when_the_interval_ends(
    caplog: pytest.LogCaptureFixture, fresh_problem_log: logs.ProblemLog
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        logs.problem(
            LOGGER,
            "CP1",
            "auth",
            "%s failed from %s",
            "CP1",
            address,
            interval=0.05,
            summary=SUMMARY,
        )
    assert lines(caplog) == ["CP1 failed from 10.0.0.1"]  # the others are counted
    await wait_for(lambda: len(lines(caplog)) == 2)
    assert lines(caplog)[1] == "Charger CP1: 2 failures in the last 0.05 s (latest from 10.0.0.3)"
    # A whole interval without a failure ends the window: the next one logs at once.
    await wait_for(lambda: len(fresh_problem_log) == 0)
    logs.problem(
        LOGGER, "CP1", "auth", "first again from %s", "10.0.0.4", interval=0.05, summary=SUMMARY
    )
    assert lines(caplog)[2:] == ["first again from 10.0.0.4"]
    logs.forget()  # what the server does when it stops: no timer left behind


async def test_forget_drops_a_pending_summary(
    caplog: pytest.LogCaptureFixture, fresh_problem_log: logs.ProblemLog
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    for charger in ("CP1", "CP1", "CP2", "CP2"):
        logs.problem(
            LOGGER,
            charger,
            "auth",
            "%s failed from %s",
            charger,
            "x",
            interval=0.05,
            summary=SUMMARY,
        )
    logs.forget("CP1", "auth")
    await wait_for(lambda: len(lines(caplog)) == 3)  # CP2's summary only
    assert lines(caplog)[2] == "Charger CP2: 1 failures in the last 0.05 s (latest from x)"
    logs.forget(kind="auth")
    assert len(fresh_problem_log) == 0
    await asyncio.sleep(0.15)
    assert len(lines(caplog)) == 3


def test_summary_without_an_event_loop_goes_with_the_next_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    problems = logs.ProblemLog(interval=60.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    for second in (0.0, 1.0, 61.0):
        now[0] = second
        problems.log(LOGGER, logging.WARNING, "CP1", "auth", "failed", summary=SUMMARY)
    assert lines(caplog) == ["failed", "failed (1 more in the last 61 s)"]


async def test_evicted_window_takes_its_summary_along(
    caplog: pytest.LogCaptureFixture,
) -> None:
    problems = logs.ProblemLog(capacity=1, interval=0.05)
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    for charger in ("CP1", "CP1", "CP2"):
        problems.log(
            LOGGER,
            logging.WARNING,
            charger,
            "auth",
            "%s failed from %s",
            charger,
            "x",
            summary=SUMMARY,
        )
    await asyncio.sleep(0.15)
    # CP1's count went with its window; CP2 had no repeat to tell.
    assert lines(caplog) == ["CP1 failed from x", "CP2 failed from x"]
