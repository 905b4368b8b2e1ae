"""Tests of the config flows: central system entry, options, reconfigure, subentries, discovery."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import replace
import errno
import json
from pathlib import Path
import re
import socket
from types import MappingProxyType
from typing import Any
from unittest.mock import AsyncMock, patch

from homeassistant.config_entries import (
    SOURCE_IGNORE,
    SOURCE_INTEGRATION_DISCOVERY,
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntry,
    ConfigSubentry,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType, InvalidData
from homeassistant.helpers import config_validation as cv, entity_registry as er
from homeassistant.helpers.json import json_dumps
import probatio
import pytest

from custom_components import ocpp_central
from custom_components.ocpp_central.const import (
    CONF_CHARGE_BOX_ID,
    CONF_CLEAR_PASSWORD,
    CONF_EXPIRY,
    CONF_HEARTBEAT_INTERVAL,
    CONF_HOST,
    CONF_ID_TAG,
    CONF_LENIENT,
    CONF_MAX_CURRENT,
    CONF_METER_INTERVAL,
    CONF_NAME,
    CONF_PARENT_ID_TAG,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_SSL_CERTFILE,
    CONF_SSL_KEYFILE,
    CONF_STATUS,
    CONF_UNKNOWN_CHARGERS,
    CONF_UNKNOWN_TAGS,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_HOST,
    DEFAULT_MAX_CURRENT,
    DEFAULT_METER_INTERVAL,
    DEFAULT_PORT,
    DEFAULT_REMOTE_ID_TAG,
    DOMAIN,
    SUBENTRY_CHARGER,
    SUBENTRY_ID_TAG,
    TAG_STATUS_ACCEPTED,
    TAG_STATUS_BLOCKED,
    UNKNOWN_CHARGERS_OFFER,
    UNKNOWN_CHARGERS_REJECT,
    UNKNOWN_TAGS_ACCEPT,
    UNKNOWN_TAGS_REJECT,
)
from custom_components.ocpp_central.surplus_controller import (
    CONF_BATTERY_CHARGE_POSITIVE,
    CONF_BATTERY_POWER_ENTITY,
    CONF_BATTERY_PRIORITY,
    CONF_CONTROL_PERIOD,
    CONF_GRID_EXPORT_POSITIVE,
    CONF_GRID_POWER_ENTITY,
    CONF_HYSTERESIS,
    CONF_MIN_CURRENT,
    CONF_PHASES,
    CONF_START_DELAY,
    CONF_STOP_DELAY,
    CONF_VOLTAGE,
    SolarSettings,
)

from .conftest import LOOPBACK, ConfigEntryFactory, TlsFiles, charger_subentry

# Every flow that finishes checks that the central system can listen: real sockets.
pytestmark = pytest.mark.usefixtures("socket_enabled", "mock_setup_entry")

PACKAGE = Path(ocpp_central.__file__).parent
PLACEHOLDER = re.compile(r"\{(\w+)\}")
STRINGS: dict[str, Any] = json.loads((PACKAGE / "strings.json").read_text())
# Long enough for the AuthorizationKey: 16..40 bytes (security whitepaper 7.2).
PASSWORD = "0123456789abcdef0123"
OTHER_PASSWORD = "fedcba9876543210fedc"


# --- helpers --------------------------------------------------------------------------------


def assert_translated(result: Mapping[str, Any], *section: str) -> None:
    """Fail when a form, its errors or an abort reason has no English text."""
    strings: dict[str, Any] = STRINGS
    for key in section:
        strings = strings[key]
    if result["type"] is FlowResultType.FORM:
        step = strings["step"][result["step_id"]]
        assert step["title"]
        assert step["description"]
        # The form as the frontend receives it, select options included.
        assert_fields_translated(
            step, json.loads(json.dumps(frontend_fields(result["data_schema"])))
        )
        for error in (result["errors"] or {}).values():
            assert strings["error"][error], error
    elif result["type"] is FlowResultType.ABORT and result.get("translation_domain") is None:
        assert strings["abort"][result["reason"]], result["reason"]
    elif result["type"] is FlowResultType.CREATE_ENTRY:
        # Every flow that creates something ends with a message of its own kind.
        message = strings["create_entry"][result["description"]]
        assert set(PLACEHOLDER.findall(message)) == set(result["description_placeholders"])


def assert_fields_translated(texts: Mapping[str, Any], fields: list[dict[str, Any]]) -> None:
    """Fail when a field, a section or a select option has no label and description."""
    for field in fields:
        if field.get("type") == "expandable":
            section = texts["sections"][field["name"]]
            assert section["name"], field["name"]
            assert section["description"], field["name"]
            assert_fields_translated(section, field["schema"])
            continue
        assert texts["data"][field["name"]], field["name"]
        assert texts["data_description"][field["name"]], field["name"]
        if select := field["selector"].get("select"):
            if all(isinstance(option, dict) and option["label"] for option in select["options"]):
                continue  # labelled where they are made (e.g. the chargers of a circuit)
            options = STRINGS["selector"][select["translation_key"]]["options"]
            assert all(options[option] for option in select["options"])


def frontend_fields(schema: probatio.Schema) -> list[dict[str, Any]]:
    """Serialise a form schema the way the flow views send it to the frontend."""
    fields: list[dict[str, Any]] = probatio.to_field_list(
        schema, custom_serializer=cv.custom_serializer
    )
    return fields


@pytest.fixture
def listening() -> Generator[socket.socket]:
    """Hold a listening socket on a loopback port, as another program would."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        yield sock


def held_port(sock: socket.socket) -> int:
    """Return the port a socket is bound to."""
    port: int = sock.getsockname()[1]
    return port


async def start_user_flow(hass: HomeAssistant) -> FlowResult:
    """Open the central system form."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert_translated(result, "config")
    return result


async def submit(hass: HomeAssistant, result: FlowResult, user_input: dict[str, Any]) -> Any:
    """Submit a config or options flow step."""
    manager: Any = (
        hass.config_entries.options
        if result["handler"] in hass.config_entries.async_entry_ids()
        else hass.config_entries.flow
    )
    return await manager.async_configure(result["flow_id"], user_input)


async def start_subentry_flow(
    hass: HomeAssistant, entry: ConfigEntry, subentry_type: str, subentry_id: str | None = None
) -> Any:
    """Open a subentry form: add (user) or, with a subentry id, reconfigure."""
    context: dict[str, Any] = {"source": SOURCE_USER}
    if subentry_id is not None:
        context = {"source": SOURCE_RECONFIGURE, "subentry_id": subentry_id}
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, subentry_type), context=context
    )
    assert_translated(result, "config_subentries", subentry_type)
    return result


async def submit_subentry(hass: HomeAssistant, result: Any, user_input: dict[str, Any]) -> Any:
    """Submit a subentry flow step and check its texts."""
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], user_input)
    subentry_type = result["handler"][1]
    assert_translated(result, "config_subentries", subentry_type)
    return result


def subentries_of(entry: ConfigEntry, subentry_type: str) -> list[ConfigSubentry]:
    """Return an entry's subentries of one type."""
    return [s for s in entry.subentries.values() if s.subentry_type == subentry_type]


def only_subentry(entry: ConfigEntry, subentry_type: str) -> ConfigSubentry:
    """Return the single subentry of one type."""
    (subentry,) = subentries_of(entry, subentry_type)
    return subentry


# --- translations ---------------------------------------------------------------------------


def test_strings_and_english_translation_are_identical() -> None:
    english = json.loads((PACKAGE / "translations" / "en.json").read_text())
    assert english == STRINGS


def test_select_options_are_translated() -> None:
    selectors = STRINGS["selector"]
    assert set(selectors["unknown_chargers"]["options"]) == {
        UNKNOWN_CHARGERS_OFFER,
        UNKNOWN_CHARGERS_REJECT,
    }
    assert set(selectors["unknown_tags"]["options"]) == {UNKNOWN_TAGS_ACCEPT, UNKNOWN_TAGS_REJECT}
    assert set(selectors["id_tag_status"]["options"]) == {TAG_STATUS_ACCEPTED, TAG_STATUS_BLOCKED}


# --- central system: user step --------------------------------------------------------------


async def test_user_creates_central_system(
    hass: HomeAssistant, free_port: int, mock_setup_entry: AsyncMock
) -> None:
    result = await start_user_flow(hass)
    assert result["data_schema"]({}) == {CONF_HOST: DEFAULT_HOST, CONF_PORT: DEFAULT_PORT}
    assert result["description_placeholders"] == {
        "url": "ws://<home-assistant-ip>:<port>/<chargeBoxId>"
    }

    result = await submit(hass, result, {CONF_HOST: f" {LOOPBACK} ", CONF_PORT: free_port})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"OCPP Central System (port {free_port})"
    assert result["data"] == {CONF_HOST: LOOPBACK, CONF_PORT: free_port}
    assert result["options"] == {
        CONF_UNKNOWN_CHARGERS: UNKNOWN_CHARGERS_OFFER,
        CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_REJECT,
    }
    assert result["result"].subentries == {}
    # The frontend receives the result as JSON: every part must serialise.
    json_dumps({key: value for key, value in result.items() if key != "result"})
    await hass.async_block_till_done()
    assert len(mock_setup_entry.mock_calls) == 1


async def test_user_with_tls(hass: HomeAssistant, free_port: int, tls_files: TlsFiles) -> None:
    result = await start_user_flow(hass)
    result = await submit(
        hass,
        result,
        {
            CONF_HOST: LOOPBACK,
            CONF_PORT: free_port,
            CONF_SSL_CERTFILE: str(tls_files.certfile),
            CONF_SSL_KEYFILE: f"{tls_files.keyfile} ",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_HOST: LOOPBACK,
        CONF_PORT: free_port,
        CONF_SSL_CERTFILE: str(tls_files.certfile),
        CONF_SSL_KEYFILE: str(tls_files.keyfile),
    }


async def test_user_ipv6_loopback(hass: HomeAssistant, free_port: int) -> None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    result = await start_user_flow(hass)
    result = await submit(hass, result, {CONF_HOST: "::1", CONF_PORT: free_port})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_HOST] == "::1"


@pytest.mark.parametrize(
    ("given", "missing"),
    [(CONF_SSL_CERTFILE, CONF_SSL_KEYFILE), (CONF_SSL_KEYFILE, CONF_SSL_CERTFILE)],
)
async def test_user_tls_needs_certificate_and_key(
    hass: HomeAssistant, free_port: int, tls_files: TlsFiles, given: str, missing: str
) -> None:
    result = await start_user_flow(hass)
    result = await submit(
        hass,
        result,
        {
            CONF_HOST: LOOPBACK,
            CONF_PORT: free_port,
            given: str(tls_files.certfile),
            missing: "  ",
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {missing: "ssl_both_required"}
    assert_translated(result, "config")


@pytest.mark.parametrize("broken", ["missing", "not_pem", "wrong_key"])
async def test_user_tls_files_must_load(
    hass: HomeAssistant, free_port: int, tls_files: TlsFiles, tmp_path: Path, broken: str
) -> None:
    certfile, keyfile = tls_files.certfile, tls_files.keyfile
    if broken == "missing":
        certfile = tmp_path / "absent.pem"
    elif broken == "not_pem":
        keyfile = tmp_path / "key.pem"
        keyfile.write_text("not a key\n")
    else:
        keyfile = certfile  # a certificate where the key belongs
    result = await start_user_flow(hass)
    result = await submit(
        hass,
        result,
        {
            CONF_HOST: LOOPBACK,
            CONF_PORT: free_port,
            CONF_SSL_CERTFILE: str(certfile),
            CONF_SSL_KEYFILE: str(keyfile),
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "ssl_invalid"}
    assert_translated(result, "config")


async def test_user_port_in_use_then_free(
    hass: HomeAssistant, listening: socket.socket, free_port: int
) -> None:
    result = await start_user_flow(hass)
    result = await submit(hass, result, {CONF_HOST: LOOPBACK, CONF_PORT: held_port(listening)})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PORT: "port_in_use"}
    assert_translated(result, "config")

    result = await submit(hass, result, {CONF_HOST: LOOPBACK, CONF_PORT: free_port})
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    "host",
    ["", "not a host", "-leading.example", "trailing-.example", "a..b", "x" * 254, "ex_ample"],
)
async def test_user_invalid_host(hass: HomeAssistant, free_port: int, host: str) -> None:
    result = await start_user_flow(hass)
    result = await submit(hass, result, {CONF_HOST: host, CONF_PORT: free_port})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_HOST: "invalid_host"}
    assert_translated(result, "config")


async def test_user_host_name_that_does_not_resolve(hass: HomeAssistant, free_port: int) -> None:
    # Tests resolve no names; a resolver that knows none stands in for the network.
    result = await start_user_flow(hass)
    with patch.object(socket, "getaddrinfo", side_effect=socket.gaierror(socket.EAI_NONAME)):
        result = await submit(
            hass, result, {CONF_HOST: "charger-host.invalid", CONF_PORT: free_port}
        )
    assert result["errors"] == {CONF_HOST: "invalid_host"}


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"),
            {CONF_HOST: "invalid_host"},
        ),
        (PermissionError(errno.EACCES, "Permission denied"), {"base": "cannot_bind"}),
    ],
)
async def test_user_bind_refused(
    hass: HomeAssistant, free_port: int, error: OSError, expected: dict[str, str]
) -> None:
    # An address of another machine or a privileged port cannot be produced on loopback as
    # root: the refusal comes from the bind itself.
    result = await start_user_flow(hass)
    with patch.object(socket.socket, "bind", side_effect=error):
        result = await submit(hass, result, {CONF_HOST: LOOPBACK, CONF_PORT: free_port})
    assert result["errors"] == expected
    assert_translated(result, "config")


async def test_user_port_of_another_central_system(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, free_port: int
) -> None:
    mock_config_entry(port=free_port)
    result = await start_user_flow(hass)
    result = await submit(hass, result, {CONF_HOST: LOOPBACK, CONF_PORT: free_port})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert_translated(result, "config")


async def test_user_port_out_of_range(hass: HomeAssistant) -> None:
    result = await start_user_flow(hass)
    with pytest.raises(InvalidData):
        await submit(hass, result, {CONF_HOST: LOOPBACK, CONF_PORT: 65536})


# --- central system: reconfigure ------------------------------------------------------------


async def start_reconfigure(hass: HomeAssistant, entry: ConfigEntry) -> FlowResult:
    """Open the reconfigure form of a central system."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert_translated(result, "config")
    return result


async def test_reconfigure_keeps_own_port_while_running(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    listening: socket.socket,
    tls_files: TlsFiles,
    mock_setup_entry: AsyncMock,
) -> None:
    # The listening socket stands in for our own running server on that port.
    entry = mock_config_entry(port=held_port(listening))
    assert await hass.config_entries.async_setup(entry.entry_id)
    result = await start_reconfigure(hass, entry)
    suggested = {
        key.schema: key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description
    }
    assert suggested == {CONF_HOST: LOOPBACK, CONF_PORT: held_port(listening)}

    new_data = {
        CONF_HOST: LOOPBACK,
        CONF_PORT: held_port(listening),
        CONF_SSL_CERTFILE: str(tls_files.certfile),
        CONF_SSL_KEYFILE: str(tls_files.keyfile),
    }
    result = await submit(hass, result, new_data)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert dict(entry.data) == new_data
    await hass.async_block_till_done()
    assert len(mock_setup_entry.mock_calls) == 2  # reloaded to apply


async def test_reconfigure_leaves_restart_to_update_listener(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    mock_setup_entry: AsyncMock,
) -> None:
    # A running entry applies changes in its update listener (it restarts the server when
    # host, port or TLS changed): the flow must not reload it a second time.
    entry = mock_config_entry(port=DEFAULT_PORT)
    assert await hass.config_entries.async_setup(entry.entry_id)
    listener = AsyncMock()
    entry.add_update_listener(listener)
    result = await start_reconfigure(hass, entry)

    result = await submit(hass, result, {CONF_HOST: LOOPBACK, CONF_PORT: free_port})

    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    listener.assert_awaited_once_with(hass, entry)
    assert entry.data[CONF_PORT] == free_port
    assert len(mock_setup_entry.mock_calls) == 1


async def test_reconfigure_to_busy_port_then_free_one(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    listening: socket.socket,
    free_port: int,
    tls_files: TlsFiles,
) -> None:
    entry = mock_config_entry(
        port=DEFAULT_PORT,
        data={
            CONF_SSL_CERTFILE: str(tls_files.certfile),
            CONF_SSL_KEYFILE: str(tls_files.keyfile),
        },
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    result = await start_reconfigure(hass, entry)

    result = await submit(hass, result, {CONF_HOST: LOOPBACK, CONF_PORT: held_port(listening)})
    assert result["errors"] == {CONF_PORT: "port_in_use"}

    result = await submit(hass, result, {CONF_HOST: LOOPBACK, CONF_PORT: free_port})
    assert result["reason"] == "reconfigure_successful"
    assert dict(entry.data) == {CONF_HOST: LOOPBACK, CONF_PORT: free_port}  # TLS turned off
    assert entry.title == f"OCPP Central System (port {free_port})"


async def test_reconfigure_checks_port_of_entry_not_running(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, listening: socket.socket
) -> None:
    # Not loaded (e.g. its port was taken at start): the port is not ours, so it is checked.
    entry = mock_config_entry(port=held_port(listening))
    result = await start_reconfigure(hass, entry)
    result = await submit(hass, result, {CONF_HOST: LOOPBACK, CONF_PORT: held_port(listening)})
    assert result["errors"] == {CONF_PORT: "port_in_use"}


async def test_reconfigure_to_port_of_another_central_system(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, free_port: int
) -> None:
    entry = mock_config_entry(port=DEFAULT_PORT)
    mock_config_entry(port=free_port)
    result = await start_reconfigure(hass, entry)
    result = await submit(hass, result, {CONF_HOST: LOOPBACK, CONF_PORT: free_port})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reconfigure_invalid_host(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry()
    assert await hass.config_entries.async_setup(entry.entry_id)
    result = await start_reconfigure(hass, entry)
    result = await submit(hass, result, {CONF_HOST: "bad host", CONF_PORT: DEFAULT_PORT})
    assert result["errors"] == {CONF_HOST: "invalid_host"}
    assert result["data_schema"].schema  # the form is shown again


# --- options --------------------------------------------------------------------------------


async def test_options_change_policies_without_reload(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, mock_setup_entry: AsyncMock
) -> None:
    entry = mock_config_entry(
        options={
            CONF_UNKNOWN_CHARGERS: UNKNOWN_CHARGERS_OFFER,
            CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_REJECT,
            "kept": True,
        }
    )
    assert await hass.config_entries.async_setup(entry.entry_id)

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert_translated(result, "options")
    result = await submit(
        hass,
        result,
        {CONF_UNKNOWN_CHARGERS: UNKNOWN_CHARGERS_REJECT, CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_ACCEPT},
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert dict(entry.options) == {
        CONF_UNKNOWN_CHARGERS: UNKNOWN_CHARGERS_REJECT,
        CONF_UNKNOWN_TAGS: UNKNOWN_TAGS_ACCEPT,
        "kept": True,
    }
    await hass.async_block_till_done()
    assert len(mock_setup_entry.mock_calls) == 1  # not reloaded


async def test_options_reject_unknown_policy(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry()
    result = await hass.config_entries.options.async_init(entry.entry_id)
    with pytest.raises(InvalidData):
        await submit(hass, result, {CONF_UNKNOWN_CHARGERS: "maybe", CONF_UNKNOWN_TAGS: "accept"})


# --- charger subentries ---------------------------------------------------------------------


async def test_add_charger(hass: HomeAssistant, mock_config_entry: ConfigEntryFactory) -> None:
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    assert result["step_id"] == "user"
    assert result["description_placeholders"] == {"url": f"ws://{LOOPBACK}:9000/<chargeBoxId>"}

    result = await submit_subentry(
        hass,
        result,
        {CONF_CHARGE_BOX_ID: " CP-1 north ", CONF_PASSWORD: PASSWORD, CONF_MAX_CURRENT: 16},
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    subentry = only_subentry(entry, SUBENTRY_CHARGER)
    assert subentry.title == "CP-1 north"
    assert subentry.unique_id == "CP-1 north"
    assert dict(subentry.data) == {
        CONF_CHARGE_BOX_ID: "CP-1 north",
        CONF_PASSWORD: PASSWORD,
        CONF_HEARTBEAT_INTERVAL: DEFAULT_HEARTBEAT_INTERVAL,
        CONF_METER_INTERVAL: DEFAULT_METER_INTERVAL,
        CONF_MAX_CURRENT: 16,
        CONF_LENIENT: False,
    }


async def test_add_charger_without_password_on_tls_system(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, tls_files: TlsFiles
) -> None:
    entry = mock_config_entry(
        port=9443,
        data={
            CONF_SSL_CERTFILE: str(tls_files.certfile),
            CONF_SSL_KEYFILE: str(tls_files.keyfile),
        },
    )
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    assert result["description_placeholders"] == {"url": f"wss://{LOOPBACK}:9443/<chargeBoxId>"}
    result = await submit_subentry(
        hass,
        result,
        {
            CONF_CHARGE_BOX_ID: "x" * 48,
            CONF_HEARTBEAT_INTERVAL: 10,
            CONF_METER_INTERVAL: 0,
            CONF_LENIENT: True,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    data = only_subentry(entry, SUBENTRY_CHARGER).data
    assert CONF_PASSWORD not in data
    assert data[CONF_HEARTBEAT_INTERVAL] == 10
    assert data[CONF_METER_INTERVAL] == 0
    assert data[CONF_LENIENT] is True


@pytest.mark.parametrize(
    "charge_box_id",
    ["", "   ", "x" * 49, "tab\there", "bell\x07", "new\nline"],
)
async def test_add_charger_invalid_charge_box_id(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, charge_box_id: str
) -> None:
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    result = await submit_subentry(
        hass, result, {CONF_CHARGE_BOX_ID: charge_box_id, CONF_PASSWORD: PASSWORD}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_CHARGE_BOX_ID: "invalid_charge_box_id"}
    # The password is never sent back to the browser.
    shown = {key.schema: key.description for key in result["data_schema"].schema}
    assert shown[CONF_PASSWORD] is None
    assert entry.subentries == {}


@pytest.mark.parametrize("charge_box_id", ["RDAM 123", "a/b", "a?b", "a#b", "café", "x" * 48])
async def test_add_charger_accepts_every_id_the_server_admits(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, charge_box_id: str
) -> None:
    """OCPP-J 3.1.1: any identity that can be percent-encoded, e.g. its example "RDAM 123"."""
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    result = await submit_subentry(hass, result, {CONF_CHARGE_BOX_ID: charge_box_id})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert only_subentry(entry, SUBENTRY_CHARGER).data[CONF_CHARGE_BOX_ID] == charge_box_id


async def test_password_refused_for_an_id_with_a_colon(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    """RFC 7617: a Basic user-id cannot hold a colon; without a password the id is fine."""
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    result = await submit_subentry(
        hass, result, {CONF_CHARGE_BOX_ID: "site:1", CONF_PASSWORD: PASSWORD}
    )
    assert result["errors"] == {CONF_PASSWORD: "password_with_colon_id"}
    result = await submit_subentry(hass, result, {CONF_CHARGE_BOX_ID: "site:1"})
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("password", "valid"),
    [
        ("a" * 15, False),
        ("a" * 16, True),
        ("a" * 40, True),
        ("a" * 41, False),
        ("é" * 8, True),  # 16 bytes: the limit counts bytes as sent in HTTP Basic
        ("é" * 7 + "a", False),  # 15 bytes
        ("é" * 20 + "a", False),  # 41 bytes
    ],
)
async def test_add_charger_password_length(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, password: str, valid: bool
) -> None:
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    result = await submit_subentry(
        hass, result, {CONF_CHARGE_BOX_ID: "CP1", CONF_PASSWORD: password}
    )
    if valid:
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert only_subentry(entry, SUBENTRY_CHARGER).data[CONF_PASSWORD] == password
    else:
        assert result["errors"] == {CONF_PASSWORD: "invalid_password"}


@pytest.mark.parametrize(
    "field_value",
    [
        (CONF_HEARTBEAT_INTERVAL, 9),
        (CONF_HEARTBEAT_INTERVAL, 86401),
        (CONF_METER_INTERVAL, -1),
        (CONF_METER_INTERVAL, 3601),
        (CONF_MAX_CURRENT, 5),
        (CONF_MAX_CURRENT, 81),
    ],
)
async def test_add_charger_numbers_out_of_range(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, field_value: tuple[str, int]
) -> None:
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    field, value = field_value
    with pytest.raises(InvalidData):
        await submit_subentry(hass, result, {CONF_CHARGE_BOX_ID: "CP1", field: value})


async def test_add_charger_twice(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(chargers=["CP1"])
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    result = await submit_subentry(hass, result, {CONF_CHARGE_BOX_ID: "CP1"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"

    # A charge box id is a URL path segment: another letter case is another charger.
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    result = await submit_subentry(hass, result, {CONF_CHARGE_BOX_ID: "cp1"})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_same_charger_on_two_central_systems(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    mock_config_entry(port=9000, chargers=["CP1"])
    other = mock_config_entry(port=9001)
    result = await start_subentry_flow(hass, other, SUBENTRY_CHARGER)
    result = await submit_subentry(hass, result, {CONF_CHARGE_BOX_ID: "CP1"})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def reconfigure_charger(
    hass: HomeAssistant, entry: ConfigEntry, user_input: dict[str, Any]
) -> Any:
    """Open the charger's reconfigure form and submit it."""
    subentry = only_subentry(entry, SUBENTRY_CHARGER)
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER, subentry.subentry_id)
    assert result["step_id"] == "reconfigure"
    return await submit_subentry(hass, result, user_input)


async def test_reconfigure_charger_keeps_password_and_entry_running(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, mock_setup_entry: AsyncMock
) -> None:
    entry = mock_config_entry(chargers=[charger_subentry("CP1", password=PASSWORD)])
    assert await hass.config_entries.async_setup(entry.entry_id)
    subentry = only_subentry(entry, SUBENTRY_CHARGER)

    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER, subentry.subentry_id)
    fields = {key.schema: key for key in result["data_schema"].schema}
    assert CONF_CHARGE_BOX_ID not in fields
    assert CONF_CLEAR_PASSWORD in fields
    assert fields[CONF_PASSWORD].description is None  # never prefilled
    assert fields[CONF_HEARTBEAT_INTERVAL].description == {
        "suggested_value": DEFAULT_HEARTBEAT_INTERVAL
    }
    assert result["description_placeholders"] == {
        "charge_box_id": "CP1",
        "url": f"ws://{LOOPBACK}:9000/CP1",
    }

    result = await submit_subentry(
        hass,
        result,
        {CONF_HEARTBEAT_INTERVAL: 60, CONF_METER_INTERVAL: 10, CONF_MAX_CURRENT: 20},
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert dict(entry.subentries[subentry.subentry_id].data) == {
        CONF_CHARGE_BOX_ID: "CP1",
        CONF_PASSWORD: PASSWORD,
        CONF_HEARTBEAT_INTERVAL: 60,
        CONF_METER_INTERVAL: 10,
        CONF_MAX_CURRENT: 20,
        CONF_LENIENT: False,
    }
    await hass.async_block_till_done()
    assert len(mock_setup_entry.mock_calls) == 1  # the entry is not reloaded


async def test_reconfigure_charger_new_password(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(chargers=[charger_subentry("CP1", password=PASSWORD)])
    result = await reconfigure_charger(hass, entry, {CONF_PASSWORD: OTHER_PASSWORD})
    assert result["reason"] == "reconfigure_successful"
    assert only_subentry(entry, SUBENTRY_CHARGER).data[CONF_PASSWORD] == OTHER_PASSWORD


async def test_reconfigure_charger_clear_password(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(chargers=[charger_subentry("CP1", password=PASSWORD)])
    result = await reconfigure_charger(hass, entry, {CONF_CLEAR_PASSWORD: True})
    assert result["reason"] == "reconfigure_successful"
    assert CONF_PASSWORD not in only_subentry(entry, SUBENTRY_CHARGER).data


async def test_reconfigure_charger_password_and_clear_conflict(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(chargers=[charger_subentry("CP1", password=PASSWORD)])
    result = await reconfigure_charger(
        hass, entry, {CONF_PASSWORD: OTHER_PASSWORD, CONF_CLEAR_PASSWORD: True}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_CLEAR_PASSWORD: "password_conflict"}
    assert only_subentry(entry, SUBENTRY_CHARGER).data[CONF_PASSWORD] == PASSWORD


async def test_reconfigure_charger_invalid_password(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(chargers=["CP1"])
    result = await reconfigure_charger(hass, entry, {CONF_PASSWORD: "short"})
    assert result["errors"] == {CONF_PASSWORD: "invalid_password"}
    # Without a password there is nothing to clear.
    assert CONF_CLEAR_PASSWORD not in {key.schema for key in result["data_schema"].schema}


# --- charger subentries: the solar controller's section ------------------------------------

GRID = "sensor.grid_power"
BATTERY = "sensor.battery_power"
# The section as the frontend sends it: every field, the sensors only when chosen.
SOLAR_SECTION: dict[str, Any] = {
    CONF_GRID_POWER_ENTITY: GRID,
    CONF_GRID_EXPORT_POSITIVE: True,
    CONF_BATTERY_POWER_ENTITY: BATTERY,
    CONF_BATTERY_CHARGE_POSITIVE: False,
    CONF_BATTERY_PRIORITY: "car",
    CONF_PHASES: "1",
    CONF_VOLTAGE: 120,
    CONF_MIN_CURRENT: 8,
    CONF_START_DELAY: 0,
    CONF_STOP_DELAY: 600,
    CONF_HYSTERESIS: 150,
    CONF_CONTROL_PERIOD: 20,
}
# As stored: flat in the subentry's data, the phases a number.
SOLAR_DATA: dict[str, Any] = {**SOLAR_SECTION, CONF_PHASES: 1}


def solar_suggestions(result: Any) -> dict[str, Any]:
    """The suggested values of the solar section of a charger form."""
    (section,) = (
        value for key, value in result["data_schema"].schema.items() if key.schema == "solar"
    )
    return {
        key.schema: key.description["suggested_value"]
        for key in section.schema.schema
        if key.description is not None
    }


async def test_add_charger_with_solar_options(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    solar = next(
        field for field in frontend_fields(result["data_schema"]) if field["name"] == "solar"
    )
    assert solar["type"] == "expandable"
    assert solar["expanded"] is False  # collapsed: most chargers keep the defaults

    result = await submit_subentry(
        hass, result, {CONF_CHARGE_BOX_ID: "CP1", CONF_MAX_CURRENT: 16, "solar": SOLAR_SECTION}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    data = only_subentry(entry, SUBENTRY_CHARGER).data
    assert dict(data) == {
        CONF_CHARGE_BOX_ID: "CP1",
        CONF_HEARTBEAT_INTERVAL: DEFAULT_HEARTBEAT_INTERVAL,
        CONF_METER_INTERVAL: DEFAULT_METER_INTERVAL,
        CONF_MAX_CURRENT: 16,
        CONF_LENIENT: False,
        **SOLAR_DATA,
    }
    # The controller reads exactly these keys.
    settings = SolarSettings.from_options(data)
    assert (settings.phases, settings.voltage, settings.min_current) == (1, 120.0, 8.0)
    assert (settings.period, settings.hysteresis, settings.stop_delay) == (20.0, 150.0, 600.0)


async def test_solar_section_defaults_are_the_controller_defaults(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    result = await submit_subentry(hass, result, {CONF_CHARGE_BOX_ID: "CP1", "solar": {}})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    data = only_subentry(entry, SUBENTRY_CHARGER).data
    assert CONF_GRID_POWER_ENTITY not in data
    assert SolarSettings.from_options(data) == replace(
        SolarSettings(), max_current=DEFAULT_MAX_CURRENT
    )


async def test_reconfigure_charger_offers_and_stores_solar_options(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(chargers=[charger_subentry("CP1", max_current=16)])
    subentry = only_subentry(entry, SUBENTRY_CHARGER)
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER, subentry.subentry_id)
    assert solar_suggestions(result) == {}  # nothing stored yet: the defaults show

    result = await submit_subentry(hass, result, {CONF_MAX_CURRENT: 16, "solar": SOLAR_SECTION})
    assert result["reason"] == "reconfigure_successful"
    assert only_subentry(entry, SUBENTRY_CHARGER).data.items() >= SOLAR_DATA.items()

    # The form shows what is stored, the phases as the drop-down's text.
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER, subentry.subentry_id)
    assert solar_suggestions(result) == SOLAR_SECTION

    # Clearing the sensors on the form removes them: the controller stops.
    cleared = {
        key: value
        for key, value in SOLAR_SECTION.items()
        if key not in (CONF_GRID_POWER_ENTITY, CONF_BATTERY_POWER_ENTITY)
    }
    result = await submit_subentry(hass, result, {CONF_MAX_CURRENT: 16, "solar": cleared})
    assert result["reason"] == "reconfigure_successful"
    data = only_subentry(entry, SUBENTRY_CHARGER).data
    assert CONF_GRID_POWER_ENTITY not in data
    assert CONF_BATTERY_POWER_ENTITY not in data
    assert data[CONF_MIN_CURRENT] == 8


async def test_reconfigure_charger_without_the_section_keeps_solar_options(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(chargers=[charger_subentry("CP1", **SOLAR_DATA)])
    result = await reconfigure_charger(hass, entry, {CONF_MAX_CURRENT: 20})
    assert result["reason"] == "reconfigure_successful"
    data = only_subentry(entry, SUBENTRY_CHARGER).data
    assert data.items() >= SOLAR_DATA.items()
    assert data[CONF_MAX_CURRENT] == 20


@pytest.mark.parametrize(
    ("solar", "max_current", "error"),
    [
        ({CONF_GRID_POWER_ENTITY: GRID, CONF_MIN_CURRENT: 17}, 16, "min_current_above_max"),
        ({CONF_MIN_CURRENT: 10}, 8, "min_current_above_max"),
        ({CONF_BATTERY_POWER_ENTITY: BATTERY}, 16, "battery_without_grid"),
        (
            {CONF_GRID_POWER_ENTITY: GRID, CONF_BATTERY_POWER_ENTITY: GRID},
            16,
            "same_power_entity",
        ),
    ],
)
async def test_reconfigure_charger_invalid_solar_options(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    solar: dict[str, Any],
    max_current: int,
    error: str,
) -> None:
    entry = mock_config_entry(chargers=[charger_subentry("CP1", max_current=16)])
    result = await reconfigure_charger(
        hass, entry, {CONF_MAX_CURRENT: max_current, "solar": {**solar, CONF_PHASES: "3"}}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"solar": error}
    # The form comes back with what was entered.
    assert solar_suggestions(result).items() >= {**solar, CONF_PHASES: "3"}.items()
    assert CONF_MIN_CURRENT not in only_subentry(entry, SUBENTRY_CHARGER).data


async def test_lowering_the_maximum_below_the_stored_minimum_is_refused(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(chargers=[charger_subentry("CP1", **SOLAR_DATA)])
    result = await reconfigure_charger(hass, entry, {CONF_MAX_CURRENT: 6})
    assert result["errors"] == {"solar": "min_current_above_max"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (CONF_PHASES, "2"),
        (CONF_VOLTAGE, 99),
        (CONF_MIN_CURRENT, 5),
        (CONF_STOP_DELAY, 3601),
        (CONF_HYSTERESIS, -1),
        (CONF_CONTROL_PERIOD, 9),
        (CONF_BATTERY_PRIORITY, "grid"),
    ],
)
async def test_add_charger_solar_values_out_of_range(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, field: str, value: Any
) -> None:
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    with pytest.raises(InvalidData):
        await submit_subentry(hass, result, {CONF_CHARGE_BOX_ID: "CP1", "solar": {field: value}})


# --- id-tag subentries ----------------------------------------------------------------------


async def test_add_id_tag(hass: HomeAssistant, mock_config_entry: ConfigEntryFactory) -> None:
    await hass.config.async_set_time_zone("Europe/Amsterdam")
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_ID_TAG)
    assert result["description_placeholders"] == {"remote_id_tag": DEFAULT_REMOTE_ID_TAG}

    result = await submit_subentry(
        hass,
        result,
        {
            CONF_ID_TAG: " 04A2B3C4 ",
            CONF_NAME: " Alice ",
            CONF_PARENT_ID_TAG: " family ",
            CONF_STATUS: TAG_STATUS_BLOCKED,
            CONF_EXPIRY: "2030-01-02 03:04:05",
        },
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    subentry = only_subentry(entry, SUBENTRY_ID_TAG)
    assert subentry.title == "Alice (04A2B3C4)"
    assert subentry.unique_id == "id_tag_04A2B3C4"
    assert dict(subentry.data) == {
        CONF_ID_TAG: "04A2B3C4",
        CONF_NAME: "Alice",
        CONF_PARENT_ID_TAG: "family",
        CONF_STATUS: TAG_STATUS_BLOCKED,
        CONF_EXPIRY: "2030-01-02T02:04:05+00:00",  # Amsterdam is UTC+1 in winter
    }


async def test_add_id_tag_bare(hass: HomeAssistant, mock_config_entry: ConfigEntryFactory) -> None:
    # A tag may share its text with a charger: subentry unique ids keep them apart.
    entry = mock_config_entry(chargers=["ABC"])
    result = await start_subentry_flow(hass, entry, SUBENTRY_ID_TAG)
    result = await submit_subentry(hass, result, {CONF_ID_TAG: "ABC", CONF_NAME: "  "})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    subentry = only_subentry(entry, SUBENTRY_ID_TAG)
    assert subentry.title == "ABC"
    assert dict(subentry.data) == {CONF_ID_TAG: "ABC", CONF_STATUS: TAG_STATUS_ACCEPTED}


@pytest.mark.parametrize(
    ("id_tag", "error"),
    [
        ("", "invalid_id_tag"),
        ("x" * 21, "invalid_id_tag"),
        ("café", "invalid_id_tag"),
        ("tab\there", "invalid_id_tag"),
        ("homeassistant", "reserved_id_tag"),
    ],
)
async def test_add_id_tag_invalid(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, id_tag: str, error: str
) -> None:
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_ID_TAG)
    result = await submit_subentry(hass, result, {CONF_ID_TAG: id_tag})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ID_TAG: error}


async def test_invalid_parent_id_tag(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(id_tags=["T1"])
    result = await start_subentry_flow(hass, entry, SUBENTRY_ID_TAG)
    result = await submit_subentry(hass, result, {CONF_ID_TAG: "T2", CONF_PARENT_ID_TAG: "x" * 21})
    assert result["errors"] == {CONF_PARENT_ID_TAG: "invalid_parent_id_tag"}

    subentry = only_subentry(entry, SUBENTRY_ID_TAG)
    result = await start_subentry_flow(hass, entry, SUBENTRY_ID_TAG, subentry.subentry_id)
    result = await submit_subentry(
        hass,
        result,
        {
            CONF_PARENT_ID_TAG: "grün",
            CONF_STATUS: TAG_STATUS_ACCEPTED,
            CONF_EXPIRY: "2030-01-01 00:00:00",
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PARENT_ID_TAG: "invalid_parent_id_tag"}
    # The form comes back with what was entered, the date as the picker gave it.
    suggested = {
        key.schema: key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description
    }
    assert suggested[CONF_EXPIRY] == "2030-01-01 00:00:00"
    assert dict(entry.subentries[subentry.subentry_id].data) == {
        CONF_ID_TAG: "T1",
        CONF_STATUS: TAG_STATUS_ACCEPTED,
    }


async def test_add_id_tag_twice_in_other_case(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    # IdToken is case insensitive (OCPP 1.6 7.28).
    entry = mock_config_entry(id_tags=["abc123"])
    result = await start_subentry_flow(hass, entry, SUBENTRY_ID_TAG)
    result = await submit_subentry(hass, result, {CONF_ID_TAG: "ABC123"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_add_id_tag_invalid_expiry(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_ID_TAG)
    with pytest.raises(InvalidData):
        await submit_subentry(hass, result, {CONF_ID_TAG: "T1", CONF_EXPIRY: "tomorrow"})


async def test_reconfigure_id_tag(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    await hass.config.async_set_time_zone("Europe/Amsterdam")
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_ID_TAG)
    await submit_subentry(
        hass, result, {CONF_ID_TAG: "T1", CONF_NAME: "Bob", CONF_EXPIRY: "2030-07-01 12:00:00"}
    )
    subentry = only_subentry(entry, SUBENTRY_ID_TAG)

    result = await start_subentry_flow(hass, entry, SUBENTRY_ID_TAG, subentry.subentry_id)
    assert result["step_id"] == "reconfigure"
    assert result["description_placeholders"] == {"id_tag": "T1"}
    suggested = {
        key.schema: key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description
    }
    # Shown in local time as the date-time picker expects it.
    assert suggested == {
        CONF_NAME: "Bob",
        CONF_STATUS: TAG_STATUS_ACCEPTED,
        CONF_EXPIRY: "2030-07-01 12:00:00",
    }

    result = await submit_subentry(hass, result, {CONF_STATUS: TAG_STATUS_BLOCKED})

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    subentry = entry.subentries[subentry.subentry_id]
    assert subentry.title == "T1"
    assert dict(subentry.data) == {CONF_ID_TAG: "T1", CONF_STATUS: TAG_STATUS_BLOCKED}


async def test_reconfigure_id_tag_without_expiry(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(id_tags=["T1"])
    subentry = only_subentry(entry, SUBENTRY_ID_TAG)
    result = await start_subentry_flow(hass, entry, SUBENTRY_ID_TAG, subentry.subentry_id)
    result = await submit_subentry(
        hass, result, {CONF_NAME: "Carol", CONF_STATUS: TAG_STATUS_ACCEPTED}
    )
    assert entry.subentries[subentry.subentry_id].title == "Carol (T1)"


# --- discovery of unknown chargers ----------------------------------------------------------


async def discover(hass: HomeAssistant, entry_id: str, charge_box_id: str) -> FlowResult:
    """Start the flow the runtime starts when an unknown charger knocks."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_INTEGRATION_DISCOVERY},
        data={"charge_box_id": charge_box_id, "entry_id": entry_id},
    )
    assert_translated(result, "config")
    return result


async def test_discovered_charger_is_added(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry()
    result = await discover(hass, entry.entry_id, "CP7")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"
    assert result["description_placeholders"] == {
        "charge_box_id": "CP7",
        "central_system": entry.title,
    }
    (flow,) = hass.config_entries.flow.async_progress()
    assert flow["context"]["title_placeholders"] == {"charge_box_id": "CP7"}
    assert "{charge_box_id}" in STRINGS["config"]["flow_title"]

    # A second knock does not open a second card.
    again = await discover(hass, entry.entry_id, "CP7")
    assert again["type"] is FlowResultType.ABORT
    assert again["reason"] == "already_in_progress"

    result = await submit(hass, result, {CONF_PASSWORD: PASSWORD, CONF_METER_INTERVAL: 60})

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "charger_added"
    assert result["description_placeholders"] == {"charge_box_id": "CP7"}
    assert_translated(result, "config")
    subentry = only_subentry(entry, SUBENTRY_CHARGER)
    assert subentry.title == "CP7"
    assert subentry.unique_id == "CP7"
    assert dict(subentry.data) == {
        CONF_CHARGE_BOX_ID: "CP7",
        CONF_PASSWORD: PASSWORD,
        CONF_HEARTBEAT_INTERVAL: DEFAULT_HEARTBEAT_INTERVAL,
        CONF_METER_INTERVAL: 60,
        CONF_MAX_CURRENT: DEFAULT_MAX_CURRENT,
        CONF_LENIENT: False,
    }
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1  # no new entry


async def test_discovered_charger_invalid_password(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry()
    result = await discover(hass, entry.entry_id, "CP7")
    result = await submit(hass, result, {CONF_PASSWORD: "short"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PASSWORD: "invalid_password"}
    assert_translated(result, "config")
    assert entry.subentries == {}


async def test_discovery_for_unknown_entry(hass: HomeAssistant) -> None:
    result = await discover(hass, "no-such-entry", "CP7")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_not_found"


async def test_discovery_entry_removed_before_confirm(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry()
    result = await discover(hass, entry.entry_id, "CP7")
    await hass.config_entries.async_remove(entry.entry_id)
    result = await submit(hass, result, {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_not_found"


async def test_discovery_of_configured_charger(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry(chargers=["CP7"])
    result = await discover(hass, entry.entry_id, "CP7")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_charger_added_by_hand_closes_discovery(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry()
    await discover(hass, entry.entry_id, "CP7")
    assert hass.config_entries.flow.async_progress()

    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    await submit_subentry(hass, result, {CONF_CHARGE_BOX_ID: "CP7"})

    assert hass.config_entries.flow.async_progress() == []


async def test_discovery_charger_added_meanwhile(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    # The user looks at the card after the charger was set up another way.
    entry = mock_config_entry()
    result = await discover(hass, entry.entry_id, "CP7")
    stored = charger_subentry("CP7")
    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            data=MappingProxyType(dict(stored["data"])),
            subentry_type=SUBENTRY_CHARGER,
            title="CP7",
            unique_id="CP7",
        ),
    )
    result = await submit(hass, result, {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_discovery_of_invalid_charge_box_id(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry()
    result = await discover(hass, entry.entry_id, "bell\x07")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_charge_box_id"


async def test_ignored_charger_is_not_offered_again(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry()
    result = await discover(hass, entry.entry_id, "CP7")
    hass.config_entries.flow.async_abort(result["flow_id"])
    await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_IGNORE}, data={"unique_id": "CP7", "title": "CP7"}
    )

    result = await discover(hass, entry.entry_id, "CP7")

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_discovered_charger_offers_the_solar_section_of_add_charger(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry()
    added = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    result = await discover(hass, entry.entry_id, "CP7")

    # Field for field the form of "Add charger", without the id the charger already sent.
    added_fields = frontend_fields(added["data_schema"])
    assert frontend_fields(result["data_schema"]) == [
        field for field in added_fields if field["name"] != CONF_CHARGE_BOX_ID
    ]
    solar = next(field for field in added_fields if field["name"] == "solar")
    assert solar["type"] == "expandable"
    assert (
        STRINGS["config"]["step"]["discovery_confirm"]["sections"]
        == (STRINGS["config_subentries"]["charger"]["step"]["user"]["sections"])
    )

    # The section's errors are translated on this form too.
    result = await submit(hass, result, {CONF_MAX_CURRENT: 8, "solar": {CONF_MIN_CURRENT: 10}})
    assert result["errors"] == {"solar": "min_current_above_max"}
    assert_translated(result, "config")

    result = await submit(hass, result, {CONF_MAX_CURRENT: 16, "solar": SOLAR_SECTION})
    assert result["reason"] == "charger_added"
    data = only_subentry(entry, SUBENTRY_CHARGER).data
    assert data.items() >= SOLAR_DATA.items()


# --- the power sensor pickers leave out the integration's own sensors -------------------------


def picker_exclusions(result: Any) -> dict[str, list[str]]:
    """The entities each sensor picker of the solar section leaves out, as the frontend sees."""
    (solar,) = (
        field for field in frontend_fields(result["data_schema"]) if field["name"] == "solar"
    )
    return {
        field["name"]: field["selector"]["entity"].get("exclude_entities", [])
        for field in solar["schema"]
        if "entity" in field["selector"]
    }


def own_sensor(hass: HomeAssistant, entry: ConfigEntry, unique_id: str) -> str:
    """Register a sensor of this integration, as its sensor platform would; its entity id."""
    return (
        er.async_get(hass)
        .async_get_or_create(SENSOR, DOMAIN, unique_id, config_entry=entry)
        .entity_id
    )


SENSOR = "sensor"


async def open_charger_form(hass: HomeAssistant, entry: ConfigEntry, form: str) -> Any:
    """Open one of the three charger forms: add, discovered, reconfigure."""
    if form == "add":
        return await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    if form == "discovered":
        return await discover(hass, entry.entry_id, "CP7")
    subentry = only_subentry(entry, SUBENTRY_CHARGER)
    return await start_subentry_flow(hass, entry, SUBENTRY_CHARGER, subentry.subentry_id)


async def submit_charger_form(hass: HomeAssistant, result: Any, solar: dict[str, Any]) -> Any:
    """Submit a charger form opened by `open_charger_form` with this solar section."""
    user_input: dict[str, Any] = {CONF_MAX_CURRENT: 16, "solar": solar}
    if result["handler"] == DOMAIN:
        result = await submit(hass, result, user_input)
        assert_translated(result, "config")
        return result
    if result["step_id"] == "user":
        user_input[CONF_CHARGE_BOX_ID] = "CP9"
    return await submit_subentry(hass, result, user_input)


@pytest.mark.parametrize("form", ["add", "discovered", "reconfigure"])
@pytest.mark.parametrize("field", [CONF_GRID_POWER_ENTITY, CONF_BATTERY_POWER_ENTITY])
async def test_own_sensors_are_not_offered_and_refused(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, form: str, field: str
) -> None:
    entry = mock_config_entry(chargers=["CP1"])
    other = mock_config_entry(port=9001)
    power = own_sensor(hass, entry, "CP1_1_power")
    elsewhere = own_sensor(hass, other, "CP2_1_power")  # a charger of another central system
    er.async_get(hass).async_get_or_create(SENSOR, "other_integration", "grid")

    result = await open_charger_form(hass, entry, form)
    assert picker_exclusions(result) == {
        CONF_GRID_POWER_ENTITY: sorted([power, elsewhere]),
        CONF_BATTERY_POWER_ENTITY: sorted([power, elsewhere]),
    }

    # Sent anyway (an API caller): refused with a translated error, nothing stored.
    solar = {CONF_GRID_POWER_ENTITY: GRID, field: power}
    result = await submit_charger_form(hass, result, solar)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"solar": "own_power_entity"}
    assert all(
        CONF_GRID_POWER_ENTITY not in subentry.data for subentry in entry.subentries.values()
    )

    result = await submit_charger_form(hass, result, {CONF_GRID_POWER_ENTITY: GRID})
    assert result["type"] is not FlowResultType.FORM


async def test_own_sensor_created_after_the_form_was_shown_is_refused(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory
) -> None:
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    assert picker_exclusions(result)[CONF_GRID_POWER_ENTITY] == []
    # A charger connects meanwhile and gets its sensors.
    power = own_sensor(hass, entry, "CP1_1_power")

    result = await submit_subentry(
        hass, result, {CONF_CHARGE_BOX_ID: "CP9", "solar": {CONF_GRID_POWER_ENTITY: power}}
    )

    assert result["errors"] == {"solar": "own_power_entity"}
    assert subentries_of(entry, SUBENTRY_CHARGER) == []


# --- the message that ends each flow: what to do next ----------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        # (listen address, Home Assistant's internal URL, TLS, the host the message names)
        # Listening everywhere: where Home Assistant knows it is reached at home.
        ("0.0.0.0", "http://homeassistant.local:8123", False, "homeassistant.local"),
        ("0.0.0.0", "http://[fd00::5]:8123", True, "[fd00::5]"),
        ("0.0.0.0", None, False, "<home-assistant-ip>"),
        # Listening on one address: only reachable there.
        (LOOPBACK, "http://homeassistant.local:8123", True, LOOPBACK),
    ],
)
async def test_central_system_created_tells_the_next_steps(
    hass: HomeAssistant,
    free_port: int,
    tls_files: TlsFiles,
    case: tuple[str, str | None, bool, str],
) -> None:
    host, internal_url, tls, expected_host = case
    await hass.config.async_update(internal_url=internal_url)
    user_input: dict[str, Any] = {CONF_HOST: host, CONF_PORT: free_port}
    if tls:
        user_input |= {
            CONF_SSL_CERTFILE: str(tls_files.certfile),
            CONF_SSL_KEYFILE: str(tls_files.keyfile),
        }
    result = await start_user_flow(hass)
    result = await submit(hass, result, user_input)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["description"] == "next_steps"
    scheme = "wss" if tls else "ws"
    # The charger appends its own id (OCPP-J 3.1.1); the message says so.
    assert result["description_placeholders"] == {"url": f"{scheme}://{expected_host}:{free_port}/"}
    assert_translated(result, "config")
    message = STRINGS["config"]["create_entry"]["next_steps"]
    # The next steps: the URL, adding chargers, adding tags; named as the buttons are.
    assert "`{url}`" in message
    assert STRINGS["config_subentries"]["charger"]["initiate_flow"]["user"] in message
    assert STRINGS["config_subentries"]["id_tag"]["initiate_flow"]["user"] in message


async def test_charger_created_tells_its_url(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, tls_files: TlsFiles
) -> None:
    await hass.config.async_update(internal_url="http://homeassistant.local:8123")
    entry = mock_config_entry(
        host="0.0.0.0",
        port=9443,
        data={
            CONF_SSL_CERTFILE: str(tls_files.certfile),
            CONF_SSL_KEYFILE: str(tls_files.keyfile),
        },
    )
    result = await start_subentry_flow(hass, entry, SUBENTRY_CHARGER)
    assert result["description_placeholders"] == {
        "url": "wss://homeassistant.local:9443/<chargeBoxId>"
    }

    result = await submit_subentry(hass, result, {CONF_CHARGE_BOX_ID: "CP-1"})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["description"] == "charger_added"
    assert result["description_placeholders"] == {
        "charge_box_id": "CP-1",
        "url": "wss://homeassistant.local:9443/CP-1",
    }


@pytest.mark.parametrize("status", [TAG_STATUS_ACCEPTED, TAG_STATUS_BLOCKED])
async def test_id_tag_created_tells_what_it_may_do(
    hass: HomeAssistant, mock_config_entry: ConfigEntryFactory, status: str
) -> None:
    entry = mock_config_entry()
    result = await start_subentry_flow(hass, entry, SUBENTRY_ID_TAG)

    result = await submit_subentry(hass, result, {CONF_ID_TAG: " 04A2B3C4 ", CONF_STATUS: status})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    # An accepted tag and a blocked one end with different messages.
    assert result["description"] == status
    assert result["description_placeholders"] == {"id_tag": "04A2B3C4"}
    assert set(STRINGS["config_subentries"]["id_tag"]["create_entry"]) == {
        TAG_STATUS_ACCEPTED,
        TAG_STATUS_BLOCKED,
    }
