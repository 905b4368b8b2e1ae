"""Tests of the persistent store: transaction ids, open transactions, energy, local lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import UnsupportedStorageVersionError
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.ocpp_central.const import DOMAIN
from custom_components.ocpp_central.protocol.register import EnergyRegister
from custom_components.ocpp_central.protocol.state import Transaction
from custom_components.ocpp_central.store import (
    METER_SAVE_DELAY,
    STORAGE_VERSION,
    TRANSACTION_ID_BLOCK,
    OcppStore,
)

ENTRY_ID = "entry1"
KEY = f"{DOMAIN}.{ENTRY_ID}"
START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _tx(
    transaction_id: int, *, connector_id: int = 1, meter_last: float | None = None
) -> Transaction:
    return Transaction(
        transaction_id=transaction_id,
        connector_id=connector_id,
        id_tag="TAG1",
        meter_start=1000.0,
        start_time=START,
        meter_last=meter_last,
    )


async def _fresh(hass: HomeAssistant) -> OcppStore:
    """Load a new store object from what is on (mocked) disk: a restart."""
    store = OcppStore(hass, ENTRY_ID)
    await store.async_load()
    return store


async def test_ids_start_at_one_and_increase(hass: HomeAssistant) -> None:
    store = await _fresh(hass)
    assert [store.next_transaction_id() for _ in range(3)] == [1, 2, 3]


async def test_ids_never_reused_after_crash(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """Ids handed out but never saved with a transaction are still never reused."""
    store = await _fresh(hass)
    # The first block is on disk before any id is handed out.
    assert hass_storage[KEY]["data"]["transaction_id_reserved"] == 1 + TRANSACTION_ID_BLOCK
    handed = [store.next_transaction_id() for _ in range(5)]
    # "Crash": nothing else written; the next run starts above the reserved block.
    again = await _fresh(hass)
    assert again.next_transaction_id() > max(handed)
    assert again.next_transaction_id() >= 1 + TRANSACTION_ID_BLOCK


async def test_reservation_extends_before_block_runs_out(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    store = await _fresh(hass)
    handed = [store.next_transaction_id() for _ in range(TRANSACTION_ID_BLOCK * 2)]
    await hass.async_block_till_done()
    assert hass_storage[KEY]["data"]["transaction_id_reserved"] > max(handed)
    again = await _fresh(hass)
    assert again.next_transaction_id() > max(handed)


async def test_open_transaction_survives_restart(hass: HomeAssistant) -> None:
    store = await _fresh(hass)
    tx = _tx(store.next_transaction_id())
    store.transaction_started("CB1", tx)
    await hass.async_block_till_done()

    again = await _fresh(hass)
    (restored,) = again.open_transactions("CB1")
    assert restored == tx
    assert again.open_transactions("CB2") == []


async def test_meter_updates_saved_after_delay(
    hass: HomeAssistant, hass_storage: dict[str, Any], freezer: FrozenDateTimeFactory
) -> None:
    store = await _fresh(hass)
    tx = _tx(store.next_transaction_id())
    store.transaction_started("CB1", tx)
    await hass.async_block_till_done()
    tx.meter_last = 2500.0
    tx.last_update = START + timedelta(minutes=1)
    store.transaction_updated("CB1", tx)
    await hass.async_block_till_done()
    saved = hass_storage[KEY]["data"]["chargers"]["CB1"]["transactions"][0]
    assert saved["meter_last"] is None  # coalesced, not yet written

    freezer.tick(timedelta(seconds=METER_SAVE_DELAY + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    saved = hass_storage[KEY]["data"]["chargers"]["CB1"]["transactions"][0]
    assert saved["meter_last"] == 2500.0

    again = await _fresh(hass)
    (restored,) = again.open_transactions("CB1")
    assert restored.energy == 1500.0


async def test_stop_forgets_transaction_and_keeps_register(hass: HomeAssistant) -> None:
    store = await _fresh(hass)
    tx = _tx(store.next_transaction_id(), connector_id=2)
    store.transaction_started("CB1", tx)
    tx.meter_last = 4000.0
    tx.stop_time = START + timedelta(hours=1)
    # The connector's register is recorded apart (the runtime follows its readings).
    store.record_energy("CB1", 2, EnergyRegister(4000.0, START + timedelta(hours=1)))
    store.transaction_stopped("CB1", tx)
    await hass.async_block_till_done()

    again = await _fresh(hass)
    assert again.open_transactions("CB1") == []
    assert again.energy_register("CB1", 2) == (4000.0, START + timedelta(hours=1), 0.0)
    assert again.energy_registers("CB1") == {2: (4000.0, START + timedelta(hours=1), 0.0)}


async def test_open_transaction_ids_stay_below_next(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """A file whose counter lags behind its open transactions still yields fresh ids."""
    hass_storage[KEY] = {
        "version": STORAGE_VERSION,
        "minor_version": 1,
        "key": KEY,
        "data": {
            "transaction_id_reserved": 3,
            "next_transaction_id": 3,
            "chargers": {
                "CB1": {
                    "transactions": [
                        {
                            "transaction_id": 500,
                            "connector_id": 1,
                            "id_tag": "T",
                            "meter_start": 0,
                            "start_time": START.isoformat(),
                            "meter_last": None,
                            "last_update": None,
                            "reservation_id": None,
                        }
                    ]
                }
            },
        },
    }
    store = await _fresh(hass)
    assert store.next_transaction_id() == 501
    (restored,) = store.open_transactions("CB1")
    assert restored.meter_start == 0.0


async def test_record_energy_outside_transaction(hass: HomeAssistant) -> None:
    store = await _fresh(hass)
    store.record_energy("CB1", 1, EnergyRegister(123.0, START))
    store.record_energy("CB1", 1, EnergyRegister())  # nothing published yet: ignored
    await store.async_save()
    again = await _fresh(hass)
    assert again.energy_register("CB1", 1) == (123.0, START, 0.0)
    assert again.energy_register("CB9", 1) is None


async def test_local_list_version_per_charger(hass: HomeAssistant) -> None:
    store = await _fresh(hass)
    assert store.local_list("CB1") is None
    store.set_local_list("CB1", 3, {"TAG1": {"status": "Accepted"}})
    await hass.async_block_till_done()
    again = await _fresh(hass)
    local = again.local_list("CB1")
    assert local is not None
    assert local.version == 3
    assert local.entries == {"TAG1": {"status": "Accepted"}}
    assert again.local_list("CB2") is None


async def test_remove_charger(hass: HomeAssistant) -> None:
    store = await _fresh(hass)
    store.transaction_started("CB1", _tx(store.next_transaction_id()))
    store.remove_charger("CB1")
    await hass.async_block_till_done()
    again = await _fresh(hass)
    assert again.open_transactions("CB1") == []
    assert "CB1" not in again.summary()["chargers"]


async def test_summary(hass: HomeAssistant) -> None:
    store = await _fresh(hass)
    store.transaction_started("CB1", _tx(store.next_transaction_id()))
    summary = store.summary()
    assert summary["next_transaction_id"] == 2
    assert summary["chargers"]["CB1"]["open_transactions"][0]["transaction_id"] == 1
    assert summary["chargers"]["CB1"]["local_list_version"] is None


async def test_migration_fills_defaults(hass: HomeAssistant, hass_storage: dict[str, Any]) -> None:
    """An older minor version gets the keys it lacks."""
    hass_storage[KEY] = {"version": 1, "minor_version": 0, "key": KEY, "data": {"chargers": {}}}
    store = await _fresh(hass)
    assert store.next_transaction_id() == 1


async def test_newer_major_version_refused(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    hass_storage[KEY] = {"version": 2, "minor_version": 1, "key": KEY, "data": {}}
    with pytest.raises(UnsupportedStorageVersionError):
        await _fresh(hass)


async def test_remove(hass: HomeAssistant, hass_storage: dict[str, Any]) -> None:
    store = await _fresh(hass)
    assert KEY in hass_storage
    await store.async_remove()
    assert KEY not in hass_storage


async def test_a_limit_is_written_at_once(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """A limit the charger accepted survives a crash a second later: it is not held back
    with the meter progress (the limit is sent again after a restart)."""
    store = await _fresh(hass)
    store.set_limit("CP1", 1, 0.0)  # paused
    await hass.async_block_till_done()
    assert hass_storage[KEY]["data"]["chargers"]["CP1"]["limits"] == {"1": 0.0}
