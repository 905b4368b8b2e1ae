"""What one message changes is one change to Home Assistant: the states share a context.

Each context Home Assistant creates for a state becomes a reference cycle with the event
first fired with it (`Context.origin_event`), freed only by Python's cycle collector in a
full collection, a pause of the whole process. One MeterValues (OCPP 1.6 section 6.33)
writes energy, session energy, power and current: one context for them all, as a service
call's states share its context; the next message, a new one.
"""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback

from .conftest import HarnessFactory, ts

ENERGY = "Energy.Active.Import.Register"


def _sample(wh: float, watts: float, amps: float) -> dict[str, float]:
    return {ENERGY: wh, "Power.Active.Import": watts, "Current.Import": amps}


async def test_the_states_of_one_message_share_one_context(
    hass: HomeAssistant, make_harness: HarnessFactory
) -> None:
    h = await make_harness([Platform.SENSOR])
    await h.boot(connectors=1)
    tx = await h.start(1, "TAG-1", 10_000, when=ts(0))
    await h.status(1, "Charging")
    await h.meter(1, _sample(10_500, 7_000, 10.0), when=ts(10), transaction_id=tx)
    await hass.async_block_till_done()
    written: list[Event[EventStateChangedData]] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        if not event.data["entity_id"].endswith("session_duration"):  # follows the clock
            written.append(event)

    hass.bus.async_listen("state_changed", record)
    await h.meter(1, _sample(10_600, 7_200, 10.5), when=ts(20), transaction_id=tx)
    await hass.async_block_till_done()
    first = [e for e in written if e.data["new_state"] is not None]
    assert {e.data["entity_id"].rsplit("_", 1)[-1] for e in first} >= {"energy", "power"}
    assert len(first) == 4  # energy, session energy, power, current
    assert len({e.context.id for e in first}) == 1
    assert len({id(e.data["new_state"].context) for e in first}) == 1  # type: ignore[union-attr]
    written.clear()
    await h.meter(1, _sample(10_700, 7_400, 11.0), when=ts(30), transaction_id=tx)
    await hass.async_block_till_done()
    second = [e for e in written if e.data["new_state"] is not None]
    assert len(second) == 4
    assert len({e.context.id for e in second}) == 1
    assert second[0].context.id != first[0].context.id
