"""One charger's WebSocket, driven by asyncio around the sans-I/O `RpcCore`.

`Connection.run()` reads frames and hands each CALL to the handler (the charger's
session), which answers synchronously; the reply is sent before the next frame is read,
so replies leave in order. Our CALLs (`call()`) go out one at a time in the order they
were made (OCPP-J 1.6 section 4.1.1) and wait for their answer while the reader keeps
going. Work a handler schedules with `after_reply()` starts once its reply has been sent
(a charger ignores CALLs that arrive before its BootNotification is answered).

The keepalive pings the charger (OCPP-J section 5.3, errata 3.9) but only closes the
connection when a charger that used to answer pings stops answering them and sends
nothing else either: many chargers never answer pings at all and work fine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import inspect
import logging
from typing import Any, Final, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from . import logs
from .errors import (
    CallError,
    CallErrorCode,
    CallErrorReceived,
    CallTimeoutError,
    NotConnectedError,
    OcppError,
    ValidationFailed,
)
from .rpc import (
    IncomingCall,
    IncomingError,
    IncomingResult,
    InvalidResult,
    ProtocolViolation,
    RpcCore,
)

_LOGGER = logging.getLogger(__name__)

type Payload = dict[str, Any]

DEFAULT_RESPONSE_TIMEOUT: Final = 30.0
# Close a connection whose charger answered pings before, after this many rounds in a
# row with neither a pong nor any message (each round: one interval plus the wait).
_MISSED_PINGS_BEFORE_CLOSE: Final = 3
# Close codes (RFC 6455 section 7.4.1).
CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_INTERNAL_ERROR: Final = 1011


class CallHandler(Protocol):
    """What a connection drives: the charger's session (see docs/architecture.md)."""

    def handle_call(self, action: str, payload: Payload) -> Payload:
        """Answer a CALL synchronously; raise CallError to answer with a CallError."""
        ...

    def connection_made(self, connection: Connection) -> None:
        """The charger is connected through `connection`."""
        ...

    def connection_lost(self) -> None:
        """The charger's connection is gone (closed, replaced or failed)."""
        ...


class Connection:
    """The OCPP-J endpoint of one charger's WebSocket."""

    def __init__(
        self,
        websocket: ServerConnection,
        handler: CallHandler,
        core: RpcCore,
        *,
        charge_box_id: str,
        response_timeout: float = DEFAULT_RESPONSE_TIMEOUT,
        ping_interval: float | None = None,
    ) -> None:
        """Serve `handler` over `websocket` with `core` (which validates, if given a validator)."""
        self.websocket = websocket
        self.charge_box_id = charge_box_id
        self.response_timeout = response_timeout
        self._handler = handler
        self._core = core
        self._ping_interval = ping_interval
        self._call_lock = asyncio.Lock()
        self._waiter: asyncio.Future[Payload] | None = None
        # Work scheduled by the handler while a reply is being built, or None when no
        # reply is being built (then scheduled work starts at once).
        self._after: list[Callable[[], object]] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._received = 0  # frames read, for the keepalive
        self._attached = False
        self._running = False
        self._finished = asyncio.Event()

    @property
    def connected(self) -> bool:
        """Whether the charger is connected through this connection and it serves the handler."""
        return self._attached

    # -- the handler's side ------------------------------------------------------------

    async def call(
        self,
        action: str,
        payload: Payload,
        timeout: float | None = None,  # noqa: ASYNC109 - the per-call response timeout
    ) -> Payload:
        """Send our CALL `action` (after earlier ones) and return the charger's result.

        Raises ValidationFailed (nothing sent) when the payload breaks the schema,
        CallErrorReceived when the charger answers with a CallError, ValidationFailed when
        its result is invalid, CallTimeoutError after `timeout` (default: the response
        timeout), NotConnectedError when not connected or disconnected meanwhile.
        """
        async with self._call_lock:
            if not self._attached:
                raise NotConnectedError(f"{self.charge_box_id}: not connected")
            _message_id, frame = self._core.call_frame(action, payload)
            waiter: asyncio.Future[Payload] = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await self._send(frame)
                async with asyncio.timeout(timeout or self.response_timeout) as deadline:
                    return await waiter
            except TimeoutError:
                if not deadline.expired():
                    raise
                raise CallTimeoutError(f"{self.charge_box_id}: no answer to {action}") from None
            finally:
                self._waiter = None
                # Unanswered (timed out, cancelled, disconnected): a late answer is dropped.
                self._core.cancel_call()

    def after_reply(self, fn: Callable[[], object]) -> None:
        """Run `fn` once the reply being built has been sent (at once outside a reply).

        `fn` may be a plain function or return an awaitable (an async function); an
        awaitable runs in its own task so it never holds up the charger's next message.
        """
        if self._after is not None:
            self._after.append(fn)
        else:
            self._start(fn)

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Detach from the handler at once, then close the WebSocket and wait for the end."""
        self.detach()
        await self.websocket.close(code, reason)
        if self._running:
            await self._finished.wait()

    def detach(self) -> None:
        """Stop serving the handler now: fail our pending CALL, tell the handler it is lost.

        Used when a new connection of the same charger replaces this one, so the new one
        can start at once while this one finishes closing in the background.
        """
        if not self._attached:
            return
        self._attached = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            _fail(waiter, NotConnectedError(f"{self.charge_box_id}: disconnected"))
        for task in self._tasks:
            task.cancel()
        self._handler.connection_lost()

    # -- the transport's side ----------------------------------------------------------

    async def run(self) -> None:
        """Serve the charger until its WebSocket closes."""
        self._running = self._attached = True
        self._handler.connection_made(self)
        keepalive = None
        if self._ping_interval:
            keepalive = asyncio.get_running_loop().create_task(self._keepalive())
        try:
            await self._read()
        finally:
            if keepalive is not None:
                keepalive.cancel()
            self.detach()
            self._finished.set()

    async def _read(self) -> None:
        core = self._core
        with contextlib.suppress(ConnectionClosed, NotConnectedError):
            async for frame in self.websocket:
                self._received += 1
                if not self._attached:
                    continue  # replaced: the new connection serves the charger
                for event in core.receive(frame):
                    if isinstance(event, IncomingCall):
                        await self._answer(event)
                    else:
                        await self._settle(event)

    async def _answer(self, call: IncomingCall) -> None:
        """Let the handler answer `call`, send the reply, then start its scheduled work."""
        after: list[Callable[[], object]] = []
        self._after = after
        try:
            frame = self._reply(call)
        finally:
            self._after = None
        await self._send(frame)
        for fn in after:
            self._start(fn)

    def _reply(self, call: IncomingCall) -> bytes:
        core = self._core
        try:
            result = self._handler.handle_call(call.action, call.payload)
        except CallError as error:
            return core.error_frame(call.id, error.code, error.description, error.details)
        except Exception as error:
            # A bug in a handler must not cost the charger its connection: answer
            # InternalError (section 4.2.3) and keep the traceback in the log.
            self._log_error("handler failed", "handling %s failed", call.action, error)
            return core.error_frame(call.id, CallErrorCode.INTERNAL_ERROR, call.action)
        try:
            return core.result_frame(call, result)
        except ValidationFailed as error:
            self._log_error("invalid answer", "our answer to %s is invalid", call.action, error)
            return core.error_frame(call.id, CallErrorCode.INTERNAL_ERROR, call.action)

    def _log_error(self, kind: str, msg: str, action: str, error: Exception) -> None:
        """Log a failure to answer a CALL, with its traceback (redacted, rate-limited)."""
        logs.problem(
            _LOGGER,
            self.charge_box_id,
            kind,
            f"%s: {msg}",
            self.charge_box_id,
            action,
            level=logging.ERROR,
            exc_info=error,
        )

    async def _settle(
        self, event: IncomingResult | IncomingError | InvalidResult | ProtocolViolation
    ) -> None:
        """Hand an answer to the waiting `call()`, or answer and log a violation."""
        if type(event) is ProtocolViolation:
            if event.reply is not None:
                await self._send(event.reply)
            self._log_violation(event)
            return
        waiter = self._waiter
        if waiter is None or waiter.done():  # the caller gave up already
            return
        if type(event) is IncomingResult:
            waiter.set_result(event.payload)
        elif type(event) is IncomingError:
            _fail(waiter, CallErrorReceived(event.code, event.description, event.details))
        elif type(event) is InvalidResult:
            _fail(waiter, event.error)

    def _log_violation(self, event: ProtocolViolation) -> None:
        # The first violation of a kind is worth a warning; repeats are counted.
        logs.problem(
            _LOGGER, self.charge_box_id, event.kind, "%s: %s", self.charge_box_id, event.log_message
        )

    async def _send(self, frame: bytes) -> None:
        try:
            await self.websocket.send(frame, text=True)
        except ConnectionClosed as error:
            raise NotConnectedError(f"{self.charge_box_id}: disconnected") from error

    def _start(self, fn: Callable[[], object]) -> None:
        """Run scheduled work; an awaitable result runs in a task of its own."""
        if not self._attached:
            return
        try:
            result = fn()
        except Exception:
            # Like a failing handler: logged with its traceback, the connection goes on.
            _LOGGER.exception("%s: scheduled work failed", self.charge_box_id)
            return
        if inspect.isawaitable(result):
            task = asyncio.get_running_loop().create_task(_awaited(result))
            self._tasks.add(task)
            task.add_done_callback(self._work_done)

    def _work_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, OcppError):  # a refused or unanswered CALL: expected
            logs.problem(
                _LOGGER,
                self.charge_box_id,
                "scheduled work failed",
                "%s: scheduled work failed: %s",
                self.charge_box_id,
                error,
                level=logging.INFO,
            )
        elif error is not None:
            _LOGGER.error("%s: scheduled work failed", self.charge_box_id, exc_info=error)

    async def _keepalive(self) -> None:
        """Ping every interval; close only a charger that stopped answering and talking."""
        interval = self._ping_interval
        assert interval
        answers_pings = False
        missed = 0
        websocket = self.websocket
        while True:
            await asyncio.sleep(interval)
            received = self._received
            try:
                pong = await websocket.ping()
                async with asyncio.timeout(interval):
                    await pong
            except TimeoutError:
                # Forget the ping: a charger that never answers must not pile them up.
                websocket.pending_pings.clear()
                silent = self._received == received
                missed = missed + 1 if answers_pings and silent else 0
                if missed >= _MISSED_PINGS_BEFORE_CLOSE:
                    _LOGGER.warning("%s: no answer to pings, closing", self.charge_box_id)
                    self.detach()
                    await websocket.close(CLOSE_INTERNAL_ERROR, "keepalive timeout")
                    return
            except ConnectionClosed:
                return
            else:
                answers_pings = True
                missed = 0


def _fail(waiter: asyncio.Future[Payload], error: Exception) -> None:
    """Fail the waiting `call()` with `error`.

    The caller may be cancelled before it looks (a disconnect cancels the handler's
    tasks right after failing the call); marking the error as seen keeps asyncio from
    reporting it as never retrieved.
    """
    waiter.set_exception(error)
    waiter.exception()


async def _awaited(awaitable: Awaitable[Any]) -> None:
    await awaitable
