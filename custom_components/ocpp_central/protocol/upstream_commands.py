"""The upstream's commands to the charger (OCPP 1.6 chapter 5), in mode FULL.

`UpstreamCommands` is the part of `protocol.upstream.UpstreamLink` that carries a command of
the upstream out on the charger through the session's methods (so the local state follows:
the remote-start tag, the configuration cache), maps the upstream's transaction ids to
ours, and keeps the upstream's charging profiles beside this central system's current
limits: an id of ours is refused, a stack level at or above ours is moved one below (section
3.13.2), and its ClearChargingProfile clears only what it installed (tracked, persisted).
"""

from __future__ import annotations

from typing import Final

from .errors import (
    CallError,
    CallErrorCode,
    CallErrorReceived,
    CallTimeoutError,
    NotConnectedError,
    ValidationFailed,
)
from .session import ChargerSession
from .smart_charging import PROFILE_ID_BASE, Capabilities
from .upstream_queue import Payload, TransactionIds
from .vocabulary import (
    Action,
    ChargingProfileStatus,
    ClearChargingProfileStatus,
    RemoteStartStopStatus,
)

# Profiles of the upstream tracked for its ClearChargingProfile.
MAX_PROFILES: Final = 64
# Our profile ids (smart_charging.profile_id: 100 per purpose, three purposes).
_OUR_PROFILE_IDS: Final = range(PROFILE_ID_BASE, PROFILE_ID_BASE + 300)
# How long an upstream command waits for a charger that is connecting to become ready.
READY_WAIT: Final = 30.0


def reserved_profile_id(profile_id: int) -> bool:
    """Whether `profile_id` is one of this central system's own (never the upstream's)."""
    return profile_id in _OUR_PROFILE_IDS


class UpstreamCommands:
    """The upstream's commands on the charger; the link provides what is declared here."""

    session: ChargerSession
    transactions: TransactionIds
    # The upstream's charging profiles installed through us: id -> criteria fields.
    profiles: dict[int, Payload]

    def _saved(self) -> None:
        """Tell the owner the link's state changed (to persist); the link overrides it."""

    async def _command(self, action: str, payload: Payload) -> Payload:
        """Carry out the upstream's command on the charger and return the charger's answer.

        A charger still connecting (its boot not answered, or its resync not done) gets the
        command once ready, as the central system's own commands (OCPP-J 5.4); one that does
        not become ready within `READY_WAIT` seconds is answered GenericError upstream.
        """
        session = self.session
        if not await session.state.until_ready(READY_WAIT):
            state = "is not ready" if session.state.connected else "is not connected"
            raise CallError(CallErrorCode.GENERIC_ERROR, f"the charger {state}")
        try:
            if action == Action.remote_start_transaction:
                return await self._remote_start(payload)
            if action == Action.remote_stop_transaction:
                local = self.transactions.local(payload["transactionId"])
                if local is None:
                    return {"status": RemoteStartStopStatus.rejected}
                return {"status": await session.remote_stop(local)}
            if action == Action.set_charging_profile:
                return await self._set_profile(payload)
            if action == Action.clear_charging_profile:
                return await self._clear_profiles(payload)
            if action == Action.change_configuration:
                key, value = payload["key"], payload["value"]
                return {"status": await session.change_configuration(key, value)}
            return await session.call(action, payload)
        except CallErrorReceived as error:
            raise CallError(error.code, error.description, error.details) from None
        except CallTimeoutError:
            raise CallError(CallErrorCode.GENERIC_ERROR, "the charger did not answer") from None
        except NotConnectedError:
            raise CallError(CallErrorCode.GENERIC_ERROR, "the charger is not connected") from None
        except ValidationFailed as error:
            raise CallError(CallErrorCode.INTERNAL_ERROR, f"charger's answer: {error}") from None

    async def _remote_start(self, payload: Payload) -> Payload:
        profile = payload.get("chargingProfile")
        if profile is not None:
            profile = self._guarded(profile)
            if profile is None:
                return {"status": RemoteStartStopStatus.rejected}
        status = await self.session.remote_start(
            payload["idTag"], payload.get("connectorId"), profile
        )
        return {"status": status}

    def _guarded(self, profile: Payload) -> Payload | None:
        """The upstream's profile as it may reach the charger, or None to refuse it."""
        if profile["chargingProfileId"] in _OUR_PROFILE_IDS:
            return None
        ours = Capabilities.from_configuration(self.session.state.configuration).stack_level
        profile = dict(profile)
        if profile["stackLevel"] >= ours:
            profile["stackLevel"] = max(ours - 1, 0)
        upstream_tx = profile.get("transactionId")
        if upstream_tx is not None:
            local = self.transactions.local(upstream_tx)
            if local is None:
                return None
            profile["transactionId"] = local
        return profile

    async def _set_profile(self, payload: Payload) -> Payload:
        profile = self._guarded(payload["csChargingProfiles"])
        if profile is None:
            return {"status": ChargingProfileStatus.rejected}
        connector_id = payload["connectorId"]
        status = await self.session.set_charging_profile(connector_id, profile)
        if status == ChargingProfileStatus.accepted:
            self.profiles.pop(profile["chargingProfileId"], None)
            self.profiles[profile["chargingProfileId"]] = {
                "connectorId": connector_id,
                "chargingProfilePurpose": profile["chargingProfilePurpose"],
                "stackLevel": payload["csChargingProfiles"]["stackLevel"],
            }
            while len(self.profiles) > MAX_PROFILES:
                del self.profiles[next(iter(self.profiles))]
            self._saved()
        return {"status": status}

    async def _clear_profiles(self, payload: Payload) -> Payload:
        """Section 5.5, limited to the upstream's own profiles (see the module docstring)."""
        profile_id = payload.get("id")
        if profile_id is not None:
            if profile_id in _OUR_PROFILE_IDS:
                return {"status": ClearChargingProfileStatus.unknown}
            status = await self.session.clear_charging_profile(profile_id=profile_id)
            if self.profiles.pop(profile_id, None) is not None:
                self._saved()
            return {"status": status}
        matching = [
            known
            for known, fields in self.profiles.items()
            if all(
                payload.get(key) is None or payload[key] == fields.get(key)
                for key in ("connectorId", "chargingProfilePurpose", "stackLevel")
            )
        ]
        cleared = False
        for known in matching:
            status = await self.session.clear_charging_profile(profile_id=known)
            cleared = cleared or status == ClearChargingProfileStatus.accepted
            del self.profiles[known]
        if matching:
            self._saved()
        return {
            "status": ClearChargingProfileStatus.accepted
            if cleared
            else ClearChargingProfileStatus.unknown
        }
