"""The local authorisation list of a charger, reconciled rather than assumed.

OCPP 1.6 section 3.5 (Local Authorization List), 5.10 (Get Local List Version) and 5.15
(Send Local List). A charger keeps a list when its SupportedFeatureProfiles holds
LocalAuthListManagement and LocalAuthListEnabled is true (section 9.2). `synchronise`
brings it to the list the central system wants:

1. GetLocalListVersion. When the charger's version differs from the one we believe it
   holds (it was reset, replaced or set to factory defaults), or we know of none, a Full
   update is sent with a version above both; a charger answering -1 keeps no list
   (section 5.10) and is reported NotSupported.
2. Otherwise a Differential update with the tags that changed (an entry without
   IdTagInfo removes a tag, section 7.3), or nothing when the list is the same.
3. A Differential answered Failed or VersionMismatch is followed by a Full update of
   the same version (section 5.15: the Central System SHOULD retry with a full list).

Every call goes through the session's `SetupRetry`. The result says what the charger
holds now as far as we know, for the caller to remember (and to show when it refused).
No Home Assistant here: the runtime keeps the store and raises the repair issues.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import logging
from typing import Any, Final, Protocol

from .config_keys import has, list_contains, lookup_bool
from .errors import CallErrorReceived
from .messages import ConfigurationResult
from .retry import FINAL_CODES, SetupRetry
from .state import ChargerState
from .vocabulary import (
    Action,
    ConfigurationKey,
    FeatureProfile,
    UpdateStatus,
    UpdateType,
    succeeded,
)

__all__ = [
    "ACCEPTED",
    "FAILED",
    "NOT_MANAGED",
    "NOT_SUPPORTED",
    "UP_TO_DATE",
    "VERSION_MISMATCH",
    "LocalList",
    "LocalListSession",
    "SyncResult",
    "authorization_data",
    "keeps_local_list",
    "synchronise",
]

_LOGGER = logging.getLogger(__name__)

# Configuration keys (sections 9.1 and 9.2).
SUPPORTED_FEATURE_PROFILES: Final[str] = ConfigurationKey.supported_feature_profiles
LOCAL_AUTH_LIST_ENABLED: Final[str] = ConfigurationKey.local_auth_list_enabled
LOCAL_AUTH_LIST_MANAGEMENT: Final = FeatureProfile.LOCAL_AUTH_LIST_MANAGEMENT
# UpdateStatus of SendLocalList.conf (section 7.45).
ACCEPTED: Final[str] = UpdateStatus.accepted
FAILED: Final[str] = UpdateStatus.failed
NOT_SUPPORTED: Final[str] = UpdateStatus.not_supported
VERSION_MISMATCH: Final[str] = UpdateStatus.version_mismatch
# Outcomes without a SendLocalList answer.
UP_TO_DATE: Final = "UpToDate"  # the charger holds the wanted list already
NOT_MANAGED: Final = "NotManaged"  # the charger keeps no list (or it is disabled)
# UpdateType (section 7.46).
FULL: Final[str] = UpdateType.full
DIFFERENTIAL: Final[str] = UpdateType.differential
# GetLocalListVersion.conf: -1 means no local list support (section 5.10).
_NO_LIST_SUPPORT: Final = -1

type Entries = dict[str, dict[str, Any]]
"""IdTagInfo (section 7.27) by id tag."""


@dataclass(slots=True)
class LocalList:
    """A local list: its version and its entries (section 5.15)."""

    version: int
    entries: Entries = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a synchronisation did.

    `status`: ACCEPTED (an update was accepted), UP_TO_DATE, NOT_MANAGED, or the
    charger's refusal FAILED, VERSION_MISMATCH, NOT_SUPPORTED. `held`: the list the
    charger holds now as far as we know (None: unknown). `update_type`: the last update
    sent (None: none). `charger_version`: what GetLocalListVersion answered (None: not
    asked or not answered).
    """

    status: str
    held: LocalList | None
    update_type: str | None = None
    charger_version: int | None = None

    @property
    def refused(self) -> bool:
        """Whether the charger refused the list (something the user should see)."""
        return self.status in {FAILED, VERSION_MISMATCH, NOT_SUPPORTED}


class LocalListSession(Protocol):
    """What the local list needs of a `protocol.session.ChargerSession`."""

    @property
    def state(self) -> ChargerState:
        """Everything known of the charger (its cached configuration)."""
        ...

    @property
    def setup_retry(self) -> SetupRetry:
        """Retries and once-only reporting of setup calls."""
        ...

    async def get_configuration(self, keys: list[str] | None = None) -> ConfigurationResult:
        """GetConfiguration (section 5.8)."""
        ...

    async def get_local_list_version(self) -> int:
        """GetLocalListVersion (section 5.10)."""
        ...

    async def send_local_list(
        self, version: int, update_type: str, entries: list[dict[str, Any]]
    ) -> str:
        """SendLocalList (section 5.15): the UpdateStatus."""
        ...


def authorization_data(entries: Mapping[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    """AuthorizationData entries (section 7.3); a tag without IdTagInfo is removed."""
    return [
        {"idTag": tag} if info is None else {"idTag": tag, "idTagInfo": dict(info)}
        for tag, info in entries.items()
    ]


async def keeps_local_list(session: LocalListSession) -> bool:
    """Whether the charger keeps an enabled local list (sections 3.5 and 9.2).

    The keys come from the cached configuration, asking GetConfiguration for the ones
    missing; keys and the profile name compare case-insensitively.
    """
    keys = [SUPPORTED_FEATURE_PROFILES, LOCAL_AUTH_LIST_ENABLED]
    configuration = session.state.configuration
    if not all(has(configuration, key) for key in keys):
        missing = [key for key in keys if not has(configuration, key)]
        result = await session.setup_retry.run(
            Action.get_configuration, lambda: session.get_configuration(missing)
        )
        configuration = {**configuration, **result.values}
    return bool(
        list_contains(configuration, SUPPORTED_FEATURE_PROFILES, LOCAL_AUTH_LIST_MANAGEMENT)
    ) and bool(lookup_bool(configuration, LOCAL_AUTH_LIST_ENABLED))


async def _charger_version(session: LocalListSession) -> int | None:
    """GetLocalListVersion; None when the charger cannot answer it (NotSupported)."""
    try:
        return await session.setup_retry.run(
            Action.get_local_list_version, session.get_local_list_version
        )
    except CallErrorReceived as err:
        _LOGGER.debug(
            "%s: no GetLocalListVersion (%s); trusting the version we sent last",
            session.state.charge_box_id,
            err,
        )
        return None


async def _send(
    session: LocalListSession, version: int, update_type: str, entries: list[dict[str, Any]]
) -> str:
    """SendLocalList; a CallError NotSupported/NotImplemented answer counts as NotSupported."""
    try:
        return await session.setup_retry.run(
            f"SendLocalList {update_type}",
            lambda: session.send_local_list(version, update_type, entries),
        )
    except CallErrorReceived as err:
        if err.code in FINAL_CODES:
            return NOT_SUPPORTED
        raise


async def synchronise(
    session: LocalListSession, wanted: Entries, known: LocalList | None
) -> SyncResult:
    """Bring the charger's local list to `wanted`; `known` is what we believe it holds.

    Raises `NotConnectedError`, `CallTimeoutError` or `CallErrorReceived` when the
    charger cannot be asked (after the retries).
    """
    if not await keeps_local_list(session):
        return SyncResult(NOT_MANAGED, known)
    charger_version = await _charger_version(session)
    if charger_version == _NO_LIST_SUPPORT:
        return SyncResult(NOT_SUPPORTED, None, charger_version=charger_version)
    charge_box_id = session.state.charge_box_id
    if known is None or (charger_version is not None and charger_version != known.version):
        # Reset, replaced or new to us: only a full list makes its content known.
        version = max(0 if known is None else known.version, charger_version or 0) + 1
        if known is not None:
            _LOGGER.info(
                "%s holds local list version %s, not %s: sending the full list",
                charge_box_id,
                charger_version,
                known.version,
            )
        status = await _send(session, version, FULL, authorization_data(wanted))
        return _result(status, version, FULL, wanted, None, charger_version)
    if known.entries == wanted:
        return SyncResult(UP_TO_DATE, known, charger_version=charger_version)
    version = known.version + 1
    changes: dict[str, dict[str, Any] | None] = {
        tag: info for tag, info in wanted.items() if known.entries.get(tag) != info
    }
    changes.update({tag: None for tag in known.entries if tag not in wanted})
    status = await _send(session, version, DIFFERENTIAL, authorization_data(changes))
    if status in {FAILED, VERSION_MISMATCH}:
        # Section 5.15: after a refused differential update, the full list.
        _LOGGER.info(
            "%s answered %s to a differential list: sending the full list", charge_box_id, status
        )
        status = await _send(session, version, FULL, authorization_data(wanted))
        return _result(status, version, FULL, wanted, None, charger_version)
    return _result(status, version, DIFFERENTIAL, wanted, known, charger_version)


def _result(  # noqa: PLR0917 - one call per outcome, each with every field
    status: str,
    version: int,
    update_type: str,
    wanted: Entries,
    before: LocalList | None,
    charger_version: int | None,
) -> SyncResult:
    """The outcome of an update: the new list if accepted, else what held before."""
    held = LocalList(version, dict(wanted)) if succeeded(Action.send_local_list, status) else before
    return SyncResult(status, held, update_type, charger_version)
