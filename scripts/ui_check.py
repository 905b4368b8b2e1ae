"""Browser check of the newcomer path, run by scripts/ui-check.

Starts `scripts/develop --demo` on a fresh configuration in a temporary directory and drives
headless Chromium (Playwright) through what a new user does: onboarding, adding the central
system, accepting the discovered demo charger, the device page with live values, the charging
switch, the current limit, the charger's settings with the solar section, adding a tag, the
options, the diagnostics download, the charger in the Energy dashboard, a grid sensor that
brings the Charging mode select, and the README's dashboard example pasted into a dashboard.
Each step asserts what the page shows and saves a screenshot; the run's log must show no
traceback or error. Labels are the UI's own (see LABELS): update them there when the UI
changes.

Home Assistant's frontend is built of web components with open shadow roots; Playwright's
role and text locators pierce them.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import json
import os
from pathlib import Path
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any
import urllib.request

from playwright.async_api import Browser, Page, async_playwright, expect
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 60_000  # per action and assertion: a first start is slow on a busy machine
# What the newcomer chooses in onboarding; the check asserts Home Assistant keeps it.
TIME_ZONE = "Europe/Amsterdam"
COUNTRY = ("Netherlands", "NL", "EUR")
USER = ("newcomer", "first-hour-check")
CHARGER = "DEMO-1"
TAG = "DEMO-TAG"
CIRCUIT = "Garage fuse"
# The UI's labels the check relies on (translations of Home Assistant and of this integration).
LABELS = {
    "integration": "OCPP Central System",
    "discovered": f"Charger {CHARGER} wants to connect",
    "discovered_form": f"Add charger {CHARGER}",
    "lenient": "Tolerate firmware quirks",
    "added": f"Charger {CHARGER} has been added",
    "charger_settings": "Change charger settings",
    "solar": "Solar surplus charging",
    "grid_sensor": "Grid power sensor",
    "entity_picker": "Select an entity",
    "add_tag": "Add tag",
    "tag_form": "Add a tag",
    "tag_id": "Tag ID*",
    "options": "Central system options",
    "unknown_tags": "Unknown tags",
    "upstream": "Upstream central system (keep your backend)",
    "upstream_url": "Upstream URL",
    "add_circuit": "Add circuit",
    "circuit_form": "Add a circuit",
    "circuit_max": "Maximum current per phase",
}
# Screenshots that illustrate README.md and info.md (--docs writes them to docs/images).
DOC_IMAGES = {
    "03-discovered-charger": "discovered-charger",
    "05-device-charging": "device-charging",
    "06-solar-section": "solar-section",
    "14-energy-dashboard": "energy-dashboard",
    "15-dashboard-example": "dashboard-example",
    "16-upstream-section": "upstream-section",
    "17-add-circuit": "add-circuit",
}
# Log lines that must not appear on a fresh start (faults a newcomer would report).
FORBIDDEN_LOG = re.compile(r"Traceback|ModuleNotFoundError|ffmpeg|turbojpeg|ERROR \(")
# A log record starts with its time stamp; the lines after it (a traceback) belong to it.
RECORD_START = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
# Records that are no fault of a fresh start: onboarding adds Radio Browser, which looks its
# servers up on the internet; without internet its setup is still waiting when the check
# stops Home Assistant, and is logged as cancelled.
EXPECTED_LOG = re.compile(r"\[homeassistant\.components\.radio_browser\] .* cancelled$")


def log_faults(log: str) -> list[str]:
    """The lines of `log` that show a fault, outside the records known to be none."""
    faults: list[str] = []
    expected = False
    for line in log.splitlines():
        if RECORD_START.match(line):
            expected = bool(EXPECTED_LOG.search(line))
        if not expected and FORBIDDEN_LOG.search(line):
            faults.append(line)
    return faults


class CheckFailed(Exception):
    """A step of the check did not see what it expected."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Develop:
    """scripts/develop --demo on a fresh configuration, in its own process group."""

    def __init__(self, config: Path, port: int, ocpp_port: int) -> None:
        self.config = config
        self.port = port
        self.ocpp_port = ocpp_port
        self.log_path = config.parent / "develop.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                str(ROOT / "scripts/develop"),
                "--demo",
                "--config",
                str(self.config),
                "--port",
                str(self.port),
                "--ocpp-port",
                str(self.ocpp_port),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float) -> float:
        """Wait until the UI answers; return the seconds it took."""
        assert self.proc is not None
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise CheckFailed(
                    f"scripts/develop exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/manifest.json", timeout=5)
                return time.monotonic() - started
            time.sleep(2)
        raise CheckFailed(f"the UI did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        """Stop as Ctrl-C does, and check that it stops."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise CheckFailed("scripts/develop did not stop within 60 s of Ctrl-C") from None


class Check:
    """The browser session and the steps."""

    def __init__(self, page: Page, base: str, ocpp_port: int, shots: Path) -> None:
        self.page = page
        self.base = base
        self.ocpp_port = ocpp_port
        self.shots = shots
        self.downloads = shots.parent / "downloads"

    async def shot(self, name: str) -> None:
        await self.page.wait_for_timeout(700)  # let animations settle
        await self.page.screenshot(path=self.shots / f"{name}.png")

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base + path, wait_until="load")

    async def integration_page(self) -> None:
        """The integration's page with the charger listed.

        The frontend now and then renders the page before its list of entries arrived and
        shows "No entries" for good; one reload fetches the list again.
        """
        await self.goto("/config/integrations/integration/ocpp_central")
        listed = self.page.get_by_role("button", name=LABELS["charger_settings"]).first
        try:
            await expect(listed).to_be_visible(timeout=20_000)
        except AssertionError:
            await self.page.reload(wait_until="load")
            await expect(listed).to_be_visible()

    async def hass(self, expression: str) -> Any:
        """Evaluate `expression` with `hass` (the frontend's connection object) in scope."""
        return await self.page.evaluate(
            f"() => {{ const hass = document.querySelector('home-assistant').hass; "
            f"return {expression}; }}"
        )

    async def state(self, entity_id: str) -> str | None:
        result: str | None = await self.hass(f"hass.states['{entity_id}']?.state ?? null")
        return result

    async def wait_state(
        self, entity_id: str, accept: Callable[[str | None], bool], what: str, seconds: float = 120
    ) -> str | None:
        deadline = time.monotonic() + seconds
        value = await self.state(entity_id)
        while not accept(value):
            if time.monotonic() > deadline:
                raise CheckFailed(f"{entity_id} is {value!r} after {seconds:.0f} s, want {what}")
            await self.page.wait_for_timeout(1000)
            value = await self.state(entity_id)
        return value

    def dialog(self) -> Page:
        """Where a dialog's content is found.

        A dialog's title and form are slotted into its shadow root, so they are not inside the
        element with the dialog role: look them up from the page.
        """
        return self.page

    # -- steps --------------------------------------------------------------------------------

    async def onboarding(self) -> None:
        page = self.page
        await self.goto("/")
        await page.get_by_role("button", name="Create my smart home").click()
        await page.get_by_role("textbox", name="Name*", exact=True).fill("Newcomer")
        await page.get_by_role("textbox", name="Username*").fill(USER[0])
        await page.get_by_role("textbox", name="Password*", exact=True).fill(USER[1])
        await page.get_by_role("textbox", name="Confirm password*").fill(USER[1])
        await page.get_by_role("button", name="Create account").click()
        await expect(page.get_by_role("heading", name="Home location")).to_be_visible()
        await page.get_by_role("button", name="Next").click()
        await page.get_by_text("We would like to know the country").wait_for()
        # Preselected from the browser's locale (en-US); the newcomer picks their own.
        await page.get_by_text("United States", exact=True).click()
        await page.get_by_placeholder("Search").fill(COUNTRY[0])
        await page.get_by_text(COUNTRY[0], exact=True).click()
        await self.shot("01-onboarding-country")
        await page.get_by_role("button", name="Next").click()
        await expect(page.get_by_role("heading", name="Help us help you")).to_be_visible()
        await page.get_by_role("button", name="Next").click()
        await page.get_by_role("button", name="Finish").click()
        await page.wait_for_url(re.compile(r"/(lovelace|home)"))
        await page.wait_for_function(
            "() => document.querySelector('home-assistant')?.hass?.config?.state === 'RUNNING'"
        )
        config = await self.hass(
            "({tz: hass.config.time_zone, country: hass.config.country, "
            "currency: hass.config.currency})"
        )
        want = {"tz": TIME_ZONE, "country": COUNTRY[1], "currency": COUNTRY[2]}
        if config != want:
            raise CheckFailed(f"onboarding's choices were not kept: {config}, want {want}")

    async def login(self) -> None:
        page = self.page
        await self.goto("/")
        await page.get_by_role("textbox", name="Username").fill(USER[0])
        await page.get_by_role("textbox", name="Password").fill(USER[1])
        await page.keyboard.press("Enter")
        await page.wait_for_url(re.compile(r"/(lovelace|home)"))

    async def add_central_system(self) -> None:
        page = self.page
        await self.goto("/config/integrations/dashboard")
        await page.get_by_role("button", name="Add integration").click()
        await page.get_by_placeholder("Search for a brand name").fill("OCPP")
        await page.get_by_role("button", name=LABELS["integration"]).click()
        dialog = self.dialog()
        await expect(dialog.get_by_text("Set up an OCPP central system")).to_be_visible()
        await dialog.get_by_role("spinbutton", name="Port*").fill(str(self.ocpp_port))
        await self.shot("02-add-central-system")
        await dialog.get_by_role("button", name="Submit").click()
        await expect(dialog.get_by_text(f"port {self.ocpp_port}")).to_be_visible()
        await page.keyboard.press("Escape")

    async def brand_icon(self) -> None:
        """The integration's own icon shows on the integrations page (not the placeholder)."""
        await self.goto("/config/integrations/dashboard")
        img = self.page.locator("img[src*='/brands/'][src*='ocpp_central']").first
        await img.wait_for()
        await self.page.wait_for_function(
            "(img) => img.complete && img.naturalWidth >= 48", arg=await img.element_handle()
        )
        src = await img.get_attribute("src") or ""
        response = await self.page.request.get(self.base + src if src.startswith("/") else src)
        if response.status != 200 or response.headers.get("content-type") != "image/png":
            raise CheckFailed(f"brand icon {src}: HTTP {response.status}")
        body = await response.body()
        brand = ROOT / "custom_components/ocpp_central/brand"
        if body not in {(brand / name).read_bytes() for name in os.listdir(brand)}:
            raise CheckFailed(f"{src} is not one of the integration's brand images")

    async def accept_discovered(self) -> None:
        page = self.page
        await self.goto("/config/integrations/dashboard")
        card = page.get_by_text(LABELS["discovered"])
        # The demo charger retries every 30 s at most; once refused it is offered here.
        await card.wait_for(timeout=90_000)
        await self.shot("03-discovered-charger")
        await page.get_by_role("button", name="Add", exact=True).click()
        dialog = self.dialog()
        await expect(dialog.get_by_text(LABELS["discovered_form"])).to_be_visible()
        await expect(dialog.get_by_text(LABELS["lenient"]).first).to_be_visible()
        # Readings every 10 s, so that the check sees live values soon.
        await dialog.get_by_role("spinbutton", name="Meter values interval*").fill("10")
        await dialog.get_by_role("button", name="Submit").click()
        await expect(dialog.get_by_text(LABELS["added"])).to_be_visible()
        await page.keyboard.press("Escape")
        await self.wait_state(
            "binary_sensor.demo_1_connected", lambda v: v == "on", "on (connected)", 90
        )

    async def device_page(self) -> None:
        page = self.page
        await self.integration_page()
        await page.get_by_role("button", name=re.compile(rf"^{CHARGER} SimWallbox")).click()
        await page.wait_for_url(re.compile(r"/config/devices/device/"))
        await expect(page.get_by_text("Serial number: SIM-DEMO-1")).to_be_visible()
        await expect(page.get_by_text("Controls")).to_be_visible()
        await self.wait_state("sensor.demo_1_status", lambda v: v == "available", "available")
        await self.shot("04-device-page")

    def controls(self) -> Page:
        """Where the device page's Controls card is found.

        Its switch and slider have no accessible name and its rows are slotted: they are the
        first switch and slider of the page (Controls comes before Configuration), and the
        entity states checked after each action prove that the right ones were used.
        """
        return self.page

    async def charge(self) -> None:
        page = self.page
        switch = self.controls().get_by_role("switch").first
        await expect(switch).not_to_be_checked()
        await switch.click(force=True)  # the input is drawn over by the toggle
        await self.wait_state("switch.demo_1_charging", lambda v: v == "on", "on")
        await self.wait_state("sensor.demo_1_status", lambda v: v == "charging", "charging")
        await self.wait_state(
            "sensor.demo_1_power", lambda v: _number(v) > 0, "a power above 0 W", 60
        )
        await expect(switch).to_be_checked()
        await expect(page.get_by_text("Charging", exact=True).first).to_be_visible()

    async def current_limit(self) -> None:
        slider = self.controls().get_by_role("slider").first
        # Click the slider's track at 40 %: about 16 A of 6 to 32 A, as a user would.
        box = await slider.bounding_box()
        if box is None:
            raise CheckFailed("the current limit slider is not shown")
        await self.page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] / 2)
        after = _number(
            await self.wait_state(
                "number.demo_1_current_limit", lambda v: 6 <= _number(v) < 32, "6 to 31 A", 60
            )
        )
        # The charger offers the car what the limit allows, at the next meter reading.
        await self.wait_state(
            "sensor.demo_1_current_offered",
            lambda v: 0 < _number(v) <= after,
            f"at most {after:g} A offered",
            60,
        )
        await self.shot("05-device-charging")

    async def charger_settings(self) -> None:
        page = self.page
        await self.integration_page()
        await page.get_by_role("button", name=LABELS["charger_settings"]).click()
        dialog = self.dialog()
        await expect(dialog.get_by_text(LABELS["lenient"]).first).to_be_visible()
        section = dialog.get_by_text(LABELS["solar"], exact=True)
        await expect(section).to_be_visible()
        await section.click()
        await expect(dialog.get_by_text(LABELS["grid_sensor"]).first).to_be_visible()
        await page.wait_for_timeout(1000)  # the section opens with an animation
        await section.evaluate("(e) => e.scrollIntoView({block: 'start'})")
        await self.shot("06-solar-section")
        await page.keyboard.press("Escape")

    async def upstream_section(self) -> None:
        page = self.page
        await self.integration_page()
        await page.get_by_role("button", name=LABELS["charger_settings"]).click()
        dialog = self.dialog()
        section = dialog.get_by_text(LABELS["upstream"], exact=True)
        await expect(section).to_be_visible()
        await section.click()
        await expect(dialog.get_by_text(LABELS["upstream_url"]).first).to_be_visible()
        await page.wait_for_timeout(1000)  # the section opens with an animation
        await section.evaluate("(e) => e.scrollIntoView({block: 'start'})")
        await self.shot("16-upstream-section")
        await page.keyboard.press("Escape")

    async def add_circuit(self) -> None:
        """A static 16 A circuit with the demo charger: its budget sensor shows 16 A."""
        page = self.page
        await self.integration_page()
        await page.get_by_role("button", name=LABELS["add_circuit"]).first.click()
        dialog = self.dialog()
        await expect(dialog.get_by_text(LABELS["circuit_form"])).to_be_visible()
        await dialog.get_by_role("textbox", name=re.compile(r"^Name")).fill(CIRCUIT)
        await dialog.get_by_role("spinbutton", name=re.compile(LABELS["circuit_max"])).fill("16")
        # The checkbox's styled control lies over the input: click it through.
        box = dialog.get_by_role("checkbox", name=re.compile(CHARGER))
        await box.check(force=True)
        await expect(box).to_be_checked()
        await self.shot("17-add-circuit")
        await dialog.get_by_role("button", name="Submit").click()
        await expect(dialog.get_by_text(LABELS["circuit_form"])).to_have_count(0)
        budget = "sensor.garage_fuse_budget"
        await self.wait_state(budget, lambda v: _number(v) == 16, "16 A")
        # The demo car charges at the charger's 32 A: the circuit is what limits it now.
        source = "sensor.demo_1_limit_source"
        await self.wait_state(source, lambda v: v == "circuit", "circuit")

    async def add_tag(self) -> None:
        page = self.page
        await page.get_by_role("button", name=LABELS["add_tag"]).first.click()
        dialog = self.dialog()
        await expect(dialog.get_by_text(LABELS["tag_form"])).to_be_visible()
        await dialog.get_by_role("textbox", name=LABELS["tag_id"]).fill(TAG)
        await dialog.get_by_role("textbox", name="Name").fill("Demo card")
        await self.shot("07-add-tag")
        await dialog.get_by_role("button", name="Submit").click()
        await expect(page.get_by_text(TAG).first).to_be_visible()
        await page.keyboard.press("Escape")

    async def options(self) -> None:
        page = self.page
        await self.integration_page()
        await page.get_by_role("button", name="Configure").first.click()
        dialog = self.dialog()
        await expect(dialog.get_by_text(LABELS["options"])).to_be_visible()
        await expect(dialog.get_by_text(LABELS["unknown_tags"]).first).to_be_visible()
        await self.shot("08-options")
        await dialog.get_by_role("button", name="Submit").click()
        await expect(dialog.get_by_text(LABELS["options"])).to_have_count(0)

    async def diagnostics(self) -> None:
        page = self.page
        await self.integration_page()
        await page.get_by_role("button", name=re.compile(rf"^{CHARGER} SimWallbox")).click()
        async with page.expect_download() as info:
            await page.get_by_role("button", name="Download diagnostics").click()
        download = await info.value
        self.downloads.mkdir(exist_ok=True)
        path = self.downloads / download.suggested_filename
        await download.save_as(path)
        data = json.loads(path.read_text())
        text = json.dumps(data)
        charger = data.get("data", {})
        if charger.get("connected") is not True or charger.get("registration") != "Accepted":
            raise CheckFailed(f"diagnostics {path} do not show the connected, accepted charger")
        if TAG in text:
            raise CheckFailed(f"diagnostics {path} contain the tag {TAG} unredacted")

    async def pick(self, search: str) -> None:
        """Choose the first match of `search` in the open picker (its items' text is slotted)."""
        page = self.page
        await page.get_by_placeholder("Search").last.fill(search)
        await page.wait_for_timeout(1000)
        await page.keyboard.press("ArrowDown")
        await page.keyboard.press("Enter")

    async def energy(self) -> None:
        """The charger's energy and power as an individual device of the Energy dashboard."""
        page = self.page
        await self.goto("/config/energy")
        await page.get_by_role("button", name="Add device").click()
        for statistic, entity in ((0, "Energy"), (1, "Power")):
            await page.get_by_text("Select a statistic").nth(statistic).click()
            await self.pick(f"{CHARGER} {entity}")
        await self.shot("12-energy-add-device")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_text(f"{CHARGER} Energy").first).to_be_visible()
        await self.shot("13-energy-settings")
        await self.goto("/energy")
        await expect(page.get_by_text(f"{CHARGER} Energy").first).to_be_visible()
        await page.wait_for_timeout(2000)  # the charts draw with an animation
        await self.shot("14-energy-dashboard")

    async def solar_grid_sensor(self) -> None:
        """Choose a grid power sensor in the charger's solar section: Charging mode appears."""
        page = self.page
        # The demo has no electricity meter: a template sensor stands in for one (3 kW export).
        await self.hass(
            """(async () => {
              let r = await hass.callApi('POST', 'config/config_entries/flow',
                                         {handler: 'template'});
              r = await hass.callApi('POST', `config/config_entries/flow/${r.flow_id}`,
                                     {next_step_id: 'sensor'});
              await hass.callApi('POST', `config/config_entries/flow/${r.flow_id}`,
                {name: 'Grid power', state: '-3000', unit_of_measurement: 'W',
                 device_class: 'power', state_class: 'measurement'});
            })()"""
        )
        await self.wait_state("sensor.grid_power", lambda v: _number(v) == -3000, "-3000 W", 30)
        await self.integration_page()
        await page.get_by_role("button", name=LABELS["charger_settings"]).click()
        await page.get_by_text(LABELS["solar"], exact=True).click()
        # The section's first entity picker is the grid power sensor.
        await page.get_by_text(LABELS["entity_picker"]).first.click()
        await self.pick("Grid power")
        await expect(page.get_by_text("Grid power", exact=True).first).to_be_visible()
        await page.get_by_role("button", name="Submit").click()
        await page.keyboard.press("Escape")
        await self.wait_state(
            "select.demo_1_charging_mode", lambda v: v not in {None, "unavailable"}, "a mode", 60
        )

    async def dashboard_example(self) -> None:
        """The README's dashboard example, pasted into a new dashboard."""
        page = self.page
        readme = (ROOT / "README.md").read_text()
        example = readme.split("## Dashboard example", 1)[1].split("```yaml", 1)[1]
        card = yaml.safe_load(example.split("```", 1)[0])
        view = {"title": "Charger", "path": "charger", "cards": [card]}
        dashboard = {"url_path": "dashboard-charger", "title": "Charger", "mode": "storage"}
        await self.hass(
            f"hass.callWS({{type: 'lovelace/dashboards/create', ...{json.dumps(dashboard)}}})"
            f".catch(() => null)"  # already there when run again with --attach
            f".then(() => hass.callWS({{type: 'lovelace/config/save', "
            f"url_path: 'dashboard-charger', config: {json.dumps({'views': [view]})}}}))"
        )
        await self.goto("/dashboard-charger/charger")
        for name in ("Charging", "Status", "Power", "Current limit", "Charging mode"):
            await expect(page.get_by_text(name).first).to_be_visible()
        await expect(page.get_by_text("Entity not found")).to_have_count(0)
        errors = page.get_by_text(re.compile("Configuration error|No card type|not supported"))
        await expect(errors).to_have_count(0)
        # The mode select works from the tile: back to charging at the current limit.
        await page.get_by_text(re.compile("^(Solar only|Minimum and solar|Off)$")).last.click()
        await page.get_by_role("menuitem", name="Fast").click()
        await self.wait_state("select.demo_1_charging_mode", lambda v: v == "fast", "fast", 30)
        await self.wait_state(
            "sensor.demo_1_current_offered", lambda v: _number(v) >= 31, "the full 32 A", 90
        )
        await self.shot("15-dashboard-example")


def _number(value: str | None) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except TypeError, ValueError:
        return float("nan")


async def run_steps(
    browser: Browser, base: str, ocpp_port: int, shots: Path, first: int = 1
) -> None:
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800},
        timezone_id=TIME_ZONE,
        locale="en-US",
        accept_downloads=True,
    )
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page = await context.new_page()
    check = Check(page, base, ocpp_port, shots)
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("onboarding keeps country, currency and time zone", check.onboarding),
        ("add the central system", check.add_central_system),
        ("brand icon on the integrations page", check.brand_icon),
        ("accept the discovered demo charger", check.accept_discovered),
        ("device page with live values", check.device_page),
        ("charging switch on", check.charge),
        ("current limit moved", check.current_limit),
        ("charger settings with the solar section", check.charger_settings),
        ("add a tag", check.add_tag),
        ("options", check.options),
        ("diagnostics download", check.diagnostics),
        ("charger in the Energy dashboard", check.energy),
        ("solar section: a grid sensor brings Charging mode", check.solar_grid_sensor),
        ("the README's dashboard example", check.dashboard_example),
        ("charger settings with the upstream section", check.upstream_section),
        ("add a circuit: its budget and the limit source show", check.add_circuit),
    ]
    if first > 1:  # a Home Assistant that went through the earlier steps: log in
        await check.login()
    for number, (name, step) in enumerate(steps, 1):
        if number < first:
            continue
        started = time.monotonic()
        try:
            await step()
        except Exception:
            with contextlib.suppress(Exception):
                await page.screenshot(path=shots / f"failed-{number:02d}.png")
            print(f"ui-check: FAIL {number:2d}. {name}", flush=True)
            raise
        print(f"ui-check: ok   {number:2d}. {name} ({time.monotonic() - started:.0f} s)")
    await context.close()


async def main_async(
    develop: Develop, shots: Path, start_timeout: float, keep: bool, docs: bool
) -> int:
    work = develop.config.parent
    print(f"ui-check: fresh configuration in {work / 'config'}; screenshots in {shots}")
    develop.start()
    failed = True
    try:
        seconds = develop.wait_ready(start_timeout)
        print(f"ui-check: the UI answered {seconds:.0f} s after scripts/develop started")
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                base = f"http://127.0.0.1:{develop.port}"
                await run_steps(browser, base, develop.ocpp_port, shots)
                if docs:
                    write_doc_images(shots)
                if keep:
                    print(
                        f"ui-check: Home Assistant keeps running on {base} (user {USER[0]}, "
                        f"password {USER[1]}); Ctrl-C stops it"
                    )
                    await asyncio.sleep(24 * 3600)
            finally:
                await browser.close()
        failed = False
    finally:
        try:
            develop.stop()
        finally:
            log = develop.log_text()
            faults = log_faults(log)
            if faults:
                print("ui-check: the log shows faults:\n  " + "\n  ".join(faults[:20]))
                failed = True
            if failed:
                print(f"ui-check: last lines of {develop.log_path}:\n{develop.log_tail()}")
            else:
                # The configuration (database included) is not needed after a pass.
                shutil.rmtree(develop.config, ignore_errors=True)
                print(f"ui-check: passed; screenshots in {shots}")
    return 1 if failed else 0


async def attach(base: str, ocpp_port: int, shots: Path, first: int) -> int:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            await run_steps(browser, base, ocpp_port, shots, first)
        finally:
            await browser.close()
    return 0


def write_doc_images(shots: Path) -> None:
    """Small copies of the documentation's screenshots: 1024 px wide, 256 colours."""
    from PIL import Image

    target = ROOT / "docs/images"
    target.mkdir(parents=True, exist_ok=True)
    for shot, name in DOC_IMAGES.items():
        with Image.open(shots / f"{shot}.png") as img:
            small = img.convert("RGB").resize((1024, 640), Image.Resampling.LANCZOS)
            small = small.quantize(256, dither=Image.Dither.NONE)
            small.save(target / f"{name}.png", optimize=True)
        print(f"ui-check: wrote docs/images/{name}.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshots", help="directory for the screenshots (default: temp)")
    parser.add_argument(
        "--keep", action="store_true", help="keep Home Assistant running after the check"
    )
    parser.add_argument(
        "--docs", action="store_true", help="update the screenshots in docs/images on success"
    )
    parser.add_argument(
        "--attach",
        nargs=3,
        metavar=("URL", "OCPP_PORT", "STEP"),
        help="run from STEP on a Home Assistant that --keep left running (to work on the check)",
    )
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=900,
        help="seconds to wait for the UI (a first start provisions everything)",
    )
    args = parser.parse_args()
    # Ctrl-C and a CI time box (SIGTERM) both unwind through the steps, so that Home Assistant
    # is stopped on the way out.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    work = Path(tempfile.mkdtemp(prefix="ocpp-ui-check-"))
    shots = Path(args.screenshots).resolve() if args.screenshots else work / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    develop = Develop(work / "config", free_port(), free_port())
    try:
        if args.attach:
            url, ocpp_port, first = args.attach
            return asyncio.run(attach(url, int(ocpp_port), shots, int(first)))
        return asyncio.run(main_async(develop, shots, args.start_timeout, args.keep, args.docs))
    except CheckFailed as err:
        print(f"ui-check: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ui-check: stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
