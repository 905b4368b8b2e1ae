"""OCPP 1.6 JSON schema validation: fast verdicts, spec error codes, lenient normalisation.

The schemas are the official OCPP 1.6 JSON schemas (with the 2019-12 errata fixes) that
ship inside the `ocpp` package, read as data. Each is compiled once with `fastjsonschema`
(generated Python code, the hot path); only when a payload is rejected does `jsonschema`
(the reference implementation, same draft as the schema) find the first error and turn it
into an OCPP-J CallError code (OCPP-J 1.6 section 4.2.3, table 7):

- `type` of the payload itself -> FormationViolation: not an object, so it does not
  "conform the PDU structure";
- `type` of a field -> TypeConstraintViolation: "violates data type constraints";
- `required`, `minItems`, `maxItems` -> OccurenceConstraintViolation: a field occurs too
  few or too many times;
- `enum`, `maxLength`, `format`, `additionalProperties` and every other keyword ->
  PropertyConstraintViolation: "at least one field contains an invalid value".

Both validators check `format` with the same two functions (`date-time` as RFC 3339
with a time zone, `uri` as an absolute URI), so their verdicts agree; a differential
test keeps it that way.

MeterValues, the message every charger sends every few seconds, first meets a quick
check derived from its schema (`_MeterValuesCheck`): it says yes only to a payload it can
vouch for and hands everything else to the compiled schema, so verdicts are the compiled
schema's; the differential test covers it too.

Lenient mode (per charger) accepts what real firmware sends and normalises it in place:
unknown SampledValue units, over-long strings, numbers where strings belong, whole
floats where integers belong, unknown fields and timestamps without a time zone. It
runs only after the strict check failed, so a conformant charger pays nothing for it.
Each quirk is logged through `logs.problem` (per charger, once per `QUIRK_INTERVAL` with
a count), naming the quirk and the field but never the value, which may be an id tag.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from datetime import date
import importlib.resources
import logging
import re
import threading
from typing import Any, Final

import fastjsonschema
import jsonschema
from jsonschema.exceptions import ValidationError
import orjson

from . import logs
from .errors import CallErrorCode, ValidationFailed, bounded_description

_LOGGER = logging.getLogger(__name__)

type Payload = dict[str, Any]
type _Check = Callable[[Any], Any]

RESPONSE_SUFFIX: Final = "Response"
# A quirk the lenient mode accepts is worth a line when first seen, then a daily count:
# a quirky charger repeats it in every message.
QUIRK_INTERVAL: Final = 24 * 3600.0
# A lenient pass fixes every error it can, then validates again; each round removes at
# least one error, and a payload rarely has more than a few quirks.
_MAX_LENIENT_ROUNDS = 8

# RFC 3339 section 5.6 date-time, the "dateTime" of OCPP 1.6 section 3.15; a time zone
# (Z or an offset) is required. The calendar check (Feb 30) is done with `date`.
_DATE_TIME = re.compile(
    r"(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]"
    r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)
# The same without the time zone: what lenient mode takes as UTC.
_NAIVE_DATE_TIME = re.compile(
    r"(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt ]"
    r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?"
)
# RFC 3986 absolute URI: a scheme, a colon and no white space.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")


def is_date_time(value: object) -> bool:
    """Return whether `value` is an RFC 3339 date-time with a time zone (non-strings pass)."""
    if not isinstance(value, str):
        return True  # `format` only constrains strings; `type` catches the rest
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    return _is_calendar_date(match)


def is_uri(value: object) -> bool:
    """Return whether `value` is an absolute URI (non-strings pass)."""
    return not isinstance(value, str) or _URI.fullmatch(value) is not None


def _is_calendar_date(match: re.Match[str]) -> bool:
    try:
        date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return True


FORMATS: Final[Mapping[str, Callable[[object], bool]]] = {
    "date-time": is_date_time,
    "uri": is_uri,
}


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())
    for name, check in FORMATS.items():
        checker.checks(name)(check)
    return checker


_CODE_BY_KEYWORD: Final[Mapping[str, CallErrorCode]] = {
    "type": CallErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "required": CallErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "minItems": CallErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "maxItems": CallErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
}


def classify(error: ValidationError) -> CallErrorCode:
    """Map one jsonschema error to its OCPP-J CallError code (see the module's table)."""
    if error.validator == "type" and not error.absolute_path:
        return CallErrorCode.FORMATION_VIOLATION
    return _CODE_BY_KEYWORD.get(str(error.validator), CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION)


def _describe(name: str, error: ValidationError) -> str:
    """The ErrorDescription of a rejected payload, within the bound of every description.

    jsonschema's message may quote a whole enum or instance, and a path may hold an
    unknown field's name (the charger's): both are cut.
    """
    path = ".".join(logs.shorten(str(part), 40) for part in error.absolute_path)
    text = f"{name}: {path}: {error.message}" if path else f"{name}: {error.message}"
    return bounded_description(text)


class _MeterValuesCheck:
    """A quick yes for a MeterValues.req of the usual shape (OCPP 1.6 section 6.30).

    Built from the schema itself (field names, required fields, enumerations). Every test
    is one the schema makes, done with exact types, so a yes is always the schema's yes;
    anything unusual (a subclass, a missing field, an unknown value) is not judged here
    but left to the compiled schema. The generic generated code spends most of its time
    on bookkeeping for the ten or so sampled values per message.
    """

    __slots__ = ("_meter_value", "_request", "_sample_free", "_sample_pairs", "_sample_required")

    def __init__(self, definition: Payload) -> None:
        """Read the rules from the MeterValues.req schema; ValueError if its shape differs."""
        properties = definition["properties"]
        meter_value = properties["meterValue"]["items"]
        sample = meter_value["properties"]["sampledValue"]["items"]
        # Only the keywords judged below may appear, or a yes could miss a rule.
        shape_ok = (
            all(_only(properties[key], "type") for key in ("connectorId", "transactionId"))
            and {properties[key]["type"] for key in ("connectorId", "transactionId")} == {"integer"}
            and _only(definition, *_OBJECT, "$schema", "title")
            and _only(properties["meterValue"], *_ARRAY)
            and properties["meterValue"]["minItems"] == 1
            and _only(meter_value, *_OBJECT)
            and meter_value["properties"]["timestamp"] == {"type": "string", "format": "date-time"}
            and _only(meter_value["properties"]["sampledValue"], *_ARRAY)
            and meter_value["properties"]["sampledValue"]["minItems"] == 1
            and _only(sample, *_OBJECT)
            and all(
                _only(rule, "type", "enum", "additionalProperties") and rule["type"] == "string"
                for rule in sample["properties"].values()
            )
            and all(
                rule["additionalProperties"] is False for rule in (definition, meter_value, sample)
            )
        )
        if not shape_ok:
            raise ValueError("MeterValues schema of an unexpected shape")
        self._request = (frozenset(definition["required"]), frozenset(properties))
        self._meter_value = (
            frozenset(meter_value["required"]),
            frozenset(meter_value["properties"]),
        )
        self._sample_required = frozenset(sample["required"])
        # (field, value) pairs the enumerations allow, and the fields taking any string.
        self._sample_pairs = frozenset(
            (key, value)
            for key, rule in sample["properties"].items()
            for value in rule.get("enum", ())
        )
        self._sample_free = frozenset(
            key for key, rule in sample["properties"].items() if "enum" not in rule
        )

    def __call__(self, payload: object) -> bool:
        """Whether `payload` is surely valid (False: not judged, ask the compiled schema)."""
        if type(payload) is not dict or not _keys_fit(payload, self._request):
            return False
        if (
            type(payload["connectorId"]) is not int
            or type(payload.get("transactionId", 0)) is not int
        ):
            return False
        meter_values = payload["meterValue"]
        if type(meter_values) is not list or not meter_values:
            return False
        return all(self._meter_value_ok(meter_value) for meter_value in meter_values)

    def _meter_value_ok(self, meter_value: object) -> bool:
        if type(meter_value) is not dict or not _keys_fit(meter_value, self._meter_value):
            return False
        timestamp = meter_value["timestamp"]
        samples = meter_value["sampledValue"]
        if type(timestamp) is not str or not is_date_time(timestamp):
            return False
        if type(samples) is not list or not samples:
            return False
        pairs, free, required = self._sample_pairs, self._sample_free, self._sample_required
        try:
            for sample in samples:
                if type(sample) is not dict or not required <= sample.keys():
                    return False
                # An allowed (field, value) pair, else a free-text field holding a string.
                # One lookup per field: cheaper than a set difference per sample.
                for item in sample.items():
                    if item not in pairs and (item[0] not in free or type(item[1]) is not str):
                        return False
        except TypeError:  # an unhashable value (a list, an object) is no string
            return False
        return True


_OBJECT: Final = ("type", "properties", "additionalProperties", "required")
_ARRAY: Final = ("type", "minItems", "items")


def _only(rule: Mapping[str, Any], *keywords: str) -> bool:
    """Whether a schema `rule` uses no keyword but `keywords`."""
    return rule.keys() <= set(keywords)


def _keys_fit(item: dict[str, Any], rule: tuple[frozenset[str], frozenset[str]]) -> bool:
    """Whether `item` has every required field and no other than the known ones."""
    required, known = rule
    return required <= item.keys() and item.keys() <= known


# Schemas with a quick check in front of the compiled one.
_QUICK_CHECKS: Final[Mapping[str, Callable[[Payload], Callable[[object], bool]]]] = {
    "MeterValues": _MeterValuesCheck,
}


def _compile(name: str, definition: Payload) -> _Check:
    """The schema's check: the compiled schema, behind a quick check where there is one."""
    # use_default=False: validation must never write into the payload.
    compiled: _Check = fastjsonschema.compile(
        definition, formats=FORMATS, use_default=False, detailed_exceptions=False
    )
    build = _QUICK_CHECKS.get(name)
    if build is None:
        return compiled
    try:
        quick = build(definition)
    except KeyError, TypeError, ValueError:
        _LOGGER.debug("%s: no quick check for this schema", name)
        return compiled

    def check(payload: Any) -> Any:
        return payload if quick(payload) else compiled(payload)

    return check


class _Schema:
    """One message schema: its compiled fast check and, on demand, its reference validator."""

    __slots__ = ("_lock", "_reference", "check", "definition", "name")

    def __init__(self, name: str, definition: Payload) -> None:
        self.name = name
        self.definition = definition
        self.check: _Check = _compile(name, definition)
        self._reference: jsonschema.protocols.Validator | None = None
        self._lock = threading.Lock()

    @property
    def reference(self) -> jsonschema.protocols.Validator:
        """The jsonschema validator of the schema's own draft (4; 6 for the security extension)."""
        with self._lock:
            if self._reference is None:
                cls = jsonschema.validators.validator_for(self.definition)
                self._reference = cls(self.definition, format_checker=_format_checker())
            return self._reference

    def is_valid(self, payload: object) -> bool:
        """Fast verdict."""
        try:
            self.check(payload)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    def first_error(self, payload: Any) -> ValidationError | None:
        """The error jsonschema considers most relevant, or None when it finds none."""
        error: ValidationError | None = jsonschema.exceptions.best_match(
            self.reference.iter_errors(payload)
        )
        return error

    def failure(self, payload: Any) -> ValidationFailed:
        """Explain a rejected payload as a ValidationFailed with the OCPP-J code."""
        error = self.first_error(payload)
        if error is None:  # the two validators disagree: a bug the differential test guards
            return ValidationFailed(CallErrorCode.FORMATION_VIOLATION, f"{self.name}: invalid")
        return ValidationFailed(classify(error), _describe(self.name, error))


class Schemas:
    """The message schemas of one OCPP version, compiled; shared by every charger (read-only)."""

    def __init__(self, definitions: Mapping[str, Payload]) -> None:
        """Compile every schema in `definitions` (name -> schema, e.g. "Heartbeat")."""
        self._schemas = {name: _Schema(name, schema) for name, schema in definitions.items()}
        # Actions are the request schemas; "XResponse" is the answer to action "X".
        self.actions: frozenset[str] = frozenset(
            name for name in self._schemas if f"{name}{RESPONSE_SUFFIX}" in self._schemas
        )

    def request(self, action: str) -> _Schema | None:
        """The schema of a CALL's payload for `action`, or None for an unknown action."""
        return self._schemas.get(action)

    def response(self, action: str) -> _Schema | None:
        """The schema of a CallResult's payload answering `action`."""
        return self._schemas.get(action + RESPONSE_SUFFIX)

    def __iter__(self) -> Iterator[_Schema]:
        """Every schema, requests and responses."""
        return iter(self._schemas.values())


# The `ocpp` package's folder of the OCPP 1.6 schemas (the default set).
V16: Final = "v16"


def read_definitions(version: str = V16) -> dict[str, Payload]:
    """Read the JSON schemas of one OCPP version shipped with the `ocpp` package (blocking I/O).

    `version` is the package's folder of that version ("v16").
    """
    folder = importlib.resources.files("ocpp") / version / "schemas"
    definitions: dict[str, Payload] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            definitions[entry.name.removesuffix(".json")] = orjson.loads(entry.read_bytes())
    return definitions


# One compiled set per version and process, built once.
_loaded: dict[str, Schemas] = {}
_load_lock = threading.Lock()


def load_schemas(version: str = V16) -> Schemas:
    """Return the compiled schemas, compiling them on the first call (blocking, ~1 s).

    Thread-safe, so it can run in an executor while the event loop keeps going.
    """
    with _load_lock:
        loaded = _loaded.get(version)
        if loaded is None:
            loaded = _loaded[version] = Schemas(read_definitions(version))
        return loaded


async def async_load_schemas(executor: Executor | None = None, version: str = V16) -> Schemas:
    """Return the compiled schemas of `version`, compiling them in `executor` (or the loop's)."""
    loaded = _loaded.get(version)
    if loaded is not None:
        return loaded
    return await asyncio.get_running_loop().run_in_executor(executor, load_schemas, version)


# ---------------------------------------------------------------------------------------
# Lenient mode


# Unit spellings seen in the field, mapped to the UnitOfMeasure of OCPP 1.6 section 7.45.
_UNIT_ALIASES: Final[Mapping[str, str]] = {
    "hz": "Hertz",
    "%": "Percent",
    "c": "Celsius",
    "°c": "Celsius",
    "degc": "Celsius",
    "f": "Fahrenheit",
    "°f": "Fahrenheit",
}
_NUMBER_TYPES: Final = (int, float)


class Validator:
    """Validation for one charger: strict for what we send, strict or lenient for what it sends.

    `incoming_call`/`incoming_result` return the payload to use (normalised in place in
    lenient mode) or raise ValidationFailed; `outgoing_call`/`outgoing_result` only check.
    """

    __slots__ = ("_schemas", "charge_box_id", "lenient")

    def __init__(self, schemas: Schemas, *, charge_box_id: str = "", lenient: bool = False) -> None:
        """Validate against `schemas`; `lenient` accepts known firmware quirks of this charger."""
        self._schemas = schemas
        self.charge_box_id = charge_box_id
        self.lenient = lenient

    @property
    def actions(self) -> frozenset[str]:
        """Every action of the version (known to the schemas)."""
        return self._schemas.actions

    def incoming_call(self, action: str, payload: Payload) -> Payload:
        """Check a charger's CALL payload (the action must be known)."""
        schema = self._schemas.request(action)
        assert schema is not None, action
        return self._incoming(schema, payload)

    def incoming_result(self, action: str, payload: Payload) -> Payload:
        """Check a charger's CallResult answering our CALL `action`."""
        schema = self._schemas.response(action)
        return payload if schema is None else self._incoming(schema, payload)

    def outgoing_call(self, action: str, payload: Payload) -> None:
        """Check one of our CALLs; an unknown action is refused as NotImplemented."""
        schema = self._schemas.request(action)
        if schema is None:
            raise ValidationFailed(CallErrorCode.NOT_IMPLEMENTED, f"unknown action {action}")
        self._strict(schema, payload)

    def outgoing_result(self, action: str, payload: Payload) -> None:
        """Check one of our CallResults answering the charger's CALL `action`."""
        schema = self._schemas.response(action)
        if schema is not None:
            self._strict(schema, payload)

    @staticmethod
    def _strict(schema: _Schema, payload: Payload) -> None:
        try:
            schema.check(payload)
        except fastjsonschema.JsonSchemaException:
            raise schema.failure(payload) from None

    def _incoming(self, schema: _Schema, payload: Payload) -> Payload:
        try:
            schema.check(payload)
        except fastjsonschema.JsonSchemaException:
            if not self.lenient:
                raise schema.failure(payload) from None
            return self._normalise(schema, payload)
        return payload

    def _normalise(self, schema: _Schema, payload: Payload) -> Payload:
        """Fix known quirks until the payload validates or an error is not a known quirk."""
        for _ in range(_MAX_LENIENT_ROUNDS):
            errors = list(schema.reference.iter_errors(payload))
            if not errors:
                return payload
            # Deepest first, so that deleting a field never shifts a path still to fix.
            errors.sort(key=lambda error: len(error.absolute_path), reverse=True)
            if not all(self._fix(schema.name, payload, error) for error in errors):
                break
        raise schema.failure(payload)

    def _fix(self, name: str, payload: Payload, error: ValidationError) -> bool:
        """Fix one error in place if it is a known quirk; log it (rate-limited per quirk)."""
        fixed = _fixed_value(error)
        if fixed is None:
            return False
        quirk, value = fixed
        if value is not error.instance:  # a new value: write it into the parent
            path = error.absolute_path
            if not path:
                return False
            parent = _parent(payload, path)
            if value is _DELETE:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
        # The path runs through the schema's own field names (a quirk is found only in a
        # known field), so the kinds stay a bounded set; the value is never logged.
        where = ".".join(str(part) for part in error.absolute_path if not isinstance(part, int))
        logs.problem(
            _LOGGER,
            self.charge_box_id,
            f"{quirk} in {name} {where}",
            "Charger %s sent %s in %s %s (accepted in lenient mode)",
            self.charge_box_id,
            quirk,
            name,
            where or "payload",
            interval=QUIRK_INTERVAL,
        )
        return True


_DELETE: Final = object()


def _fixed_value(error: ValidationError) -> tuple[str, object] | None:
    """Name the quirk behind `error` and give the value replacing the failing one.

    The value is `_DELETE` to drop the field, or `error.instance` itself when the fix
    was made in place; None when the error is not a known quirk.
    """
    value = error.instance
    keyword = error.validator
    rule = error.validator_value
    if keyword == "additionalProperties" and isinstance(value, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        for extra in [field for field in value if field not in known]:
            del value[extra]
        return "unknown fields", value
    if keyword == "maxLength" and isinstance(value, str) and isinstance(rule, int):
        return "an over-long string", value[:rule]
    if keyword == "type" and isinstance(value, int | float) and not isinstance(value, bool):
        if rule == "string":
            return "a number for a string", str(value)
        if rule == "integer" and isinstance(value, float) and value.is_integer():
            return "a whole float for an integer", int(value)
        return None
    path = error.absolute_path
    if keyword == "enum" and path and path[-1] == "unit" and isinstance(value, str):
        return "an unknown unit", _unit_alias(value, rule) or _DELETE
    if keyword == "format" and rule == "date-time" and isinstance(value, str):
        match = _NAIVE_DATE_TIME.fullmatch(value)
        if match is not None and _is_calendar_date(match):
            return "a timestamp without time zone", f"{value[:10]}T{value[11:]}Z"
    return None


def _parent(payload: Payload, path: Sequence[str | int]) -> Any:
    """The object or list holding the value at `path` (not empty)."""
    node: Any = payload
    for part in list(path)[:-1]:
        node = node[part]
    return node


def _unit_alias(unit: str, allowed: object) -> str | None:
    folded = unit.casefold()
    alias = _UNIT_ALIASES.get(folded)
    if alias is not None:
        return alias
    if isinstance(allowed, list):
        for candidate in allowed:
            if isinstance(candidate, str) and candidate.casefold() == folded:
                return candidate
    return None
