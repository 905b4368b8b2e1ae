"""`TaskSet`: tasks held until they end, failures heard, cancelled together."""

from __future__ import annotations

import asyncio

from custom_components.ocpp_central.protocol.tasks import TaskSet


async def test_tasks_are_held_until_they_end_and_failures_are_heard() -> None:
    failures: list[BaseException] = []
    tasks = TaskSet(failures.append)
    gate = asyncio.Event()

    async def waits() -> None:
        await gate.wait()

    async def fails() -> None:
        await gate.wait()
        raise ValueError("broken")

    tasks.start(waits(), name="waits")
    failing = tasks.start(fails())
    assert len(tasks) == 2
    gate.set()
    await asyncio.gather(failing, return_exceptions=True)
    await asyncio.sleep(0)
    assert len(tasks) == 0
    assert [str(error) for error in failures] == ["broken"]


async def test_cancelled_tasks_are_no_failures() -> None:
    failures: list[BaseException] = []
    tasks = TaskSet(failures.append)
    started = [tasks.start(asyncio.sleep(60)) for _ in range(3)]
    await tasks.cancel_and_wait()
    assert all(task.cancelled() for task in started)
    assert len(tasks) == 0
    assert failures == []
    # Nothing left: cancelling again does nothing.
    assert tasks.cancel() == []
    await tasks.cancel_and_wait()
