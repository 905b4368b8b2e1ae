"""Home Assistant floor kind of the benchmark: the least any integration costs per reading.

The same Home Assistant core as the "ha" kind (`ha._start_hass`: registries, the entity
platforms, the recorder unless `--no-recorder`), but instead of the integration the bare
websockets floor (`closed.floor_server`) on Home Assistant's event loop, which for every
MeterValues CALL sets ONE state with `hass.states.async_set`: the message's energy
register reading, on `sensor.<charger id slugified>_energy`, with the attributes of a
real energy sensor. That is what any integration pays that puts each reading into the
state machine (the state object, the state_changed event, the recorder's row); the "ha"
kind's figures are read beside it. The recorder then records one state row per message,
each chained to the entity's previous one, as it does for the integration's entities.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
import tempfile
from typing import TYPE_CHECKING, Any, Final

from .closed import MeterHandler, Probe, Stop, floor_server, rss_bytes
from .ha import MemoryTrace, _instrument, _start_hass, recorder_enabled

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

ENERGY_SUFFIX: Final = "_energy"


def energy_entity_id(charge_box_id: str) -> str:
    """The energy sensor's entity id of a charger (its id slugified, as entity ids are)."""
    from homeassistant.util import slugify

    return f"sensor.{slugify(charge_box_id)}{ENERGY_SUFFIX}"


def energy_register(payload: Mapping[str, Any]) -> str | None:
    """The energy register reading of a MeterValues.req payload, in Wh (None: none in it).

    Of its newest MeterValue, the first sampled value whose measurand is
    Energy.Active.Import.Register, the measurand a sampled value without one has
    (OCPP 1.6 section 7.43); in kWh (section 7.45) it is converted.
    """
    from custom_components.ocpp_central.protocol.measurands import DEFAULT_MEASURAND, UNITS

    meter_values = payload["meterValue"]
    if not meter_values:
        return None
    for sample in meter_values[-1]["sampledValue"]:
        if sample.get("measurand", DEFAULT_MEASURAND) != DEFAULT_MEASURAND:
            continue
        value: str = sample["value"]
        unit = sample.get("unit")
        if unit is None:
            return value
        _base, factor, offset = UNITS.get(unit, UNITS["Wh"])
        return value if factor == 1.0 and offset == 0.0 else str(float(value) * factor + offset)
    return None


def _energy_states(hass: HomeAssistant) -> Callable[[str], MeterHandler]:
    """Per connection: set the charger's energy state from each MeterValues payload."""
    from homeassistant.components.sensor import (
        ATTR_STATE_CLASS,
        SensorDeviceClass,
        SensorStateClass,
    )
    from homeassistant.const import (
        ATTR_DEVICE_CLASS,
        ATTR_FRIENDLY_NAME,
        ATTR_UNIT_OF_MEASUREMENT,
        UnitOfEnergy,
    )

    set_state = hass.states.async_set

    def connected(charge_box_id: str) -> MeterHandler:
        entity_id = energy_entity_id(charge_box_id)
        # The attributes an energy sensor writes; equal from one state to the next, so the
        # state machine keeps the previous state's (as for an entity's unchanged ones).
        attributes = {
            ATTR_UNIT_OF_MEASUREMENT: UnitOfEnergy.WATT_HOUR,
            ATTR_DEVICE_CLASS: SensorDeviceClass.ENERGY,
            ATTR_STATE_CLASS: SensorStateClass.TOTAL_INCREASING,
            ATTR_FRIENDLY_NAME: f"{charge_box_id} Energy",
        }

        def on_meter_values(payload: dict[str, Any]) -> None:
            value = energy_register(payload)
            if value is not None:
                set_state(entity_id, value, attributes)

        return on_meter_values

    return connected


async def serve_ha_floor(chargers: int, probe: Probe) -> tuple[int, Stop]:
    """Run Home Assistant with the floor on its event loop, one energy state per message."""
    del chargers  # nothing to configure: every charger is served
    config_dir = Path(tempfile.mkdtemp(prefix="ocpp-central-bench-"))
    recorder = recorder_enabled()
    hass = await _start_hass(config_dir, recorder=recorder)
    # The same baseline as the "ha" kind: Home Assistant started, no charger yet.
    trace = MemoryTrace.from_env(hass)
    probe.base_rss = rss_bytes()
    port, stop_server = await floor_server(_energy_states(hass))
    stop_hass = _instrument(hass, probe, config_dir, recorder=recorder, trace=trace)

    async def energy() -> dict[str, Any]:
        """The energy states in the state machine, by entity id (state and attributes)."""
        return {
            "states": {
                state.entity_id: {"state": state.state, "attributes": dict(state.attributes)}
                for state in hass.states.async_all("sensor")
                if state.entity_id.endswith(ENERGY_SUFFIX)
            }
        }

    probe.commands["energy"] = energy

    async def stop() -> None:
        await stop_server()
        await stop_hass()

    return port, stop
