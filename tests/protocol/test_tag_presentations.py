"""One tag event per card presented (OCPP 1.6 sections 4.1 and 4.8), none for a remote start.

A driver presents a card: the charger sends Authorize, then (once plugged in)
StartTransaction with the same idTag. That is one presentation and one "id_tag" event. A
StartTransaction without an Authorize before it (local authorisation, offline) is the
presentation itself. Our own RemoteStartTransaction (section 5.11), and the tag remote
starts from Home Assistant use, present no card at all. Through a real central system on
127.0.0.1 with the `ocpp` package's ChargePoint as the charger.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.hooks import MemoryHooks
from custom_components.ocpp_central.protocol.server import CentralSystem
from custom_components.ocpp_central.protocol.session import MAX_RECENT_TAGS, ChargerSession
from custom_components.ocpp_central.protocol.state import ChargerEvent

from .conftest import CentralFactory, ocpp_client, wait_for

CBID = "CP1"
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def ts(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class Charger(ChargePoint):  # type: ignore[misc]
    """Accepts our RemoteStartTransaction and remembers it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.remote_starts: list[tuple[str, int | None]] = []
        self.remote_start_status = "Accepted"

    @on("RemoteStartTransaction")  # type: ignore[untyped-decorator]
    def on_remote_start(
        self, id_tag: str, connector_id: int | None = None, **_: Any
    ) -> call_result.RemoteStartTransaction:
        self.remote_starts.append((id_tag, connector_id))
        return call_result.RemoteStartTransaction(status=self.remote_start_status)


async def start(
    make_central: CentralFactory,
) -> tuple[CentralSystem, ChargerSession, list[ChargerEvent]]:
    hooks = MemoryHooks({"BLOCKED": {"status": "Blocked"}})
    central = await make_central([ChargerConfig(charge_box_id=CBID)], hooks=hooks)
    session = central.sessions[CBID]
    assert isinstance(session, ChargerSession)
    events: list[ChargerEvent] = []
    session.state.subscribe_events(events.append)
    return central, session, events


async def send(charger: ChargePoint, message: Any) -> Any:
    return await charger.call(message, suppress=False)


async def start_tx(charger: ChargePoint, connector_id: int, id_tag: str, minute: int) -> Any:
    return await send(
        charger,
        call.StartTransaction(
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start=0,
            timestamp=ts(T0 + timedelta(minutes=minute)),
        ),
    )


async def stop_tx(charger: ChargePoint, transaction_id: int, minute: int) -> None:
    await send(
        charger,
        call.StopTransaction(
            meter_stop=100,
            timestamp=ts(T0 + timedelta(minutes=minute)),
            transaction_id=transaction_id,
        ),
    )


def tag_events(events: list[ChargerEvent]) -> list[tuple[int, str, str]]:
    return [(e.connector_id, e.event_type, e.data["id_tag"]) for e in events if e.kind == "id_tag"]


async def test_authorize_then_start_is_one_presentation(make_central: CentralFactory) -> None:
    central, session, events = await start(make_central)
    async with ocpp_client(central, CBID, Charger) as charger:
        await send(charger, call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        await send(charger, call.Authorize(id_tag="CARD"))
        first = await start_tx(charger, 1, "card", 1)  # IdToken is case-insensitive
        assert tag_events(events) == [(0, "accepted", "CARD")]
        await stop_tx(charger, first.transaction_id, 30)

        # No Authorize before it (the charger authorised locally): the start is the presentation.
        second = await start_tx(charger, 1, "CARD", 40)
        assert tag_events(events)[1:] == [(1, "accepted", "CARD")]
        await stop_tx(charger, second.transaction_id, 50)

        # An Authorize long before the start is a presentation of its own, and so is the start.
        session.tag_window = 0.0
        await send(charger, call.Authorize(id_tag="CARD"))
        await asyncio.sleep(0.01)
        await start_tx(charger, 2, "CARD", 60)
    assert tag_events(events)[2:] == [(0, "accepted", "CARD"), (2, "accepted", "CARD")]
    assert [e.event_type for e in events if e.kind == "session"] == [
        "started",
        "stopped",
        "started",
        "stopped",
        "started",
    ]


async def test_start_with_a_new_verdict_is_announced(make_central: CentralFactory) -> None:
    central, _session, events = await start(make_central)
    async with ocpp_client(central, CBID, Charger) as charger:
        await send(charger, call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        await start_tx(charger, 1, "CARD", 0)
        await send(
            charger,
            call.StatusNotification(
                connector_id=1,
                error_code="NoError",
                status="Charging",
                timestamp=ts(T0 + timedelta(minutes=1)),
            ),
        )
        # The same card at connector 2: Authorize says Accepted (section 7.2: ConcurrentTx
        # is for StartTransaction only), the start then says ConcurrentTx: news to announce.
        await send(charger, call.Authorize(id_tag="CARD"))
        refused = await start_tx(charger, 2, "CARD", 2)
        assert refused.id_tag_info["status"] == "ConcurrentTx"
        # A refused card's Authorize and the start the charger makes anyway (offline
        # queue) carry the same verdict: one event.
        await send(charger, call.Authorize(id_tag="BLOCKED"))
        await start_tx(charger, 3, "BLOCKED", 3)
    assert tag_events(events) == [
        (1, "accepted", "CARD"),
        (0, "accepted", "CARD"),
        (2, "concurrent_tx", "CARD"),
        (0, "blocked", "BLOCKED"),
    ]


async def test_remote_starts_present_no_card(make_central: CentralFactory) -> None:
    central, session, events = await start(make_central)
    session.remote_tags.add("homeassistant")
    async with ocpp_client(central, CBID, Charger) as charger:
        await send(charger, call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        # Our RemoteStartTransaction with a driver's tag: the charger authorises it
        # (AuthorizeRemoteTxRequests) and starts; no card was presented.
        assert await session.remote_start("DRIVER", 1) == "Accepted"
        assert charger.remote_starts == [("DRIVER", 1)]
        await send(charger, call.Authorize(id_tag="DRIVER"))
        await start_tx(charger, 1, "DRIVER", 0)
        # The tag of Home Assistant's own remote starts is never a card.
        await send(charger, call.Authorize(id_tag="HomeAssistant"))
        await start_tx(charger, 2, "HomeAssistant", 1)
        await wait_for(lambda: len(events) == 2)
        # The remote start was used up: the same tag presented later is a card again.
        await send(charger, call.Authorize(id_tag="DRIVER"))
    assert tag_events(events) == [(0, "accepted", "DRIVER")]
    assert [(e.kind, e.event_type, e.connector_id) for e in events[:2]] == [
        ("session", "started", 1),
        ("session", "started", 2),
    ]


async def test_a_refused_remote_start_leaves_the_card_a_card(make_central: CentralFactory) -> None:
    central, session, events = await start(make_central)
    async with ocpp_client(central, CBID, Charger) as charger:
        await send(charger, call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        charger.remote_start_status = "Rejected"
        assert await session.remote_start("DRIVER", 1) == "Rejected"
        # The driver then presents the card at the charger: that is a presentation.
        await send(charger, call.Authorize(id_tag="DRIVER"))
        await start_tx(charger, 1, "DRIVER", 0)
    assert tag_events(events) == [(0, "accepted", "DRIVER")]


async def test_tags_remembered_per_charger_are_bounded(make_central: CentralFactory) -> None:
    central, _session, events = await start(make_central)
    async with ocpp_client(central, CBID, Charger) as charger:
        await send(charger, call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        for n in range(MAX_RECENT_TAGS + 1):
            await send(charger, call.Authorize(id_tag=f"CARD{n}"))
        # The oldest was let go to keep the bound: its start is announced on its own; the
        # newest is still remembered.
        await start_tx(charger, 1, "CARD0", 0)
        await start_tx(charger, 2, f"CARD{MAX_RECENT_TAGS}", 0)
    assert tag_events(events)[MAX_RECENT_TAGS + 1 :] == [(1, "accepted", "CARD0")]
