"""What the user sets for forwarding a charger upstream, and the link's states.

See `protocol.upstream` for what the link does with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote, unquote, urlsplit, urlunsplit


class UpstreamMode(StrEnum):
    """Who is in charge of the charger (see the module docstring)."""

    FULL = "full"  # the upstream authorises, bills and may command the charger
    OBSERVE = "observe"  # the upstream gets copies; its commands are refused


class UpstreamStatus(StrEnum):
    """The link's state, as shown to the user."""

    CONNECTING = "connecting"  # no connection yet, or trying again after one ended
    PENDING = "pending"  # connected, the boot not (yet) accepted
    ONLINE = "online"  # connected and the boot accepted: messages flow
    REFUSED = "refused"  # the upstream answered 401, 403 or 404
    UNREACHABLE = "unreachable"  # any other failure to connect


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamConfig:
    """Where and how to forward one charger."""

    url: str  # ws:// or wss://; the identity is appended as last path segment
    charge_box_id: str  # the identity at the upstream (commonly the charger's own)
    password: str | None = None
    mode: UpstreamMode = UpstreamMode.FULL

    @property
    def endpoint(self) -> str:
        """The URL to connect to: `url` + "/" + percent-encoded identity (OCPP-J 3.1.1).

        A URL whose path already ends with the identity is taken as it is; a query
        string stays at the end.
        """
        parts = urlsplit(self.url.strip())
        path = parts.path.rstrip("/")
        if unquote(path.rpartition("/")[2]) != self.charge_box_id:
            path = f"{path}/{quote(self.charge_box_id, safe='')}"
        return urlunsplit(parts._replace(path=path))


def valid_upstream_url(url: str) -> bool:
    """Whether `url` can name an upstream: ws:// or wss:// with a host.

    Credentials in the URL (user:password@) are refused: the password has a field of its
    own, kept out of the URL that log lines and diagnostics show.
    """
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return False
    return (
        parts.scheme in {"ws", "wss"}
        and bool(parts.hostname)
        and port_ok
        and "@" not in parts.netloc
    )
