"""Setting up and unloading a central system: the port, TLS files, repairs, Home Assistant stop."""

from __future__ import annotations

import socket

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.ocpp_central.const import CONF_SSL_CERTFILE, CONF_SSL_KEYFILE, DOMAIN

from .conftest import ChargerFactory, ConfigEntryFactory, TlsFiles, setup_entry


def _port_free(port: int) -> bool:
    """Whether a new server could listen on `port` (closed connections may linger in TIME_WAIT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_setup_unload_frees_port(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    charger: ChargerFactory,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=["CP1"])
    runtime = await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    assert runtime.central.port == free_port
    assert not _port_free(free_port)
    await charger(free_port, "CP1")

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert _port_free(free_port)


async def test_port_in_use_not_ready_with_repair(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, free_port: int
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", free_port))
        blocker.listen()
        entry = mock_config_entry(port=free_port)
        assert not await hass.config_entries.async_setup(entry.entry_id)
        assert entry.state is ConfigEntryState.SETUP_RETRY
        assert entry.reason is not None
        issue = ir.async_get(hass).async_get_issue(DOMAIN, f"port_in_use_{entry.entry_id}")
        assert issue is not None
        assert issue.translation_key == "port_in_use"
    # Once the port is free the retry succeeds and the repair goes away.
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"port_in_use_{entry.entry_id}") is None
    await hass.config_entries.async_unload(entry.entry_id)


async def test_unreadable_tls_files_not_ready(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, free_port: int, tmp_path
) -> None:
    entry = mock_config_entry(
        port=free_port,
        data={
            CONF_SSL_CERTFILE: str(tmp_path / "missing.pem"),
            CONF_SSL_KEYFILE: str(tmp_path / "missing.key"),
        },
    )
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"tls_invalid_{entry.entry_id}")
    assert issue is not None
    assert _port_free(free_port)


async def test_tls_setup(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    tls_files: TlsFiles,
) -> None:
    entry = mock_config_entry(
        port=free_port,
        data={
            CONF_SSL_CERTFILE: str(tls_files.certfile),
            CONF_SSL_KEYFILE: str(tls_files.keyfile),
        },
    )
    runtime = await setup_entry(hass, entry)
    assert runtime.central.ssl_context is not None
    await hass.config_entries.async_unload(entry.entry_id)


async def test_home_assistant_stop_closes_server(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, free_port: int
) -> None:
    entry = mock_config_entry(port=free_port)
    await setup_entry(hass, entry)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert _port_free(free_port)
    # Unloading afterwards is harmless.
    assert await hass.config_entries.async_unload(entry.entry_id)
