"""Reading a charger's configuration keys (GetConfiguration, OCPP 1.6 sections 5.8 and 9).

Keys are CiString50Type (sections 6.9 and 7.17; section 2.2: a CiString is a
case-insensitive string), so `SupportedFeatureProfiles` and `supportedfeatureprofiles` are one
key. Every reader of `ChargerState.configuration` goes through `lookup` and the typed
readers below instead of indexing the mapping: firmware spells keys as it likes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from .state import ConfigurationValue

__all__ = [
    "find",
    "has",
    "list_contains",
    "lookup",
    "lookup_bool",
    "lookup_int",
    "lookup_list",
]

_TRUE: Final = "true"
_FALSE: Final = "false"


def find(configuration: Mapping[str, ConfigurationValue], key: str) -> ConfigurationValue | None:
    """The entry of `key`, comparing keys case-insensitively (an exact match first)."""
    found = configuration.get(key)
    if found is None:
        folded = key.casefold()
        found = next((v for k, v in configuration.items() if k.casefold() == folded), None)
    return found


def has(configuration: Mapping[str, ConfigurationValue], key: str) -> bool:
    """Whether the charger reported `key` (in any spelling)."""
    return find(configuration, key) is not None


def lookup(configuration: Mapping[str, ConfigurationValue], key: str) -> str | None:
    """The value of `key` as text; None when not reported (or reported without value)."""
    found = find(configuration, key)
    return None if found is None else found.value


def lookup_int(configuration: Mapping[str, ConfigurationValue], key: str) -> int | None:
    """An integer key (section 9 type "integer"); None when absent or not a number >= 0."""
    text = lookup(configuration, key)
    if text is None or not text.strip().isdigit():
        return None
    return int(text.strip())


def lookup_bool(configuration: Mapping[str, ConfigurationValue], key: str) -> bool | None:
    """A boolean key (section 9 type "boolean", "true"/"false" in any case); None if unclear."""
    text = lookup(configuration, key)
    if text is None:
        return None
    folded = text.strip().casefold()
    if folded == _TRUE:
        return True
    if folded == _FALSE:
        return False
    return None


def lookup_list(configuration: Mapping[str, ConfigurationValue], key: str) -> list[str] | None:
    """A comma-separated list (section 9 type "CSL") as its stripped items; None if absent."""
    text = lookup(configuration, key)
    if text is None:
        return None
    return [item.strip() for item in text.split(",") if item.strip()]


def list_contains(
    configuration: Mapping[str, ConfigurationValue], key: str, item: str
) -> bool | None:
    """Whether the CSL `key` holds `item` (case-insensitively); None when not reported."""
    items = lookup_list(configuration, key)
    if items is None:
        return None
    folded = item.casefold()
    return any(entry.casefold() == folded for entry in items)
