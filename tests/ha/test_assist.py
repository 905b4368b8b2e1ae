"""Voice: Home Assistant's own Assist (the default conversation agent) drives the charger.

The sentences go through `conversation.async_converse` and the `conversation.process` action,
as typed or spoken to Assist; the charger is the project's simulator over 127.0.0.1
websockets, and what is checked is what it receives: RemoteStartTransaction and
RemoteStopTransaction (OCPP 1.6 sections 5.11, 5.12). The entity names are the ones the
integration gives: "<charger> Charging".
"""

from __future__ import annotations

import itertools
from typing import Any

from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_should_expose
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.intent import IntentResponse, IntentResponseType
from homeassistant.setup import async_setup_component
import pytest

from custom_components.ocpp_central.const import DEFAULT_REMOTE_ID_TAG

from .conftest import (
    Chargers,
    ConfigEntryFactory,
    charger_subentry,
    entity_id,
    setup_entry,
    state_of,
    wait_for_state,
)

# The phrases the README's Voice paragraph gives, as (turn on, turn off) pairs.
PHRASES = [
    ("turn on {name}", "turn off {name}"),
    ("switch on {name}", "switch off {name}"),
    ("turn {name} on", "turn {name} off"),
]
# (charge box id, how it is said): the device is named after the charge box id.
CHARGERS = [("Garage", "garage"), ("DEMO-1", "demo 1")]


@pytest.fixture
async def assist(hass: HomeAssistant) -> None:
    """Set up Assist as a new installation has it: the default agent and its intents."""
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    assert await async_setup_component(hass, "intent", {})


async def say(hass: HomeAssistant, text: str) -> IntentResponse:
    """Say text to Assist in English; return its answer."""
    result = await conversation.async_converse(hass, text, None, Context(), language="en")
    await hass.async_block_till_done()
    return result.response


def targets(response: IntentResponse) -> list[str]:
    return [target.id for target in response.success_results]


@pytest.mark.usefixtures("assist")
@pytest.mark.parametrize(("phrases", "charger"), itertools.product(PHRASES, CHARGERS))
async def test_assist_starts_and_stops_charging(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    chargers: Chargers,
    free_port: int,
    *,
    phrases: tuple[str, str],
    charger: tuple[str, str],
) -> None:
    turn_on, turn_off = phrases
    charge_box_id, spoken = charger
    entry = mock_config_entry(
        port=free_port, chargers=[charger_subentry(charge_box_id, meter_interval=0)]
    )
    await setup_entry(hass, entry)
    cp = await chargers.connect(free_port, charge_box_id)
    switch = entity_id(hass, "switch", f"{charge_box_id}_1_charging")
    # The name Assist matches: the charger's name and the switch's.
    assert state_of(hass, "switch", f"{charge_box_id}_1_charging").name == (
        f"{charge_box_id} Charging"
    )
    name = f"{spoken} charging"

    response = await say(hass, turn_on.format(name=name))

    assert response.response_type is IntentResponseType.ACTION_DONE, response.speech
    assert targets(response) == [switch]
    start = await cp.wait_for_call("RemoteStartTransaction")
    assert start == {"connectorId": 1, "idTag": DEFAULT_REMOTE_ID_TAG}
    await wait_for_state(hass, switch, lambda state: state.state == STATE_ON)
    # Our StartTransaction.conf went out before the charger took it in.
    await cp.wait_until(lambda: cp.connector(1).transaction is not None)

    # Said again while it charges: done, without a second remote start the charger refuses.
    response = await say(hass, turn_on.format(name=name))
    assert response.response_type is IntentResponseType.ACTION_DONE, response.speech
    assert [action for action, _ in cp.calls_received].count("RemoteStartTransaction") == 1

    transaction = cp.connector(1).transaction
    assert transaction is not None
    response = await say(hass, turn_off.format(name=name))

    assert response.response_type is IntentResponseType.ACTION_DONE, response.speech
    stop = await cp.wait_for_call("RemoteStopTransaction")
    assert stop == {"transactionId": transaction.transaction_id}
    await wait_for_state(hass, switch, lambda state: state.state == STATE_OFF)


@pytest.mark.usefixtures("assist")
async def test_conversation_process_action_and_questions(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=[charger_subentry("Garage")])
    await setup_entry(hass, entry)
    cp = await chargers.connect(free_port, "Garage")
    switch = entity_id(hass, "switch", "Garage_1_charging")

    async def process(text: str) -> dict[str, Any]:
        result = await hass.services.async_call(
            "conversation",
            "process",
            {"text": text, "language": "en"},
            blocking=True,
            return_response=True,
        )
        assert result is not None
        response: dict[str, Any] = result["response"]
        return response

    assert (await process("is garage charging on"))["speech"]["plain"]["speech"].startswith("No")
    answer = await process("turn on garage charging")
    assert answer["response_type"] == "action_done"
    await cp.wait_for_call("RemoteStartTransaction")
    await wait_for_state(hass, switch, lambda state: state.state == STATE_ON)
    assert (await process("is garage charging on"))["speech"]["plain"]["speech"].startswith("Yes")
    await process("turn off garage charging")
    await cp.wait_for_call("RemoteStopTransaction")
    await wait_for_state(hass, switch, lambda state: state.state == STATE_OFF)

    # An alias set in the entity's voice settings is a name as good as its own.
    er.async_get(hass).async_update_entity(switch, aliases={"car charging"})
    answer = await process("turn on car charging")
    assert answer["response_type"] == "action_done"
    await cp.wait_for_call("RemoteStartTransaction", count=2)
    await wait_for_state(hass, switch, lambda state: state.state == STATE_ON)


@pytest.mark.usefixtures("assist")
async def test_only_the_charging_switch_is_exposed(
    hass: HomeAssistant,
    mock_config_entry: ConfigEntryFactory,
    free_port: int,
    chargers: Chargers,
) -> None:
    entry = mock_config_entry(port=free_port, chargers=[charger_subentry("Garage")])
    await setup_entry(hass, entry)
    await chargers.connect(free_port, "Garage")
    charging = entity_id(hass, "switch", "Garage_1_charging")
    available = entity_id(hass, "switch", "Garage_1_available")
    assert async_should_expose(hass, conversation.DOMAIN, charging)
    # A configuration switch is not for voice: "turn off garage" must not take a charger offline.
    assert not async_should_expose(hass, conversation.DOMAIN, available)
    response = await say(hass, "turn off garage available")
    assert response.response_type is IntentResponseType.ERROR
