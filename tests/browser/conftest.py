"""The browser tier (``make test-browser``): the executed demo notebooks in JupyterLab and the HTML reports, in a real
headless Chromium driven by Playwright.

Chromium is Debian's ``chromium`` package (Playwright's own browser download is not used); ``.ci/run`` installs it.
One tiny run of the suite makes the notebooks and reports every test here looks at.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser.helpers import DOMAIN
from tests.conftest import PY, ROOT


@pytest.fixture(scope="session")
def suite(tmp_path_factory) -> Path:
    """The outputs folder of one tiny run of all six stages (the demo corpus).

    ``BROWSER_SUITE=<outputs folder>`` reuses a finished run instead (to iterate on these tests); the panel tests
    write labels and flags into it.
    """
    if reuse := os.environ.get("BROWSER_SUITE"):
        return Path(reuse).resolve()
    out = tmp_path_factory.mktemp("browser") / "outputs"
    cmd = [PY, "-m", "nbutils", "run", DOMAIN, "--params", str(ROOT / "tests" / "params" / "tiny.yaml")]
    r = subprocess.run(
        [*cmd, "--set", f"outputs_dir={out}", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=1200
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lab_settings(folder: Path) -> None:
    """JupyterLab settings for a test: no news pop-up asking for consent, which would cover the page, and every
    cell of a notebook rendered at once (by default only those near the view are), so tests can find them."""
    notify = folder / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notify.parent.mkdir(parents=True, exist_ok=True)
    notify.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    tracker = folder / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))


@pytest.fixture(scope="session")
def lab(suite, tmp_path_factory):
    """JupyterLab serving the outputs folder on 127.0.0.1; yields its base URL with the token."""
    port, token = _free_port(), "browser-tier"
    home = tmp_path_factory.mktemp("lab")
    _lab_settings(home / "settings")
    env = os.environ | {
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "HF_HUB_OFFLINE": "1",
    }
    cmd = [PY, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--allow-root"]
    cmd += [f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={suite}", "--LabApp.news_url=None"]
    log = (home / "lab.log").open("w")
    proc = subprocess.Popen(cmd, cwd=suite, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start: {(home / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield {"url": url, "token": token, "root": suite}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium under Playwright."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("the browser tier needs Debian's chromium: apt-get install chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 950})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()
