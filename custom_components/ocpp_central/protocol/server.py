"""The central system's WebSocket server: the OCPP-J handshake and one Connection per charger.

The handshake follows OCPP-J 1.6 section 3: the charge point identity is the last path
segment, percent-decoded (3.1.1); the subprotocol is the server's version's, `ocpp1.6`
(3.1.2; the version, its schemas and its session come from `protocol.versions`); an unknown
identity gets HTTP 404 (3.2). Security profile 1 is HTTP Basic authentication with the
identity as user name, profile 2 the same over TLS (security whitepaper, section 2).
A second connection for a charger without a password gets HTTP 409 while the current one
still answers pings: nobody may push a live charger off by claiming its identity.
Each charger has one `ChargerSession`, which outlives its connections: a new connection
of the same charger replaces the old one and the session carries on, without hearing of a
disconnect in between.
"""

from __future__ import annotations

import asyncio
from base64 import b64decode
import binascii
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
import hmac
from http import HTTPStatus
import logging
import ssl
from types import MappingProxyType
from typing import Final
import unicodedata
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from . import logs
from .config import ChargerConfig
from .connection import (
    CLOSE_NORMAL,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TIMEOUT,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    DEFAULT_RESPONSE_TIMEOUT,
    DEFAULT_SILENCE_MARGIN,
    Connection,
    Liveness,
    silence_limit,
)
from .hooks import SessionHooks
from .rpc import RpcCore
from .schemas import Schemas, Validator, async_load_schemas
from .session import ChargerSession
from .versions import OCPP16, OcppVersion, SessionFactory

_LOGGER = logging.getLogger(__name__)

# The subprotocol of the default version.
SUBPROTOCOL: Final = OCPP16.subprotocol
# Longest charge point identity accepted (the identity is a CiString48 in later OCPP
# versions; 1.6 sets no limit but 48 covers every charger seen).
MAX_CHARGE_BOX_ID_LENGTH: Final = 48
_AUTHENTICATE: Final = 'Basic realm="OCPP", charset="UTF-8"'
# Largest message accepted (a DataTransfer with a large vendor payload, a long
# GetConfiguration answer); a larger one closes the connection with 1009 (RFC 6455 7.4.1).
MAX_FRAME_SIZE: Final = 1024 * 1024
# Request headers websockets' debug log must not show.
# How long the current connection of a charger without a password has to answer a ping
# before a newcomer with the same identity takes over (it is refused otherwise).
DEFAULT_TAKEOVER_TIMEOUT: Final = 2.0

__all__ = ["SUBPROTOCOL", "AuthFailures", "CentralSystem", "SessionFactory"]


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


# The kind of `logs.problem` line a failed authentication gives.
_AUTH_FAILED: Final = "HTTP Basic authentication failed"


class AuthFailures:
    """Failed HTTP Basic authentication: a rate-limited log and a slowdown per address.

    The log gets one line at a charger's first failure, then at most one per
    `log_interval` with the number of failures in it (`logs.problem` with a summary), so
    a charger with a wrong password (or somebody guessing) cannot flood it. An address
    that keeps failing waits longer before each 401: `base_delay` doubled with every
    failure, at most `max_delay` (below the handshake's 10 s timeout), forgotten after
    `forget_after` seconds without one.
    At most `max_addresses` addresses are remembered, the least recently failing ones are
    forgotten first. Neither the password nor the Authorization header is ever logged.
    """

    def __init__(
        self,
        *,
        log_interval: float = 60.0,
        base_delay: float = 0.5,
        max_delay: float = 5.0,
        forget_after: float = 900.0,
        max_addresses: int = 256,
    ) -> None:
        """Set the intervals and bounds (the defaults suit a home installation)."""
        self.log_interval = log_interval
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = forget_after
        self.max_addresses = max_addresses
        # address -> (failures, loop time of the latest), least recently failing first.
        self._addresses: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def failed(self, charge_box_id: str, address: str) -> float:
        """Record a failure; return how long to wait before answering it with 401."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        failures, latest = self._addresses.pop(address, (0, now))
        if now - latest > self.forget_after:
            failures = 0
        failures += 1
        self._addresses[address] = (failures, now)
        while len(self._addresses) > self.max_addresses:
            self._addresses.popitem(last=False)
        logs.problem(
            _LOGGER,
            charge_box_id,
            _AUTH_FAILED,
            "Charger %s failed HTTP Basic authentication from %s (a wrong or missing "
            "password; further failures are counted every %g s)",
            charge_box_id,
            address,
            self.log_interval,
            interval=self.log_interval,
            summary="Charger {0}: {count} failed HTTP Basic authentication attempts in the "
            "last {seconds:g} s (latest from {1})",
        )
        delay: float = min(self.base_delay * 2 ** min(failures - 1, 32), self.max_delay)
        return delay

    def failures(self, address: str) -> int:
        """How many failures from `address` are remembered (0 once it is forgotten)."""
        failures, _latest = self._addresses.get(address, (0, 0.0))
        return failures

    def forget(self, charge_box_id: str) -> None:
        """Drop a charger's pending report (it was removed)."""
        logs.forget(charge_box_id, _AUTH_FAILED)

    def close(self) -> None:
        """Cancel every pending report."""
        logs.forget(kind=_AUTH_FAILED)


def _peer(connection: ServerConnection) -> str:
    """The address a connection comes from, for the log."""
    address = connection.remote_address
    return str(address[0]) if isinstance(address, tuple) and address else "an unknown address"


def _subprotocol_of(
    version: OcppVersion,
) -> Callable[[ServerConnection, Sequence[Subprotocol]], Subprotocol | None]:
    def select(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        """Pick the version's subprotocol; otherwise continue without and decide in the handler.

        websockets would refuse a client offering none with HTTP 400; OCPP-J section 3.2
        wants a refused version answered without the header, then closed.
        """
        return version.subprotocol if version.subprotocol in offered else None

    return select


class CentralSystem:
    """The OCPP-J central system: a WebSocket server and one session per charger.

    `version` (default OCPP 1.6) gives the subprotocol, the schemas and the session.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        hooks: SessionHooks,
        ssl_context: ssl.SSLContext | None = None,
        unknown_charger: Callable[[str], bool] | None = None,
        response_timeout: float = DEFAULT_RESPONSE_TIMEOUT,
        ping_interval: float | None = DEFAULT_PING_INTERVAL,
        ping_timeout: float | None = None,
        silence_margin: float | None = DEFAULT_SILENCE_MARGIN,
        close_timeout: float = CLOSE_TIMEOUT,
        takeover_timeout: float = DEFAULT_TAKEOVER_TIMEOUT,
        auth_failures: AuthFailures | None = None,
        max_frame_size: int = MAX_FRAME_SIZE,
        session_factory: SessionFactory | None = None,
        version: OcppVersion = OCPP16,
    ) -> None:
        """Configure the server; nothing listens before `start()`.

        `session_factory(config, hooks)` builds a charger's session (default: the
        version's, `ChargerSession` for OCPP 1.6); `unknown_charger(charge_box_id)`
        returning True admits an unknown charger with a default configuration
        (discovery), else HTTP 404.
        The keepalive (see `protocol.connection`) pings every `ping_interval` (None: never)
        and gives up on a charger that answered pings after one silent `ping_timeout`
        (default: the interval; 30 s each by default, so within a minute); a charger
        that never answers pings may send nothing for twice its heartbeat interval plus
        `silence_margin` (None: forever). `close_timeout` bounds closing a connection;
        `takeover_timeout` is how long a charger without a password has to answer a ping
        on its current connection before a newcomer with its identity replaces it.
        `auth_failures` logs and slows down failed authentication (default: `AuthFailures()`).
        """
        self.host = host
        self.hooks = hooks
        self.ssl_context = ssl_context
        self.response_timeout = response_timeout
        self.ping_interval = ping_interval or None
        self.ping_timeout = ping_timeout or self.ping_interval or DEFAULT_PING_TIMEOUT
        self.silence_margin = silence_margin
        self.close_timeout = close_timeout
        self.takeover_timeout = takeover_timeout
        self.max_frame_size = max_frame_size
        self._requested_port = port
        self._unknown_charger = unknown_charger
        self.version = version
        self._session_factory = session_factory or version.session_factory
        self._configs: dict[str, ChargerConfig] = {}
        self._sessions: dict[str, ChargerSession] = {}
        self._validators: dict[str, Validator] = {}
        self._connections: dict[str, Connection] = {}
        # Chargers whose current connection has refused a newcomer (logged once).
        self._takeover_refused: set[str] = set()
        # Chargers whose oversized message has been logged.
        self._too_big_warned: set[str] = set()
        self._auth_failures = auth_failures or AuthFailures()
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
        self._schemas = await async_load_schemas(version=self.version.schemas)
        for config in self._configs.values():
            self._validators[config.charge_box_id] = self._validator(config)
        self._server = await serve(
            self._serve,
            self.host,
            self._requested_port,
            ssl=self.ssl_context,
            process_request=self._process_request,
            select_subprotocol=_subprotocol_of(self.version),
            max_size=self.max_frame_size,
            # Our own keepalive tolerates chargers that never answer pings.
            ping_interval=None,
            ping_timeout=None,
            close_timeout=self.close_timeout,
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
        self._auth_failures.close()

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
        self._auth_failures.forget(charge_box_id)
        self._too_big_warned.discard(charge_box_id)
        connection = self._connections.pop(charge_box_id, None)
        if connection is not None:
            await connection.close(CLOSE_NORMAL, "charger removed")

    # -- handshake -----------------------------------------------------------------------

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Admit a charger by identity and credentials, or answer 400, 401, 404 or 409."""
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
            # AuthFailures logs it (one line per charger per interval, with a count).
            await asyncio.sleep(self._auth_failures.failed(charge_box_id, _peer(connection)))
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
            response.headers["WWW-Authenticate"] = _AUTHENTICATE
            return response
        if config.password is None and await self._current_is_alive(charge_box_id, connection):
            return connection.respond(HTTPStatus.CONFLICT, "Charge point already connected\n")
        return None

    async def _current_is_alive(self, charge_box_id: str, newcomer: ServerConnection) -> bool:
        """Whether a charger without a password still talks on its current connection.

        Without a password anybody can claim the identity: a newcomer may only take over
        a connection that is dead or silent (it does not answer a ping, nor send anything,
        within `takeover_timeout`), as after a network cut or a reboot. A charger with a
        password proves itself, and its authenticated newcomer always takes over.
        """
        current = self._connections.get(charge_box_id)
        if current is None or await current.probe(self.takeover_timeout) is Liveness.SILENT:
            return False
        if charge_box_id not in self._takeover_refused:
            self._takeover_refused.add(charge_box_id)
            _LOGGER.warning(
                "Refused a second connection for charger %s from %s: its current connection "
                "is alive, and without a password the newcomer cannot prove it is the same "
                "charger (refusals are not logged again until it reconnects)",
                charge_box_id,
                _peer(newcomer),
            )
        else:
            _LOGGER.debug("Refused another connection for charger %s", charge_box_id)
        return True

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
            await websocket.close(CLOSE_PROTOCOL_ERROR, f"{self.version.subprotocol} required")
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
            ping_timeout=self.ping_timeout,
            silence_limit=lambda: silence_limit(
                session.config.heartbeat_interval, self.silence_margin
            ),
        )
        old = self._connections.get(charge_box_id)
        self._connections[charge_box_id] = connection
        self._takeover_refused.discard(charge_box_id)
        if old is not None:
            logs.problem(
                _LOGGER,
                charge_box_id,
                "reconnected",
                "Charger %s reconnected; closing its previous connection",
                charge_box_id,
                level=logging.INFO,
            )
            # The session goes straight to the new connection (its `connection_made` comes
            # next, with no await between): no disconnect is announced. The old socket
            # closes meanwhile.
            old.hand_over()
            self._close_connection_soon(old, "replaced by a new connection")
        try:
            await connection.run()
        finally:
            if self._connections.get(charge_box_id) is connection:
                del self._connections[charge_box_id]
        closed = websocket.protocol.close_sent
        if closed is not None and closed.code == CloseCode.MESSAGE_TOO_BIG:
            self._log_too_big(charge_box_id)

    def _log_too_big(self, charge_box_id: str) -> None:
        """Say once per charger that a message over the limit closed its connection (1009)."""
        if charge_box_id in self._too_big_warned:
            _LOGGER.debug("Charger %s sent another message over the limit", charge_box_id)
            return
        self._too_big_warned.add(charge_box_id)
        _LOGGER.warning(
            "Charger %s sent a message larger than %d bytes; its connection was closed "
            "(1009, message too big). Logged once per charger",
            charge_box_id,
            self.max_frame_size,
        )

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
