"""The energy register on disk lags the charger by a bounded time, however busy the charger.

Meter values are written coalesced (`store.METER_SAVE_DELAY`), but a change waits at most
that long: a debounce postponed by every new value would write nothing while a charger
keeps sending, and a crash would then lose the whole session's register.
"""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.ocpp_central.const import DOMAIN
from custom_components.ocpp_central.store import METER_SAVE_DELAY

from .conftest import Chargers, ConfigEntryFactory, charger_subentry, setup_entry

# The charger's sample interval: shorter than the bound, as with most chargers.
SAMPLE = METER_SAVE_DELAY * 2 / 3


async def test_meter_progress_is_written_while_values_keep_coming(
    hass: HomeAssistant,
    *,
    hass_storage: dict[str, Any],
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
    freezer: FrozenDateTimeFactory,
) -> None:
    entry = mock_config_entry(
        port=free_port, chargers=[charger_subentry("CP1", meter_interval=0)], id_tags=["TAG1"]
    )
    await setup_entry(hass, entry)
    cp = await chargers.connect(free_port, "CP1", energy_wh=1_000.0)
    tx_id = await cp.start_transaction(1, "TAG1", authorize=False)
    await hass.async_block_till_done()

    def on_disk() -> dict[str, Any]:
        data: dict[str, Any] = hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]
        return data["chargers"]["CP1"]

    sent: list[float] = []
    for _ in range(4):  # 4 samples, 20 s apart: 80 s of charging
        chargers.clock.advance(SAMPLE)
        await cp.send_meter_values(1)
        sent.append(entry.runtime_data.central.sessions["CP1"].transactions[tx_id].meter_last)
        freezer.tick(SAMPLE)
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
    # The first unsaved value came 60 s ago: the write after it, at most 30 s later, has
    # the values up to then on disk (a debounce would still be waiting).
    saved = on_disk()
    assert saved["energy"]["1"]["value"] >= sent[1]
    (transaction,) = saved["transactions"]
    assert transaction["meter_last"] >= sent[1]
