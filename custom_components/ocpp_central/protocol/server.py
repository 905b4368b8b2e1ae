"""The central system's WebSocket server: the OCPP-J handshake and one Connection per charger.

The handshake follows OCPP-J 1.6 section 3: the charge point identity is the last path
segment, percent-decoded (3.1.1); the subprotocol is `ocpp1.6` (3.1.2); an unknown
identity gets HTTP 404 (3.2). Security profile 1 is HTTP Basic authentication with the
identity as user name, profile 2 the same over TLS (security whitepaper, section 2).
Each charger has one `ChargerSession`, which outlives its connections: a new connection
of the same charger replaces the old one and the session carries on.
"""

from __future__ import annotations

import asyncio
from base64 import b64decode
import binascii
from collections.abc import Callable, Mapping, Sequence
import hmac
from http import HTTPStatus
import logging
import ssl
from types import MappingProxyType
from typing import TYPE_CHECKING, Final
import unicodedata
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from . import logs
from .config import ChargerConfig
from .connection import (
    CLOSE_NORMAL,
    CLOSE_PROTOCOL_ERROR,
    DEFAULT_RESPONSE_TIMEOUT,
    Connection,
)
from .hooks import SessionHooks
from .rpc import RpcCore
from .schemas import Schemas, Validator, async_load_schemas

if TYPE_CHECKING:
    from .session import ChargerSession

_LOGGER = logging.getLogger(__name__)

SUBPROTOCOL: Final = Subprotocol("ocpp1.6")
# Longest charge point identity accepted (the identity is a CiString48 in later OCPP
# versions; 1.6 sets no limit but 48 covers every charger seen).
MAX_CHARGE_BOX_ID_LENGTH: Final = 48
_AUTHENTICATE: Final = 'Basic realm="OCPP", charset="UTF-8"'

type SessionFactory = Callable[[ChargerConfig, SessionHooks], ChargerSession]


def charge_box_id_from_path(path: str) -> str | None:
    """Return the charge point identity in a request path, or None if it is unacceptable.

    The identity is the last segment (a trailing slash is tolerated), percent-decoded
    as UTF-8 (OCPP-J section 3.1.1); empty, over-long or control characters: None.
    """
    segment = path.partition("?")[0].rstrip("/").rpartition("/")[2]
    try:
        identity = unquote(segment, errors="strict")
    except UnicodeDecodeError:
        return None
    return identity if valid_charge_box_id(identity) else None


def valid_charge_box_id(identity: str) -> bool:
    """Whether `identity` can name a charger: 1 to 48 characters, none a control character.

    OCPP-J section 3.1.1 allows any identity that can be percent-encoded into the URL,
    spaces included (its own example is "RDAM 123"); the configuration uses this too.
    """
    return 0 < len(identity) <= MAX_CHARGE_BOX_ID_LENGTH and not any(
        unicodedata.category(char) == "Cc" for char in identity
    )


def basic_auth_matches(authorization: str | None, user: str, password: str) -> bool:
    """Whether an Authorization header carries HTTP Basic `user`:`password` (RFC 7617).

    Both parts are compared in constant time, so timing tells nothing about the password.
    """
    if authorization is None:
        return False
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        return False
    given_user, colon, given_password = decoded.partition(b":")
    user_ok = hmac.compare_digest(given_user, user.encode())
    password_ok = hmac.compare_digest(given_password, password.encode())
    return bool(colon) and user_ok and password_ok


def _select_subprotocol(
    connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """Pick ocpp1.6; otherwise continue without a subprotocol and decide in the handler.

    websockets would refuse a client offering none with HTTP 400; OCPP-J section 3.2
    wants a refused version answered without the header, then closed.
    """
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


class CentralSystem:
    """The OCPP 1.6J central system: a WebSocket server and one session per charger."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        hooks: SessionHooks,
        ssl_context: ssl.SSLContext | None = None,
        unknown_charger: Callable[[str], bool] | None = None,
        response_timeout: float = DEFAULT_RESPONSE_TIMEOUT,
        ping_interval: float | None = 60.0,
        max_frame_size: int = 65536,
        session_factory: SessionFactory | None = None,
    ) -> None:
        """Configure the server; nothing listens before `start()`.

        `session_factory(config, hooks)` builds a charger's session (default:
        `ChargerSession`); `unknown_charger(charge_box_id)` returning True admits an
        unknown charger with a default configuration (discovery), else HTTP 404.
        """
        self.host = host
        self.hooks = hooks
        self.ssl_context = ssl_context
        self.response_timeout = response_timeout
        self.ping_interval = ping_interval or None
        self.max_frame_size = max_frame_size
        self._requested_port = port
        self._unknown_charger = unknown_charger
        if session_factory is None:
            from .session import ChargerSession

            session_factory = ChargerSession
        self._session_factory = session_factory
        self._configs: dict[str, ChargerConfig] = {}
        self._sessions: dict[str, ChargerSession] = {}
        self._validators: dict[str, Validator] = {}
        self._connections: dict[str, Connection] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._schemas: Schemas | None = None
        self._server: Server | None = None

    @property
    def sessions(self) -> Mapping[str, ChargerSession]:
        """The session of every configured charger, by chargeBoxId (read-only view)."""
        return MappingProxyType(self._sessions)

    @property
    def port(self) -> int:
        """The port listened on (the real one when started with port 0)."""
        if self._server is None:
            return self._requested_port
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Compile the schemas (off the event loop) and listen; OSError if the port is taken."""
        self._schemas = await async_load_schemas()
        for config in self._configs.values():
            self._validators[config.charge_box_id] = self._validator(config)
        self._server = await serve(
            self._serve,
            self.host,
            self._requested_port,
            ssl=self.ssl_context,
            process_request=self._process_request,
            select_subprotocol=_select_subprotocol,
            max_size=self.max_frame_size,
            # Our own keepalive tolerates chargers that never answer pings.
            ping_interval=None,
            ping_timeout=None,
            # permessage-deflate costs CPU and memory per charger for little gain on
            # small JSON messages (OCPP-J section 5.1 allows going without).
            compression=None,
            # Its debug lines show request headers and frames: redacted and cut like ours.
            logger=logs.RedactingLogger(logging.getLogger("websockets.server")),
        )

    async def stop(self) -> None:
        """Close every charger's connection and the server."""
        server, self._server = self._server, None
        if server is not None:
            for connection in list(self._connections.values()):
                connection.detach()
            server.close()
            await server.wait_closed()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def set_charger(self, config: ChargerConfig) -> ChargerSession:
        """Add a charger or update its configuration, touching no other charger.

        A changed password closes that charger's current connection: it was admitted
        with the old one and must authenticate again.
        """
        charge_box_id = config.charge_box_id
        previous = self._configs.get(charge_box_id)
        self._configs[charge_box_id] = config
        validator = self._validators.get(charge_box_id)
        if validator is not None:  # shared with the live connection: applies at once
            validator.lenient = config.lenient
        elif self._schemas is not None:
            self._validators[charge_box_id] = self._validator(config)
        session = self._sessions.get(charge_box_id)
        if session is None:
            session = self._sessions[charge_box_id] = self._session_factory(config, self.hooks)
            return session
        session.update_config(config)
        if previous is not None and previous.password != config.password:
            self._close_soon(charge_box_id, "credentials changed")
        return session

    async def remove_charger(self, charge_box_id: str) -> None:
        """Forget a charger and close its connection."""
        self._configs.pop(charge_box_id, None)
        self._sessions.pop(charge_box_id, None)
        self._validators.pop(charge_box_id, None)
        connection = self._connections.pop(charge_box_id, None)
        if connection is not None:
            await connection.close(CLOSE_NORMAL, "charger removed")

    # -- handshake -----------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Admit a charger by identity and credentials, or answer 400, 401 or 404."""
        charge_box_id = charge_box_id_from_path(request.path)
        if charge_box_id is None:
            return connection.respond(HTTPStatus.BAD_REQUEST, "Invalid charge point identity\n")
        config = self._configs.get(charge_box_id)
        if config is None:
            if self._unknown_charger is None or not self._unknown_charger(charge_box_id):
                # Any id can knock: one line per interval for all of them, with a count.
                logs.problem(
                    _LOGGER,
                    "",
                    "unknown charger",
                    "Refused unknown charger %s",
                    charge_box_id,
                    level=logging.INFO,
                )
                return connection.respond(HTTPStatus.NOT_FOUND, "Unknown charge point\n")
            config = ChargerConfig(charge_box_id=charge_box_id)
            self.set_charger(config)
        if config.password is not None and not basic_auth_matches(
            request.headers.get("Authorization"), charge_box_id, config.password
        ):
            logs.problem(
                _LOGGER,
                charge_box_id,
                "authentication failed",
                "Charger %s failed HTTP Basic authentication",
                charge_box_id,
            )
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
            response.headers["WWW-Authenticate"] = _AUTHENTICATE
            return response
        return None

    async def _serve(self, websocket: ServerConnection) -> None:
        """Serve one admitted charger until it disconnects."""
        request = websocket.request
        assert request is not None  # set by the handshake
        charge_box_id = charge_box_id_from_path(request.path)
        assert charge_box_id is not None  # checked by _process_request
        if websocket.subprotocol is None and request.headers.get_all("Sec-WebSocket-Protocol"):
            # OCPP-J section 3.2: handshake completed without the header, then closed.
            logs.problem(
                _LOGGER,
                charge_box_id,
                "no OCPP version",
                "Charger %s offers no OCPP version we speak",
                charge_box_id,
            )
            await websocket.close(CLOSE_PROTOCOL_ERROR, "ocpp1.6 required")
            return
        session = self._sessions.get(charge_box_id)
        validator = self._validators.get(charge_box_id)
        if session is None or validator is None:  # removed during the handshake
            await websocket.close(CLOSE_NORMAL, "charger removed")
            return
        connection = Connection(
            websocket,
            session,
            RpcCore(validator),
            charge_box_id=charge_box_id,
            response_timeout=self.response_timeout,
            ping_interval=self.ping_interval,
        )
        old = self._connections.get(charge_box_id)
        self._connections[charge_box_id] = connection
        if old is not None:
            logs.problem(
                _LOGGER,
                charge_box_id,
                "reconnected",
                "Charger %s reconnected; closing its previous connection",
                charge_box_id,
                level=logging.INFO,
            )
            old.detach()  # the session is told at once; the old socket closes meanwhile
            self._close_connection_soon(old, "replaced by a new connection")
        try:
            await connection.run()
        finally:
            if self._connections.get(charge_box_id) is connection:
                del self._connections[charge_box_id]

    # -- helpers -------------------------------------------------------------------------

    def _validator(self, config: ChargerConfig) -> Validator:
        assert self._schemas is not None
        return Validator(self._schemas, charge_box_id=config.charge_box_id, lenient=config.lenient)

    def _close_soon(self, charge_box_id: str, reason: str) -> None:
        connection = self._connections.pop(charge_box_id, None)
        if connection is not None:
            connection.detach()
            self._close_connection_soon(connection, reason)

    def _close_connection_soon(self, connection: Connection, reason: str) -> None:
        task = asyncio.get_running_loop().create_task(connection.close(CLOSE_NORMAL, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
