"""Repair issues: one id per problem and place, raised while it lasts, cleared when it passes.

Problems of the central system (`port_in_use`, `tls_invalid`) are per config entry and stop
setup; problems of a charger (it refused our settings or our local list, it has no password)
are per charge box id and cleared with the charger. Every repair issue of the integration
goes through here, so its id, severity and translation key follow one rule.
"""

from __future__ import annotations

from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

ISSUE_PORT_IN_USE: Final = "port_in_use"
ISSUE_TLS_INVALID: Final = "tls_invalid"
ISSUE_CHARGER_REJECTED_CONFIGURATION: Final = "charger_rejected_configuration"
ISSUE_CHARGER_WITHOUT_PASSWORD: Final = "charger_without_password"
ISSUE_LOCAL_LIST_REFUSED: Final = "local_list_refused"
# A charger forwarded to an upstream central system (upstream_runtime.py): the upstream
# refused it, or was unreachable for long.
ISSUE_UPSTREAM_REFUSED: Final = "upstream_refused"
ISSUE_UPSTREAM_UNREACHABLE: Final = "upstream_unreachable"
UPSTREAM_ISSUES: Final[list[str]] = [ISSUE_UPSTREAM_REFUSED, ISSUE_UPSTREAM_UNREACHABLE]

# The issues of one charger, removed with it.
CHARGER_ISSUES: Final[list[str]] = [
    ISSUE_CHARGER_REJECTED_CONFIGURATION,
    ISSUE_CHARGER_WITHOUT_PASSWORD,
    ISSUE_LOCAL_LIST_REFUSED,
    *UPSTREAM_ISSUES,
]


def issue_id(kind: str, place: str) -> str:
    """The id of issue `kind` at `place` (an entry id or a charge box id)."""
    return f"{kind}_{place}"


@callback
def async_raise(
    hass: HomeAssistant,
    kind: str,
    place: str,
    placeholders: dict[str, str],
    *,
    severity: ir.IssueSeverity = ir.IssueSeverity.WARNING,
    persistent: bool = False,
) -> bool:
    """Raise (or update) issue `kind` at `place`; True when it was not raised before.

    Not persistent by default: each is raised again from what the charger or the
    configuration says after a restart, so an issue the user ignored stays ignored.
    """
    ident = issue_id(kind, place)
    new = ir.async_get(hass).async_get_issue(DOMAIN, ident) is None
    ir.async_create_issue(
        hass,
        DOMAIN,
        ident,
        is_fixable=False,
        is_persistent=persistent,
        severity=severity,
        translation_key=kind,
        translation_placeholders=placeholders,
    )
    return new


@callback
def async_clear(hass: HomeAssistant, kind: str, place: str) -> None:
    """Clear issue `kind` at `place` (nothing when it is not raised)."""
    ir.async_delete_issue(hass, DOMAIN, issue_id(kind, place))


@callback
def async_clear_charger(hass: HomeAssistant, charge_box_id: str) -> None:
    """Clear every issue of a charger (it was removed or renamed)."""
    for kind in CHARGER_ISSUES:
        async_clear(hass, kind, charge_box_id)
