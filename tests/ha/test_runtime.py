"""The running central system: chargers over real websockets, subentry changes, authorisation.

`OcppTestCharger` (the `ocpp` package's ChargePoint, an independent OCPP-J implementation)
and the `charger` fixture are shared with the other Home Assistant runtime tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY, ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import websockets
from websockets.asyncio.client import ClientConnection

from custom_components.ocpp_central.const import (
    CONF_CHARGE_BOX_ID,
    CONF_EXPIRY,
    CONF_HEARTBEAT_INTERVAL,
    CONF_PASSWORD,
    CONF_STATUS,
    CONF_UNKNOWN_CHARGERS,
    CONF_UNKNOWN_TAGS,
    DEFAULT_REMOTE_ID_TAG,
    DOMAIN,
    TAG_STATUS_BLOCKED,
    UNKNOWN_CHARGERS_OFFER,
    UNKNOWN_CHARGERS_REJECT,
    UNKNOWN_TAGS_ACCEPT,
    UNKNOWN_TAGS_REJECT,
)
from custom_components.ocpp_central.runtime import OcppRuntime

from .conftest import ConfigEntryFactory, charger_subentry, id_tag_subentry

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Generous bound for one exchange over loopback; tests never assert on time.
WAIT = 10.0


def ocpp_time(moment: datetime = NOW) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class OcppTestCharger(ChargePoint):  # type: ignore[misc]
    """A charger answering every CSMS command; statuses and silence are set per test."""

    def __init__(self, charge_box_id: str, connection: ClientConnection) -> None:
        super().__init__(charge_box_id, connection, response_timeout=WAIT)
        self.configuration: dict[str, str] = {
            "HeartbeatInterval": "300",
            "MeterValueSampleInterval": "30",
            "NumberOfConnectors": "1",
            "SupportedFeatureProfiles": "Core,LocalAuthListManagement,SmartCharging",
            "LocalAuthListEnabled": "true",
        }
        # Status answered per action (default Accepted); actions never answered.
        self.statuses: dict[str, str] = {}
        self.silent: set[str] = set()
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.received_event = asyncio.Event()

    async def _answer(self, action: str, payload: dict[str, Any], result: Any) -> Any:
        self.received.append((action, payload))
        self.received_event.set()
        if action in self.silent:
            await asyncio.sleep(3600)
        return result

    def status(self, action: str, default: str = "Accepted") -> str:
        return self.statuses.get(action, default)

    async def wait_for(self, action: str) -> dict[str, Any]:
        """The payload of the next-or-already-received CALL `action`."""
        async with asyncio.timeout(WAIT):
            while True:
                for name, payload in self.received:
                    if name == action:
                        return payload
                self.received_event.clear()
                await self.received_event.wait()

    @on(Action.get_configuration)
    async def on_get_configuration(self, key: list[str] | None = None) -> Any:
        keys = key or list(self.configuration)
        known = [k for k in keys if k in self.configuration]
        return await self._answer(
            "GetConfiguration",
            {"key": key},
            call_result.GetConfiguration(
                configuration_key=[
                    {
                        "key": k,
                        "readonly": k == "NumberOfConnectors",
                        "value": self.configuration[k],
                    }
                    for k in known
                ],
                unknown_key=[k for k in keys if k not in self.configuration] or None,
            ),
        )

    @on(Action.change_configuration)
    async def on_change_configuration(self, key: str, value: str) -> Any:
        status = self.status("ChangeConfiguration")
        if status == "Accepted":
            self.configuration[key] = value
        return await self._answer(
            "ChangeConfiguration",
            {"key": key, "value": value},
            call_result.ChangeConfiguration(status=status),
        )

    @on(Action.trigger_message)
    async def on_trigger_message(self, requested_message: str, **kwargs: Any) -> Any:
        return await self._answer(
            "TriggerMessage",
            {"requested_message": requested_message, **kwargs},
            call_result.TriggerMessage(status=self.status("TriggerMessage", "Rejected")),
        )

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> Any:
        return await self._answer(
            "DataTransfer",
            {"vendor_id": vendor_id, **kwargs},
            call_result.DataTransfer(
                status=self.status("DataTransfer"), data=f"echo:{kwargs.get('data')}"
            ),
        )

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: Any) -> Any:
        return await self._answer(
            "SetChargingProfile",
            {"connector_id": connector_id, "cs_charging_profiles": cs_charging_profiles},
            call_result.SetChargingProfile(status=self.status("SetChargingProfile")),
        )

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, **kwargs: Any) -> Any:
        return await self._answer(
            "ClearChargingProfile",
            kwargs,
            call_result.ClearChargingProfile(status=self.status("ClearChargingProfile")),
        )

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(
        self, connector_id: int, duration: int, **kwargs: Any
    ) -> Any:
        status = self.status("GetCompositeSchedule")
        schedule = {
            "duration": duration,
            "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": 16.0}],
        }
        return await self._answer(
            "GetCompositeSchedule",
            {"connector_id": connector_id, "duration": duration, **kwargs},
            call_result.GetCompositeSchedule(
                status=status,
                connector_id=connector_id if status == "Accepted" else None,
                schedule_start=ocpp_time() if status == "Accepted" else None,
                charging_schedule=schedule if status == "Accepted" else None,
            ),
        )

    @on(Action.reserve_now)
    async def on_reserve_now(self, **kwargs: Any) -> Any:
        return await self._answer(
            "ReserveNow", kwargs, call_result.ReserveNow(status=self.status("ReserveNow"))
        )

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id: int) -> Any:
        return await self._answer(
            "CancelReservation",
            {"reservation_id": reservation_id},
            call_result.CancelReservation(status=self.status("CancelReservation")),
        )

    @on(Action.update_firmware)
    async def on_update_firmware(self, **kwargs: Any) -> Any:
        return await self._answer("UpdateFirmware", kwargs, call_result.UpdateFirmware())

    @on(Action.get_diagnostics)
    async def on_get_diagnostics(self, **kwargs: Any) -> Any:
        return await self._answer(
            "GetDiagnostics", kwargs, call_result.GetDiagnostics(file_name="diag.zip")
        )

    @on(Action.clear_cache)
    async def on_clear_cache(self) -> Any:
        return await self._answer(
            "ClearCache", {}, call_result.ClearCache(status=self.status("ClearCache"))
        )

    @on(Action.reset)
    async def on_reset(self, type: str) -> Any:
        return await self._answer(
            "Reset", {"type": type}, call_result.Reset(status=self.status("Reset"))
        )

    @on(Action.remote_start_transaction)
    async def on_remote_start(self, id_tag: str, **kwargs: Any) -> Any:
        return await self._answer(
            "RemoteStartTransaction",
            {"id_tag": id_tag, **kwargs},
            call_result.RemoteStartTransaction(status=self.status("RemoteStartTransaction")),
        )

    @on(Action.unlock_connector)
    async def on_unlock_connector(self, connector_id: int) -> Any:
        return await self._answer(
            "UnlockConnector",
            {"connector_id": connector_id},
            call_result.UnlockConnector(status=self.status("UnlockConnector", "Unlocked")),
        )

    @on(Action.send_local_list)
    async def on_send_local_list(self, **kwargs: Any) -> Any:
        return await self._answer(
            "SendLocalList", kwargs, call_result.SendLocalList(status=self.status("SendLocalList"))
        )

    # --- messages the charger sends ---

    async def boot(self) -> str:
        reply = await self.call(
            call.BootNotification(charge_point_model="Model", charge_point_vendor="Vendor")
        )
        return str(reply.status)

    async def start_transaction(self, id_tag: str, meter_start: int, connector_id: int = 1) -> Any:
        return await self.call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp=ocpp_time(),
            )
        )

    async def meter_values(self, transaction_id: int, wh: int, connector_id: int = 1) -> None:
        await self.call(
            call.MeterValues(
                connector_id=connector_id,
                transaction_id=transaction_id,
                meter_value=[
                    {
                        "timestamp": ocpp_time(NOW + timedelta(minutes=5)),
                        "sampled_value": [
                            {
                                "value": str(wh),
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                            }
                        ],
                    }
                ],
            )
        )

    async def stop_transaction(self, transaction_id: int, meter_stop: int) -> Any:
        return await self.call(
            call.StopTransaction(
                meter_stop=meter_stop,
                timestamp=ocpp_time(NOW + timedelta(hours=1)),
                transaction_id=transaction_id,
            )
        )

    async def authorize(self, id_tag: str) -> dict[str, Any]:
        reply = await self.call(call.Authorize(id_tag=id_tag))
        return dict(reply.id_tag_info)


type ChargerFactory = Callable[..., Awaitable[OcppTestCharger]]


@pytest.fixture
async def charger() -> AsyncIterator[ChargerFactory]:
    """Connect `OcppTestCharger`s to a port; all are closed at the end of the test."""
    stack = contextlib.AsyncExitStack()

    async def connect(
        port: int, charge_box_id: str, *, password: str | None = None, boot: bool = True
    ) -> OcppTestCharger:
        headers = {}
        if password is not None:
            import base64

            token = base64.b64encode(f"{charge_box_id}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        ws = await stack.enter_async_context(
            websockets.connect(
                f"ws://127.0.0.1:{port}/ocpp/{charge_box_id}",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                additional_headers=headers,
                open_timeout=WAIT,
            )
        )
        cp = OcppTestCharger(charge_box_id, ws)
        task = asyncio.get_running_loop().create_task(cp.start())
        stack.push_async_callback(_cancel, task)
        if boot:
            assert await cp.boot() == "Accepted"
        return cp

    yield connect
    await stack.aclose()


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
        await task


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> OcppRuntime:
    """Load `entry`; short command timeouts so a silent charger fails fast."""
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime: OcppRuntime = entry.runtime_data
    runtime.central.response_timeout = 1.0
    return runtime


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll `predicate` (state kept by other tasks; no event to wait on), bounded by WAIT."""
    async with asyncio.timeout(WAIT):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def subentry_of(entry: MockConfigEntry, charge_box_id: str) -> ConfigSubentry:
    return next(
        s for s in entry.subentries.values() if s.data.get(CONF_CHARGE_BOX_ID) == charge_box_id
    )


async def test_subentry_add_change_remove_keeps_other_charger(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1", "CP2"])
    runtime = await setup_entry(hass, entry)
    cp1 = await charger(free_port, "CP1")
    cp2 = await charger(free_port, "CP2")
    await wait_until(lambda: runtime.central.sessions["CP2"].state.connected)
    seen: list[str] = []
    runtime.async_add_charger_listener(lambda sub, session: seen.append(session.charge_box_id))
    assert sorted(seen) == ["CP1", "CP2"]

    # Add: the listener hears of CP3; nothing reloads.
    hass.config_entries.async_add_subentry(entry, ConfigSubentry(**charger_subentry("CP3")))
    await hass.async_block_till_done()
    assert entry.runtime_data is runtime
    assert seen[-1] == "CP3"
    assert "CP3" in runtime.central.sessions

    # Change CP2's heartbeat interval: applied at once, CP1 untouched.
    sub = subentry_of(entry, "CP2")
    hass.config_entries.async_update_subentry(
        entry, sub, data={**sub.data, CONF_HEARTBEAT_INTERVAL: 120}
    )
    await hass.async_block_till_done()
    await wait_until(lambda: cp2.configuration["HeartbeatInterval"] == "120")
    assert runtime.central.sessions["CP2"].config.heartbeat_interval == 120

    # Remove CP2: its connection closes, its device goes; CP1 stays connected.
    device_registry = dr.async_get(hass)
    device_registry.async_get_or_create(
        config_entry_id=entry.entry_id,
        config_subentry_id=sub.subentry_id,
        identifiers={(DOMAIN, "CP2")},
    )
    hass.config_entries.async_remove_subentry(entry, sub.subentry_id)
    await hass.async_block_till_done()
    assert "CP2" not in runtime.central.sessions
    await wait_until(lambda: cp2._connection.state.name == "CLOSED")
    assert device_registry.async_get_device_by_identifier((DOMAIN, "CP2"), entry.entry_id) is None
    assert cp1._connection.state.name == "OPEN"
    assert runtime.central.sessions["CP1"].state.connected
    assert (await cp1.authorize(DEFAULT_REMOTE_ID_TAG))["status"] == "Accepted"
    assert entry.runtime_data is runtime


async def test_password_change_applies_on_next_connect(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(
        port=free_port,
        chargers=[charger_subentry("CP1", password="0123456789abcdef"), "CP2"],
    )
    await setup_entry(hass, entry)
    with pytest.raises(websockets.InvalidStatus):
        await charger(free_port, "CP1", password="wrong-password-123")
    await charger(free_port, "CP1", password="0123456789abcdef")
    cp2 = await charger(free_port, "CP2")

    sub = subentry_of(entry, "CP1")
    hass.config_entries.async_update_subentry(
        entry, sub, data={**sub.data, CONF_PASSWORD: "fedcba9876543210"}
    )
    await hass.async_block_till_done()
    with pytest.raises(websockets.InvalidStatus):
        await charger(free_port, "CP1", password="0123456789abcdef")
    await charger(free_port, "CP1", password="fedcba9876543210")
    assert cp2._connection.state.name == "OPEN"


async def test_authorisation_from_id_tags_and_policy(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    past = (NOW - timedelta(days=1)).isoformat()
    future = datetime(2099, 1, 1, tzinfo=UTC).isoformat()
    entry = mock_config_entry(
        port=free_port,
        chargers=["CP1"],
        id_tags=[
            "GOOD",
            id_tag_subentry("BAD", **{CONF_STATUS: TAG_STATUS_BLOCKED}),
            id_tag_subentry("OLD", **{CONF_EXPIRY: past}),
            id_tag_subentry("LATER", **{CONF_EXPIRY: future}),
        ],
        options={
            CONF_UNKNOWN_CHARGERS: UNKNOWN_CHARGERS_REJECT,
            CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_REJECT,
        },
    )
    await setup_entry(hass, entry)
    cp = await charger(free_port, "CP1")
    assert (await cp.authorize("good"))["status"] == "Accepted"  # case-insensitive
    assert (await cp.authorize("BAD"))["status"] == "Blocked"
    assert (await cp.authorize("OLD"))["status"] == "Expired"
    later = await cp.authorize("LATER")
    assert later["status"] == "Accepted"
    assert later["expiry_date"].startswith("2099-01-01")
    assert (await cp.authorize("NOBODY"))["status"] == "Invalid"
    assert (await cp.authorize(DEFAULT_REMOTE_ID_TAG))["status"] == "Accepted"

    # The option applies at once, without a reload.
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_ACCEPT}
    )
    await hass.async_block_till_done()
    assert (await cp.authorize("NOBODY"))["status"] == "Accepted"


async def test_local_list_full_then_differential(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1"], id_tags=["TAG1"])
    runtime = await setup_entry(hass, entry)
    cp = await charger(free_port, "CP1")
    first = await cp.wait_for("SendLocalList")
    assert first["update_type"] == "Full"
    assert first["list_version"] == 1
    assert first["local_authorization_list"] == [
        {"id_tag": "TAG1", "id_tag_info": {"status": "Accepted"}}
    ]
    await wait_until(lambda: (runtime.store.local_list("CP1") or None) is not None)

    cp.received.clear()
    hass.config_entries.async_add_subentry(entry, ConfigSubentry(**id_tag_subentry("TAG2")))
    await hass.async_block_till_done()
    second = await cp.wait_for("SendLocalList")
    assert second["update_type"] == "Differential"
    assert second["list_version"] == 2
    assert second["local_authorization_list"] == [
        {"id_tag": "TAG2", "id_tag_info": {"status": "Accepted"}}
    ]

    cp.received.clear()
    tag1 = next(s for s in entry.subentries.values() if s.title == "TAG1")
    hass.config_entries.async_remove_subentry(entry, tag1.subentry_id)
    await hass.async_block_till_done()
    third = await cp.wait_for("SendLocalList")
    assert third["update_type"] == "Differential"
    assert third["local_authorization_list"] == [{"id_tag": "TAG1"}]
    await wait_until(lambda: getattr(runtime.store.local_list("CP1"), "version", 0) == 3)


async def test_unknown_charger_offered_once(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, free_port: int
) -> None:
    entry = mock_config_entry(
        port=free_port,
        options={
            CONF_UNKNOWN_CHARGERS: UNKNOWN_CHARGERS_OFFER,
            CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_REJECT,
        },
    )
    await setup_entry(hass, entry)
    for _ in range(2):
        with pytest.raises(websockets.InvalidStatus) as err:
            async with websockets.connect(
                f"ws://127.0.0.1:{free_port}/NEWCP",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            ):
                pass
        assert err.value.response.status_code == 404
    await hass.async_block_till_done()
    flows = [
        f
        for f in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if f["context"]["source"] == SOURCE_INTEGRATION_DISCOVERY
    ]
    assert len(flows) == 1


async def test_unknown_charger_rejected_without_flow(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = mock_config_entry(
        port=free_port,
        options={
            CONF_UNKNOWN_CHARGERS: UNKNOWN_CHARGERS_REJECT,
            CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_REJECT,
        },
    )
    await setup_entry(hass, entry)
    for _ in range(2):
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(
                f"ws://127.0.0.1:{free_port}/NEWCP",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            ):
                pass
    await hass.async_block_till_done()
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []
    assert caplog.text.count("Refused unknown charger NEWCP (unknown") == 1


async def test_refused_interval_raises_and_clears_repair(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1"])
    runtime = await setup_entry(hass, entry)
    cp = await charger(free_port, "CP1")
    await wait_until(lambda: runtime.central.sessions["CP1"].state.connected)
    cp.statuses["ChangeConfiguration"] = "Rejected"
    sub = subentry_of(entry, "CP1")
    hass.config_entries.async_update_subentry(
        entry, sub, data={**sub.data, CONF_HEARTBEAT_INTERVAL: 77}
    )
    issues = ir.async_get(hass)
    issue_id = "charger_rejected_configuration_CP1"
    await wait_until(lambda: issues.async_get_issue(DOMAIN, issue_id) is not None)

    cp.statuses["ChangeConfiguration"] = "Accepted"
    hass.config_entries.async_update_subentry(
        entry, sub, data={**sub.data, CONF_HEARTBEAT_INTERVAL: 78}
    )
    await wait_until(lambda: issues.async_get_issue(DOMAIN, issue_id) is None)
    # The boot's own setup may still send an older interval, accepted now, which clears the
    # issue first: the newest value follows it.
    await wait_until(lambda: cp.configuration["HeartbeatInterval"] == "78")


async def test_connect_and_disconnect_logged_once_each(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An outage is logged once when it starts and once when it ends (log-when-unavailable)."""
    entry = mock_config_entry(port=free_port, chargers=["CP1"])
    await setup_entry(hass, entry)
    state = entry.runtime_data.central.sessions["CP1"].state
    cp1 = await charger(free_port, "CP1")
    await cp1._connection.close()
    await wait_until(lambda: not state.connected)
    await hass.async_block_till_done()
    messages = [r.getMessage() for r in caplog.records if r.name.endswith("ocpp_central.runtime")]
    assert messages.count("Charger CP1 connected") == 1
    assert messages.count("Charger CP1 disconnected") == 1
