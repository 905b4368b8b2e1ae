"""The seam between the OCPP-J transport and one OCPP version.

The transport and RPC core (`server.py`, `connection.py`, `rpc.py`, `schemas.py`) serve any
OCPP-J version: frames, message ids, validation against a set of JSON schemas, one CALL at a
time. What belongs to a version is here, in one record: the websocket subprotocol the
handshake agrees on (OCPP-J 1.6 section 3.1.2), the schema set validating its messages, and
the session that handles its actions with its vocabulary. OCPP 1.6 (`protocol.session`,
`protocol.vocabulary`) is the one version today; another would be a second `OcppVersion`
with its own session and vocabulary, and a choice of version per charger.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from websockets.typing import Subprotocol

from .config import ChargerConfig
from .hooks import SessionHooks
from .schemas import V16
from .session import ChargerSession

type SessionFactory = Callable[[ChargerConfig, SessionHooks], ChargerSession]
"""Build a charger's session: (its configuration, the owner's hooks) -> session."""


@dataclass(frozen=True, slots=True)
class OcppVersion:
    """One OCPP version as the server speaks it."""

    # The websocket subprotocol of the version, e.g. "ocpp1.6".
    subprotocol: Subprotocol
    # The `ocpp` package's folder of the version's JSON schemas (`schemas.read_definitions`).
    schemas: str
    # The session of a charger speaking the version.
    session_factory: SessionFactory


OCPP16: Final = OcppVersion(Subprotocol("ocpp1.6"), V16, ChargerSession)

# Every version, by subprotocol.
VERSIONS: Final[Mapping[str, OcppVersion]] = {OCPP16.subprotocol: OCPP16}
