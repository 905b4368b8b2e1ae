"""Every entity has its icon in icons.json, whatever name it takes, and state icons match options.

An entity's translation key depends on where it is: `key` on a single-connector charger,
`connector_key` once a charger has several connectors, `charger_key` for a charger-wide
twin. Each of them needs an icon, the disabled-by-default per-phase sensors included, and
icons per state may only name states the entity can take.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from homeassistant.components.sensor import SensorEntityDescription
import pytest

import custom_components.ocpp_central as integration
from custom_components.ocpp_central.entity import OcppEntityDescription

ICONS = json.loads((Path(integration.__file__).parent / "icons.json").read_text("utf-8"))
PLATFORMS = ("binary_sensor", "button", "event", "number", "select", "sensor", "switch")


def descriptions(platform: str) -> list[OcppEntityDescription]:
    module = importlib.import_module(f"custom_components.ocpp_central.{platform}")
    return [
        item
        for value in vars(module).values()
        if isinstance(value, tuple)
        for item in value
        if isinstance(item, OcppEntityDescription)
    ]


def translation_keys(description: OcppEntityDescription) -> list[str]:
    key = str(description.translation_key)
    keys = [key]
    if description.on_charger_when_reported:
        keys.append(f"charger_{key}")
    return keys


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_entity_has_an_icon(platform: str) -> None:
    found = descriptions(platform)
    icons: dict[str, Any] = ICONS["entity"].get(platform, {})
    missing = [
        key for description in found for key in translation_keys(description) if key not in icons
    ]
    assert not missing
    for description in found:
        options = getattr(description, "options", None)
        for key in translation_keys(description):
            states = set(icons[key].get("state", {}))
            if isinstance(description, SensorEntityDescription) and options is not None:
                assert states <= set(options), key


def test_per_phase_sensors_have_icons_of_their_quantity() -> None:
    icons = ICONS["entity"]["sensor"]
    for phase in ("l1", "l2", "l3"):
        for quantity in ("current", "voltage", "power"):
            assert icons[f"{quantity}_{phase}"] == icons[quantity]
