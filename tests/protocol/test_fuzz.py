"""Protocol fuzz: a seeded stream of malformed frames against the real CentralSystem.

A raw websockets client on 127.0.0.1 sends random bytes, truncated JSON, valid messages
with a wrong type in each field, huge and odd ids, unknown actions (some with 50 kB
names), nested garbage, binary frames and text frames that are not UTF-8, with valid
messages and Heartbeats interleaved. OCPP-J 1.6 section 4.2.3 and table 7 say what must
come back: every CALL whose id can be recovered gets exactly one CALLRESULT or CallError
(with a code from table 7, its id as a string), nothing else is answered, and the
connection survives, except where RFC 6455 section 8.1 requires closing it (1007 for a
text frame that is not UTF-8; the charger then reconnects). Every reply stays under
`MAX_CALL_ERROR_SIZE` and the log under `LOG_BYTES` whatever the stream holds. The
stream is bounded in count and in time, and reproducible from its seed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
import contextlib
from copy import deepcopy
from dataclasses import dataclass
from itertools import count
import json
import logging
import random
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from custom_components.ocpp_central.protocol.errors import MAX_CALL_ERROR_SIZE, CallErrorCode
from custom_components.ocpp_central.protocol.messages import DataTransferResult
from custom_components.ocpp_central.protocol.server import CentralSystem
from custom_components.ocpp_central.protocol.session import ChargerSession

from .conftest import NOW, CentralFactory, connect_raw

PACKAGE = "custom_components.ocpp_central"

SEED = 16_2026
FRAMES = 2500  # bound in count...
DEADLINE = 50.0  # ...and in time (seconds; never asserted, only a ceiling)
REPLY_TIMEOUT = 5.0
# Log output of the whole stream, every level of the integration's loggers: a line per
# kind of problem and a few counts, not a line per frame (today: over 100 bytes a frame).
LOG_BYTES = 20_000
# A valid Heartbeat after every this many frames: the session serves through the noise.
HEARTBEAT_EVERY = 25
# RFC 6455 section 7.4.1: the close code for a text frame that is not UTF-8.
CLOSE_INVALID_DATA = 1007
TABLE_7 = frozenset(code.value for code in CallErrorCode)
# A vendor whose DataTransfer handler fails: the one deliberate InternalError path.
CRASH_VENDOR = "fuzz.crash"

# Valid charger-to-central payloads (OCPP 1.6 chapter 4), the seeds of the mutations.
VALID: dict[str, dict[str, Any]] = {
    "BootNotification": {
        "chargePointVendor": "Fuzz",
        "chargePointModel": "F1",
        "firmwareVersion": "1.0",
    },
    "Heartbeat": {},
    "StatusNotification": {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
    "Authorize": {"idTag": "TAG1"},
    "MeterValues": {
        "connectorId": 1,
        "transactionId": 1,
        "meterValue": [
            {
                "timestamp": NOW,
                "sampledValue": [
                    {"value": "12.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
                    {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
                ],
            }
        ],
    },
    "StartTransaction": {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": NOW},
    "StopTransaction": {
        "meterStop": 10,
        "timestamp": NOW,
        "transactionId": 1,
        "reason": "Local",
        "transactionData": [
            {"timestamp": NOW, "sampledValue": [{"value": "10", "context": "Transaction.End"}]}
        ],
    },
    "DataTransfer": {"vendorId": "fuzz.vendor", "messageId": "m", "data": "d"},
    "FirmwareStatusNotification": {"status": "Idle"},
    "DiagnosticsStatusNotification": {"status": "Idle"},
}
# One value of each JSON type and some extremes: a wrong type is picked from these.
ODD_VALUES: tuple[Any, ...] = (
    0,
    -1,
    2**63,
    -(2**70),
    3.5,
    1e308,
    True,
    None,
    "",
    "x" * 600,
    "\u0000\ud7ff\U0001f50c",
    [],
    [1, "a", None],
    {},
    {"nested": {"deeper": [{}]}},
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame to send and what must come back: `reply_id` None means no answer at all."""

    data: str | bytes
    reply_id: str | int | None
    kind: str
    expect_result: bool = False  # a valid message: a CALLRESULT, never a CallError
    expect_code: str | None = None  # a CallError with exactly this code
    closes: bool = False  # a text frame that is not UTF-8: the server closes with 1007


def _dumps(value: Any) -> str:
    """Compact JSON text; the standard library also writes integers beyond 64 bits."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every field path in a payload (dict keys and list indexes), leaves and containers."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from _paths(item, (*prefix, index))


def _replace(payload: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A deep copy of `payload` with the value at `path` replaced by `new`."""
    copy = deepcopy(payload)
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


def _get(payload: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        payload = payload[step]
    return payload


def _wrong_type(rng: random.Random, original: Any) -> Any:
    """A value whose JSON type differs from `original`'s (int and float count as one)."""

    def json_type(value: Any) -> str:
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int | float):
            return "number"
        return type(value).__name__

    choices = [v for v in ODD_VALUES if json_type(v) != json_type(original)]
    return rng.choice(choices)


class FrameMaker:
    """Builds the fuzz stream from a seeded random generator; ids are unique per frame."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._ids = count(1)
        self.accepted_ids: list[str] = []  # ids of valid CALLs (for duplicates)

    def new_id(self) -> str:
        return f"f{next(self._ids)}-{self.rng.randrange(10**6)}"

    def call(self, action: str, payload: Any, message_id: str | None = None) -> tuple[str, str]:
        message_id = message_id or self.new_id()
        return message_id, _dumps([2, message_id, action, payload])

    # -- kinds of frames -----------------------------------------------------------------

    def valid(self) -> Frame:
        action = self.rng.choice(sorted(VALID))
        message_id, text = self.call(action, VALID[action])
        self.accepted_ids.append(message_id)
        return Frame(text, message_id, "valid", expect_result=True)

    def wrong_type(self, action: str, path: tuple[Any, ...]) -> Frame:
        payload = VALID[action]
        mutated = _replace(payload, path, _wrong_type(self.rng, _get(payload, path)))
        message_id, text = self.call(action, mutated)
        return Frame(text, message_id, f"wrong type {action}{list(path)}")

    def missing_field(self) -> Frame:
        action = self.rng.choice([a for a in sorted(VALID) if VALID[a]])
        payload = dict(VALID[action])
        del payload[self.rng.choice(sorted(payload))]
        message_id, text = self.call(action, payload)
        return Frame(text, message_id, f"missing field {action}")

    def truncated(self) -> Frame:
        action = self.rng.choice(sorted(VALID))
        message_id, text = self.call(action, VALID[action])
        cut = self.rng.randrange(1, len(text))
        # The id can be recovered when the cut leaves `[2,"<id>"` whole (section 4.2.3).
        recoverable = cut >= len(f'[2,"{message_id}"')
        return Frame(text[:cut], message_id if recoverable else None, "truncated JSON")

    def random_text(self) -> Frame:
        alphabet = "abc{}:,\"'0123456789 \t\n\\]truefalsenull\u00e9\u2603"
        length = self.rng.randrange(0, 300)
        text = "".join(self.rng.choice(alphabet) for _ in range(length))
        return Frame(text, None, "random text")

    def random_bytes(self) -> Frame:
        data = self.rng.randbytes(self.rng.randrange(0, 300))
        # A binary frame is never OCPP-J; only one that starts like a CALL is answered.
        return Frame(data.replace(b"[", b"("), None, "random bytes")

    def binary_call(self) -> Frame:
        message_id, text = self.call("Heartbeat", {})
        return Frame(text.encode(), message_id, "binary CALL")

    def huge_id(self) -> Frame:
        message_id = "i" * self.rng.randrange(37, 5000)
        _, text = self.call("Heartbeat", {}, message_id)
        # Beyond section 4.1.4's 36 characters: echoing it would make the reply unbounded.
        return Frame(text, None, "huge id")

    def odd_id(self) -> Frame:
        odd: Any = self.rng.choice([None, 7, 3.5, [], {}, True])
        text = _dumps([2, odd, "Heartbeat", {}])
        # Some firmware numbers its messages: an integer id is answered as a string
        # (section 4.1.3); others cannot be.
        return Frame(text, str(odd) if type(odd) is int else None, "odd id")

    def unknown_action(self) -> Frame:
        length = self.rng.choice([12, 12, 50_000])  # sometimes a name of 50 kB
        action = "".join(self.rng.choice("ABCXYZqwerty") for _ in range(12)) * (length // 12)
        message_id, text = self.call(action, {})
        return Frame(
            text, message_id, "unknown action", expect_code=CallErrorCode.NOT_IMPLEMENTED.value
        )

    def nested(self) -> Frame:
        depth = self.rng.randrange(1, 2000)
        garbage = "[" * depth + "]" * depth
        if self.rng.random() < 0.5:
            return Frame(garbage, None, "nested garbage")
        message_id = self.new_id()
        text = f'[2,"{message_id}","Heartbeat",{{"a":{garbage}}}]'
        return Frame(text, message_id, "nested payload")

    def odd_shape(self) -> Frame:
        message_id = self.new_id()
        shape = self.rng.choice(
            [
                [2, message_id],
                [2, message_id, "Heartbeat"],
                [2, message_id, "Heartbeat", {}, "extra"],
                [2, message_id, 17, {}],
                [2, message_id, "Heartbeat", [1, 2]],
                [2, message_id, "Heartbeat", "payload"],
            ]
        )
        return Frame(_dumps(shape), message_id, "malformed CALL")

    def unanswerable(self) -> Frame:
        # Results and errors for CALLs we never made, unknown types, not arrays.
        data = self.rng.choice(
            [
                [3, self.new_id(), {}],
                [4, self.new_id(), "GenericError", "", {}],
                [5, self.new_id(), "Heartbeat", {}],
                [-2, "x"],
                ["2", self.new_id(), "Heartbeat", {}],
                {"not": "an array"},
                [],
                "string",
                12,
                None,
            ]
        )
        return Frame(_dumps(data), None, "not answerable")

    def duplicate(self) -> Frame | None:
        if not self.accepted_ids:
            return None
        message_id = self.rng.choice(self.accepted_ids[-100:])
        _, text = self.call("Heartbeat", {}, message_id)
        return Frame(
            text, message_id, "duplicate id", expect_code=CallErrorCode.PROTOCOL_ERROR.value
        )

    def heartbeat(self) -> Frame:
        message_id, text = self.call("Heartbeat", {})
        return Frame(text, message_id, "heartbeat", expect_result=True)

    def not_utf8(self) -> Frame:
        _, text = self.call("Authorize", {"idTag": "TAG1"})
        cut = self.rng.randrange(1, len(text))
        data = text[:cut].encode() + self.rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"])
        # Ids are unique per connection (section 4.1.4): the next one remembers none.
        self.accepted_ids.clear()
        return Frame(data + text[cut:].encode(), None, "not UTF-8", closes=True)

    def crash(self) -> Frame:
        message_id, text = self.call("DataTransfer", {"vendorId": CRASH_VENDOR})
        return Frame(
            text, message_id, "handler bug", expect_code=CallErrorCode.INTERNAL_ERROR.value
        )


def fuzz_stream(seed: int, total: int) -> Iterator[Frame]:
    """The stream: every field of every valid message mistyped once, then random kinds."""
    rng = random.Random(seed)
    maker = FrameMaker(rng)
    systematic = [(action, path) for action in sorted(VALID) for path in _paths(VALID[action])]
    makers: list[Callable[[], Frame | None]] = [
        maker.valid,
        maker.valid,
        maker.missing_field,
        maker.truncated,
        maker.random_text,
        maker.random_bytes,
        maker.binary_call,
        maker.huge_id,
        maker.odd_id,
        maker.unknown_action,
        maker.nested,
        maker.odd_shape,
        maker.unanswerable,
        maker.duplicate,
        maker.crash,
        maker.not_utf8,
    ]
    yield maker.valid()
    produced = 1
    for action, path in systematic:
        yield maker.wrong_type(action, path)
        yield maker.valid()  # interleaved: the session must still serve valid messages
        produced += 2
    while produced < total:
        if produced % HEARTBEAT_EVERY == 0:
            frame = maker.heartbeat()
        elif rng.random() < 0.3:
            action = rng.choice(sorted(VALID))
            paths = list(_paths(VALID[action]))
            frame = maker.wrong_type(action, rng.choice(paths)) if paths else maker.valid()
        else:
            frame = rng.choice(makers)() or maker.valid()
        yield frame
        produced += 1


class FuzzClient:
    """A raw client: answers the central system's own CALLs, queues everything else.

    `replies` holds each reply parsed, with its size in bytes.
    """

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket
        self.replies: asyncio.Queue[tuple[list[Any], int]] = asyncio.Queue()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, central: CentralSystem) -> FuzzClient:
        return cls(await connect_raw(central, "CP1", max_size=2**22))

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.websocket:
                message = orjson.loads(raw)
                if message[0] == 2:
                    # Our CALLs after a boot (GetConfiguration, ...): refused, as a quirky
                    # charger may.
                    await self.websocket.send(_dumps([4, message[1], "NotSupported", "", {}]))
                else:
                    size = len(raw.encode() if isinstance(raw, str) else raw)
                    await self.replies.put((message, size))

    async def send(self, frame: Frame) -> None:
        # A frame that is not UTF-8 goes as text all the same: that is the fault.
        await self.websocket.send(frame.data, text=True if frame.closes else None)

    async def reply(self) -> tuple[list[Any], int]:
        async with asyncio.timeout(REPLY_TIMEOUT):
            return await self.replies.get()

    async def close_code(self) -> int | None:
        """Wait for the server to close the connection; the code it closed with."""
        async with asyncio.timeout(REPLY_TIMEOUT):
            await self._reader
        return self.websocket.close_code

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self.websocket.close()


@contextlib.asynccontextmanager
async def fuzz_client(central: CentralSystem) -> AsyncIterator[FuzzClient]:
    client = await FuzzClient.open(central)
    try:
        yield client
    finally:
        await client.close()


def _crash(_message_id: str | None, _data: str | None) -> DataTransferResult:
    raise RuntimeError("deliberate failure of a vendor handler")


def check_reply(frame: Frame, reply: list[Any], size: int) -> None:
    """The reply answers `frame` as OCPP-J section 4.2 and table 7 require, within bounds."""
    assert reply[1] == frame.reply_id, f"{frame.kind}: reply {reply!r:.200} to another frame"
    assert type(reply[1]) is str, f"{frame.kind}: id {reply[1]!r} is not a string (4.1.3)"
    assert size < MAX_CALL_ERROR_SIZE, f"{frame.kind}: a reply of {size} bytes"
    if frame.expect_result:
        assert reply[0] == 3, f"{frame.kind}: {reply!r:.300} for {frame.data!r:.300}"
        assert isinstance(reply[2], dict)
        return
    assert reply[0] in (3, 4), f"{frame.kind}: {reply!r:.200}"
    if reply[0] == 4:
        assert len(reply) == 5, reply
        assert reply[2] in TABLE_7, f"{frame.kind}: code {reply[2]!r} is not in table 7"
        assert isinstance(reply[3], str)
        assert isinstance(reply[4], dict)
        if frame.expect_code is not None:
            assert reply[2] == frame.expect_code, f"{frame.kind}: {reply!r:.200}"
    else:
        assert frame.expect_code is None, f"{frame.kind}: {reply!r:.200}"


async def test_fuzz_stream_keeps_connection_and_answers_by_the_spec(
    make_central: CentralFactory, caplog: pytest.LogCaptureFixture
) -> None:
    central = await make_central()
    session = central.sessions["CP1"]
    assert isinstance(session, ChargerSession)
    session.register_vendor(CRASH_VENDOR, _crash)
    caplog.set_level(logging.DEBUG, logger=PACKAGE)
    sent = answered = heartbeats = reconnects = 0
    async with asyncio.timeout(DEADLINE):
        client = await FuzzClient.open(central)
        try:
            for frame in fuzz_stream(SEED, FRAMES):
                await client.send(frame)
                sent += 1
                if frame.closes:
                    # RFC 6455 section 8.1: the one fault that ends the connection.
                    assert await client.close_code() == CLOSE_INVALID_DATA
                    await client.close()
                    client = await FuzzClient.open(central)
                    reconnects += 1
                elif frame.reply_id is not None:
                    check_reply(frame, *await client.reply())
                    answered += 1
                    heartbeats += frame.kind == "heartbeat"
            # Nothing left unanswered or answered twice, and the session still works.
            final = Frame(_dumps([2, "final", "Heartbeat", {}]), "final", "final")
            await client.send(final)
            check_reply(final, *await client.reply())
            assert client.replies.empty()
            assert session.state.connected
        finally:
            await client.close()
    assert session.state.registration == "Accepted"
    assert session.state.boot is not None
    assert session.state.boot.vendor == "Fuzz"

    assert sent == FRAMES
    assert answered > FRAMES // 3
    assert heartbeats >= FRAMES // (2 * HEARTBEAT_EVERY)  # after the systematic part
    assert reconnects > 0, "no frame that is not UTF-8 in the stream"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    unexpected = [r for r in errors if "handling DataTransfer failed" not in r.getMessage()]
    assert unexpected == [], [r.getMessage() for r in unexpected]
    assert errors, "the deliberate InternalError path was not exercised"
    log_bytes = sum(
        len(r.getMessage().encode()) + 1 for r in caplog.records if r.name.startswith(PACKAGE)
    )
    assert log_bytes < LOG_BYTES, log_bytes


def test_stream_is_reproducible() -> None:
    """The same seed gives the same frames (a failure can be replayed)."""
    first = [f.data for f in fuzz_stream(SEED, 200)]
    assert first == [f.data for f in fuzz_stream(SEED, 200)]
    assert first != [f.data for f in fuzz_stream(SEED + 1, 200)]
