"""Current limits survive restarts on both sides; the charging switch starts within them.

- A Home Assistant restart: the current_limit number shows the limit set before at once,
  and the limit is applied again once the charger is ready.
- A charger reboot (profiles are often lost): the limit is applied again and verified
  with GetCompositeSchedule (OCPP 1.6 section 5.7).
- A charger never limited shows what its composite schedule puts in force, and before
  anything is known the configured maximum: never an empty slider that reads as 0 A.
- RemoteStartTransaction carries a TxProfile with the limit (sections 5.11, 5.16.2), and
  the remote_start action takes one.

The charger is the `ocpp` package's ChargePoint over 127.0.0.1, holding the profiles it
accepted and computing its composite schedule from them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import logging
from typing import Any

from homeassistant.components.number import (
    ATTR_VALUE,
    DOMAIN as NUMBER_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN, SERVICE_TURN_ON
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action
import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import websockets

from custom_components.ocpp_central.const import CONF_MAX_CURRENT, DOMAIN
from custom_components.ocpp_central.runtime import OcppRuntime

from .conftest import (
    WAIT,
    ConfigEntryFactory,
    OcppTestCharger,
    cancel_task,
    charger_subentry,
    ocpp_time,
    setup_entry,
    wait_until,
)

TX_DEFAULT_ID = 1_616_001  # our TxDefaultProfile on connector 1 (smart_charging.profile_id)


class ProfileCharger(OcppTestCharger):
    """A single-connector charger keeping the charging profiles it accepted (by id)."""

    max_amps = 32.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.profiles: dict[int, tuple[int, float]] = {}  # id -> (connector, limit in A)
        self.ignore_profiles = False  # accepts, but its schedule never follows them

    def reboot(self) -> None:
        """A firmware that loses its profiles when it restarts."""
        self.profiles.clear()

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: Any) -> Any:
        period = cs_charging_profiles["charging_schedule"]["charging_schedule_period"][0]
        if not self.ignore_profiles:
            self.profiles[cs_charging_profiles["charging_profile_id"]] = (
                connector_id,
                float(period["limit"]),
            )
        return await self._answer(
            "SetChargingProfile",
            {"connector_id": connector_id, "cs_charging_profiles": cs_charging_profiles},
            call_result.SetChargingProfile(status="Accepted"),
        )

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, **kwargs: Any) -> Any:
        found = self.profiles.pop(kwargs.get("id", -1), None)
        return await self._answer(
            "ClearChargingProfile",
            kwargs,
            call_result.ClearChargingProfile(status="Accepted" if found else "Unknown"),
        )

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(
        self, connector_id: int, duration: int, **kwargs: Any
    ) -> Any:
        limit = min(
            [amps for connector, amps in self.profiles.values() if connector in {0, connector_id}]
            + [self.max_amps]
        )
        return await self._answer(
            "GetCompositeSchedule",
            {"connector_id": connector_id, "duration": duration, **kwargs},
            call_result.GetCompositeSchedule(
                status="Accepted",
                connector_id=connector_id,
                schedule_start=ocpp_time(),
                charging_schedule={
                    "duration": duration,
                    "charging_rate_unit": "A",
                    "charging_schedule_period": [{"start_period": 0, "limit": limit}],
                },
            ),
        )


type ProfileChargerFactory = Callable[..., Awaitable[ProfileCharger]]


@pytest.fixture
async def profile_charger() -> AsyncIterator[ProfileChargerFactory]:
    """Connect and boot ProfileChargers; pass `cp` to bring the same charger back."""
    stack = contextlib.AsyncExitStack()

    async def connect(port: int, cp: ProfileCharger | None = None) -> ProfileCharger:
        ws = await stack.enter_async_context(
            websockets.connect(
                f"ws://127.0.0.1:{port}/ocpp/CP1",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                open_timeout=WAIT,
            )
        )
        if cp is None:
            cp = ProfileCharger("CP1", ws)
        else:
            cp._connection = ws
        task = asyncio.get_running_loop().create_task(cp.start())
        stack.push_async_callback(cancel_task, task)
        assert await cp.boot() == "Accepted"
        return cp

    yield connect
    await stack.aclose()


def limit_entity(hass: HomeAssistant) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("number", DOMAIN, "CP1_1_current_limit")
    assert entity_id is not None
    return entity_id


def shown(hass: HomeAssistant) -> str | None:
    """The number's state (None while the connector, and so the entity, is unknown)."""
    entity_id = er.async_get(hass).async_get_entity_id("number", DOMAIN, "CP1_1_current_limit")
    state = None if entity_id is None else hass.states.get(entity_id)
    return None if state is None else state.state


async def set_limit(hass: HomeAssistant, amps: float) -> None:
    await wait_until(lambda: shown(hass) not in {None, "unavailable"})
    await hass.services.async_call(
        NUMBER_DOMAIN,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: limit_entity(hass), ATTR_VALUE: amps},
        blocking=True,
    )


def sent(cp: OcppTestCharger, action: str) -> list[dict[str, Any]]:
    return [payload for name, payload in cp.received if name == action]


async def disconnect(runtime: OcppRuntime, cp: OcppTestCharger) -> None:
    await cp._connection.close()
    await wait_until(lambda: not runtime.central.sessions["CP1"].state.connected)


async def start(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, port: int
) -> tuple[MockConfigEntry, OcppRuntime]:
    entry = mock_config_entry(
        port=port, chargers=[charger_subentry("CP1", **{CONF_MAX_CURRENT: 32})]
    )
    runtime = await setup_entry(hass, entry)
    runtime.limiters["CP1"].min_interval = 0
    return entry, runtime


async def test_limit_shown_after_a_restart_and_applied_again(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    profile_charger: ProfileChargerFactory,
) -> None:
    entry, runtime = await start(hass, mock_config_entry, free_port)
    cp = await profile_charger(free_port)
    await wait_until(lambda: shown(hass) == "32.0")  # its composite schedule: no limit
    await set_limit(hass, 10)
    assert shown(hass) == "10.0"
    await disconnect(runtime, cp)

    # Home Assistant restarts (the entry is set up again from what was stored).
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    runtime = entry.runtime_data
    runtime.limiters["CP1"].min_interval = 0
    # Known before the charger is back (the number is unavailable while it is away).
    assert runtime.central.sessions["CP1"].state.connectors[1].current_limit == 10.0
    assert shown(hass) == "unavailable"

    # The charger lost its profiles meanwhile: the limit goes to it again, verified.
    cp.reboot()
    cp.received.clear()
    seen: list[str | None] = []
    hass.bus.async_listen(
        "state_changed",
        lambda event: (
            seen.append(event.data["new_state"].state)
            if event.data["entity_id"] == limit_entity(hass)
            else None
        ),
    )
    cp = await profile_charger(free_port, cp)
    await cp.wait_for("GetCompositeSchedule")
    await wait_until(lambda: cp.profiles.get(TX_DEFAULT_ID) == (1, 10.0))
    assert shown(hass) == "10.0"
    assert seen == ["10.0"]  # never "unknown" nor the maximum on the way


async def test_limit_applied_again_after_a_charger_reboot(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    profile_charger: ProfileChargerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _entry, runtime = await start(hass, mock_config_entry, free_port)
    cp = await profile_charger(free_port)
    await wait_until(lambda: shown(hass) == "32.0")
    await set_limit(hass, 12)
    assert cp.profiles[TX_DEFAULT_ID] == (1, 12.0)
    await disconnect(runtime, cp)
    cp.reboot()
    cp.received.clear()
    cp = await profile_charger(free_port, cp)
    await wait_until(lambda: len(sent(cp, "GetCompositeSchedule")) == 1)
    profile = sent(cp, "SetChargingProfile")[0]["cs_charging_profiles"]
    assert profile["charging_profile_purpose"] == "TxDefaultProfile"
    assert profile["charging_schedule"]["charging_schedule_period"][0]["limit"] == 12.0
    assert cp.profiles[TX_DEFAULT_ID] == (1, 12.0)
    assert shown(hass) == "12.0"
    assert runtime.store.limits("CP1") == {1: 12.0}
    assert "puts" not in caplog.text


async def test_never_limited_shows_what_is_in_force(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    profile_charger: ProfileChargerFactory,
) -> None:
    _entry, runtime = await start(hass, mock_config_entry, free_port)
    cp = await profile_charger(free_port)
    # Before anything is read: the configured maximum; then the composite schedule.
    await wait_until(lambda: shown(hass) == "32.0")
    cp.profiles[7] = (0, 13.0)  # the installer's own limit for the whole charger
    cp.received.clear()
    await disconnect(runtime, cp)
    cp = await profile_charger(free_port, cp)
    await wait_until(lambda: shown(hass) == "13.0")
    assert sent(cp, "SetChargingProfile") == []  # we set nothing


async def test_a_profile_the_charger_does_not_follow_is_reported_once(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    profile_charger: ProfileChargerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _entry, runtime = await start(hass, mock_config_entry, free_port)
    cp = await profile_charger(free_port)
    await set_limit(hass, 10)
    cp.ignore_profiles = True
    for _ in range(2):
        await disconnect(runtime, cp)
        cp.reboot()
        cp.received.clear()
        cp = await profile_charger(free_port, cp)
        await cp.wait_for("GetCompositeSchedule")
        await wait_until(lambda: shown(hass) == "32.0")  # the truth, not what we asked
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "in force" in r.getMessage()
    ]
    assert warnings == [
        "Charger CP1 connector 1: 10 A was accepted, but its schedule puts 32 A in force"
    ]


async def test_charging_switch_starts_within_the_limit(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    profile_charger: ProfileChargerFactory,
) -> None:
    await start(hass, mock_config_entry, free_port)
    cp = await profile_charger(free_port)
    await set_limit(hass, 8)
    switch = er.async_get(hass).async_get_entity_id("switch", DOMAIN, "CP1_1_charging")
    assert switch is not None
    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    start_call = sent(cp, "RemoteStartTransaction")[0]
    profile = start_call["charging_profile"]
    assert start_call["connector_id"] == 1
    assert profile["charging_profile_purpose"] == "TxProfile"
    assert profile["charging_schedule"]["charging_schedule_period"][0]["limit"] == 8.0
    assert "transaction_id" not in profile  # the transaction does not exist yet


async def test_charging_switch_without_a_limit_sends_no_profile(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    profile_charger: ProfileChargerFactory,
) -> None:
    await start(hass, mock_config_entry, free_port)
    cp = await profile_charger(free_port)
    await wait_until(lambda: shown(hass) == "32.0")
    switch = er.async_get(hass).async_get_entity_id("switch", DOMAIN, "CP1_1_charging")
    assert switch is not None
    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    assert "charging_profile" not in sent(cp, "RemoteStartTransaction")[0]


TX_PROFILE = {
    "chargingProfileId": 5,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6}],
    },
}


async def test_remote_start_action_with_a_charging_profile(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    profile_charger: ProfileChargerFactory,
) -> None:
    entry, _runtime = await start(hass, mock_config_entry, free_port)
    cp = await profile_charger(free_port)
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, "CP1"), entry.entry_id)
    assert device is not None
    response = await hass.services.async_call(
        DOMAIN,
        "remote_start",
        {"device_id": device.id, "connector_id": 1, "charging_profile": TX_PROFILE},
        blocking=True,
        return_response=True,
    )
    assert response == {"status": "Accepted"}
    profile = sent(cp, "RemoteStartTransaction")[0]["charging_profile"]
    assert profile["charging_profile_id"] == 5
    assert profile["charging_schedule"]["charging_schedule_period"][0]["limit"] == 6

    # Section 5.11: only a TxProfile, and without transactionId.
    for wrong in (
        {**TX_PROFILE, "chargingProfilePurpose": "TxDefaultProfile"},
        {**TX_PROFILE, "transactionId": 3},
    ):
        with pytest.raises(probatio.Invalid):
            await hass.services.async_call(
                DOMAIN,
                "remote_start",
                {"device_id": device.id, "charging_profile": wrong},
                blocking=True,
                return_response=True,
            )


async def test_remote_start_with_a_profile_that_breaks_the_schema(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    profile_charger: ProfileChargerFactory,
) -> None:
    """A profile that is no valid ChargingProfile (section 7.8) is refused with a translated
    error before anything reaches the charger, not with a traceback."""
    from homeassistant.exceptions import HomeAssistantError

    entry, _runtime = await start(hass, mock_config_entry, free_port)
    cp = await profile_charger(free_port)
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, "CP1"), entry.entry_id)
    assert device is not None
    wrong = {**TX_PROFILE, "chargingSchedule": {**TX_PROFILE["chargingSchedule"]}}
    wrong["chargingSchedule"]["chargingRateUnit"] = "X"
    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(
            DOMAIN,
            "remote_start",
            {"device_id": device.id, "connector_id": 1, "charging_profile": wrong},
            blocking=True,
            return_response=True,
        )
    assert raised.value.translation_key == "invalid_message"
    assert sent(cp, "RemoteStartTransaction") == []
