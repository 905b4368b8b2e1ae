"""The local authorisation list is reconciled with the charger, not assumed.

OCPP 1.6 sections 5.10 (GetLocalListVersion: 0 empty, -1 not supported) and 5.15
(SendLocalList; after a refused differential update, the full list). After every
accepted boot the version the charger holds is compared with the one we believe it
holds; a refusal shows as a repair issue. The charger is the `ocpp` package's
ChargePoint keeping a real list, over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from typing import Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action
import pytest
import websockets

from custom_components.ocpp_central.const import DOMAIN
from custom_components.ocpp_central.runtime import OcppRuntime

from .conftest import (
    WAIT,
    ConfigEntryFactory,
    OcppTestCharger,
    cancel_task,
    id_tag_subentry,
    setup_entry,
    wait_until,
)

ISSUE = "local_list_refused_CP1"


class ListCharger(OcppTestCharger):
    """A charger that keeps a local list and its version, spelling its keys its own way."""

    list_version = 0
    refuse_differential: str | None = None  # e.g. a firmware that lost track of its list
    send_list_unsupported = False  # answers SendLocalList with a CallError NotSupported
    local_list: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.local_list = {}
        # Keys are CiString50Type (OCPP 1.6 section 9): any case is the same key.
        del self.configuration["SupportedFeatureProfiles"]
        del self.configuration["LocalAuthListEnabled"]
        self.configuration["supportedfeatureprofiles"] = "Core, localauthlistmanagement"
        self.configuration["LOCALAUTHLISTENABLED"] = "True"

    @on(Action.get_configuration)
    async def on_get_configuration(self, key: list[str] | None = None) -> Any:
        # Answer requested keys case-insensitively, as a charger must.
        by_fold = {k.casefold(): k for k in self.configuration}
        keys = [by_fold.get(k.casefold(), k) for k in key] if key else list(self.configuration)
        known = [k for k in keys if k in self.configuration]
        return await self._answer(
            "GetConfiguration",
            {"key": key},
            call_result.GetConfiguration(
                configuration_key=[
                    {"key": k, "readonly": False, "value": self.configuration[k]} for k in known
                ],
                unknown_key=[k for k in keys if k not in self.configuration] or None,
            ),
        )

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self) -> Any:
        return await self._answer(
            "GetLocalListVersion",
            {},
            call_result.GetLocalListVersion(list_version=self.list_version),
        )

    @on(Action.send_local_list)
    async def on_send_local_list(
        self, list_version: int, update_type: str, local_authorization_list: Any = ()
    ) -> Any:
        if self.send_list_unsupported:
            raise NotSupportedError("no local list here")
        status = self.status("SendLocalList")
        if update_type == "Differential" and list_version <= self.list_version:
            status = "VersionMismatch"
        if update_type == "Differential" and self.refuse_differential is not None:
            status = self.refuse_differential
        if status == "Accepted":
            if update_type == "Full":
                self.local_list = {}
            for item in local_authorization_list or ():
                if "id_tag_info" in item:
                    self.local_list[item["id_tag"]] = item["id_tag_info"]
                else:
                    self.local_list.pop(item["id_tag"], None)
            self.list_version = list_version
        return await self._answer(
            "SendLocalList",
            {"list_version": list_version, "update_type": update_type},
            call_result.SendLocalList(status=status),
        )


type ListChargerFactory = Callable[[int], Awaitable[ListCharger]]


@pytest.fixture
async def list_charger() -> AsyncIterator[ListChargerFactory]:
    """Connect and boot ListChargers (each call a new connection); closed at the end."""
    stack = contextlib.AsyncExitStack()

    async def connect(port: int, cp: ListCharger | None = None) -> ListCharger:
        ws = await stack.enter_async_context(
            websockets.connect(
                f"ws://127.0.0.1:{port}/ocpp/CP1",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                open_timeout=WAIT,
            )
        )
        if cp is None:
            cp = ListCharger("CP1", ws)
        else:  # the same charger (its list and version) on a new connection
            cp._connection = ws
        task = asyncio.get_running_loop().create_task(cp.start())
        stack.push_async_callback(cancel_task, task)
        assert await cp.boot() == "Accepted"
        return cp

    yield connect
    await stack.aclose()


def sends(cp: OcppTestCharger) -> list[tuple[int, str]]:
    return [(p["list_version"], p["update_type"]) for a, p in cp.received if a == "SendLocalList"]


async def start(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, port: int
) -> OcppRuntime:
    entry = mock_config_entry(port=port, chargers=["CP1"], id_tags=["TAG1"])
    runtime = await setup_entry(hass, entry)
    runtime.central.sessions["CP1"].setup_retry.delays = (0.01,)
    return runtime


async def test_full_list_after_boot_then_again_after_a_factory_reset(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    list_charger: ListChargerFactory,
) -> None:
    runtime = await start(hass, mock_config_entry, free_port)
    cp = await list_charger(free_port)
    await wait_until(lambda: getattr(runtime.store.local_list("CP1"), "version", None) == 1)
    assert sends(cp) == [(1, "Full")]
    assert cp.local_list == {"TAG1": {"status": "Accepted"}}
    assert ("GetLocalListVersion", {}) in cp.received

    # Reboot with the list intact: the versions agree, nothing is sent.
    await cp._connection.close()
    await wait_until(lambda: not runtime.central.sessions["CP1"].state.connected)
    cp.received.clear()
    cp = await list_charger(free_port, cp)
    await cp.wait_for("GetLocalListVersion")
    await hass.async_block_till_done()

    # Factory reset: the charger's list is empty (version 0); we believed version 1.
    await cp._connection.close()
    await wait_until(lambda: not runtime.central.sessions["CP1"].state.connected)
    cp.local_list, cp.list_version = {}, 0
    cp.received.clear()
    cp = await list_charger(free_port, cp)
    await cp.wait_for("SendLocalList")
    assert sends(cp) == [(2, "Full")]
    await wait_until(lambda: getattr(runtime.store.local_list("CP1"), "version", None) == 2)
    assert cp.local_list == {"TAG1": {"status": "Accepted"}}


async def test_version_mismatch_falls_back_to_full(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    list_charger: ListChargerFactory,
) -> None:
    runtime = await start(hass, mock_config_entry, free_port)
    cp = await list_charger(free_port)
    await wait_until(lambda: getattr(runtime.store.local_list("CP1"), "version", None) == 1)
    cp.refuse_differential = "VersionMismatch"
    cp.received.clear()
    entry = runtime.entry
    hass.config_entries.async_add_subentry(entry, ConfigSubentry(**id_tag_subentry("TAG2")))
    await hass.async_block_till_done()
    await wait_until(lambda: len(sends(cp)) == 2)
    # Section 5.15: after a refused differential update, the full list.
    assert sends(cp) == [(2, "Differential"), (2, "Full")]
    assert set(cp.local_list) == {"TAG1", "TAG2"}
    await wait_until(lambda: getattr(runtime.store.local_list("CP1"), "version", None) == 2)
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE) is None


async def test_refusal_shows_a_repair_issue_until_accepted(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    list_charger: ListChargerFactory,
) -> None:
    runtime = await start(hass, mock_config_entry, free_port)
    connecting = asyncio.get_running_loop().create_task(list_charger(free_port))
    cp = await connecting
    cp.statuses["SendLocalList"] = "Failed"  # e.g. the list is too long for it
    await cp._connection.close()
    await wait_until(lambda: not runtime.central.sessions["CP1"].state.connected)
    runtime.store.forget_local_list("CP1")
    cp.received.clear()
    cp = await list_charger(free_port, cp)
    registry = ir.async_get(hass)
    await wait_until(lambda: registry.async_get_issue(DOMAIN, ISSUE) is not None)
    issue = registry.async_get_issue(DOMAIN, ISSUE)
    assert issue is not None
    assert issue.translation_key == "local_list_refused"
    assert issue.translation_placeholders == {"charge_box_id": "CP1", "status": "Failed"}
    assert runtime.store.local_list("CP1") is None  # unknown: the next sync is Full

    # The charger accepts on its next boot: the issue goes away.
    cp.statuses["SendLocalList"] = "Accepted"
    await cp._connection.close()
    await wait_until(lambda: not runtime.central.sessions["CP1"].state.connected)
    cp = await list_charger(free_port, cp)
    await wait_until(lambda: registry.async_get_issue(DOMAIN, ISSUE) is None)
    assert runtime.store.local_list("CP1") is not None


async def test_charger_without_list_support_is_shown(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    list_charger: ListChargerFactory,
) -> None:
    runtime = await start(hass, mock_config_entry, free_port)
    cp = await list_charger(free_port)
    await wait_until(lambda: runtime.store.local_list("CP1") is not None)
    await cp._connection.close()
    await wait_until(lambda: not runtime.central.sessions["CP1"].state.connected)
    cp.list_version = -1  # section 5.10: no local list support after all
    cp.received.clear()
    cp = await list_charger(free_port, cp)
    registry = ir.async_get(hass)
    await wait_until(lambda: registry.async_get_issue(DOMAIN, ISSUE) is not None)
    issue = registry.async_get_issue(DOMAIN, ISSUE)
    assert issue is not None
    assert issue.translation_placeholders == {"charge_box_id": "CP1", "status": "NotSupported"}
    assert sends(cp) == []


async def test_get_local_list_version_action(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    list_charger: ListChargerFactory,
) -> None:
    runtime = await start(hass, mock_config_entry, free_port)
    cp = await list_charger(free_port)
    await wait_until(lambda: runtime.store.local_list("CP1") is not None)
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, "CP1"), runtime.entry.entry_id
    )
    assert device is not None
    response = await hass.services.async_call(
        DOMAIN,
        "get_local_list_version",
        {"device_id": device.id},
        blocking=True,
        return_response=True,
    )
    assert response == {"list_version": 1}
    assert cp.list_version == 1


async def test_disabled_list_is_left_alone(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    list_charger: ListChargerFactory,
) -> None:
    runtime = await start(hass, mock_config_entry, free_port)
    cp = await list_charger(free_port)
    await wait_until(lambda: runtime.store.local_list("CP1") is not None)
    await cp._connection.close()
    await wait_until(lambda: not runtime.central.sessions["CP1"].state.connected)
    # Switched off on the charger (section 9.2, LocalAuthListEnabled; "False" in any case).
    runtime.central.sessions["CP1"].state.configuration.clear()
    cp.configuration["LOCALAUTHLISTENABLED"] = "FALSE"
    cp.local_list, cp.list_version = {}, 0
    cp.received.clear()
    cp = await list_charger(free_port, cp)
    await cp.wait_for("GetConfiguration")
    await wait_until(lambda: runtime.central.sessions["CP1"].state.ready)
    await hass.async_block_till_done()
    # The check after the boot (looked up each time: a later sync is a new task).
    running = runtime.running("CP1")
    assert running is not None
    await wait_until(lambda: running.sync_task is not None and running.sync_task.done())
    assert [a for a, _ in cp.received if a in {"GetLocalListVersion", "SendLocalList"}] == []


async def test_send_local_list_not_supported_is_shown(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    list_charger: ListChargerFactory,
) -> None:
    runtime = await start(hass, mock_config_entry, free_port)
    cp = await list_charger(free_port)
    await wait_until(lambda: runtime.store.local_list("CP1") is not None)
    await cp._connection.close()
    await wait_until(lambda: not runtime.central.sessions["CP1"].state.connected)
    cp.send_list_unsupported = True
    cp.local_list, cp.list_version = {}, 0
    cp = await list_charger(free_port, cp)
    registry = ir.async_get(hass)
    await wait_until(lambda: registry.async_get_issue(DOMAIN, ISSUE) is not None)
    issue = registry.async_get_issue(DOMAIN, ISSUE)
    assert issue is not None
    assert issue.translation_placeholders == {"charge_box_id": "CP1", "status": "NotSupported"}
    assert runtime.store.local_list("CP1") is None
