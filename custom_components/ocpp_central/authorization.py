"""Who may charge: the id-tag subentries as rules, answered to Authorize and StartTransaction.

`Authorizer` reads the id-tag subentries and the unknown-tag policy of the entry and gives
the IdTagInfo of a tag (OCPP 1.6 section 7.27): accepted, blocked or expired, with its
expiry and parent tag; the remote start tag is always accepted. Its `local_list` is the
list every capable charger should hold (sections 5.10 and 5.15; the runtime pushes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.util import dt as dt_util

from .const import (
    CONF_EXPIRY,
    CONF_ID_TAG,
    CONF_PARENT_ID_TAG,
    CONF_STATUS,
    CONF_UNKNOWN_TAGS,
    DEFAULT_REMOTE_ID_TAG,
    DEFAULT_UNKNOWN_TAGS,
    SUBENTRY_ID_TAG,
    TAG_STATUS_BLOCKED,
    UNKNOWN_TAGS_ACCEPT,
)
from .protocol.vocabulary import AuthorizationStatus


def _parse_expiry(value: Any) -> datetime | None:
    """The expiry of an id-tag subentry (stored as an ISO 8601 UTC timestamp)."""
    if not value:
        return None
    parsed = dt_util.parse_datetime(str(value))
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt_util.get_default_time_zone())
    return parsed


@dataclass(frozen=True, slots=True)
class TagRule:
    """One id tag of the configuration."""

    id_tag: str
    blocked: bool
    expiry: datetime | None
    parent_id_tag: str | None

    def id_tag_info(self, now: datetime) -> dict[str, Any]:
        """The IdTagInfo (OCPP 1.6 section 7.27) for this tag at `now`."""
        status = AuthorizationStatus.blocked if self.blocked else AuthorizationStatus.accepted
        if (
            status == AuthorizationStatus.accepted
            and self.expiry is not None
            and self.expiry <= now
        ):
            status = AuthorizationStatus.expired
        info: dict[str, Any] = {"status": status}
        if self.expiry is not None:
            info["expiryDate"] = self.expiry.isoformat()
        if self.parent_id_tag:
            info["parentIdTag"] = self.parent_id_tag
        return info


class Authorizer:
    """Answers Authorize and StartTransaction from the id-tag subentries and the policy."""

    def __init__(self) -> None:
        """Start with no tags; `update` reads them from the entry."""
        # IdToken is case-insensitive (OCPP 1.6 section 7.28).
        self._tags: dict[str, TagRule] = {}
        self._accept_unknown = False

    def update(self, entry: ConfigEntry[Any]) -> bool:
        """Read tags and the unknown-tag policy; return whether the tags changed."""
        tags: dict[str, TagRule] = {}
        for subentry in entry.subentries.values():
            if subentry.subentry_type != SUBENTRY_ID_TAG:
                continue
            data = subentry.data
            rule = TagRule(
                id_tag=data[CONF_ID_TAG],
                blocked=data.get(CONF_STATUS) == TAG_STATUS_BLOCKED,
                expiry=_parse_expiry(data.get(CONF_EXPIRY)),
                parent_id_tag=data.get(CONF_PARENT_ID_TAG) or None,
            )
            tags[rule.id_tag.casefold()] = rule
        self._accept_unknown = (
            entry.options.get(CONF_UNKNOWN_TAGS, DEFAULT_UNKNOWN_TAGS) == UNKNOWN_TAGS_ACCEPT
        )
        changed = tags != self._tags
        self._tags = tags
        return changed

    def authorize(self, id_tag: str) -> dict[str, Any]:
        """The IdTagInfo for `id_tag` now."""
        if id_tag.casefold() == DEFAULT_REMOTE_ID_TAG.casefold():
            return {"status": AuthorizationStatus.accepted}
        rule = self._tags.get(id_tag.casefold())
        if rule is None:
            unknown = self._accept_unknown
            return {
                "status": AuthorizationStatus.accepted if unknown else AuthorizationStatus.invalid
            }
        return rule.id_tag_info(dt_util.utcnow())

    def local_list(self) -> dict[str, dict[str, Any]]:
        """The local authorisation list every capable charger should hold."""
        now = dt_util.utcnow()
        return {rule.id_tag: rule.id_tag_info(now) for rule in self._tags.values()}
