"""Transactions across a Home Assistant restart: right transaction, right energy, fresh ids."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .conftest import ChargerFactory, ConfigEntryFactory, setup_entry


async def _restart(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Unload the entry (what stopping Home Assistant does to it) and load it again."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await setup_entry(hass, entry)


async def test_stop_after_restart_closes_right_session(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1"], id_tags=["TAG1"])
    await setup_entry(hass, entry)
    cp = await charger(free_port, "CP1")
    started = await cp.start_transaction("TAG1", meter_start=10_000)
    tx_id = started.transaction_id
    await cp.meter_values(tx_id, 12_500)

    await _restart(hass, entry)
    runtime = entry.runtime_data
    session = runtime.central.sessions["CP1"]
    restored = session.transactions[tx_id]
    assert restored.meter_start == 10_000
    assert restored.meter_last == 12_500  # saved on unload even before the delayed write
    assert session.state.connectors[1].transaction is restored

    # The charger reconnects and sends a queued MeterValues, then its StopTransaction.
    cp = await charger(free_port, "CP1", boot=False)
    await cp.meter_values(tx_id, 13_000)
    assert session.transactions[tx_id].energy == 3_000
    await cp.stop_transaction(tx_id, meter_stop=14_000)
    assert tx_id not in session.transactions
    assert runtime.store.open_transactions("CP1") == []
    assert runtime.store.energy_register("CP1", 1) is not None
    assert runtime.store.energy_register("CP1", 1)[0] == 14_000

    # A new transaction after the restart never reuses an id.
    again = await cp.start_transaction("TAG1", meter_start=14_000)
    assert again.transaction_id > tx_id


async def test_energy_register_restored_before_charger_reconnects(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1"], id_tags=["TAG1"])
    await setup_entry(hass, entry)
    cp = await charger(free_port, "CP1")
    started = await cp.start_transaction("TAG1", meter_start=500)
    await cp.stop_transaction(started.transaction_id, meter_stop=1_500)

    await _restart(hass, entry)
    state = entry.runtime_data.central.sessions["CP1"].state
    assert state.connectors[1].reading("Energy.Active.Import.Register") == 1_500
