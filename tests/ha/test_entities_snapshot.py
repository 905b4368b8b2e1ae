"""Snapshots of every entity of a two-connector charger.

The harness (`make_harness`, tests/ha/conftest.py) runs the whole integration over
127.0.0.1: the server, the runtime and its current limiter, with one charger at the
other end of a real websocket.
"""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import snapshot_platform
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from .conftest import HarnessFactory, ts


@pytest.mark.parametrize(
    "platform",
    [
        Platform.BINARY_SENSOR,
        Platform.BUTTON,
        Platform.EVENT,
        Platform.NUMBER,
        Platform.SENSOR,
        Platform.SWITCH,
    ],
)
@pytest.mark.usefixtures("enable_all_entities")
# The event loop keeps its own clock: the charger talks over a real socket.
@pytest.mark.freeze_time("2025-01-01T10:10:00+00:00", real_asyncio=True)
async def test_entities(
    hass: HomeAssistant,
    make_harness: HarnessFactory,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    """Every entity of a two-connector charger in the middle of a session on connector 1."""
    harness = await make_harness([platform])
    await harness.boot(connectors=2)
    tx = await harness.start(1, "TAG-1", 1000, when=ts(0))
    await harness.status(1, "Charging")
    await harness.meter(
        1,
        {
            "Energy.Active.Import.Register": 2500,
            "Power.Active.Import": 7200,
            "Current.Import@L1": 10.5,
            "Current.Import@L2": 10.2,
            "Current.Import@L3": 10.0,
            "Voltage@L1-N": 230.1,
            "Voltage@L2-N": 229.5,
            "Voltage@L3-N": 231.0,
            "Current.Offered": 16,
            "SoC": 55,
            "Temperature": 31.5,
        },
        when=ts(5),
        transaction_id=tx,
    )
    await harness.meter(0, {"Energy.Active.Import.Register": 12000, "Power.Active.Import": 7300})
    await hass.async_block_till_done()
    await snapshot_platform(
        hass,
        entity_registry,
        snapshot.use_extension(HomeAssistantSnapshotExtension),
        harness.entry.entry_id,
    )
