"""An independent upstream central system for the "Keep your backend" tests.

Built on the `ocpp` package (`ocpp.v16.ChargePoint` on the server side, with
`ocpp.routing.on` handlers) and served by `websockets` on 127.0.0.1: nothing of the
project's own RPC code is on this side. It records every CALL it receives, raw (action,
message id, payload as on the wire), gives transaction ids from its own counter, decides
tags by its own table and checks HTTP Basic credentials (OCPP-J 1.6 section 3, security
whitepaper profile 1).

Also the shared pieces of the tests: the fixtures `backend` (started upstream) and `hub`
(the central system in between), `forwarded(hub, backend, ...)` (a started `UpstreamLink`),
`charger(hub)` (the simulator connected to the hub), `eventually`, `installed_on`,
`record_ids`.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass, field
from http import HTTPStatus
import ssl
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
import orjson
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.hooks import MemoryHooks
from custom_components.ocpp_central.protocol.server import CentralSystem
from custom_components.ocpp_central.protocol.session import ChargerSession
from custom_components.ocpp_central.protocol.upstream import (
    UpstreamConfig,
    UpstreamLink,
    UpstreamMode,
)
from simulator import SimulatedCharger

from .conftest import CentralFactory

HOST = "127.0.0.1"
NOW = "2026-12-01T10:00:00Z"


@dataclass
class Received:
    """A CALL the upstream received: its message id, action and payload as sent."""

    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass
class Backend:
    """The upstream's behaviour and what it saw (shared by its connections)."""

    password: str | None = None
    boot_status: str = "Accepted"
    heartbeat_interval: int = 300
    next_transaction_id: int = 5000
    # Id tag -> status; unknown tags are Accepted.
    tags: dict[str, str] = field(default_factory=dict)
    # Seconds the Authorize answer is held back (an upstream slower than the bound).
    authorize_delay: float = 0.0
    # Seconds each DataTransfer answer is held back, in turn (then none).
    data_transfer_delays: list[float] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    charge_points: dict[str, UpstreamChargePoint] = field(default_factory=dict)
    # Identities that connected (after authentication), in order.
    connections: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    server: Server | None = None
    ssl_context: ssl.SSLContext | None = None
    port: int = 0

    def calls(self, action: str) -> list[dict[str, Any]]:
        """Payloads of every CALL `action` received, in order."""
        return [r.payload for r in self.received if r.action == action]

    def actions(self) -> list[str]:
        """The action of every CALL received, in order."""
        return [r.action for r in self.received]

    @property
    def url(self) -> str:
        """The upstream's address (the identity is appended by the link)."""
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://{HOST}:{self.port}/ocpp"

    async def start(self) -> None:
        """Listen (again, on the same port after a stop)."""
        self.server = await serve(
            self._serve,
            HOST,
            self.port,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            process_request=self._check,
            ssl=self.ssl_context,
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Go away: close every connection and stop listening."""
        server, self.server = self.server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        self.charge_points.clear()

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.password is None:
            return None
        identity = request.path.rstrip("/").rpartition("/")[2]
        token = base64.b64encode(f"{identity}:{self.password}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {token}":
            return connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
        return None

    async def _serve(self, websocket: ServerConnection) -> None:
        assert websocket.request is not None
        identity = websocket.request.path.rstrip("/").rpartition("/")[2]
        charge_point = UpstreamChargePoint(identity, websocket, self)
        self.charge_points[identity] = charge_point
        self.connections.append(identity)
        self.changed.set()
        with contextlib.suppress(Exception):
            await charge_point.start()

    async def wait(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Until `condition()` holds (bounded)."""
        await eventually(condition, timeout)


class UpstreamChargePoint(ChargePoint):  # type: ignore[misc]
    """The upstream's side of one charger's connection (the `ocpp` package's routing)."""

    def __init__(self, identity: str, websocket: ServerConnection, backend: Backend) -> None:
        super().__init__(identity, websocket, response_timeout=5)
        self.backend = backend

    async def route_message(self, raw_msg: str | bytes) -> None:
        message = orjson.loads(raw_msg)
        if message[0] == 2:
            self.backend.received.append(Received(message[1], message[2], message[3]))
            self.backend.changed.set()
        await super().route_message(raw_msg)

    @on(Action.boot_notification)
    def on_boot(self, **_: Any) -> Any:
        return call_result.BootNotification(
            current_time=NOW,
            interval=self.backend.heartbeat_interval,
            status=self.backend.boot_status,
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time=NOW)

    @on(Action.status_notification)
    def on_status(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> Any:
        return call_result.MeterValues()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str, **_: Any) -> Any:
        if self.backend.authorize_delay:
            await asyncio.sleep(self.backend.authorize_delay)
        return call_result.Authorize(id_tag_info={"status": self._status(id_tag)})

    @on(Action.start_transaction)
    def on_start(self, id_tag: str, **_: Any) -> Any:
        transaction_id = self.backend.next_transaction_id
        self.backend.next_transaction_id += 1
        return call_result.StartTransaction(
            transaction_id=transaction_id, id_tag_info={"status": self._status(id_tag)}
        )

    @on(Action.stop_transaction)
    def on_stop(self, id_tag: str | None = None, **_: Any) -> Any:
        if id_tag is None:
            return call_result.StopTransaction()
        return call_result.StopTransaction(id_tag_info={"status": self._status(id_tag)})

    @on(Action.data_transfer)
    async def on_data_transfer(self, **_: Any) -> Any:
        if self.backend.data_transfer_delays:
            await asyncio.sleep(self.backend.data_transfer_delays.pop(0))
        return call_result.DataTransfer(status="Accepted")

    def _status(self, id_tag: str) -> str:
        return self.backend.tags.get(id_tag, "Accepted")


CHARGER = "CP-UP"


async def eventually(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait (bounded) until `predicate()` holds."""
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - state changes in other tasks
            await asyncio.sleep(0.01)


@pytest.fixture(name="backend")
async def backend_fixture() -> AsyncIterator[Backend]:
    """A started upstream central system."""
    upstream = Backend()
    await upstream.start()
    yield upstream
    await upstream.stop()


@pytest.fixture(name="hub")
async def hub_fixture(make_central: CentralFactory) -> CentralSystem:
    """The central system in between (real sessions, in-memory hooks)."""
    return await make_central(
        [ChargerConfig(charge_box_id=CHARGER, meter_interval=0)],
        hooks=MemoryHooks(tags={"LOCALONLY": {"status": "Accepted"}}),
        ping_interval=None,
    )


@contextlib.asynccontextmanager
async def forwarded(
    hub: CentralSystem, backend: Backend, **options: Any
) -> AsyncIterator[UpstreamLink]:
    """An `UpstreamLink` for the charger, started; stopped at the end."""
    mode = options.pop("mode", UpstreamMode.FULL)
    password = options.pop("password", None)
    options.setdefault("min_backoff", 0.05)
    options.setdefault("max_backoff", 0.2)
    session = hub.sessions[CHARGER]
    assert isinstance(session, ChargerSession)
    link = UpstreamLink(
        UpstreamConfig(url=backend.url, charge_box_id=CHARGER, password=password, mode=mode),
        session,
        **options,
    )
    link.start()
    try:
        yield link
    finally:
        await link.stop()


@contextlib.asynccontextmanager
async def charger(hub: CentralSystem, **options: Any) -> AsyncIterator[SimulatedCharger]:
    sim = SimulatedCharger(f"ws://{HOST}:{hub.port}", CHARGER, **options)
    async with sim:
        yield sim


def installed_on(sim: SimulatedCharger, connector_id: int) -> list[Any]:
    """The profiles installed on a connector of the simulated charger."""
    return [p for p in sim.profiles.profiles if p.connector_id == connector_id]


def record_ids(sim: SimulatedCharger) -> list[str]:
    """Start recording the message id of every CALL the charger receives."""
    ids: list[str] = []
    link = sim._link
    assert link is not None
    original = link.route_message

    async def recording(raw: str | bytes) -> None:
        message = orjson.loads(raw)
        if message[0] == 2:
            ids.append(message[1])
        await original(raw)

    link.route_message = recording
    return ids
