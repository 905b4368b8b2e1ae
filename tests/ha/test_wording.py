"""The words for an RFID card (an OCPP idTag) in each language: the ones its users know.

English says "tag". German must not: "Tag" reads as "day" there, so the German texts say
"Ladekarte" (the card), "Karten-ID" (its identifier) or "Kennung". French says "badge", the
usual word for an RFID card; Dutch "tag" is unambiguous and stays. Each rule holds for every
text whose English says "tag", whoever adds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
import json
from pathlib import Path
import re
from typing import Any

import pytest

import custom_components.ocpp_central as integration

PACKAGE = Path(integration.__file__).parent
ENGLISH_TAG = re.compile(r"\btags?\b", re.IGNORECASE)
# "Tag", "Tags", "ID-Tag", "Tag-ID", "Gruppen-Tag": German for "day" in every spelling.
GERMAN_DAY = re.compile(r"(?<![\w{`])Tags?(?![\w}`])")


def leaves(tree: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key path, text) of every leaf of a translation tree."""
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from leaves(value, path)
        else:
            yield path, value


@cache
def texts(language: str) -> dict[str, str]:
    """Every text of one language by its key path."""
    name = "strings.json" if language == "en" else f"translations/{language}.json"
    return dict(leaves(json.loads((PACKAGE / name).read_text(encoding="utf-8"))))


ENGLISH = texts("en")
ABOUT_TAGS = sorted(key for key, text in ENGLISH.items() if ENGLISH_TAG.search(text))


def test_texts_about_tags_found() -> None:
    assert len(ABOUT_TAGS) > 30
    assert "config_subentries.id_tag.entry_type" in ABOUT_TAGS


@pytest.mark.parametrize("key", ABOUT_TAGS)
def test_german_never_calls_a_card_a_day(key: str) -> None:
    german = texts("de")[key]
    assert not GERMAN_DAY.search(german), german


def test_german_names_the_card_as_its_users_do() -> None:
    german = texts("de")
    assert german["config_subentries.id_tag.entry_type"] == "Ladekarte"
    assert german["config_subentries.id_tag.initiate_flow.user"] == "Ladekarte hinzufügen"
    assert german["config_subentries.id_tag.step.user.data.id_tag"] == "Karten-ID"
    assert german["entity.sensor.id_tag.name"] == "Ladekarte"
    assert german["entity.event.id_tag.name"] == "Ladekarte vorgehalten"
    assert german["options.step.init.data.unknown_tags"] == "Unbekannte Ladekarten"


@pytest.mark.parametrize(("language", "word"), [("fr", "badge"), ("nl", "tag")])
@pytest.mark.parametrize("key", ABOUT_TAGS)
def test_one_word_for_the_card(key: str, language: str, word: str) -> None:
    text = texts(language)[key]
    assert word in text.lower(), text


def test_the_flows_name_the_buttons_as_they_are() -> None:
    # The message after creating the central system names the "add a card" button.
    for language in ("en", "de", "nl", "fr"):
        strings = texts(language)
        message = strings["config.create_entry.next_steps"]
        assert strings["config_subentries.id_tag.initiate_flow.user"] in message, language
        assert strings["config_subentries.charger.initiate_flow.user"] in message, language
