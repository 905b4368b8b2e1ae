"""Shared fixtures of the Home Assistant tests.

- `auto_enable_custom_integrations` (autouse): lets Home Assistant load this integration.
- `mock_setup_entry`: patches the integration's `async_setup_entry` and `async_unload_entry`
  out (both return True), for tests of flows that must not start a central system.
- `free_port`: a TCP port on 127.0.0.1 that was free a moment ago (sockets enabled).
- `tls_files`: a self-signed certificate and key (PEM files) for localhost and 127.0.0.1.
- `mock_config_entry`: a factory that adds a central system entry to hass, with charger and
  id-tag subentries built by `charger_subentry` and `id_tag_subentry`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import ipaddress
from pathlib import Path
import socket
from typing import Any, Protocol
from unittest.mock import AsyncMock, patch

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from homeassistant.config_entries import ConfigEntry, ConfigSubentryData
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ocpp_central.config_flow import (
    central_title,
    id_tag_title,
    id_tag_unique_id,
)
from custom_components.ocpp_central.const import (
    CONF_CHARGE_BOX_ID,
    CONF_HEARTBEAT_INTERVAL,
    CONF_HOST,
    CONF_ID_TAG,
    CONF_LENIENT,
    CONF_MAX_CURRENT,
    CONF_METER_INTERVAL,
    CONF_PORT,
    CONF_STATUS,
    CONF_UNKNOWN_CHARGERS,
    CONF_UNKNOWN_TAGS,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_MAX_CURRENT,
    DEFAULT_METER_INTERVAL,
    DEFAULT_UNKNOWN_CHARGERS,
    DEFAULT_UNKNOWN_TAGS,
    DOMAIN,
    SUBENTRY_CHARGER,
    SUBENTRY_ID_TAG,
    TAG_STATUS_ACCEPTED,
)

LOOPBACK = "127.0.0.1"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/ocpp_central in every test."""


@pytest.fixture
def mock_setup_entry() -> Generator[AsyncMock]:
    """Patch out setting the integration up and unloading it; yield the setup mock.

    Entries then load (and reload) without starting a server or holding runtime data.
    """
    with (
        patch("custom_components.ocpp_central.async_setup_entry", return_value=True) as mock_setup,
        patch("custom_components.ocpp_central.async_unload_entry", return_value=True),
    ):
        yield mock_setup


@pytest.fixture
def free_port(socket_enabled: None) -> int:
    """Return a port on 127.0.0.1 that was free when asked (the socket is closed again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Paths of a PEM certificate and its private key."""

    certfile: Path
    keyfile: Path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """Write a self-signed certificate for localhost and 127.0.0.1, valid for a day."""
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(certfile=directory / "cert.pem", keyfile=directory / "key.pem")
    files.certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files.keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def charger_subentry(charge_box_id: str, **data: Any) -> ConfigSubentryData:
    """Return a charger subentry as the charger flow stores it; data overrides defaults."""
    return ConfigSubentryData(
        data={
            CONF_CHARGE_BOX_ID: charge_box_id,
            CONF_HEARTBEAT_INTERVAL: DEFAULT_HEARTBEAT_INTERVAL,
            CONF_METER_INTERVAL: DEFAULT_METER_INTERVAL,
            CONF_MAX_CURRENT: DEFAULT_MAX_CURRENT,
            CONF_LENIENT: False,
            **data,
        },
        subentry_type=SUBENTRY_CHARGER,
        title=charge_box_id,
        unique_id=charge_box_id,
    )


def id_tag_subentry(id_tag: str, **data: Any) -> ConfigSubentryData:
    """Return an id-tag subentry as the id-tag flow stores it; data overrides defaults."""
    values = {CONF_ID_TAG: id_tag, CONF_STATUS: TAG_STATUS_ACCEPTED, **data}
    return ConfigSubentryData(
        data=values,
        subentry_type=SUBENTRY_ID_TAG,
        title=id_tag_title(values),
        unique_id=id_tag_unique_id(id_tag),
    )


class ConfigEntryFactory(Protocol):
    """Signature of the `mock_config_entry` fixture."""

    def __call__(
        self,
        *,
        port: int = ...,
        host: str = ...,
        data: Mapping[str, Any] | None = ...,
        options: Mapping[str, Any] | None = ...,
        chargers: Iterable[str | ConfigSubentryData] = ...,
        id_tags: Iterable[str | ConfigSubentryData] = ...,
    ) -> MockConfigEntry: ...


@pytest.fixture
def mock_config_entry(hass: HomeAssistant) -> ConfigEntryFactory:
    """Return a factory that adds a central system entry (not set up) to hass.

    Chargers and id tags are given as ids (stored with default settings) or as subentries
    from `charger_subentry` / `id_tag_subentry`.
    """

    def factory(
        *,
        port: int = 9000,
        host: str = LOOPBACK,
        data: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        chargers: Iterable[str | ConfigSubentryData] = (),
        id_tags: Iterable[str | ConfigSubentryData] = (),
    ) -> MockConfigEntry:
        subentries = [
            *(_as_subentry(charger, charger_subentry) for charger in chargers),
            *(_as_subentry(tag, id_tag_subentry) for tag in id_tags),
        ]
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=central_title(port),
            data={CONF_HOST: host, CONF_PORT: port, **(data or {})},
            options=options
            or {
                CONF_UNKNOWN_CHARGERS: DEFAULT_UNKNOWN_CHARGERS,
                CONF_UNKNOWN_TAGS: DEFAULT_UNKNOWN_TAGS,
            },
            subentries_data=subentries,
        )
        entry.add_to_hass(hass)
        return entry

    return factory


def _as_subentry(
    item: str | ConfigSubentryData, build: Callable[[str], ConfigSubentryData]
) -> ConfigSubentryData:
    """Build a default subentry from a bare id; pass a ready subentry through."""
    return build(item) if isinstance(item, str) else item


# What to undo when the current test ends; see `after_test`.
_TEARDOWN: list[Callable[[], None]] = []


def after_test(undo: Callable[[], None]) -> None:
    """Run `undo` when the current test ends, e.g. disconnect a charger it connected."""
    _TEARDOWN.append(undo)


@pytest.fixture(autouse=True)
def _disconnect_chargers() -> Generator[None]:
    """Disconnect every charger a test connected: its session's background work ends."""
    yield
    while _TEARDOWN:
        _TEARDOWN.pop()()


async def load_with_runtime(
    hass: HomeAssistant, entry: MockConfigEntry, runtime: Any, platforms: list[Platform]
) -> None:
    """Set `entry` up with a hand-built `runtime` and only `platforms`, without a server.

    For entity tests that drive a real ChargerSession directly through `handle_call`.
    """

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
        entry.runtime_data = runtime
        await hass.config_entries.async_forward_entry_setups(entry, platforms)
        return True

    async def unload_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
        return await hass.config_entries.async_unload_platforms(entry, platforms)

    with (
        patch("custom_components.ocpp_central.async_setup_entry", setup_entry),
        patch("custom_components.ocpp_central.async_unload_entry", unload_entry),
        patch("custom_components.ocpp_central.PLATFORMS", platforms, create=True),
    ):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
