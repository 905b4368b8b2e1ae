"""Errors of the OCPP-J 1.6 RPC layer, named as in OCPP-J 1.6 section 4.2.3 (table 7)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

import orjson

# What a CallError we send may carry, whatever the charger sent (OCPP-J 1.6 section 4.2.3
# sets no limit): errorDescription and errorDetails take at most this many bytes each as
# JSON text, so a reply never echoes unbounded input. With a message id of at most 36
# characters (section 4.1.4) and the longest code, a whole CallError frame stays under
# MAX_CALL_ERROR_SIZE bytes.
MAX_ERROR_DESCRIPTION: Final = 200
MAX_ERROR_DETAILS: Final = 200
MAX_CALL_ERROR_SIZE: Final = 1024
_CUT: Final = "..."


class CallErrorCode(StrEnum):
    """The CallError codes of OCPP-J 1.6 section 4.2.3 (spelling as in the spec)."""

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    # "Occurence" is misspelled in the spec and must stay so on the wire.
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"

    @classmethod
    def from_wire(cls, text: object) -> CallErrorCode | None:
        """Read a received errorCode; also the OCPP 2.0 spellings some firmware sends."""
        if not isinstance(text, str):
            return None
        try:
            return cls(text)
        except ValueError:
            return _CODE_ALIASES.get(text)


# The OCPP 2.0 names of two 1.6 codes ("FormatViolation", corrected "Occurrence").
_CODE_ALIASES = {
    "FormatViolation": CallErrorCode.FORMATION_VIOLATION,
    "OccurrenceConstraintViolation": CallErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
}


def bounded_description(text: str) -> str:
    """`text` cut so that it takes at most MAX_ERROR_DESCRIPTION bytes as a JSON string.

    A character takes 1 to 6 bytes in JSON (multi-byte UTF-8, escapes), so the cut is
    measured on the encoded text; a cut description ends in "...".
    """
    limit = MAX_ERROR_DESCRIPTION
    if len(text) * 6 <= limit:  # surely short enough: nothing to measure
        return text
    if len(text) <= limit and len(orjson.dumps(text)) - 2 <= limit:
        return text
    cut = text[: limit - len(_CUT)]
    # Removing n characters removes at least n bytes: one or two rounds at most.
    while (excess := len(orjson.dumps(cut)) - 2 + len(_CUT) - limit) > 0:
        cut = cut[:-excess]
    return cut + _CUT


def bounded_details(details: dict[str, Any] | None) -> dict[str, Any]:
    """`details` if they take at most MAX_ERROR_DETAILS bytes as JSON, else none (`{}`)."""
    if not details or len(orjson.dumps(details)) > MAX_ERROR_DETAILS:
        return {}
    return details


class OcppError(Exception):
    """Base of every error the protocol package raises."""


class CallError(OcppError):
    """A CallError: raised by a handler to answer a CALL, or received for our own CALL."""

    def __init__(
        self,
        code: CallErrorCode,
        description: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        """Keep the code, description and details that go on the wire."""
        super().__init__(f"{code}: {description}" if description else str(code))
        self.code = code
        self.description = description
        self.details: dict[str, Any] = details if details is not None else {}


class CallErrorReceived(CallError):
    """The charger answered one of our CALLs with a CallError."""


class CallTimeoutError(OcppError):
    """The charger did not answer one of our CALLs within the response timeout."""


class NotConnectedError(OcppError):
    """A command was sent to a charger that is not connected (or got disconnected)."""


class ValidationFailed(CallError):
    """A payload broke its OCPP 1.6 JSON schema (incoming or outgoing)."""
