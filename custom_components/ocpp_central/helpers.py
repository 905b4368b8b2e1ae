"""What entities and services share: how a charger's failure becomes the error a user sees.

A command that cannot reach the charger (not connected, no answer in time, a CallError, a
message that breaks the OCPP 1.6 schema) or
that the charger refuses (a status outside the accepted ones, OCPP 1.6 section 7) raises a
translated `HomeAssistantError`; everything else is a bug and propagates.
"""

from __future__ import annotations

from collections.abc import Awaitable

from homeassistant.exceptions import HomeAssistantError

from .const import DOMAIN
from .protocol.errors import (
    CallErrorReceived,
    CallTimeoutError,
    NotConnectedError,
    ValidationFailed,
)
from .protocol.vocabulary import Action, succeeded


def command_error(action: str, err: Exception) -> HomeAssistantError:
    """Turn a failed command into the translated error shown to the user."""
    if isinstance(err, NotConnectedError):
        key, placeholders = "not_connected", {"action": action}
    elif isinstance(err, CallTimeoutError):
        key, placeholders = "timeout", {"action": action}
    elif isinstance(err, ValidationFailed):
        # Ours broke the schema (e.g. a charging profile given to an action) or the answer did.
        key, placeholders = "invalid_message", {"action": action, "description": err.description}
    elif isinstance(err, CallErrorReceived):
        key = "call_error"
        placeholders = {"action": action, "code": str(err.code), "description": err.description}
    else:
        raise TypeError(f"not a command error: {err!r}")
    return HomeAssistantError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


async def run_command[T](action: str, command: Awaitable[T]) -> T:
    """Await `command`, raising the translated error when the charger cannot be reached."""
    try:
        return await command
    except (NotConnectedError, CallTimeoutError, CallErrorReceived, ValidationFailed) as err:
        raise command_error(action, err) from err


async def send_command(action: Action, command: Awaitable[str]) -> str:
    """Run `command`, our `action`; a status that is not its success raises `refused`.

    What counts as success is the vocabulary's (`succeeded`): Accepted, or Unlocked for
    UnlockConnector, Scheduled too for ChangeAvailability, and so on (OCPP 1.6 section 6).
    """
    status = await run_command(action, command)
    if not succeeded(action, status):
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="refused",
            translation_placeholders={"action": action, "status": status},
        )
    return status
