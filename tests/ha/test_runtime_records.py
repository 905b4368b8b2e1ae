"""One record per running charger: session, limiter, solar controller and tasks together.

The runtime finds a charger's record by subentry id or by charge box id; the limiters and
solar controllers the entities read are views of those records, so a charger removed or
renamed leaves nothing behind under either key.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
import pytest

from custom_components.ocpp_central.const import CONF_CHARGE_BOX_ID
from custom_components.ocpp_central.runtime import OcppRuntime

from .conftest import ConfigEntryFactory, setup_entry, subentry_of


async def test_records_by_both_keys_follow_add_rename_and_remove(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, free_port: int
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1", "CP2"])
    runtime: OcppRuntime = await setup_entry(hass, entry)
    cp1 = subentry_of(entry, "CP1")
    running = runtime.running("CP1")
    assert running is not None
    assert running.subentry_id == cp1.subentry_id
    assert runtime.chargers[cp1.subentry_id] is running.session
    assert runtime.central.sessions["CP1"] is running.session
    # The entities' views are the records' parts.
    assert runtime.limiters["CP1"] is running.limiter
    assert runtime.solar["CP1"] is running.solar
    assert running.solar.limiter is running.limiter
    assert set(runtime.limiters) == set(runtime.solar) == {"CP1", "CP2"}
    assert len(runtime.limiters) == len(runtime.solar) == 2
    with pytest.raises(TypeError):
        runtime.limiters["CP3"] = running.limiter  # type: ignore[index]

    # A new charge box id for the subentry: the old record goes, a new one comes.
    hass.config_entries.async_update_subentry(
        entry, cp1, data={**cp1.data, CONF_CHARGE_BOX_ID: "CP9"}
    )
    await hass.async_block_till_done()
    assert runtime.running("CP1") is None
    assert "CP1" not in runtime.limiters
    assert "CP1" not in runtime.solar
    renamed = runtime.running("CP9")
    assert renamed is not None
    assert renamed.subentry_id == cp1.subentry_id
    assert runtime.limiters["CP9"] is renamed.limiter

    hass.config_entries.async_remove_subentry(entry, cp1.subentry_id)
    await hass.async_block_till_done()
    assert runtime.running("CP9") is None
    assert set(runtime.limiters) == set(runtime.solar) == {"CP2"}
    assert list(runtime.chargers) == [subentry_of(entry, "CP2").subentry_id]
