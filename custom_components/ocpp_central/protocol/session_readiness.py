"""When a charger may be talked to, and what we tell it first (OCPP 1.6 section 4.2).

`Readiness` is the part of `ChargerSession` that follows the connection: no CALL of ours
reaches a charger before its BootNotification of this connection has been answered
(OCPP-J 1.6 section 5.4 and OCPP 1.6 section 4.2), except the TriggerMessages that
resynchronise a charger that reconnected without booting (`_resync_unless_booted`).
Once the boot is accepted and answered, or the resync is done, `state.ready` turns True
and the key READY is announced; then the configuration is read and the intervals
aligned (`_synchronise`). Setup calls are retried a few times (`protocol.retry`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from .config_keys import find, lookup_int
from .errors import OcppError
from .session_commands import CsmsCommands, trigger_payload
from .session_core import MAX_CONNECTOR_ID, SessionConnection
from .state import CONNECTED, READY, ConfigurationValue, StateKey
from .vocabulary import Action, ConfigurationKey, MessageTrigger, RegistrationStatus, succeeded

__all__ = ["Readiness"]


class Readiness(CsmsCommands):
    """Connection, boot answered or resync, then the setup of a ready charger."""

    def connection_made(self, connection: SessionConnection) -> None:
        """A charger connected; resynchronise it unless it boots promptly."""
        self._cancel_tasks()
        self._connection = connection
        self._booted = False
        self._boot_triggered = False
        self.state.connected = True
        self.state.ready = False  # not before its boot is answered or the resync is done
        self.state.notify((CONNECTED, READY))
        self._spawn(self._resync_unless_booted(connection))

    def connection_lost(self) -> None:
        """The charger went away: stop what we were doing for it."""
        self._cancel_tasks()
        self._connection = None
        self.state.ready = False
        if self.state.connected:
            self.state.connected = False
            self.state.notify((CONNECTED,))

    async def _try(
        self, action: str, payload: dict[str, Any], problem: str | None = None
    ) -> dict[str, Any] | None:
        """Send a setup CALL of our own, retried; a lasting failure is logged, not raised."""
        return await self._setup(problem or action, lambda: self.call(action, payload))

    async def _setup[T](self, problem: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """Await a setup call with retries; None when it kept failing (logged once)."""
        try:
            return await self.setup_retry.run(problem, call)
        except OcppError:
            return None  # reported by setup_retry (WARNING once per charger and problem)

    def _boot_seen(self) -> bool:
        """Whether a BootNotification arrived on this connection (read after an await)."""
        return self._booted

    def _set_ready(self) -> None:
        """Announce that the connection takes our calls now (see the module docstring)."""
        if not self.state.ready:
            self.state.ready = True
            self.state.notify((READY,))

    async def _boot_answered(self) -> None:
        """Section 4.2: the Accepted boot was answered; now we may talk to the charger."""
        self._set_ready()
        triggered, self._boot_triggered = self._boot_triggered, False
        if triggered:
            # We asked for this boot (a reconnect without reboot): the charger did not
            # restart, so it sends no status of its own; ask for what a user sees.
            await self._trigger_state()
        await self._synchronise()

    async def _trigger_state(self) -> None:
        """TriggerMessage StatusNotification, then MeterValues, for every known connector."""
        targets: list[int | None] = list(self.state.connector_ids) or [None]
        for message in (MessageTrigger.status_notification, MessageTrigger.meter_values):
            for connector_id in targets:
                await self._try(
                    Action.trigger_message,
                    trigger_payload(message, connector_id),
                    f"TriggerMessage {message}",
                )

    async def _resync_unless_booted(self, connection: SessionConnection) -> None:
        """OCPP-J section 5.4: a reconnect without reboot brings no BootNotification.

        Wait briefly for one; if none comes, ask for what we may have missed while the
        charger was away: its status and meter values, and its identity if unknown.
        Only then is the connection ready for other calls.
        """
        await asyncio.sleep(self.resync_delay)
        if self._booted or self._connection is not connection:
            return
        if self.state.registration in {RegistrationStatus.rejected, RegistrationStatus.pending}:
            return  # section 4.2: it must boot (again); we initiate nothing meanwhile
        if self.state.boot is None:
            reply = await self._try(
                Action.trigger_message, {"requestedMessage": MessageTrigger.boot_notification}
            )
            if reply is not None and succeeded(Action.trigger_message, reply.get("status")):
                # The boot brings the configuration; a triggered one is no reboot, so it
                # brings no StatusNotification (section 5.17): asked for once it is answered.
                self._boot_triggered = True
                return
        await self._trigger_state()
        if self._boot_seen():
            return  # it booted meanwhile: that boot makes it ready (or not)
        self._set_ready()
        await self._synchronise()

    async def _synchronise(self) -> None:
        """Read the charger's configuration, learn its connectors, align our intervals."""
        result = await self._setup(Action.get_configuration, self.get_configuration)
        # Without it the intervals are set without knowing them.
        values = {} if result is None else result.values
        number = lookup_int(values, ConfigurationKey.number_of_connectors)
        if number is not None:
            changed: set[StateKey] = set()
            for connector_id in range(1, min(number, MAX_CONNECTOR_ID) + 1):
                self._connector(connector_id, changed)
            if changed:
                self.state.notify(changed)
        await self._apply_intervals(values)

    async def _apply_intervals(self, known: dict[str, ConfigurationValue]) -> None:
        """ChangeConfiguration of the intervals that differ from our config (section 5.3)."""
        for key, wanted in (
            (ConfigurationKey.heartbeat_interval.value, self._config.heartbeat_interval),
            (ConfigurationKey.meter_value_sample_interval.value, self._config.meter_interval),
        ):
            current = find(known, key)  # keys are CiString50Type (section 9)
            if current is not None and (
                current.readonly or (current.value or "").strip() == str(wanted)
            ):
                continue
            await self._setup(
                f"ChangeConfiguration {key}", partial(self.change_configuration, key, str(wanted))
            )
