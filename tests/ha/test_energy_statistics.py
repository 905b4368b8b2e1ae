"""Energy in Home Assistant's long-term statistics is counted once, whatever happens.

Each test runs real Home Assistant instances with a real recorder on one database file,
the integration's real server on 127.0.0.1 and `simulator.SimulatedCharger` as the
charger, then compiles the statistics of the Energy sensor (state class
`total_increasing`) and compares their sum with the energy the charger really counted.
A lower Energy value makes statistics start a new meter cycle and count the whole
register again; these tests are the situations where that used to happen:

- Home Assistant killed mid-session (no shutdown, no final save: a power cut), started
  again on the same storage and database while the charger charges on;
- the charger rebooting mid-session with its meter restarting lower (not at 0).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
import copy
from datetime import datetime, timedelta
from typing import Any

from homeassistant import loader
from homeassistant.components.recorder import Recorder
from homeassistant.config_entries import ConfigSubentryDataWithId
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import frame
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
    get_start_time,
    statistics_during_period,
)
from pytest_homeassistant_custom_component.typing import RecorderInstanceContextManager

from custom_components.ocpp_central.config_values import central_title
from custom_components.ocpp_central.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_UNKNOWN_CHARGERS,
    CONF_UNKNOWN_TAGS,
    DEFAULT_UNKNOWN_CHARGERS,
    DEFAULT_UNKNOWN_TAGS,
    DOMAIN,
)
from simulator import SimulatedCharger

from .conftest import (
    LOOPBACK,
    Chargers,
    charger_subentry,
    cut_network,
    energy_wh,
    entity_id,
    id_tag_subentry,
    setup_entry,
    state_of,
)

# Statistics need a database that outlives one Home Assistant instance.
pytestmark = pytest.mark.parametrize("persistent_database", [True])

ENERGY = "CP1_1_energy"
# Seconds of charging between two meter samples (the simulated charger's clock).
SAMPLE = 60


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Replace conftest's: these tests start their own instances (see `home_assistant`)."""


@contextlib.asynccontextmanager
async def home_assistant(
    recorder: RecorderInstanceContextManager, port: int
) -> AsyncIterator[tuple[HomeAssistant, MockConfigEntry]]:
    """A Home Assistant with the recorder and our entry (charger CP1, tag TAG1), loaded."""
    async with async_test_home_assistant() as hass, recorder(hass):
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)  # let it load custom_components
        frame.async_setup(hass)  # as Home Assistant's bootstrap does
        entry = MockConfigEntry(
            domain=DOMAIN,
            entry_id="statistics",
            title=central_title(port),
            data={CONF_HOST: LOOPBACK, CONF_PORT: port},
            options={
                CONF_UNKNOWN_CHARGERS: DEFAULT_UNKNOWN_CHARGERS,
                CONF_UNKNOWN_TAGS: DEFAULT_UNKNOWN_TAGS,
            },
            # Fixed ids: the same entry as before the restart, as Home Assistant stores it.
            subentries_data=[
                ConfigSubentryDataWithId(
                    **charger_subentry("CP1", meter_interval=0), subentry_id="charger"
                ),
                ConfigSubentryDataWithId(**id_tag_subentry("TAG1"), subentry_id="tag"),
            ],
        )
        entry.add_to_hass(hass)
        await setup_entry(hass, entry)
        try:
            yield hass, entry
        finally:
            await hass.async_stop()


async def charge(hass: HomeAssistant, made: Chargers, cp: SimulatedCharger, samples: int) -> None:
    """Let the car charge for `samples` meter intervals, one MeterValues each."""
    for _ in range(samples):
        made.clock.advance(SAMPLE)
        await cp.send_meter_values(1)
    await hass.async_block_till_done()


async def counted_wh(hass: HomeAssistant, since: datetime) -> float:
    """Compile the statistics of every 5-minute period since `since`; return their sum in Wh."""
    await async_wait_recording_done(hass)
    energy = entity_id(hass, "sensor", ENERGY)
    period = get_start_time(since)
    while period <= dt_util.utcnow():
        do_adhoc_statistics(hass, start=period)
        await async_wait_recording_done(hass)
        period += timedelta(minutes=5)
    instance: Recorder = get_instance(hass)
    rows = (
        await instance.async_add_executor_job(
            statistics_during_period,
            hass,
            get_start_time(since),
            None,
            {energy},
            "5minute",
            None,
            {"sum"},
        )
    )[energy]
    unit = hass.states.get(energy).attributes["unit_of_measurement"]  # type: ignore[union-attr]
    return float(rows[-1]["sum"]) * {"Wh": 1.0, "kWh": 1000.0}[unit]


def shown_wh(hass: HomeAssistant) -> float:
    return energy_wh(state_of(hass, "sensor", ENERGY))


async def test_home_assistant_killed_mid_session_counts_energy_once(
    async_test_recorder: RecorderInstanceContextManager,
    hass_storage: dict[str, Any],
    free_port: int,
    chargers: Chargers,
) -> None:
    since = dt_util.utcnow()
    cp = chargers.make(free_port, "CP1", energy_wh=1_000.0)
    async with home_assistant(async_test_recorder, free_port) as (hass, killed):
        await cp.connect()
        # A first session: its stop is written at once.
        await cp.start_transaction(1, "TAG1", authorize=False)
        await charge(hass, chargers, cp, 5)
        await cp.stop_transaction(1, unplug=False)
        # A second session charges on for a while, then Home Assistant is killed.
        await cp.start_transaction(1, "TAG1", authorize=False)
        await charge(hass, chargers, cp, 20)
        before_kill = shown_wh(hass)
        await async_wait_recording_done(hass)
        # The kill: what is on disk stays as it is, the charger's connection drops.
        disk = copy.deepcopy(hass_storage)
        cut_network(cp)
        await cp.wait_until(lambda: not cp.connected)
        await killed.runtime_data.central.stop()  # the dead process's port is free again
        # (The instance is stopped on leaving the block only to free its resources; what
        # its shutdown writes is thrown away: the storage goes back to `disk`.)
    hass_storage.clear()
    hass_storage.update(disk)

    async with home_assistant(async_test_recorder, free_port) as (hass, entry):
        # Never below what this entity showed (and the recorder holds) before the kill.
        assert shown_wh(hass) >= before_kill
        entry.runtime_data.central.sessions["CP1"].resync_delay = 0
        await cp.connect()
        await charge(hass, chargers, cp, 5)
        await cp.stop_transaction(1)
        await hass.async_block_till_done()
        last = shown_wh(hass)
        counted = await counted_wh(hass, since)

    # Statistics count what the charger counted since its first value (1000 Wh), once.
    assert last == pytest.approx(cp.connector(1).model.energy_wh, abs=1)
    sample_wh = (last - before_kill) / 5
    assert counted == pytest.approx(last - 1_000, abs=sample_wh)


@pytest.mark.usefixtures("hass_storage")  # storage in memory, fresh for the test
async def test_charger_reboot_with_lower_meter_counts_energy_once(
    async_test_recorder: RecorderInstanceContextManager,
    free_port: int,
    chargers: Chargers,
) -> None:
    since = dt_util.utcnow()
    cp = chargers.make(free_port, "CP1", energy_wh=50_000.0)
    async with home_assistant(async_test_recorder, free_port) as (hass, entry):
        entry.runtime_data.central.sessions["CP1"].resync_delay = 0
        await cp.connect()
        await cp.start_transaction(1, "TAG1", authorize=False)
        await charge(hass, chargers, cp, 10)
        before_reboot = cp.connector(1).model.energy_wh
        # The charger reboots; its meter comes back lower, though not at 0.
        cut_network(cp)
        await cp.wait_until(lambda: not cp.connected)
        cp.connector(1).model.energy_wh = 20_000.0
        cp._accepted = False
        await cp.connect()
        await charge(hass, chargers, cp, 10)
        after_reboot = cp.connector(1).model.energy_wh - 20_000.0
        await cp.stop_transaction(1)
        await hass.async_block_till_done()
        counted = await counted_wh(hass, since)
        # The published register carried on from where it was: it never went back. What
        # the meter counted between its restart and its first sample after it is unknown.
        # One sample, and the register shown in 10 Wh.
        sample_wh = after_reboot / 10
        assert shown_wh(hass) == pytest.approx(before_reboot + after_reboot, abs=sample_wh + 10)
        # And nothing of the finished session is left flowing (no final sample needed).
        assert state_of(hass, "sensor", "CP1_1_power").state == "0.0"

    assert counted == pytest.approx(before_reboot - 50_000 + after_reboot, abs=sample_wh + 10)


async def test_start_never_below_the_last_statistic_when_the_last_state_is_not_a_number(
    async_test_recorder: RecorderInstanceContextManager,
    hass_storage: dict[str, Any],
    free_port: int,
    chargers: Chargers,
) -> None:
    """The recorder's last state may be "unavailable"; its last statistic still holds."""
    since = dt_util.utcnow()
    cp = chargers.make(free_port, "CP1", energy_wh=10_000.0)
    async with home_assistant(async_test_recorder, free_port) as (hass, killed):
        await cp.connect()
        await cp.start_transaction(1, "TAG1", authorize=False)
        await charge(hass, chargers, cp, 10)
        before_kill = shown_wh(hass)
        await counted_wh(hass, since)  # the 5-minute statistics are compiled
        # As Home Assistant records an entity whose integration is not loaded (yet).
        energy = entity_id(hass, "sensor", ENERGY)
        hass.states.async_set(energy, STATE_UNAVAILABLE, {"restored": True})
        await async_wait_recording_done(hass)
        disk = copy.deepcopy(hass_storage)
        cut_network(cp)
        await cp.wait_until(lambda: not cp.connected)
        await killed.runtime_data.central.stop()
    hass_storage.clear()
    hass_storage.update(disk)

    async with home_assistant(async_test_recorder, free_port) as (hass, _):
        state = state_of(hass, "sensor", ENERGY)
        assert state.state not in {STATE_UNKNOWN, STATE_UNAVAILABLE}
        assert energy_wh(state) >= before_kill
