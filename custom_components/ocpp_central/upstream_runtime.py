"""Keep your backend in Home Assistant: one `UpstreamLink` per forwarded charger.

`UpstreamForwarding` keeps the links in step with the charger subentries' `upstream`
section (`config_values.upstream_options`): a link starts when a charger gets an upstream
URL, is replaced when the section changes and stops when it is cleared or the charger goes.
Each link's queue and transaction ids live in the entry's store (`OcppStore.follow_upstream`),
so a restart loses nothing of what the upstream has not heard yet. Its state drives the
`upstream_connected` binary sensor (`upstream_entity.py`) and two repair issues: the upstream
refused the charger (HTTP 401, 403 or 404, or no OCPP 1.6), or it was unreachable for
`UNREACHABLE_AFTER` (an hour). Who keeps the charger's local authorisation list
(`controls_local_list`): the upstream in mode full, Home Assistant in mode observe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import logging
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from . import repairs
from .const import (
    CONF_CHARGE_BOX_ID,
    CONF_PASSWORD,
    CONF_UPSTREAM,
    CONF_UPSTREAM_MODE,
    CONF_UPSTREAM_URL,
    DEFAULT_REMOTE_ID_TAG,
    UPSTREAM_MODE_FULL,
)
from .protocol.listeners import Listeners
from .protocol.session import ChargerSession
from .protocol.upstream import UpstreamConfig, UpstreamLink, UpstreamMode, UpstreamStatus
from .store import OcppStore

_LOGGER = logging.getLogger(__name__)

# Extra keyword arguments of every `UpstreamLink` (tests shorten the backoff with them).
LINK_OPTIONS: Final[dict[str, Any]] = {}

type UpstreamListener = Callable[[str, UpstreamLink | None], None]
"""Told of every link started (charge box id, link) and stopped (charge box id, None)."""


def upstream_config(subentry: ConfigSubentry) -> UpstreamConfig | None:
    """The upstream settings of a charger subentry; None when it is not forwarded."""
    data = subentry.data
    upstream: Mapping[str, Any] | None = data.get(CONF_UPSTREAM)
    if not upstream or not upstream.get(CONF_UPSTREAM_URL):
        return None
    return UpstreamConfig(
        url=upstream[CONF_UPSTREAM_URL],
        charge_box_id=upstream.get(CONF_CHARGE_BOX_ID) or data[CONF_CHARGE_BOX_ID],
        password=upstream.get(CONF_PASSWORD) or None,
        mode=UpstreamMode(upstream.get(CONF_UPSTREAM_MODE, UPSTREAM_MODE_FULL)),
    )


class UpstreamForwarding:
    """The upstream links of one config entry, by the local charge box id."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        store: OcppStore,
    ) -> None:
        """Prepare; links start as `async_set` finds chargers with an upstream."""
        self.hass = hass
        self.entry = entry
        self.store = store
        self._links: dict[str, UpstreamLink] = {}
        self._listeners: Listeners[[str, UpstreamLink | None]] = Listeners()
        # Who follows a charger's link status (kept while its link is replaced).
        self._followers: dict[str, Listeners[[]]] = {}

    def link(self, charge_box_id: str) -> UpstreamLink | None:
        """The running link of a charger, if it is forwarded."""
        return self._links.get(charge_box_id)

    def controls_local_list(self, charge_box_id: str) -> bool:
        """Whether the upstream keeps the charger's local list (mode full), not Home Assistant."""
        link = self.link(charge_box_id)
        return link is not None and link.config.mode is UpstreamMode.FULL

    @callback
    def async_add_listener(self, listener: UpstreamListener) -> CALLBACK_TYPE:
        """Call `listener` for every running link now and for each one started or stopped.

        A link replaced by another (new URL or mode) is told as the new one only.
        """
        remove = self._listeners.add(listener)
        for charge_box_id, link in self._links.items():
            listener(charge_box_id, link)
        return remove

    @callback
    def async_follow(self, charge_box_id: str, listener: Callable[[], None]) -> CALLBACK_TYPE:
        """Call `listener` at every change of the charger's link or of its status."""
        return self._followers.setdefault(charge_box_id, Listeners()).add(listener)

    @callback
    def async_set(self, subentry: ConfigSubentry, session: ChargerSession) -> None:
        """Start, replace or stop the charger's link as its subentry says."""
        charge_box_id = subentry.data[CONF_CHARGE_BOX_ID]
        config = upstream_config(subentry)
        current = self._links.get(charge_box_id)
        if current is not None and current.config == config:
            return
        if current is not None:
            self._stop(charge_box_id, forget=config is None)
        if config is None:
            self._notify(charge_box_id, None)
            return
        link = UpstreamLink(
            config,
            session,
            restored=self.store.upstream(charge_box_id),
            on_status=lambda: self._status_changed(charge_box_id),
            on_save=self.store.upstream_changed,
            local_tags=(DEFAULT_REMOTE_ID_TAG,),
            **LINK_OPTIONS,
        )
        self._links[charge_box_id] = link
        self.store.follow_upstream(charge_box_id, link.snapshot)
        link.start()
        _LOGGER.info(
            "Forwarding charger %s to %s (mode %s)", charge_box_id, config.url, config.mode
        )
        self._notify(charge_box_id, link)
        self._status_changed(charge_box_id)

    @callback
    def async_remove(self, charge_box_id: str) -> None:
        """The charger was removed: stop its link and forget its data."""
        if charge_box_id in self._links:
            self._stop(charge_box_id, forget=True)
            self._notify(charge_box_id, None)
        self._followers.pop(charge_box_id, None)
        self._delete_issues(charge_box_id)

    async def async_stop(self) -> None:
        """Stop every link (Home Assistant stops or the entry unloads); the data stays."""
        links = list(self._links.items())
        self._links.clear()
        self._followers.clear()
        for charge_box_id, link in links:
            await link.stop()
            self.store.follow_upstream(charge_box_id, None)

    def _stop(self, charge_box_id: str, *, forget: bool) -> None:
        link = self._links.pop(charge_box_id)
        if forget:
            self.store.forget_upstream(charge_box_id)
        else:
            # Replaced by a new link (another URL or mode): the queue carries over.
            self.store.follow_upstream(charge_box_id, None)
        self._delete_issues(charge_box_id)
        self.entry.async_create_task(self.hass, link.stop(), f"stop forwarding {charge_box_id}")

    def _notify(self, charge_box_id: str, link: UpstreamLink | None) -> None:
        self._listeners(charge_box_id, link)

    @callback
    def _status_changed(self, charge_box_id: str) -> None:
        link = self._links.get(charge_box_id)
        if link is None:
            return
        self._update_issues(charge_box_id, link)
        if (followers := self._followers.get(charge_box_id)) is not None:
            followers()

    def _update_issues(self, charge_box_id: str, link: UpstreamLink) -> None:
        """A refusal at once, a long outage after UNREACHABLE_AFTER; cleared once online."""
        hass = self.hass
        placeholders = {"charge_box_id": charge_box_id, "url": link.config.url}
        if link.status is UpstreamStatus.REFUSED:
            code = link.refused_code
            reason = f"HTTP {code}" if code else "no OCPP 1.6"
            repairs.async_raise(
                hass,
                repairs.ISSUE_UPSTREAM_REFUSED,
                charge_box_id,
                placeholders | {"reason": reason},
                severity=ir.IssueSeverity.ERROR,
            )
        elif link.online:
            repairs.async_clear(hass, repairs.ISSUE_UPSTREAM_REFUSED, charge_box_id)
        if link.long_unreachable and link.status is not UpstreamStatus.REFUSED:
            repairs.async_raise(
                hass,
                repairs.ISSUE_UPSTREAM_UNREACHABLE,
                charge_box_id,
                placeholders | {"queued": str(len(link.queue))},
            )
        elif link.online:
            repairs.async_clear(hass, repairs.ISSUE_UPSTREAM_UNREACHABLE, charge_box_id)

    def _delete_issues(self, charge_box_id: str) -> None:
        for kind in repairs.UPSTREAM_ISSUES:
            repairs.async_clear(self.hass, kind, charge_box_id)
