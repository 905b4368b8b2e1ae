"""A call the charger refuses leaves no reference cycle behind.

The CallError (OCPP-J section 4.2.3) becomes an exception set on the call's future; its
traceback holds the frames of the call. If the call's frame still held the future, the
future, the exception, its traceback and every frame's locals would form a cycle that only
Python's cycle collector frees, in a full collection that pauses the whole process.
Through the real server over 127.0.0.1, with the collector off while the calls are made.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import gc

from custom_components.ocpp_central.protocol.errors import CallErrorReceived
from custom_components.ocpp_central.protocol.server import CentralSystem

from .conftest import CentralFactory, connect_raw, wait_for
from .test_memory_held import BOOT, answer_synchronisation, call


@contextlib.contextmanager
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def refusals_alive() -> int:
    """CallErrorReceived exceptions still in memory, garbage not yet collected included."""
    return sum(1 for o in gc.get_objects() if isinstance(o, CallErrorReceived))


async def test_refused_calls_are_freed_without_the_cycle_collector(
    make_central: CentralFactory,
) -> None:
    central: CentralSystem = await make_central()
    with collector_off():
        async with connect_raw(central) as ws:
            assert (await call(ws, "1", "BootNotification", BOOT))[0] == 3
            # The readiness work after a boot: three calls, each refused (NotSupported).
            await answer_synchronisation(ws)
            await call(ws, "2", "Heartbeat", {})
            session = central.sessions["CP1"]
            await wait_for(lambda: session.state.ready)
            assert refusals_alive() == 0
