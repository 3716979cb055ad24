"""Both forms end to end in a real browser: JupyterLab runs a notebook, Chromium fills the forms.

Needs Debian's Chromium at /usr/bin/chromium, and Playwright, JupyterLab and ipykernel from pip
(the ``test`` extras); it installs nothing and never runs ``playwright install``. JupyterLab
binds 127.0.0.1 on a free port with a token, keeps its config, data and settings in the test's
temporary directory, and is stopped at the end (terminate, then kill). Every wait is bounded.
The page is saved as ``forms.png`` (and ``forms-errors.png``, with an error showing) in the
test's temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import feedkit

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
STARTUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
UI_TIMEOUT_MS = 60_000

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def sync_api() -> Any:
    """Playwright's sync API, or a skip naming what is missing."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium") == CHROMIUM):
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (pip install jupyterlab)")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install ipykernel)")
    return sync_api


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Lab:
    """A JupyterLab server in a subprocess, reachable at ``url`` with ``token``."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.token = secrets.token_hex(24)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "jupyterlab.log"
        settings = home / "lab-settings"
        notification = settings / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True)
        # No news or update toasts over the forms in the screenshot.
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "IPYTHONDIR": str(home / "ipython"),
        }
        command = [
            sys.executable, "-m", "jupyterlab",
            f"--IdentityProvider.token={self.token}", "--no-browser", "--allow-root",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
        ]  # fmt: skip
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            command, cwd=root, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"token {self.token}"}, timeout=10.0
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        with self.api() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"JupyterLab exited early:\n{self.output()}")
                try:
                    if http.get("/api/status").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
        raise AssertionError(f"JupyterLab did not start in {STARTUP_TIMEOUT_S}s:\n{self.output()}")

    def shutdown_kernels(self) -> None:
        """Shut every session's kernel down and wait (bounded) until none is left."""
        with self.api() as http:
            for session in http.get("/api/sessions").json():
                http.delete(f"/api/sessions/{session['id']}")
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while http.get("/api/kernels").json() and time.monotonic() < deadline:
                time.sleep(0.25)
            assert http.get("/api/kernels").json() == [], "the kernel did not shut down"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        self._log.close()

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def lab(sync_api: Any, tmp_path: Path) -> Iterator[Lab]:
    root = tmp_path / "root"
    root.mkdir()
    server = Lab(root, tmp_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _notebook(db: Path) -> dict[str, Any]:
    cells = [
        "import feedkit\n"
        "from feedkit.widgets import ActivityForm, PartialUpdateForm\n"
        f"client = feedkit.connect({str(db)!r})\n"
        "activity_form = ActivityForm(client)\n"
        "activity_form",
        "partial_form = PartialUpdateForm(client)\npartial_form",
    ]
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "cells": [
            {
                "cell_type": "code",
                "id": f"cell-{i}",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(cells)
        ],
    }


KERNEL_IDLE = """() => {
    const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = widget && widget.sessionContext && widget.sessionContext.session
        && widget.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle';
}"""


def test_forms_in_jupyterlab(sync_api: Any, lab: Lab, tmp_path: Path) -> None:
    db = tmp_path / "forms.db"
    (lab.root / "forms.ipynb").write_text(json.dumps(_notebook(db)))

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 3000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.goto(f"{lab.url}/lab/tree/forms.ipynb?token={lab.token}")
            page.wait_for_function(KERNEL_IDLE, timeout=UI_TIMEOUT_MS * 2)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

            form = page.locator(".feedkit-activity-form")
            form.wait_for(state="visible")
            form.locator(".feedkit-field-type input").fill("post")
            form.locator(".feedkit-field-user_id input").fill("alice")
            feeds = form.locator(".feedkit-field-feeds input")
            feeds.click()
            feeds.fill("user:alice")
            feeds.press("Tab")  # the tags input takes a tag on change (Enter or leaving it)
            form.locator(".feedkit-field-text textarea").fill("Hello from Chromium")
            custom = form.locator(".feedkit-field-custom textarea")
            custom.fill('{"color": "blue",')
            custom_error = form.locator(".feedkit-field-custom .feedkit-error")
            sync_api.expect(custom_error).to_contain_text("invalid JSON")
            page.screenshot(path=str(tmp_path / "forms-errors.png"))
            custom.fill('{"color": "blue", "size": 3}')
            sync_api.expect(custom_error).to_have_text("")
            sync_api.expect(form.locator(".feedkit-field-text textarea")).to_have_value(
                "Hello from Chromium"
            )
            sync_api.expect(form.locator(".feedkit-field-feeds .feedkit-error")).to_have_text("")
            form.locator("button.feedkit-submit").click()
            message = form.locator(".feedkit-message")
            sync_api.expect(message).to_contain_text("Stored activity")
            found = re.search(r"Stored activity (\S+)", message.inner_text())
            assert found, message.inner_text()
            activity_id = found.group(1)
            result = form.locator(".feedkit-result")
            sync_api.expect(result).to_contain_text("created_at")
            sync_api.expect(result).to_contain_text("Hello from Chromium")

            partial = page.locator(".feedkit-partial-form")
            partial.locator(".feedkit-activity-id input").fill(activity_id)
            partial.locator("button.feedkit-load").click()
            sync_api.expect(partial.locator(".feedkit-message")).to_contain_text("Loaded")
            sync_api.expect(partial.locator(".feedkit-activity")).to_contain_text("custom.color")
            partial.locator(".feedkit-field-text input[type=checkbox]").check()
            partial.locator(".feedkit-field-text textarea").fill("Changed in Chromium")
            unset = partial.locator(".feedkit-field-unset input")
            unset.click()
            unset.fill("custom.color")
            unset.press("Tab")
            preview = partial.locator(".feedkit-preview")
            sync_api.expect(preview).to_contain_text('"text": "Changed in Chromium"')
            sync_api.expect(preview).to_contain_text('"custom.color"')
            partial.locator("button.feedkit-submit").click()
            sync_api.expect(partial.locator(".feedkit-message")).to_contain_text("Changed text")
            changed = partial.locator("tr.feedkit-changed")
            sync_api.expect(changed).to_have_count(2)
            sync_api.expect(changed.first).to_contain_text("(was Hello from Chromium)")
            page.screenshot(path=str(tmp_path / "forms.png"))
        finally:
            browser.close()
    lab.shutdown_kernels()

    with feedkit.connect(db) as client:
        stored = client.get_activity(activity_id)
    assert stored["type"] == "post"
    assert stored["feeds"] == ["user:alice"]
    assert stored.user_id == "alice"
    assert stored["text"] == "Changed in Chromium"
    assert stored["custom"] == {"size": 3}
