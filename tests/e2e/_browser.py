"""Open a report in the system Chromium (Playwright, no browser download) and check what renders.

Checks at a given width: the page never scrolls sideways, every image loads (naturalWidth > 0),
no console or page errors, every table-of-contents link lands on an element, no column is named
by a hash id, no cell says ``None`` or holds an exponent float. A full-page screenshot is saved
(to ``$CURAKIT_TEST_ARTIFACTS`` too when that is set). Skipped, with the reason, where Chromium
or playwright is missing.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
WIDTHS = (1024, 1400)
HASH_ID = re.compile(r"-[0-9a-f]{8}\b")

_CHECK = """() => {
  const toc = [...document.querySelectorAll('nav.toc a')].map(a => a.getAttribute('href'));
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    images: [...document.images].map(i => [i.complete, i.naturalWidth, i.getBoundingClientRect().right]),
    toc: toc,
    unresolved: toc.filter(h => !h.startsWith('#') || !document.getElementById(h.slice(1))),
    headers: [...document.querySelectorAll('th')].map(t => t.innerText.trim()),
    cells: [...document.querySelectorAll('td')].map(t => t.innerText.trim()),
    text: document.body.innerText,
  };
}"""


def chromium() -> str:
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if path is None:
        pytest.skip(f"no system Chromium at {CHROMIUM} (install the Debian 'chromium' package)")
    return path


def _save_artifact(shot: Path) -> None:
    target = os.environ.get("CURAKIT_TEST_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(target) / shot.name)


def open_and_check(browser, path: Path, width: int, shot: Path) -> dict:
    """Open ``path`` at ``width`` px, run every check, save a screenshot; returns the page facts."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    facts = page.evaluate(_CHECK)
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    _save_artifact(shot)
    assert not errors, errors
    assert facts["scrollWidth"] <= facts["innerWidth"], f"{path.name} at {width}px scrolls sideways: {facts['scrollWidth']}"
    assert facts["images"] and all(ok and w > 0 for ok, w, _ in facts["images"]), facts["images"]
    assert all(right <= width + 0.5 for _, _, right in facts["images"]), "an image runs past the window"
    assert len(facts["toc"]) >= 2 and not facts["unresolved"], facts["unresolved"]
    assert not [h for h in facts["headers"] if HASH_ID.search(h)], "a hash id names a column"
    assert "None" not in facts["cells"] and not [c for c in facts["cells"] if re.search(r"\de[-+]\d\d", c)]
    return facts
