"""Both forms end to end in a real browser: JupyterLab runs a notebook, Chromium fills the forms.

Needs Debian's Chromium at /usr/bin/chromium, and Playwright, JupyterLab and ipykernel from pip
(the ``test`` extras); it installs nothing and never runs ``playwright install``. JupyterLab
binds 127.0.0.1 on a free port with a token, keeps its config, data and settings in the test's
temporary directory, and is stopped at the end (terminate, then kill). Every wait is bounded.

The test runs in JupyterLab's light, dark and high-contrast themes. At each step
(filled, with errors, submitted) it screenshots the form and checks WCAG AA contrast
(4.5:1) for every visible text of the form, from the page's computed styles. The screenshots
go to ``<tmp_path>/screenshots/`` (``light-activity-errors.png``, ...), each with the measured
texts beside it (``.contrast.json``), and are copied to ``$FEEDKIT_ARTIFACTS/widgets-browser/``
when that variable is set.
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

    def __init__(self, root: Path, home: Path, theme: str) -> None:
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
        (notification / "themes.jupyterlab-settings").write_text(json.dumps({"theme": theme}))
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


THEMES = {
    "light": "JupyterLab Light",
    "dark": "JupyterLab Dark",
    "high-contrast": "JupyterLab Dark High Contrast",
}


@pytest.fixture(params=list(THEMES))
def theme(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def lab(sync_api: Any, tmp_path: Path, theme: str) -> Iterator[Lab]:
    root = tmp_path / "root"
    root.mkdir()
    server = Lab(root, tmp_path, THEMES[theme])
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

THEME_SHOWN = "(name) => document.body.dataset.jpThemeName === name"

AA_CONTRAST = 4.5  # WCAG 2.x, level AA, normal text

# Every visible text of ``root``: elements with a text node of their own, and inputs (their
# value, or their placeholder when empty). Disabled controls are left out (WCAG exempts
# inactive components). The text's colour is blended over the effective background: the
# background colours of the element and its ancestors, composited bottom-up from the first
# opaque one (white when none is). Luminance and ratio as WCAG 2.x defines them.
CONTRAST_JS = """(root) => {
    const parse = (css) => {
        const m = css.match(/rgba?\\(([^)]+)\\)/);
        if (!m) return [0, 0, 0, 0];
        const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
        return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    };
    const over = (top, bottom) => {
        const a = top[3];
        return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]);
    };
    const background = (el) => {
        const layers = [];
        for (let node = el; node; node = node.parentElement) {
            const c = parse(getComputedStyle(node).backgroundColor);
            if (c[3] > 0) layers.push(c);
            if (c[3] >= 1) break;
        }
        let bg = [255, 255, 255, 1];
        for (const layer of layers.reverse()) bg = over(layer, bg);
        return bg;
    };
    const lum = (c) => {
        const [r, g, b] = c.slice(0, 3).map(v => {
            v = v / 255;
            return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const ratio = (a, b) => {
        const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
        return (hi + 0.05) / (lo + 0.05);
    };
    const visible = (el) => {
        const s = getComputedStyle(el);
        const r = el.getBoundingClientRect();
        return s.visibility !== 'hidden' && s.display !== 'none' && r.width > 0
            && r.height > 0 && el.getClientRects().length > 0;
    };
    const disabled = (el) => !!el.closest(':disabled, .mod-disabled');
    const results = [];
    for (const el of [root, ...root.querySelectorAll('*')]) {
        if (!visible(el) || disabled(el)) continue;
        let text = null, color = null;
        const tag = el.tagName;
        if (tag === 'INPUT' || tag === 'TEXTAREA') {
            if (['checkbox', 'radio', 'hidden'].includes(el.type)) continue;
            if (el.value) { text = el.value; color = getComputedStyle(el).color; }
            else if (el.placeholder) {
                text = 'placeholder: ' + el.placeholder;
                color = getComputedStyle(el, '::placeholder').color;
            }
        } else if (tag === 'SELECT') {
            text = el.options[el.selectedIndex] ? el.options[el.selectedIndex].text : '';
            color = getComputedStyle(el).color;
        } else {
            const own = [...el.childNodes].filter(n => n.nodeType === 3)
                .map(n => n.textContent.trim()).join(' ').trim();
            if (own) { text = own; color = getComputedStyle(el).color; }
        }
        if (!text) continue;
        const bg = background(el);
        const fg = over(parse(color), bg);
        results.push({text: text.slice(0, 60), tag: tag.toLowerCase(),
                      cls: String(el.className).slice(0, 60), color, fg, bg,
                      ratio: Math.round(ratio(fg, bg) * 100) / 100});
    }
    return results;
}"""


class Shots:
    """Screenshots of a form at each step, with the contrast of its texts checked."""

    def __init__(self, tmp_path: Path, theme: str) -> None:
        self.dir = tmp_path / "screenshots"
        self.dir.mkdir()
        self.theme = theme
        artifacts = os.environ.get("FEEDKIT_ARTIFACTS")
        self.copy_to = Path(artifacts) / "widgets-browser" if artifacts else None

    def take(self, form: Any, name: str) -> None:
        form.scroll_into_view_if_needed()
        path = self.dir / f"{self.theme}-{name}.png"
        form.screenshot(path=str(path))
        if self.copy_to is not None:
            self.copy_to.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, self.copy_to / path.name)
        texts = form.evaluate(CONTRAST_JS)
        path.with_suffix(".contrast.json").write_text(json.dumps(texts, indent=1))
        assert len(texts) >= 10, f"{name}: only {len(texts)} texts found"
        poor = [t for t in texts if t["ratio"] < AA_CONTRAST]
        assert not poor, f"{self.theme} {name}: below {AA_CONTRAST}:1:\n" + "\n".join(
            f"  {t['ratio']}:1 {t['tag']}.{t['cls']} {t['text']!r} {t['color']} on {t['bg']}"
            for t in poor
        )


def test_forms_in_jupyterlab(sync_api: Any, lab: Lab, tmp_path: Path, theme: str) -> None:
    db = tmp_path / "forms.db"
    (lab.root / "forms.ipynb").write_text(json.dumps(_notebook(db)))
    shots = Shots(tmp_path, theme)
    expect = sync_api.expect

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 3000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.goto(f"{lab.url}/lab/tree/forms.ipynb?token={lab.token}")
            page.wait_for_function(KERNEL_IDLE, timeout=UI_TIMEOUT_MS * 2)
            page.wait_for_function(THEME_SHOWN, arg=THEMES[theme], timeout=UI_TIMEOUT_MS)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

            form = page.locator(".feedkit-activity-form")
            form.wait_for(state="visible")
            form.locator(".feedkit-field-type input").fill("post")
            form.locator(".feedkit-field-user_id input").fill("alice")
            feeds = form.locator(".feedkit-field-feeds textarea")
            feeds.click()
            feeds.press_sequentially("user:alice")
            feeds.press("Enter")
            expect(form.locator(".feedkit-field-feeds .feedkit-tag")).to_have_text(["user:alice ✕"])
            expect(feeds).to_have_value("")

            # A tag is added by Enter, by a comma, and when the box is left for another field.
            tags = form.locator(".feedkit-field-filter_tags textarea")
            tags.click()
            # As a person does, the next tag is typed once the box is seen cleared: typed
            # before, its first keys could meet the kernel's clearing of the box.
            tag_chips = form.locator(".feedkit-field-filter_tags .feedkit-tag")
            tags.press_sequentially("red")
            tags.press("Enter")
            expect(tag_chips).to_have_text(["red ✕"])
            expect(tags).to_have_value("")
            tags.press_sequentially("green,")
            expect(tag_chips).to_have_text(["red ✕", "green ✕"])
            expect(tags).to_have_value("")
            tags.press_sequentially("blue")
            text = form.locator(".feedkit-field-text textarea")
            text.click()  # the tag box loses focus
            text.press_sequentially("Hello from Chromium")
            expect(tag_chips).to_have_text(["red ✕", "green ✕", "blue ✕"])
            expect(tags).to_have_value("")

            form.locator(".feedkit-field-visibility select").select_option("tag")
            form.locator(".feedkit-field-visibility_tag input").fill("team")
            location = form.locator(".feedkit-field-location input")
            location.nth(0).fill("52.37")
            location.nth(1).fill("4.89")
            expect(form.locator(".feedkit-field-location .feedkit-lat-label")).to_have_text("lat")
            expect(form.locator(".feedkit-field-location .feedkit-lng-label")).to_have_text("lng")
            custom = form.locator(".feedkit-field-custom textarea")
            custom.fill('{"color": "blue",')
            custom_error = form.locator(".feedkit-field-custom .feedkit-error")
            expect(custom_error).to_contain_text("invalid JSON")
            shots.take(form, "activity-errors")
            custom.fill('{"color": "blue", "size": 3}')
            expect(custom_error).to_have_text("")
            expect(text).to_have_value("Hello from Chromium")
            expect(form.locator(".feedkit-field-feeds .feedkit-error")).to_have_text("")
            shots.take(form, "activity-filled")
            form.locator("button.feedkit-submit").click()
            message = form.locator(".feedkit-message")
            expect(message).to_contain_text("Stored activity")
            found = re.search(r"Stored activity (\S+)", message.inner_text())
            assert found, message.inner_text()
            activity_id = found.group(1)
            result = form.locator(".feedkit-result")
            for shown in ("created_at", "Hello from Chromium", "restrict_replies", "team"):
                expect(result).to_contain_text(shown)
            expect(result).to_contain_text('{"lat": 52.37, "lng": 4.89}')
            expect(result).to_contain_text('["red", "green", "blue"]')
            expect(form.locator("button.feedkit-submit")).to_be_hidden()
            expect(form.locator("button.feedkit-new")).to_be_visible()
            shots.take(form, "activity-submitted")

            partial = page.locator(".feedkit-partial-form")
            partial.locator(".feedkit-activity-id input").fill(activity_id)
            partial.locator("button.feedkit-load").click()
            expect(partial.locator(".feedkit-message")).to_contain_text("Loaded")
            expect(partial.locator(".feedkit-activity")).to_contain_text(activity_id)
            expect(partial.locator(".feedkit-field-custom textarea")).to_have_value(
                '{"color": "blue", "size": 3}'
            )
            partial_text = partial.locator(".feedkit-field-text textarea")
            partial_text.fill("Changed in Chromium")  # no tick first: the edit ticks it
            expect(partial.locator(".feedkit-field-text input[type=checkbox]")).to_be_checked()
            unset = partial.locator(".feedkit-field-unset textarea")
            unset.click()
            unset.press_sequentially("type")
            unset.press("Enter")
            unset_error = partial.locator(".feedkit-field-unset .feedkit-error")
            expect(unset_error).to_contain_text("'type' cannot be unset; unsettable:")
            shots.take(partial, "partial-errors")
            partial.locator(".feedkit-field-unset .feedkit-tag").click()  # remove "type"
            expect(unset_error).to_have_text("")
            expect(unset).to_have_value("")
            unset.click()
            unset.press_sequentially("custom.color,")
            preview = partial.locator(".feedkit-preview")
            expect(preview).to_contain_text('"text": "Changed in Chromium"')
            expect(preview).to_contain_text('"custom.color"')
            shots.take(partial, "partial-filled")
            partial.locator("button.feedkit-submit").click()
            expect(partial.locator(".feedkit-message")).to_contain_text("Changed text")
            changed = partial.locator(".feedkit-changes tr.feedkit-changed")
            expect(changed).to_have_count(2)
            expect(changed.first).to_contain_text("(was Hello from Chromium)")
            shots.take(partial, "partial-submitted")

            form.locator("button.feedkit-new").click()  # the first form, cleared for another
            expect(form.locator(".feedkit-field-type input")).to_have_value("")
            expect(form.locator(".feedkit-field-filter_tags .feedkit-tag")).to_have_count(0)
            expect(form.locator(".feedkit-result")).to_have_text("")
            expect(form.locator("button.feedkit-submit")).to_be_visible()
        finally:
            browser.close()
    lab.shutdown_kernels()

    with feedkit.connect(db) as client:
        stored = client.get_activity(activity_id)
    assert stored["type"] == "post"
    assert stored["feeds"] == ["user:alice"]
    assert stored["filter_tags"] == ["red", "green", "blue"]
    assert stored["location"] == {"lat": 52.37, "lng": 4.89}
    assert (stored["visibility"], stored["visibility_tag"]) == ("tag", "team")
    assert stored.user_id == "alice"
    assert stored["text"] == "Changed in Chromium"
    assert stored["custom"] == {"size": 3}
    assert sorted(p.name for p in shots.dir.glob("*.png")) == sorted(
        f"{theme}-{form}-{step}.png"
        for form, steps in (
            ("activity", ("errors", "filled", "submitted")),
            ("partial", ("errors", "filled", "submitted")),
        )
        for step in steps
    )
