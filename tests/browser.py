"""Headless Chromium for the report tests: find it, and run a probe script in a page.

The probe is added to a copy of the page (the reports themselves hold no script); it
writes its JSON result into ``<pre id="vm-probe">`` on the page's load event, which the
DOM dump returns.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

MARKER = '<pre id="vm-probe">'


def chromium() -> str | None:
    """The Chromium executable, or None (tests that need it are skipped)."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which(
        "google-chrome")


def chromium_args(profile: Path) -> list[str]:
    """Headless Chromium with no network chatter, in a throwaway profile."""
    return [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}"]


def run_probe(page: Path, probe_script: str, tmp_path: Path) -> dict:
    """Load ``page`` with ``probe_script`` added; return the probe's JSON result.

    A busy machine may need more (virtual) time for the load event: it retries with
    more. Fails the test if the probe never reports.
    """
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", probe_script + "</body>"))
    dom = ""
    for attempt, budget in enumerate((20000, 60000, 180000)):
        cmd = chromium_args(tmp_path / f"profile{attempt}") + [
            f"--virtual-time-budget={budget}", "--dump-dom", probe.as_uri()]
        dom = subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout
        if MARKER in dom:
            break
    assert MARKER in dom, "the browser did not finish loading the page"
    return json.loads(dom.split(MARKER, 1)[1].split("</pre>", 1)[0].replace("&quot;", '"'))
