"""Shared fixtures of the protocol tests: a real central system on 127.0.0.1 and clients.

- `make_central(**kwargs)`: start a `CentralSystem` on 127.0.0.1, port 0 (any `CentralSystem`
  keyword may be given; `chargers` is a list of `ChargerConfig` or ids to configure). By
  default sessions are real `ChargerSession`s with `MemoryHooks`; pass
  `session_factory=RecordingHandler` for a tiny scripted handler. Stopped at teardown.
- `central`: one started with charger "CP1" (no password) and `RecordingHandler` sessions.
- `url(central, charge_box_id)`: the ws:// (or wss://) URL of a charger.
- `connect_raw(central, ...)`: a `websockets` client (async context manager) for
  handshake checks and malformed frames; `subprotocols=None` offers none.
- `ocpp_client(central, ...)`: an `ocpp.v16.ChargePoint` (the `ocpp` package, an
  independent OCPP-J implementation) connected and reading; async context manager.
- `tls_context()` / `client_tls_context()`: the test certificate for 127.0.0.1 (certs/).
- `RawSocketClient`: a hand-written WebSocket client that never answers pings.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import os
from pathlib import Path
import ssl
import struct
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.connection import Connection
from custom_components.ocpp_central.protocol.errors import CallError, CallErrorCode
from custom_components.ocpp_central.protocol.hooks import MemoryHooks
from custom_components.ocpp_central.protocol.schemas import Schemas, load_schemas
from custom_components.ocpp_central.protocol.server import CentralSystem

CERTS = Path(__file__).parent / "certs"
HOST = "127.0.0.1"
NOW = "2026-11-21T10:00:00Z"


def tls_context() -> ssl.SSLContext:
    """Server side TLS with the committed self-signed certificate for 127.0.0.1."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERTS / "server.crt", CERTS / "server.key")
    return context


def client_tls_context() -> ssl.SSLContext:
    """Client side TLS trusting only the test certificate."""
    return ssl.create_default_context(cafile=str(CERTS / "server.crt"))


def basic_auth(user: str, password: str) -> dict[str, str]:
    """The Authorization header of HTTP Basic authentication."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class RecordingHandler:
    """A minimal session: records what it gets, answers from `answers` or a default.

    `answers[action]` is a payload or a callable `(payload) -> payload` (which may raise
    CallError); unlisted charger-to-central actions get a valid minimal answer, other
    actions NotSupported. `scheduled` callables are passed to `after_reply` while
    answering. Tests reach it via `central.sessions[charge_box_id]`.
    """

    DEFAULTS: dict[str, dict[str, Any]] = {  # noqa: RUF012 - read-only table
        "BootNotification": {"status": "Accepted", "currentTime": NOW, "interval": 300},
        "Heartbeat": {"currentTime": NOW},
        "StatusNotification": {},
        "MeterValues": {},
        "Authorize": {"idTagInfo": {"status": "Accepted"}},
        "DataTransfer": {"status": "Accepted"},
    }

    def __init__(self, config: ChargerConfig, hooks: object = None) -> None:
        self.config = config
        self.hooks = hooks
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, Any] = {}
        self.scheduled: list[Callable[[], object]] = []
        self.connection: Connection | None = None
        self.events: list[str] = []
        self.connected = asyncio.Event()

    def update_config(self, config: ChargerConfig) -> None:
        self.config = config
        self.events.append("update_config")

    def connection_made(self, connection: Connection) -> None:
        self.connection = connection
        self.events.append("made")
        self.connected.set()

    def connection_lost(self) -> None:
        self.connection = None
        self.events.append("lost")
        self.connected.clear()

    def handle_call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((action, payload))
        assert self.connection is not None
        for fn in self.scheduled:
            self.connection.after_reply(fn)
        self.scheduled = []
        answer = self.answers.get(action, self.DEFAULTS.get(action))
        if answer is None:
            raise CallError(CallErrorCode.NOT_SUPPORTED, f"{action} not supported")
        result: dict[str, Any] = answer(payload) if callable(answer) else answer
        return result


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """Protocol tests talk over 127.0.0.1 (the Home Assistant test plugin blocks sockets)."""


@pytest.fixture(scope="session")
def schemas() -> Schemas:
    """The compiled OCPP 1.6 schemas (compiled once per test run)."""
    return load_schemas()


type CentralFactory = Callable[..., Awaitable[CentralSystem]]


@pytest.fixture
async def make_central(schemas: Schemas) -> AsyncIterator[CentralFactory]:
    """Start central systems on 127.0.0.1:0; every one is stopped at teardown."""
    started: list[CentralSystem] = []

    async def factory(
        chargers: list[ChargerConfig | str] = ["CP1"],  # noqa: B006 - never mutated
        **kwargs: Any,
    ) -> CentralSystem:
        kwargs.setdefault("hooks", MemoryHooks())
        central = CentralSystem(host=HOST, port=0, **kwargs)
        for charger in chargers:
            config = ChargerConfig(charge_box_id=charger) if isinstance(charger, str) else charger
            central.set_charger(config)
        await central.start()
        started.append(central)
        return central

    yield factory
    for central in started:
        await central.stop()


@pytest.fixture
async def central(make_central: CentralFactory) -> CentralSystem:
    """A started central system knowing charger "CP1", with `RecordingHandler` sessions."""
    return await make_central(session_factory=RecordingHandler)


def url(central: CentralSystem, charge_box_id: str = "CP1", prefix: str = "/ocpp/") -> str:
    """The connection URL of a charger (OCPP-J section 3.1.1)."""
    scheme = "wss" if central.ssl_context is not None else "ws"
    return f"{scheme}://{HOST}:{central.port}{prefix}{charge_box_id}"


def connect_raw(
    central: CentralSystem,
    charge_box_id: str = "CP1",
    *,
    path: str | None = None,
    subprotocols: list[str] | None = ["ocpp1.6"],  # noqa: B006 - never mutated
    **kwargs: Any,
) -> connect:
    """A websockets client connection to `central` (use with `async with`)."""
    target = url(central, charge_box_id) if path is None else url(central, "", prefix=path)
    if central.ssl_context is not None:
        kwargs.setdefault("ssl", client_tls_context())
    return connect(target, subprotocols=subprotocols, open_timeout=5, **kwargs)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def ocpp_client(
    central: CentralSystem,
    charge_box_id: str = "CP1",
    handlers: type | None = None,
    **kwargs: Any,
) -> AsyncIterator[Any]:
    """An `ocpp.v16.ChargePoint` connected to `central` and reading messages.

    `handlers` is a ChargePoint subclass with `@on(...)` handlers for our CALLs.
    """
    from ocpp.v16 import ChargePoint

    cls = handlers or ChargePoint
    async with connect_raw(central, charge_box_id, **kwargs) as websocket:
        client = cls(charge_box_id, websocket, response_timeout=5)
        reader = asyncio.create_task(client.start())
        try:
            yield client
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Poll `condition` until true (bounded by `timeout`)."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - polls state owned by other code
            await asyncio.sleep(0.005)


async def recv_json(websocket: ClientConnection, timeout: float = 5.0) -> Any:  # noqa: ASYNC109
    """Receive one message and parse it."""
    import orjson

    async with asyncio.timeout(timeout):
        return orjson.loads(await websocket.recv())


class RawSocketClient:
    """A bare RFC 6455 client over a TCP stream that never answers pings.

    Enough for keepalive tests: it performs the opening handshake, sends masked text
    frames and reads frames (returning their opcode and payload).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, central: CentralSystem, charge_box_id: str = "CP1") -> RawSocketClient:
        reader, writer = await asyncio.open_connection(HOST, central.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /ocpp/{charge_box_id} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
            ).encode()
        )
        status = await reader.readuntil(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 101"), status
        return cls(reader, writer)

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        else:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.writer.write(header + mask + masked)

    async def read_frame(self) -> tuple[int, bytes]:
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await self.reader.readexactly(length)

    async def read_text(self) -> str:
        """Skip control frames (pings) until a text frame arrives."""
        while True:
            opcode, payload = await self.read_frame()
            if opcode == 0x1:
                return payload.decode()
            if opcode == 0x8:
                raise ConnectionError(f"closed: {payload!r}")

    def close(self) -> None:
        self.writer.close()
