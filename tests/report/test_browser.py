"""The report as a person sees it: opened in a real headless browser, every image decoded, no console error."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pnas.report.data import open_study
from pnas.report.html import write_report
from pnas.search import SearchConfig, run_search

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
BROWSER = next((path for name in BROWSERS if (path := shutil.which(name))), None)

PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message || (e.target && e.target.src) || "error")), true);
const __error = console.error;
console.error = (...args) => { window.__errors.push(args.join(" ")); __error(...args); };
window.addEventListener("load", () => {
  const images = [...document.images];
  const seen = {images: images.length, decoded: images.filter(i => i.complete && i.naturalWidth > 0).length,
                errors: window.__errors};
  const out = document.createElement("pre"); out.id = "probe"; out.textContent = JSON.stringify(seen);
  document.body.appendChild(out);
});
</script>"""
"""Put first in the page's head (of a copy): records every error and, once loaded, what the images did."""


@pytest.mark.skipif(BROWSER is None, reason="no chromium here: scripts/setup installs Debian's chromium when root")
def test_every_figure_decodes_in_a_browser_and_the_page_logs_no_error(tmp_path):
    storage = str(tmp_path / "s.db")
    config = SearchConfig(space="pnas", blocks=2, beam=3, evaluator="synthetic", predictor="mlp", ensemble=1)
    run_search(config, storage=storage, study="s").close()
    report = write_report([open_study(storage, "s")], tmp_path / "report")
    page = (tmp_path / "report" / "index.html").read_text()
    probe = tmp_path / "report" / "probe.html"
    probe.write_text(page.replace("<head>", "<head>" + PROBE, 1))
    args = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--enable-logging=stderr",
            "--dump-dom", probe.as_uri()]  # fmt: skip
    shown = subprocess.run(args, capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', shown.stdout, re.S)
    assert found, f"the page did not finish loading in the browser: {shown.stderr[-1500:]}"
    seen = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert seen["images"] == len(report.figures) >= 6
    assert seen["decoded"] == seen["images"], seen
    assert seen["errors"] == []
    page_errors = [line for line in shown.stderr.splitlines() if "CONSOLE" in line and Path(probe).name in line]
    assert not page_errors, page_errors
