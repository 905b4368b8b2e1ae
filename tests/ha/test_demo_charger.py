"""The demo charger (`scripts/develop --demo`) presents its tag as often as the README says.

The README promises that the demo charger presents DEMO-TAG "on its own every few minutes",
refused until the tag is added. The `--auto-charge` loop of the simulator's command line runs
here against the whole integration over 127.0.0.1 websockets, on a manual clock that its
sleeps advance: what is checked is simulated time, never the wall clock.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
import itertools
from pathlib import Path
from types import MappingProxyType

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event
import pytest

from custom_components.ocpp_central.config_values import id_tag_unique_id
from custom_components.ocpp_central.const import CONF_ID_TAG, CONF_STATUS, SUBENTRY_ID_TAG
from simulator.__main__ import auto_charge, parse_args

from .conftest import WAIT, Chargers, ConfigEntryFactory, charger_subentry, entity_id, setup_entry

ROOT = Path(__file__).parents[2]
DEMO = "DEMO-1"
TAG = "DEMO-TAG"


class Clockwork:
    """The loop's sleep: lets Home Assistant settle, then moves the manual clock instead."""

    def __init__(self, hass: HomeAssistant, made: Chargers) -> None:
        self.hass = hass
        self.clock = made.clock
        self.start = made.clock.now()
        self.horizon: float = 0.0
        self.reached = asyncio.Event()

    def elapsed(self, when: datetime | None = None) -> float:
        """Simulated seconds since the test started."""
        return ((when or self.clock.now()) - self.start).total_seconds()

    async def run_until(self, seconds: float) -> None:
        """Let the loop run until the clock reaches `seconds` of simulated time."""
        self.horizon = seconds
        self.reached.clear()
        async with asyncio.timeout(WAIT * 6):
            await self.reached.wait()

    async def sleep(self, seconds: float) -> None:
        await self.hass.async_block_till_done()
        while self.elapsed() + seconds >= self.horizon:
            self.reached.set()
            await asyncio.sleep(0.01)  # held until the test lets time run further
        self.clock.advance(seconds)


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_the_readme_promises_a_tag_every_few_minutes() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"presents the tag `{TAG}` on its own every few minutes" in readme
    develop = (ROOT / "scripts" / "develop").read_text(encoding="utf-8").replace("\\\n", " ")
    develop = " ".join(develop.split())
    # Only these options: the tag's pace is the command line's default.
    assert f"--id {DEMO} --connectors 1 --meter-interval 10 --auto-charge {TAG} &" in develop


async def test_demo_charger_presents_its_tag_every_few_minutes(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=[charger_subentry(DEMO, meter_interval=0)])
    await setup_entry(hass, entry)
    charger = await chargers.connect(free_port, DEMO)
    clockwork = Clockwork(hass, chargers)
    # The options scripts/develop --demo starts the charger with.
    args = parse_args(["--id", DEMO, "--meter-interval", "10", "--auto-charge", TAG])
    assert 60 <= args.tag_every <= 300  # "every few minutes"
    assert args.session_minutes * 60 < args.tag_every

    presented: list[tuple[float, str]] = []
    sessions: list[tuple[float, str]] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if new is None or new.attributes.get("event_type") is None:
            return
        seen = presented if event.data["entity_id"] == tag_events else sessions
        moment = (clockwork.elapsed(), new.attributes["event_type"])
        # An accepted tag shows twice at once: Authorize, then StartTransaction's idTagInfo.
        if not seen or seen[-1] != moment:
            seen.append(moment)

    tag_events = entity_id(hass, "event", f"{DEMO}_id_tag")
    session_events = entity_id(hass, "event", f"{DEMO}_1_session")
    unsubscribe = async_track_state_change_event(hass, [tag_events, session_events], record)
    loop = asyncio.create_task(
        auto_charge(
            charger,
            1,
            args.auto_charge,
            tag_every=args.tag_every,
            session_seconds=args.session_minutes * 60,
            sleep=clockwork.sleep,
        )
    )
    try:
        # Unknown: refused at every presentation, one every tag_every seconds.
        await clockwork.run_until(4 * args.tag_every)
        assert [status for _, status in presented] == ["invalid"] * 4
        assert gaps([when for when, _ in presented]) == [args.tag_every] * 3
        assert sessions == []

        # Added as a user would: the next presentation starts a session that ends in time.
        hass.config_entries.async_add_subentry(
            entry,
            ConfigSubentry(
                data=MappingProxyType({CONF_ID_TAG: TAG, CONF_STATUS: "accepted"}),
                subentry_type=SUBENTRY_ID_TAG,
                title=TAG,
                unique_id=id_tag_unique_id(TAG),
            ),
        )
        await hass.async_block_till_done()
        await clockwork.run_until(7 * args.tag_every)
    finally:
        loop.cancel()
        unsubscribe()
        with pytest.raises(asyncio.CancelledError):
            await loop

    times = [when for when, _ in presented]
    assert [status for _, status in presented] == ["invalid"] * 4 + ["accepted"] * 3
    assert gaps(times) == [args.tag_every] * 6
    started = [when for when, kind in sessions if kind == "started"]
    stopped = [when for when, kind in sessions if kind == "stopped"]
    assert started == times[4:]
    assert [end - start for start, end in zip(started, stopped, strict=True)] == [
        args.session_minutes * 60
    ] * 3
