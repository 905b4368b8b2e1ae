"""Checks of config form values, and probes of where a central system would listen.

Syntax checks of hosts, charge box ids, passwords and id tags. The probes bind the host and
port and load the TLS files; they block (sockets, files): run them in the executor.
`load_server_ssl_context` is the one loader of the central system's certificate and key, for
the form and for the server.
"""

from __future__ import annotations

from collections.abc import Mapping
import errno
import ipaddress
import re
import socket
import ssl
from typing import Any, Final

from .const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL_CERTFILE,
    CONF_SSL_KEYFILE,
    MAX_ID_TAG_LENGTH,
    MAX_PASSWORD_BYTES,
    MIN_PASSWORD_BYTES,
)
from .protocol.server import valid_charge_box_id as protocol_valid_charge_box_id

# Error keys (translated in strings.json: config.error).
ERROR_INVALID_HOST: Final = "invalid_host"
ERROR_PORT_IN_USE: Final = "port_in_use"
ERROR_CANNOT_BIND: Final = "cannot_bind"
ERROR_SSL_BOTH_REQUIRED: Final = "ssl_both_required"
ERROR_SSL_INVALID: Final = "ssl_invalid"

# Which bind failure means what to the user; every other OSError is ERROR_CANNOT_BIND.
_BIND_ERRORS: Final[Mapping[int, str]] = {
    errno.EADDRINUSE: ERROR_PORT_IN_USE,
    errno.EADDRNOTAVAIL: ERROR_INVALID_HOST,
}

# RFC 1123 host name label; the whole name is at most 253 characters.
_HOSTNAME_LABEL: Final = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_MAX_HOSTNAME_LENGTH: Final = 253


def valid_host(host: str) -> bool:
    """Tell whether host is an IP address or an RFC 1123 host name (checked before any lookup)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        name = host.removesuffix(".")
        return 0 < len(name) <= _MAX_HOSTNAME_LENGTH and all(
            _HOSTNAME_LABEL.fullmatch(label) for label in name.split(".")
        )
    return True


def valid_charge_box_id(charge_box_id: str) -> bool:
    """Tell whether a charge box id is one the central system admits (no edge spaces)."""
    return charge_box_id == charge_box_id.strip() and protocol_valid_charge_box_id(charge_box_id)


def valid_password(password: str) -> bool:
    """Tell whether a password fits the AuthorizationKey configuration key.

    OCPP 1.6 security whitepaper A00.FR.205 and 7.2: at least 16 bytes, at most 20 bytes
    represented as up to 40 hexadecimal digits, so 16..40 bytes as sent in HTTP Basic.
    """
    return MIN_PASSWORD_BYTES <= len(password.encode()) <= MAX_PASSWORD_BYTES


def valid_id_tag(id_tag: str) -> bool:
    """Tell whether id_tag is an IdToken: CiString20Type, printable ASCII (OCPP 1.6 7.15, 7.28)."""
    return 0 < len(id_tag) <= MAX_ID_TAG_LENGTH and all(" " <= char <= "~" for char in id_tag)


def load_server_ssl_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """Load the central system's certificate and key into a server TLS context.

    Blocking (reads files): run it in the executor. Raises OSError when a file cannot be
    read and ssl.SSLError when they are no PEM certificate chain and matching key.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    return context


def _bind_error(host: str, port: int) -> str | None:
    """Return why a server cannot listen on host:port, or None when it can.

    Blocking: run it in the executor. Binds every address the host resolves to, the way
    asyncio's create_server does (SO_REUSEADDR, IPv6 sockets v6-only), then releases them
    at once. Port 0 checks the host only.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror, UnicodeError:
        return ERROR_INVALID_HOST
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as err:
        return _BIND_ERRORS.get(err.errno or 0, ERROR_CANNOT_BIND)
    finally:
        for sock in sockets:
            sock.close()
    return None


def _tls_error(data: Mapping[str, Any]) -> tuple[str, str] | None:
    """Return (field, error) when the TLS files are incomplete or do not load; blocking."""
    certfile = data.get(CONF_SSL_CERTFILE)
    keyfile = data.get(CONF_SSL_KEYFILE)
    if certfile is None and keyfile is None:
        return None
    if certfile is None or keyfile is None:
        missing = CONF_SSL_CERTFILE if certfile is None else CONF_SSL_KEYFILE
        return missing, ERROR_SSL_BOTH_REQUIRED
    try:
        load_server_ssl_context(certfile, keyfile)
    except OSError, ssl.SSLError:
        return "base", ERROR_SSL_INVALID
    return None


def central_errors(data: Mapping[str, Any], bind_port: int) -> dict[str, str]:
    """Check a central system's settings: host syntax, TLS files, then whether it can listen."""
    if not valid_host(data[CONF_HOST]):
        return {CONF_HOST: ERROR_INVALID_HOST}
    if tls_error := _tls_error(data):
        field, error = tls_error
        return {field: error}
    if bind_error := _bind_error(data[CONF_HOST], bind_port):
        field = {ERROR_PORT_IN_USE: CONF_PORT, ERROR_INVALID_HOST: CONF_HOST}.get(
            bind_error, "base"
        )
        return {field: bind_error}
    return {}
