"""Sans-I/O core of the OCPP-J RPC framework (OCPP-J 1.6 section 4): frames in, events out.

`RpcCore` knows nothing of sockets or time. `receive(frame)` turns one WebSocket message
into events (a CALL to answer, the answer to our CALL, or a violation with the CallError
frame to send back, if any); `call_frame`, `result_frame` and `error_frame` build the
frames to send. It enforces message ids (unique per direction, at most 36 characters,
section 4.1.4), one outstanding CALL of ours at a time (section 4.1.1) and, given a
`Validator`, the JSON schemas of the connection's OCPP version in both directions.

Bad input never raises: garbage, non-JSON, wrongly shaped and binary frames become a
`ProtocolViolation`, with a CallError reply when a CALL's id can be recovered (a
CallResult or CallError is never answered); unknown message types are ignored
(section 4.1.3). A CallError never echoes unbounded input: its description and details
are cut to the bounds of `errors.py`, and its message id is the CALL's id as a string
(section 4.1.3: a number some firmware sends is answered as its decimal string), never
longer than the 36 characters of section 4.1.4 (a longer id is not answered). Log
messages quote at most the start of a frame (`logs.quote`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import count
import re
from typing import Any, Final
import uuid

import orjson

from .errors import CallErrorCode, ValidationFailed, bounded_description, bounded_details
from .logs import quote, shorten
from .schemas import Validator

type Payload = dict[str, Any]

# MessageTypeNumber, OCPP-J 1.6 section 4.1.3 table 2.
CALL: Final = 2
CALLRESULT: Final = 3
CALLERROR: Final = 4
# Section 4.1.4 table 3: "Maximum of 36 characters, to allow for GUIDs".
MAX_MESSAGE_ID_LENGTH: Final = 36
# How many incoming CALL ids are remembered to detect duplicates: enough to catch a
# repeated message, bounded so a connection that lives for months does not grow.
_REMEMBERED_IDS: Final = 1024
# How many ids of our timed-out CALLs are remembered to recognise their late answers.
_REMEMBERED_TIMEOUTS: Final = 16
# The id of a CALL in a frame that is not valid JSON: `[2, "id"` at its start.
_CALL_ID = re.compile(rb'\s*\[\s*2\s*,\s*"([^"\\]{0,36})"')


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """A CALL from the charger, valid against its schema: answer it exactly once."""

    id: str
    action: str
    payload: Payload


@dataclass(frozen=True, slots=True)
class IncomingResult:
    """The CallResult answering our outstanding CALL `action`, valid against its schema."""

    id: str
    action: str
    payload: Payload


@dataclass(frozen=True, slots=True)
class IncomingError:
    """The CallError answering our outstanding CALL `action`."""

    id: str
    action: str
    code: CallErrorCode
    description: str
    details: Payload


@dataclass(frozen=True, slots=True)
class InvalidResult:
    """An answer to our outstanding CALL `action` that we cannot accept (malformed, invalid)."""

    id: str
    action: str
    error: ValidationFailed


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """A frame that is not an acceptable message: send `reply` (if any) and log.

    `kind` names the problem (the same for every frame with that problem, never taken
    from the frame) so a caller can rate-limit its log lines per kind.
    """

    reply: bytes | None
    kind: str
    log_message: str


type Event = IncomingCall | IncomingResult | IncomingError | InvalidResult | ProtocolViolation


class RpcCore:
    """The OCPP-J RPC state of one connection."""

    __slots__ = (
        "_ids",
        "_outstanding",
        "_prefix",
        "_seen",
        "_timed_out",
        "validator",
    )

    def __init__(self, validator: Validator | None = None, *, side: str = "") -> None:
        """Check payloads with `validator` (None: framing only, any action accepted).

        `side` starts every id of ours: a connection where we are the charger (to an
        upstream central system) uses "up-", which no id of our central system's
        connections (hexadecimal) can start with, so ids never collide between the sides.
        """
        self.validator = validator
        # Our CALL ids: a random prefix per connection (a charger that keeps ids across
        # reconnects never sees one twice) and a counter; short and cheap.
        self._prefix = side + uuid.uuid4().hex[:8] + "-"
        self._ids = count(1)
        self._outstanding: tuple[str, str] | None = None  # (id, action) of our CALL
        self._timed_out: deque[str] = deque(maxlen=_REMEMBERED_TIMEOUTS)
        # The charger's last CALL ids, oldest first (a dict as an ordered set: a third of
        # the memory of a set and a deque of the same ids, for every busy charger).
        self._seen: dict[str, None] = {}

    @property
    def outstanding(self) -> str | None:
        """The id of our CALL still waiting for its answer, if any."""
        return None if self._outstanding is None else self._outstanding[0]

    # -- building frames ---------------------------------------------------------------

    def call_frame(self, action: str, payload: Payload) -> tuple[str, bytes]:
        """Build our CALL and make it the outstanding one; return its id and frame.

        Raises ValidationFailed when the payload breaks the schema (nothing is sent) and
        RuntimeError when another CALL is outstanding (callers queue, section 4.1.1).
        """
        if self._outstanding is not None:
            raise RuntimeError(f"CALL {self._outstanding[0]} is still outstanding")
        if self.validator is not None:
            self.validator.outgoing_call(action, payload)
        message_id = f"{self._prefix}{next(self._ids)}"
        self._outstanding = (message_id, action)
        return message_id, orjson.dumps([CALL, message_id, action, payload])

    def cancel_call(self) -> None:
        """Give up on our outstanding CALL (timed out): its answer, if it comes, is dropped."""
        if self._outstanding is not None:
            self._timed_out.append(self._outstanding[0])
            self._outstanding = None

    def result_frame(self, call: IncomingCall, payload: Payload) -> bytes:
        """Build the CallResult answering `call`; ValidationFailed if it breaks the schema."""
        if self.validator is not None:
            self.validator.outgoing_result(call.action, payload)
        return orjson.dumps([CALLRESULT, call.id, payload])

    @staticmethod
    def error_frame(
        message_id: str,
        code: CallErrorCode,
        description: str = "",
        details: Payload | None = None,
    ) -> bytes:
        """Build a CallError (section 4.2.3); errorDetails is `{}` when there are none.

        Description and details are cut to their bounds here, the one place every
        CallError we send is built.
        """
        return orjson.dumps(
            [
                CALLERROR,
                message_id,
                code,
                bounded_description(description),
                bounded_details(details),
            ]
        )

    # -- receiving ---------------------------------------------------------------------

    def receive(self, frame: str | bytes) -> list[Event]:
        """Turn one received WebSocket message into events (one per message)."""
        if isinstance(frame, bytes) and not (self.validator and self.validator.lenient):
            # OCPP-J messages are JSON text (section 4.1.2); lenient mode reads them anyway.
            return [self._refuse(frame, "binary frame", "binary frames are not OCPP-J")]
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return [self._refuse(frame, "not JSON", "message is not valid JSON")]
        if type(message) is not list or not message:
            return [ProtocolViolation(None, "not an array", f"ignored {quote(frame)}")]
        kind = message[0]
        if type(kind) is int:
            if kind == CALL:
                return [self._call(message, frame)]
            if kind == CALLRESULT:
                return [self._result(message, frame)]
            if kind == CALLERROR:
                return [self._error(message, frame)]
        return [ProtocolViolation(None, "unknown message type", f"ignored {quote(frame)}")]

    def _refuse(self, frame: str | bytes, kind: str, description: str) -> ProtocolViolation:
        """A frame we cannot read: answer FormationViolation if it starts like a CALL."""
        raw = frame.encode(errors="replace") if isinstance(frame, str) else frame
        match = _CALL_ID.match(raw)
        reply = None
        if match is not None:
            message_id = match[1].decode(errors="replace")
            reply = self.error_frame(message_id, CallErrorCode.FORMATION_VIOLATION, description)
        return ProtocolViolation(reply, kind, f"{description}: {quote(frame)}")

    def _call(self, message: list[Any], frame: str | bytes) -> Event:
        message_id = message[1] if len(message) > 1 else None
        if type(message_id) is not str:
            # Some firmware numbers its messages: answer with the number as the string
            # id section 4.1.3 asks for; no other value can be matched to an answer.
            # (orjson reads integers of 64 bits at most, 20 digits: within the 36.)
            echo = str(message_id) if type(message_id) is int else None
            return self._violation(echo, CallErrorCode.FORMATION_VIOLATION, "bad id", frame)
        if len(message_id) > MAX_MESSAGE_ID_LENGTH:
            # Echoing it would make the reply as long as the charger likes, and a cut id
            # answers nothing: logged, not answered (as a frame we cannot read).
            return self._violation(None, CallErrorCode.FORMATION_VIOLATION, "long id", frame)
        if len(message) != 4 or type(message[2]) is not str:
            return self._violation(
                message_id, CallErrorCode.FORMATION_VIOLATION, "malformed CALL", frame
            )
        action: str = message[2]
        payload = message[3]
        if payload is None:  # section 4.2.1 allows null for "no payload"
            payload = {}
        elif type(payload) is not dict:
            return self._violation(
                message_id, CallErrorCode.FORMATION_VIOLATION, "payload not an object", frame
            )
        if message_id in self._seen:
            return self._violation(message_id, CallErrorCode.PROTOCOL_ERROR, "duplicate id", frame)
        validator = self.validator
        if validator is not None:
            if action not in validator.actions:
                return self._violation(
                    message_id, CallErrorCode.NOT_IMPLEMENTED, "unknown action", frame
                )
            try:
                payload = validator.incoming_call(action, payload)
            except ValidationFailed as failed:
                reply = self.error_frame(message_id, failed.code, failed.description)
                # The action is a known one here: the kinds stay a bounded set.
                return ProtocolViolation(reply, f"invalid {action}", f"{failed}: {quote(frame)}")
        self._remember(message_id)
        return IncomingCall(message_id, action, payload)

    def _violation(
        self, message_id: str | None, code: CallErrorCode, kind: str, frame: str | bytes
    ) -> ProtocolViolation:
        reply = None if message_id is None else self.error_frame(message_id, code, kind)
        return ProtocolViolation(reply, kind, f"{kind}: {quote(frame)}")

    def _remember(self, message_id: str) -> None:
        seen = self._seen
        seen[message_id] = None
        if len(seen) > _REMEMBERED_IDS:
            del seen[next(iter(seen))]

    def _answered(self, message: list[Any], frame: str | bytes) -> tuple[str, str] | Event:
        """Match an answer to our outstanding CALL: (id, action), or a violation to log."""
        message_id = message[1] if len(message) > 1 else None
        outstanding = self._outstanding
        if outstanding is not None and message_id == outstanding[0]:
            self._outstanding = None
            return outstanding
        if message_id in self._timed_out:
            return ProtocolViolation(None, "late answer", f"dropped late answer {quote(frame)}")
        return ProtocolViolation(None, "unknown answer", f"dropped unexpected {quote(frame)}")

    def _result(self, message: list[Any], frame: str | bytes) -> Event:
        matched = self._answered(message, frame)
        if not isinstance(matched, tuple):
            return matched
        message_id, action = matched
        payload = message[2] if len(message) == 3 else None
        if payload is None and len(message) == 3:  # section 4.2.2 allows null
            payload = {}
        if type(payload) is not dict:
            failed = ValidationFailed(CallErrorCode.FORMATION_VIOLATION, "malformed CallResult")
            return InvalidResult(message_id, action, failed)
        if self.validator is not None:
            try:
                payload = self.validator.incoming_result(action, payload)
            except ValidationFailed as failed:
                return InvalidResult(message_id, action, failed)
        return IncomingResult(message_id, action, payload)

    def _error(self, message: list[Any], frame: str | bytes) -> Event:
        matched = self._answered(message, frame)
        if not isinstance(matched, tuple):
            return matched
        message_id, action = matched
        # Be liberal: whatever the charger managed to say is kept, within the bounds of
        # what we send ourselves (it ends up in exceptions and log lines).
        raw_code = message[2] if len(message) > 2 else None
        description = message[3] if len(message) > 3 and type(message[3]) is str else ""
        details = message[4] if len(message) > 4 and type(message[4]) is dict else {}
        code = CallErrorCode.from_wire(raw_code)
        if code is None:
            code = CallErrorCode.GENERIC_ERROR
            shown = shorten(str(raw_code))
            description = f"{shown}: {description}" if description else shown
        return IncomingError(
            message_id, action, code, bounded_description(description), bounded_details(details)
        )
