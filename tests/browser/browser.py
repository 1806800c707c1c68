"""A real headless Chromium for the browser tests (Debian's chromium + chromedriver, via Selenium), axe-core
injected from this folder's pinned npm package, and the screenshots kept under docs/ (console, patient-pages)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCREENSHOTS = REPO / "docs" / "console"
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DESKTOP, TABLET, PHONE = (1280, 900), (768, 1024), (390, 844)
# How long a page may take to show what a test waits for. A wait returns as soon as the page shows it;
# the bound is for the CI machine, where every suite runs at once on two cores.
PAGE_WAIT = 60.0
PREREQUISITES = (
    "the browser tests need Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"
    " and axe-core (npm ci in tests/browser); .ci/run installs both"
)


def chromium() -> webdriver.Chrome:
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), PREREQUISITES
    assert AXE.exists(), PREREQUISITES
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=en-US"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    return webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))


def serious_violations(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA rules on the current page: the serious and critical violations."""
    driver.execute_script(AXE.read_text())
    violations: list[dict[str, Any]] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' '))}))));"
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def screenshot(driver: webdriver.Chrome, name: str, size: tuple[int, int], folder: Path = SCREENSHOTS) -> Path:
    """The page at `size` (viewport width), saved as <folder>/<name>.png (docs/console by default)."""
    driver.set_window_size(*size)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size[0], max(size[1], min(int(height) + 120, 2400)))
    tmp = path.with_suffix(".tmp.png")
    driver.save_screenshot(str(tmp))
    shutil.move(tmp, path)
    driver.set_window_size(*DESKTOP)
    return path
