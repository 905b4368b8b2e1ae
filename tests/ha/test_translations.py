"""Translations are complete: each language matches strings.json; each key the code uses exists.

strings.json is the source; translations/en.json is its copy and every other file in
translations/ must have exactly its key paths and placeholders. The code side is read
without hand-kept lists: entity translation keys come from the EntityDescription tuples
the modules define, service fields from services.yaml, and the translation keys of raised
errors, repair issues and form select selectors from the source (resolved through
constants, local assignments and the call sites of the helper that builds them).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
import importlib
import json
from pathlib import Path
import pkgutil
import re
from types import MappingProxyType, ModuleType
from typing import Any, cast

from homeassistant.components.binary_sensor import BinarySensorEntityDescription
from homeassistant.components.button import ButtonEntityDescription
from homeassistant.components.event import EventEntityDescription
from homeassistant.components.number import NumberEntityDescription
from homeassistant.components.select import SelectEntityDescription
from homeassistant.components.sensor import SensorDeviceClass, SensorEntityDescription
from homeassistant.components.switch import SwitchEntityDescription
from homeassistant.config_entries import ConfigSubentry
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.typing import UNDEFINED
from homeassistant.util.yaml import load_yaml_dict
import pytest

import custom_components.ocpp_central as integration
from custom_components.ocpp_central.entity import Charger, OcppEntity, OcppEntityDescription
from custom_components.ocpp_central.protocol.config import ChargerConfig
from custom_components.ocpp_central.protocol.hooks import MemoryHooks
from custom_components.ocpp_central.protocol.session import ChargerSession
from custom_components.ocpp_central.runtime import OcppConfigEntry

PACKAGE = Path(integration.__file__).parent
STRINGS = PACKAGE / "strings.json"
TRANSLATIONS = PACKAGE / "translations"
LANGUAGES = sorted(p.stem for p in TRANSLATIONS.glob("*.json") if p.stem != "en")
PLACEHOLDER = re.compile(r"\{(\w+)\}")

# The platform of a description, by the Home Assistant description class it extends.
PLATFORMS: Mapping[type[EntityDescription], str] = {
    BinarySensorEntityDescription: "binary_sensor",
    ButtonEntityDescription: "button",
    EventEntityDescription: "event",
    NumberEntityDescription: "number",
    SelectEntityDescription: "select",
    SensorEntityDescription: "sensor",
    SwitchEntityDescription: "switch",
}
# Calls whose translation_key names a repair issue rather than an exception message.
ISSUE_CALLS = frozenset({"async_create_issue"})
# The integration's own way to raise one (repairs.async_raise(hass, kind, place,
# placeholders)): the positions of the translation key and the placeholders.
ISSUE_WRAPPERS = {"async_raise": (1, 3)}


type Tree = dict[str, Any]


def load(path: Path) -> Tree:
    """A JSON file as a dict."""
    return cast(Tree, json.loads(path.read_text(encoding="utf-8")))


def leaves(tree: Tree, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key path, value) of every leaf of a translation tree."""
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from leaves(value, path)
        else:
            yield path, value


def lookup(tree: Tree, path: str) -> Any:
    """The node at a dotted key path, or None."""
    node: Any = tree
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def placeholders(text: str) -> set[str]:
    """The `{name}` placeholders of a string."""
    return set(PLACEHOLDER.findall(text))


@pytest.fixture(name="strings", scope="module")
def strings_fixture() -> Tree:
    """strings.json, the English source of every translation."""
    return load(STRINGS)


# --- The language files -------------------------------------------------------------------


def test_en_is_strings_json(strings: Tree) -> None:
    """translations/en.json is strings.json written out (custom integrations ship it in full)."""
    assert load(TRANSLATIONS / "en.json") == strings


def test_languages_found() -> None:
    """The languages this test covers; a file added later is covered without a change here."""
    assert {"de", "fr", "nl"} <= set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_keys(strings: Tree, language: str) -> None:
    """A translation has exactly the key paths of strings.json: nothing missing, nothing stale."""
    expected = {path for path, _ in leaves(strings)}
    actual = {path for path, _ in leaves(load(TRANSLATIONS / f"{language}.json"))}
    assert sorted(expected - actual) == [], f"{language}.json lacks these keys"
    assert sorted(actual - expected) == [], f"{language}.json has keys strings.json has not"


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_placeholders(strings: Tree, language: str) -> None:
    """Every `{placeholder}` of a string is in its translation and the translation adds none."""
    translated = dict(leaves(load(TRANSLATIONS / f"{language}.json")))
    wrong = {
        path: (sorted(placeholders(text)), sorted(placeholders(translated[path])))
        for path, text in leaves(strings)
        if path in translated and placeholders(text) != placeholders(translated[path])
    }
    assert wrong == {}, f"{language}.json: (English, translated) placeholders differ"


@pytest.mark.parametrize("language", [*LANGUAGES, "en"])
def test_written_out(language: str) -> None:
    """Every value is a non-empty string, with no `[%key:...%]` reference left to resolve."""
    bad = [
        path
        for path, value in leaves(load(TRANSLATIONS / f"{language}.json"))
        if not isinstance(value, str) or not value.strip() or "[%key:" in value
    ]
    assert bad == []


# --- Entities -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DescribedEntity:
    """One translation key an entity of a description can get, with its placeholders."""

    platform: str
    description: EntityDescription
    translation_key: str
    placeholders: frozenset[str]


def _platform(description: EntityDescription) -> str:
    for cls, platform in PLATFORMS.items():
        if isinstance(description, cls):
            return platform
    raise AssertionError(f"no platform known for {type(description).__name__}")


def _modules() -> list[ModuleType]:
    """Every module of the integration (the platforms, the solar entities, any added later)."""
    return [
        integration,
        *(
            importlib.import_module(f"{integration.__name__}.{info.name}")
            for info in pkgutil.iter_modules(integration.__path__)
            if not info.ispkg
        ),
    ]


def _descriptions() -> list[EntityDescription]:
    """The entity descriptions of every module-level tuple of descriptions."""
    found: dict[int, EntityDescription] = {}
    for module in _modules():
        for value in vars(module).values():
            if (
                isinstance(value, tuple)
                and value
                and all(isinstance(item, EntityDescription) for item in value)
            ):
                found.update((id(item), item) for item in value)
    return list(found.values())


def _charger() -> Charger:
    """A charger with one connector, enough to build an entity and read how it is named."""
    session = ChargerSession(ChargerConfig(charge_box_id="CP_1"), MemoryHooks())
    session.state.connector(1)
    subentry = ConfigSubentry(
        data=MappingProxyType({}), subentry_type="charger", title="CP_1", unique_id="CP_1"
    )
    # Naming reads only the state and the subentry: no entry is needed, no command is sent.
    return Charger(cast(OcppConfigEntry, None), subentry, session)


def _entity_keys(description: EntityDescription) -> Iterator[DescribedEntity]:
    """The translation keys the entities of a description get, as the entity itself names them.

    A per-connector description is named plainly, on the charger's device or (a charger
    with more than one connector) on its connector's device, and (when reported there) as
    the charger's own twin on connector 0.
    """
    platform = _platform(description)
    if not isinstance(description, OcppEntityDescription):
        assert isinstance(description.translation_key, str), description.key
        yield DescribedEntity(platform, description, description.translation_key, frozenset())
        return
    charger = _charger()
    variants = [0]
    if description.per_connector:
        variants = [1]
        if description.on_charger_when_reported:
            variants.append(0)
    for connector_id in variants:
        entity = OcppEntity(charger, connector_id, description)
        key = entity.translation_key
        assert key is not None, f"{platform} {description.key} has no translation key"
        yield DescribedEntity(
            platform, description, key, frozenset(entity.translation_placeholders)
        )


ENTITY_KEYS = [entity for d in _descriptions() for entity in _entity_keys(d)]


def _id(entity: DescribedEntity) -> str:
    return f"{entity.platform}.{entity.translation_key}"


def test_entity_descriptions_found() -> None:
    """Descriptions of every platform were found, so the checks below are not vacuous."""
    assert {entity.platform for entity in ENTITY_KEYS} >= set(PLATFORMS.values())


@pytest.mark.parametrize("entity", ENTITY_KEYS, ids=_id)
def test_entity_name(strings: Tree, entity: DescribedEntity) -> None:
    """Each entity's translation key has a name, with the placeholders the entity fills in."""
    if entity.description.name is not UNDEFINED:
        pytest.skip("named in the code, not by translation")
    name = lookup(strings, f"entity.{entity.platform}.{entity.translation_key}.name")
    assert isinstance(name, str), f"missing entity.{_id(entity)}.name"
    assert placeholders(name) == set(entity.placeholders), (
        f"entity.{_id(entity)}.name must use exactly the placeholders {sorted(entity.placeholders)}"
    )


def _states(entity: DescribedEntity) -> tuple[str, list[str]]:
    """Where the states of an enum-like entity are translated, and the states it can take."""
    description = entity.description
    base = f"entity.{entity.platform}.{entity.translation_key}"
    if isinstance(description, EventEntityDescription):
        return f"{base}.state_attributes.event_type.state", list(description.event_types or ())
    if isinstance(description, SelectEntityDescription):
        return f"{base}.state", list(description.options or ())
    if (
        isinstance(description, SensorEntityDescription)
        and description.device_class is SensorDeviceClass.ENUM
    ):
        return f"{base}.state", list(description.options or ())
    return base, []


@pytest.mark.parametrize(
    "entity", [entity for entity in ENTITY_KEYS if _states(entity)[1]], ids=_id
)
def test_entity_states(strings: Tree, entity: DescribedEntity) -> None:
    """Every option of an enum sensor or select and every event type has a translation."""
    path, states = _states(entity)
    translated = lookup(strings, path) or {}
    assert sorted(set(states) - set(translated)) == [], f"untranslated states under {path}"


# --- Services -----------------------------------------------------------------------------


def test_services_described(strings: Tree) -> None:
    """Every service of services.yaml and each of its fields has a name and a description."""
    services = load_yaml_dict(PACKAGE / "services.yaml")
    translated = strings.get("services", {})
    missing: list[str] = []
    for service, spec in services.items():
        for part in ("name", "description"):
            if not lookup(translated, f"{service}.{part}"):
                missing.append(f"services.{service}.{part}")
        for field in (spec or {}).get("fields", {}):
            for part in ("name", "description"):
                if not lookup(translated, f"{service}.fields.{field}.{part}"):
                    missing.append(f"services.{service}.fields.{field}.{part}")
    assert missing == []
    assert sorted(set(translated) - set(services)) == [], "translated services that do not exist"


# --- Translation keys raised in the code --------------------------------------------------


@dataclass(frozen=True, slots=True)
class RaisedKey:
    """A translation key the code passes to an error or a repair issue."""

    section: str  # "exceptions" or "issues"
    key: str
    where: str
    placeholders: frozenset[str] | None  # None when built at run time


type Function = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True, slots=True)
class SelectorUse:
    """A select selector of a form, whose option labels live under `selector`."""

    key: str
    options: tuple[str, ...]
    where: str


def _parameters(function: Function) -> list[str]:
    arguments = function.args
    return [a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)]


class _Source:
    """One module's syntax tree, able to tell the values an expression in it can have."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.path = Path(cast(str, module.__file__))
        self.tree = ast.parse(self.path.read_text(encoding="utf-8"))
        self.parents = {
            child: node for node in ast.walk(self.tree) for child in ast.iter_child_nodes(node)
        }
        self.calls = [node for node in ast.walk(self.tree) if isinstance(node, ast.Call)]

    def where(self, node: ast.AST) -> str:
        return f"{self.path.name}:{getattr(node, 'lineno', '?')}"

    def function_of(self, node: ast.AST) -> Function | None:
        parent = self.parents.get(node)
        while parent is not None:
            if isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef):
                return parent
            parent = self.parents.get(parent)
        return None

    def call_sites(self, function: Function) -> list[ast.Call]:
        """The calls of `function` in this module."""
        return [call for call in self.calls if _called(call) == function.name]

    def argument(self, call: ast.Call, function: Function, name: str) -> ast.expr | None:
        """What `call` passes for parameter `name` of `function`, by keyword or position."""
        for keyword in call.keywords:
            if keyword.arg == name:
                return keyword.value
        positional = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
        if name in positional and (index := positional.index(name)) < len(call.args):
            return call.args[index]
        return None

    def evaluate(self, expr: ast.expr) -> Any:
        """The value of an expression over module-level names (constants, enums)."""
        code = compile(ast.fix_missing_locations(ast.Expression(body=expr)), self.path, "eval")
        try:
            # Only expressions of the integration's own source, over its module-level names.
            return eval(code, vars(self.module))
        except NameError as err:
            raise AssertionError(
                f"{self.where(expr)}: cannot evaluate {ast.unparse(expr)}"
            ) from err

    def resolve(self, expr: ast.expr, depth: int = 0) -> set[str]:
        """The strings `expr` can be; AssertionError when they cannot be known."""
        assert depth < 8, f"{self.where(expr)}: translation key resolves too deep"
        if isinstance(expr, ast.Name) and (function := self.function_of(expr)) is not None:
            if (values := self._assigned_in(function, expr.id, depth)) is not None:
                return values
            if expr.id in _parameters(function):
                return self._passed_to(function, expr.id, depth)
        value = self.evaluate(expr)
        assert isinstance(value, str), f"{self.where(expr)}: {ast.unparse(expr)} is not a string"
        return {value}

    def _assigned_in(self, function: Function, name: str, depth: int) -> set[str] | None:
        """Values given to local `name` by assignments or for loops; None if it has none."""
        values: set[str] = set()
        found = False
        for node in ast.walk(function):
            pairs: list[tuple[ast.expr, ast.expr]] = []
            if isinstance(node, ast.Assign):
                pairs = [(target, node.value) for target in node.targets]
            elif isinstance(node, ast.For) and isinstance(node.iter, ast.Tuple | ast.List):
                pairs = [(node.target, element) for element in node.iter.elts]
            for target, value in pairs:
                for expr in _unpack(target, value, name):
                    found = True
                    values |= self.resolve(expr, depth + 1)
        return values if found else None

    def _passed_to(self, function: Function, name: str, depth: int) -> set[str]:
        """The values the callers in this module pass for parameter `name` of `function`."""
        values: set[str] = set()
        for call in self.call_sites(function):
            if (arg := self.argument(call, function, name)) is not None:
                values |= self.resolve(arg, depth + 1)
        assert values, f"{self.where(function)}: no caller passes {name} to {function.name}"
        return values

    def raised_keys(self) -> Iterator[RaisedKey]:
        """The translation keys of exceptions and repair issues created in this module."""
        for call in self.calls:
            if _called(call) in ISSUE_WRAPPERS:
                yield from self._wrapped_issue(call)
                continue
            if (function := self.function_of(call)) is not None and function.name in ISSUE_WRAPPERS:
                continue  # the wrapper's own call: its callers name the key
            keywords = {k.arg: k.value for k in call.keywords if k.arg}
            if "translation_key" not in keywords:
                continue
            if _called(call) in ISSUE_CALLS:
                section = "issues"
            elif "translation_domain" in keywords:
                section = "exceptions"
            else:
                continue  # an entity description or a selector: tested elsewhere
            given = keywords.get("translation_placeholders")
            names = _dict_keys(given) if given is not None else frozenset()
            for key in self.resolve(keywords["translation_key"]):
                yield RaisedKey(section, key, self.where(call), names)

    def _wrapped_issue(self, call: ast.Call) -> Iterator[RaisedKey]:
        """The issue raised through `repairs.async_raise`, with the placeholders passed."""
        key_at, placeholders_at = ISSUE_WRAPPERS[cast(str, _called(call))]
        assert len(call.args) > placeholders_at, f"{self.where(call)}: pass kind and placeholders"
        given = self._literal(call.args[placeholders_at])
        names = _dict_keys(given) if given is not None else None
        for key in self.resolve(call.args[key_at]):
            yield RaisedKey("issues", key, self.where(call), names)

    def _literal(self, expr: ast.expr) -> ast.expr | None:
        """`expr`, or what a local name was assigned once in its function (a dict literal)."""
        if not isinstance(expr, ast.Name) or (function := self.function_of(expr)) is None:
            return expr
        assigned = [
            node.value
            for node in ast.walk(function)
            if isinstance(node, ast.Assign)
            and any(_is_name_in(target, [expr.id]) for target in node.targets)
        ]
        return assigned[0] if len(assigned) == 1 else None

    def selector_uses(self) -> Iterator[SelectorUse]:
        """The select selectors with translated options, at each call of a helper building one."""
        for call in self.calls:
            keywords = {k.arg: k.value for k in call.keywords if k.arg}
            if _called(call) != "SelectSelectorConfig" or "translation_key" not in keywords:
                continue
            key, options = keywords["translation_key"], keywords["options"]
            function = self.function_of(call)
            if function is None or not _is_name_in(key, _parameters(function)):
                yield self._selector(call, key, options)
                continue
            for site in self.call_sites(function):
                yield self._selector(
                    site, self._bound(site, function, key), self._bound(site, function, options)
                )

    def _bound(self, site: ast.Call, function: Function, expr: ast.expr) -> ast.expr:
        """`expr` inside `function`, as the call `site` binds it when it is a parameter."""
        if isinstance(expr, ast.Name) and expr.id in _parameters(function):
            bound = self.argument(site, function, expr.id)
            assert bound is not None, f"{self.where(site)}: {expr.id} not passed"
            return bound
        return expr

    def _selector(self, at: ast.Call, key: ast.expr, options: ast.expr) -> SelectorUse:
        values = self.evaluate(options)
        assert all(isinstance(v, str) for v in values), f"{self.where(at)}: options not text"
        return SelectorUse(self.evaluate(key), tuple(values), self.where(at))


def _is_name_in(expr: ast.expr, names: list[str]) -> bool:
    return isinstance(expr, ast.Name) and expr.id in names


def _unpack(target: ast.expr, value: ast.expr, name: str) -> list[ast.expr]:
    """The part of `value` that an assignment to `target` gives to `name`."""
    if isinstance(target, ast.Name):
        return [value] if target.id == name else []
    if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
        return [
            expr
            for sub_target, sub_value in zip(target.elts, value.elts, strict=False)
            for expr in _unpack(sub_target, sub_value, name)
        ]
    return []


def _called(call: ast.Call) -> str | None:
    """The name of the called function or method."""
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _dict_keys(expr: ast.expr) -> frozenset[str] | None:
    """The keys of a dict literal with constant keys; None for anything built at run time."""
    if not isinstance(expr, ast.Dict):
        return None
    keys = [k.value for k in expr.keys if isinstance(k, ast.Constant)]
    if len(keys) != len(expr.keys) or not all(isinstance(k, str) for k in keys):
        return None
    return frozenset(cast(list[str], keys))


RAISED_KEYS = sorted(
    {key for module in _modules() for key in _Source(module).raised_keys()},
    key=lambda k: (k.section, k.key, k.where),
)


def test_raised_keys_found() -> None:
    """The source scan finds the errors and issues, so the checks below are not vacuous."""
    sections = {key.section for key in RAISED_KEYS}
    assert sections == {"exceptions", "issues"}


@pytest.mark.parametrize("raised", RAISED_KEYS, ids=lambda k: f"{k.section}.{k.key}@{k.where}")
def test_raised_key_translated(strings: Tree, raised: RaisedKey) -> None:
    """Each key raised in the code has its message (or issue title and description)."""
    parts = ("message",) if raised.section == "exceptions" else ("title", "description")
    for part in parts:
        text = lookup(strings, f"{raised.section}.{raised.key}.{part}")
        assert isinstance(text, str), (
            f"{raised.where}: missing {raised.section}.{raised.key}.{part}"
        )
        if raised.placeholders is not None:
            assert placeholders(text) <= raised.placeholders, (
                f"{raised.where}: {raised.section}.{raised.key}.{part} needs placeholders "
                "the code does not pass"
            )


def test_resolver_follows_helpers() -> None:
    """Keys chosen in a helper (a local tuple assignment, a parameter) are resolved, not skipped."""
    keys = {(k.section, k.key) for k in RAISED_KEYS}
    # entity.command_error picks its key in a tuple assignment; __init__._not_ready gets it
    # as a parameter and raises both an issue and an exception with it.
    assert {("exceptions", "not_connected"), ("exceptions", "timeout")} <= keys
    assert {("issues", "port_in_use"), ("exceptions", "port_in_use")} <= keys


SELECTOR_USES = sorted(
    {use for module in _modules() for use in _Source(module).selector_uses()},
    key=lambda u: (u.key, u.where),
)


def test_selector_uses_found() -> None:
    """The source scan finds the forms' select selectors, so the check below is not vacuous."""
    assert SELECTOR_USES


@pytest.mark.parametrize("use", SELECTOR_USES, ids=lambda u: f"{u.key}@{u.where}")
def test_selector_options_translated(strings: Tree, use: SelectorUse) -> None:
    """Every option of a translated select selector has a label under selector.<key>.options."""
    labels = lookup(strings, f"selector.{use.key}.options") or {}
    assert sorted(set(use.options) - set(labels)) == [], f"{use.where}: unlabelled options"
