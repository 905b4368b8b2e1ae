"""One charger's WebSocket, driven by asyncio around the sans-I/O `RpcCore`.

`Connection.run()` reads frames and hands each CALL to the handler (the charger's
session), which answers synchronously; the reply is sent before the next frame is read,
so replies leave in order. Our CALLs (`call()`) go out one at a time in the order they
were made (OCPP-J 1.6 section 4.1.1) and wait for their answer while the reader keeps
going. Work a handler schedules with `after_reply()` starts once its reply has been sent
(a charger ignores CALLs that arrive before its BootNotification is answered).

The keepalive notices a dead link while TCP stays open (a frozen charger, a half-open
connection after a network cut). It pings the charger every `ping_interval` (OCPP-J
section 5.3, errata 3.9, the WebSocketPingInterval): a charger that answered a ping before
and now lets a round of `ping_timeout` pass with neither a pong nor a message is gone.
Many chargers never answer pings and work fine; such a charger is judged by its own
traffic instead: it sends a message at least every heartbeat interval (OCPP 1.6 section
4.6 lets it skip a Heartbeat only when it sent something else), so no message for twice
that interval plus a margin (`silence_limit`) means it is gone. Either way the handler is
told at once; the WebSocket then closes within its close timeout, aborted if need be.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from enum import Enum
import inspect
import itertools
import logging
from typing import Any, Final, Protocol

from websockets.asyncio.connection import Connection as WebSocket
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

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
from .tasks import TaskSet

_LOGGER = logging.getLogger(__name__)

type Payload = dict[str, Any]

DEFAULT_RESPONSE_TIMEOUT: Final = 30.0
# A charger that answers pings is shown disconnected at most one interval plus one
# timeout (60 s) after its last pong, well within 90 s.
DEFAULT_PING_INTERVAL: Final = 30.0
DEFAULT_PING_TIMEOUT: Final = 30.0
# Added to twice the heartbeat interval before a charger that never answers pings and
# sends nothing is judged gone (its clock, queues and the network may delay a heartbeat).
DEFAULT_SILENCE_MARGIN: Final = 60.0
# How long closing may take before the TCP connection is aborted (websockets' default).
CLOSE_TIMEOUT: Final = 10.0
# Close codes (RFC 6455 section 7.4.1).
CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_INTERNAL_ERROR: Final = 1011


class Liveness(Enum):
    """What a charger did during one ping round (`Connection.probe`)."""

    PONG = "pong"  # answered the ping
    MESSAGE = "message"  # no pong, but it sent a message meanwhile
    SILENT = "silent"  # neither: frozen, cut off or gone


def silence_limit(heartbeat_interval: float, margin: float | None) -> float | None:
    """Seconds without any message after which a charger not answering pings is gone.

    Twice the heartbeat interval plus `margin`; None (never) without a margin or for a
    charger told not to send heartbeats (an interval of 0).
    """
    if margin is None or heartbeat_interval <= 0:
        return None
    return 2 * heartbeat_interval + margin


class CallHandler(Protocol):
    """What a connection drives: the charger's session (see docs/architecture.md)."""

    def handle_call(self, action: str, payload: Payload) -> Payload | Awaitable[Payload]:
        """Answer a CALL; raise CallError to answer with a CallError.

        Synchronously as a rule (the hot path). An awaitable is answered when it is
        done, in a task of its own, while the next frames are read: a handler that
        needs another party's answer (forwarding to an upstream central system) must
        not hold up our own CALLs' results.
        """
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
        websocket: WebSocket,
        handler: CallHandler,
        core: RpcCore,
        *,
        charge_box_id: str,
        response_timeout: float = DEFAULT_RESPONSE_TIMEOUT,
        ping_interval: float | None = None,
        ping_timeout: float = DEFAULT_PING_TIMEOUT,
        silence_limit: Callable[[], float | None] | None = None,
        calls_wait_for_replies: bool = True,
    ) -> None:
        """Serve `handler` over `websocket` with `core` (which validates, if given a validator).

        `ping_interval` (None: no pings) and `ping_timeout` drive the keepalive;
        `silence_limit()` (read at every check, so a new heartbeat interval applies at
        once) is how long a charger that does not answer pings may send nothing.
        With `calls_wait_for_replies` our CALLs wait while a deferred answer (see
        `CallHandler.handle_call`) is being prepared, as they would behind a synchronous
        one: a CALL naming a transaction never overtakes the StartTransaction.conf that
        tells the charger its id (OCPP 1.6 section 4.8).
        """
        self.websocket = websocket
        self.charge_box_id = charge_box_id
        self.response_timeout = response_timeout
        self._handler = handler
        self._core = core
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._silence_limit = silence_limit or _never
        self._ping_ids = itertools.count()
        self._call_lock = asyncio.Lock()
        self._waiter: asyncio.Future[Payload] | None = None
        # Work scheduled by the handler while a reply is being built, or None when no
        # reply is being built (then scheduled work starts at once).
        self._after: list[Callable[[], object]] | None = None
        self._tasks = TaskSet(self._work_failed)
        self._received = 0  # frames read, for the keepalive
        self._last_heard = 0.0  # loop time of the last frame read (or of the start)
        self._attached = False
        self._running = False
        self._finished = asyncio.Event()
        # Deferred answers being prepared; our CALLs wait for them when asked to.
        self._deferred = 0
        self._replied = asyncio.Event()
        self._replied.set()
        self._calls_wait_for_replies = calls_wait_for_replies

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
            if self._calls_wait_for_replies:
                await self._replied.wait()
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
                # A refused call's future holds its exception, whose traceback holds this
                # frame, which holds the future: a cycle only the cycle collector frees,
                # with every frame's locals (see bench: full collections pause the process).
                del waiter

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
        """Detach from the handler at once, then close the WebSocket and wait for the end.

        A peer that does not complete the closing handshake within the WebSocket's close
        timeout (or whose link is dead, so even our close frame cannot be written) is cut
        off.
        """
        self.detach()
        websocket = self.websocket
        try:
            # websockets bounds the closing handshake by its close_timeout, but not the
            # write of the close frame to a peer that stopped reading.
            async with asyncio.timeout(websocket.close_timeout or CLOSE_TIMEOUT):
                await websocket.close(code, reason)
        except TimeoutError:
            websocket.transport.abort()
        if self._running:
            await self._finished.wait()

    def detach(self) -> None:
        """Stop serving the handler now: fail our pending CALL, tell the handler it is lost.

        The handler hears `connection_lost` at once, while the WebSocket may take a while
        to finish closing in the background.
        """
        if self._stop_serving():
            self._handler.connection_lost()

    def hand_over(self) -> None:
        """Stop serving the handler because a new connection of the same charger takes over.

        Like `detach` (our pending CALL fails with NotConnectedError, scheduled work is
        cancelled) but without `connection_lost`: the charger is still connected, through
        the new connection, whose `connection_made` follows at once. So the session never
        announces a disconnect between the two.
        """
        self._stop_serving()

    def _stop_serving(self) -> bool:
        """Detach without telling the handler; False if detached already."""
        if not self._attached:
            return False
        self._attached = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            _fail(waiter, NotConnectedError(f"{self.charge_box_id}: disconnected"))
        self._tasks.cancel()
        return True

    async def probe(self, timeout: float) -> Liveness:  # noqa: ASYNC109 - the round's bound
        """Ping the charger, wait up to `timeout` and tell whether it answered or talked.

        The ping itself is bounded too: writing it waits while the peer does not read.
        """
        received = self._received
        data = f"keepalive {next(self._ping_ids)}".encode()
        websocket = self.websocket
        try:
            async with asyncio.timeout(timeout):
                pong = await websocket.ping(data)
                await pong
        except TimeoutError:
            # Forget the ping: a charger that never answers must not pile them up.
            websocket.pending_pings.pop(data, None)
        except ConnectionClosed:
            return Liveness.SILENT
        else:
            return Liveness.PONG
        return Liveness.MESSAGE if self._received != received else Liveness.SILENT

    # -- the transport's side ----------------------------------------------------------

    async def run(self) -> None:
        """Serve the charger until its WebSocket closes."""
        self._running = self._attached = True
        self._last_heard = asyncio.get_running_loop().time()
        self._handler.connection_made(self)
        keepalive = asyncio.get_running_loop().create_task(self._keepalive())
        try:
            await self._read()
        finally:
            keepalive.cancel()
            self.detach()
            self._finished.set()

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionClosed, NotConnectedError):
            async for frame in self.websocket:
                self._received += 1
                self._last_heard = loop.time()
                # Unless replaced (the new connection serves the charger then).
                if self._attached:
                    await self._receive(frame)
                # Not held while the charger is silent: the last message, and its payload
                # parsed by `_receive`, would stay in memory for every charger (a
                # MeterValues of 24 sampled values is some 15 kB of objects).
                del frame

    async def _receive(self, frame: str | bytes) -> None:
        """Handle one message; what it parsed to is dropped on return."""
        for event in self._core.receive(frame):
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
        if isinstance(frame, bytes):
            await self._send(frame)
            for fn in after:
                self._start(fn)
            return
        # A deferred answer: sent by a task of its own, the reader goes on meanwhile.
        self._deferred += 1
        self._replied.clear()
        self._tasks.start(self._answer_later(call, frame, after))

    async def _answer_later(
        self,
        call: IncomingCall,
        pending: Awaitable[Payload],
        after: list[Callable[[], object]],
    ) -> None:
        """Await a handler's deferred answer, send it, then start its scheduled work."""
        try:
            try:
                result = await pending
            except CallError as error:
                core = self._core
                frame = core.error_frame(call.id, error.code, error.description, error.details)
            except Exception as error:  # a bug in the handler, as in `_reply`
                self._log_error("handler failed", "handling %s failed", call.action, error)
                frame = self._core.error_frame(call.id, CallErrorCode.INTERNAL_ERROR, call.action)
            else:
                frame = self._result(call, result)
            await self._send(frame)
        finally:
            self._deferred -= 1
            if not self._deferred:
                self._replied.set()
        for fn in after:
            self._start(fn)

    def _reply(self, call: IncomingCall) -> bytes | Awaitable[Payload]:
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
        if not isinstance(result, dict):
            return result
        return self._result(call, result)

    def _result(self, call: IncomingCall, result: Payload) -> bytes:
        core = self._core
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
            self._tasks.start(_awaited(result))

    def _work_failed(self, error: BaseException) -> None:
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
        else:
            _LOGGER.error("%s: scheduled work failed", self.charge_box_id, exc_info=error)

    async def _keepalive(self) -> None:
        """Notice a dead link: by pings, or by the charger's own silence if it never pongs."""
        loop = asyncio.get_running_loop()
        interval = self._ping_interval
        answers_pings = False
        while True:
            if interval:
                await asyncio.sleep(interval)
                liveness = await self.probe(self._ping_timeout)
                if self.websocket.state is not State.OPEN:
                    return  # closed meanwhile: not a dead link to report
                if liveness is not Liveness.SILENT:
                    answers_pings = answers_pings or liveness is Liveness.PONG
                    continue
                if answers_pings:
                    await self._close_dead("no answer to a ping and no message")
                    return
            else:
                limit = self._silence_limit()
                if limit is None:
                    return  # no pings and no silence rule: nothing to watch
                await asyncio.sleep(max(self._last_heard + limit - loop.time(), 0.0))
            limit = self._silence_limit()
            if limit is not None and loop.time() - self._last_heard >= limit:
                await self._close_dead(f"no message for {limit:g} s")
                return

    async def _close_dead(self, why: str) -> None:
        _LOGGER.warning("%s: %s, closing the connection", self.charge_box_id, why)
        await self.close(CLOSE_INTERNAL_ERROR, "keepalive timeout")


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


def _never() -> float | None:
    return None
