"""The three widgets in a real JupyterLab, driven through a real (headless) Chromium.

One JupyterLab server (this venv's kernel) and one browser page serve the whole module:
the fixture writes a notebook that builds a ChatWidget, a BlendStudio and a CompareGrid
on a ``Luminora(log=...)`` facade with a DuckDB session log, opens it, waits for the
kernel (status bar ``Python 3 (ipykernel) | Idle``), runs it with Run > Run All Cells
and waits for the three widgets to draw. The tests then use the widgets as a person
would: type and send a chat message and watch the reply stream in; move a weight
slider with the keyboard and watch a trait bar move; rate a compare cell and find the
rating in the session log, read from this (other) process.

Screenshots (the whole page, and each widget) and the server's log land in
``test-artifacts/browser/`` whatever the outcome. Browser console errors and page
errors are part of every failure message.

Without Chromium (``/usr/bin/chromium``) or the playwright package the module is
skipped; with ``LUMINORA_REQUIRE_BROWSER=1`` (set by ``scripts/test.sh`` where Chromium
is installed) that, or a browser that will not start, is a failure instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .browser_lab import (
    CHROMIUM_ARGS,
    LabError,
    LabServer,
    browser_unavailable,
    chromium_path,
    write_notebook,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "browser"
NOTEBOOK = "widgets.ipynb"
IDLE = "Python 3 (ipykernel) | Idle"

KERNEL_TIMEOUT_MS = 90_000  # kernel start on two shared cores
RENDER_TIMEOUT_MS = 60_000  # imports + three widgets
ACTION_TIMEOUT_MS = 30_000


def _unavailable(reason: str) -> None:
    if os.environ.get("LUMINORA_REQUIRE_BROWSER", "") not in ("", "0"):
        pytest.fail(f"{reason} (LUMINORA_REQUIRE_BROWSER=1: the browser test must run here)")
    pytest.skip(reason)


def _cells(log_path: Path) -> list[str]:
    return [
        "from luminora_nb import Luminora\n"
        "from luminora_nb.widgets import ChatWidget, BlendStudio, CompareGrid\n"
        f"lum = Luminora(log=r{str(log_path)!r})",
        'chat = ChatWidget(lum, personality="aurora", provider={"name": "offline", '
        '"extra": {"chunk_delay": 0.03}})\nchat',
        'studio = BlendStudio(lum, ["aurora", "captain_quip"])\nstudio',
        'grid = CompareGrid(lum, ["aurora", "vex"], ["Hello!", "How do volcanoes work?"])\ngrid',
    ]


@dataclass
class Lab:
    """The running notebook: the page, the server, the log file and what the page reported."""

    page: Any
    server: LabServer
    log_path: Path
    messages: list[str] = field(default_factory=list)  # console errors/warnings, page errors
    sent: list[str] = field(default_factory=list)  # chat messages sent (for the log check)

    def report(self) -> str:
        """Browser console errors and page errors so far, for failure messages."""
        if not self.messages:
            return "no browser console errors"
        return "browser console:\n  " + "\n  ".join(self.messages[-40:])

    @contextlib.contextmanager
    def step(self, name: str, selector: str) -> Iterator[None]:
        """A test's body: a failed assert gets the browser console; a screenshot in any case."""
        try:
            yield
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.report()}") from None
        finally:
            self.shot(name, selector)

    def shot(self, name: str, selector: str | None = None) -> None:
        """A screenshot into test-artifacts/browser (never fails the test itself)."""
        path = ARTIFACTS / f"{name}.png"
        try:
            if selector is None:
                self.page.screenshot(path=str(path), full_page=True, timeout=10_000)
            else:
                self.page.locator(selector).first.screenshot(path=str(path), timeout=10_000)
        except Exception as exc:
            self.messages.append(f"[screenshot {name} failed: {type(exc).__name__}: {exc}]")


def _wait(lab: Lab, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a Playwright wait; on a timeout fail with what was awaited, the status bar and the console."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        return fn(*args, **kwargs)
    except PlaywrightError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    status = ""
    with contextlib.suppress(Exception):
        status = " | ".join(lab.page.locator("#jp-main-statusbar").inner_text(timeout=2_000).split("\n"))
    pytest.fail(f"{what}: {first}\nJupyterLab status bar: {status or '?'}\n{lab.report()}", pytrace=False)


def _run_all_cells(lab: Lab) -> None:
    page = lab.page
    _wait(
        lab,
        f"kernel not idle (status bar {IDLE!r})",
        page.get_by_text(IDLE).wait_for,
        timeout=KERNEL_TIMEOUT_MS,
    )
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    for selector in (".lnb-chat", ".lnb-blend-studio", ".lnb-compare-grid"):
        _wait(
            lab,
            f"widget {selector} did not render",
            page.locator(selector).first.wait_for,
            state="attached",
            timeout=RENDER_TIMEOUT_MS,
        )
    # Every cell ran: no prompt still shows [*], the last one has its number.
    _wait(
        lab,
        "cells still running",
        page.wait_for_function,
        """() => {
            const prompts = [...document.querySelectorAll('.jp-InputArea-prompt')].map(p => p.textContent);
            return prompts.length === 4 && prompts.every(p => /\\[\\d+\\]/.test(p));
        }""",
        timeout=RENDER_TIMEOUT_MS,
    )
    # Lab renders error outputs as stderr text too; a traceback means a cell raised.
    stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    for text in stderr.all_inner_texts():
        if "Traceback" in text:
            pytest.fail(f"a notebook cell raised:\n{text[-3000:]}\n{lab.report()}", pytrace=False)
        lab.messages.append(f"notebook stderr: {text.strip()[:500]}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    reason = browser_unavailable()
    if reason:
        _unavailable(reason)
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in (*ARTIFACTS.glob("*.png"), *ARTIFACTS.glob("*.log")):
        old.unlink()
    root = tmp_path_factory.mktemp("lab")
    log_path = root / "lab-log.duckdb"
    write_notebook(root / NOTEBOOK, _cells(log_path))

    server = LabServer(root)
    try:
        server.start()
    except LabError as exc:
        pytest.fail(str(exc), pytrace=False)
    pw = None
    browser = None
    state: Lab | None = None
    try:
        pw = sync_playwright().start()
        try:
            browser = pw.chromium.launch(
                executable_path=chromium_path(), headless=True, args=list(CHROMIUM_ARGS), timeout=60_000
            )
        except PlaywrightError as exc:
            _unavailable(f"Chromium would not start: {str(exc).splitlines()[0]}")
        assert browser is not None
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(ACTION_TIMEOUT_MS)
        state = Lab(page=page, server=server, log_path=log_path)
        messages = state.messages

        def on_console(msg: Any) -> None:
            if msg.type in ("error", "warning"):
                messages.append(f"console.{msg.type}: {msg.text[:500]}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: messages.append(f"pageerror: {exc}"))
        page.goto(server.url(f"lab/tree/{NOTEBOOK}"), wait_until="domcontentloaded", timeout=60_000)
        try:
            _run_all_cells(state)
        finally:
            state.shot("00-notebook-after-run-all")
        yield state
    finally:
        if state is not None:
            state.shot("99-notebook-final")
            if state.messages:
                (ARTIFACTS / "browser-console.log").write_text("\n".join(state.messages) + "\n")
        with contextlib.suppress(OSError):
            shutil.copyfile(server.log_path, ARTIFACTS / "jupyterlab.log")
        if browser is not None:
            with contextlib.suppress(Exception):
                browser.close()
        if pw is not None:
            with contextlib.suppress(Exception):
                pw.stop()
        server.stop()


# --------------------------------------------------------------------------- chat

_RECORD_STREAM = """() => {
    const list = document.querySelector('.lnb-chat .lnb-chat-list');
    const seen = [];
    window.__lnbStream = seen;
    const observer = new MutationObserver(() => {
        const bubbles = list.querySelectorAll('.lnb-msg.lnb-msg-assistant');
        const last = bubbles[bubbles.length - 1];
        if (!last) return;
        const text = last.querySelector('.lnb-chat-text').firstChild;
        seen.push({len: text ? text.length : 0, caret: !!last.querySelector('.lnb-caret')});
    });
    observer.observe(list, {childList: true, subtree: true, characterData: true});
    window.__lnbStopRecording = () => observer.disconnect();
}"""


def test_chat_streams_reply(lab: Lab) -> None:
    page = lab.page
    chat = page.locator(".lnb-chat").first
    box = chat.locator('textarea[aria-label="Message"]')
    send = chat.get_by_role("button", name="Send", exact=True)
    with lab.step("10-chat", ".lnb-chat"):
        chat.scroll_into_view_if_needed()
        _wait(lab, "chat never became ready to send", send.wait_for, state="visible")
        _wait(
            lab,
            "Send stayed disabled",
            page.wait_for_function,
            "() => !document.querySelector('.lnb-chat .lnb-chat-send').disabled",
        )
        page.evaluate(_RECORD_STREAM)
        box.click()
        # Typed key by key: JupyterLab must not take the keys as notebook shortcuts
        # (in command mode "a" would insert a cell, "m" turn it into Markdown).
        box.press_sequentially("Hello! My name is Sam.", delay=5)
        assert box.input_value() == "Hello! My name is Sam."
        assert page.locator(".jp-Notebook .jp-Cell").count() == 4, "typing reached JupyterLab's shortcuts"
        send.click()
        lab.sent.append("Hello! My name is Sam.")

        user = chat.locator(".lnb-msg.lnb-msg-user").last
        _wait(lab, "the user's message never appeared", user.wait_for, state="attached")
        assert "Hello! My name is Sam." in user.inner_text()
        assert box.input_value() == "", "the message box was not cleared after Send"

        reply = chat.locator(".lnb-msg.lnb-msg-assistant").last
        _wait(lab, "no assistant bubble", reply.wait_for, state="attached")
        # Sample the bubble while the caret shows: a streamed reply grows between samples.
        samples = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and reply.locator(".lnb-caret").count():
            samples.append(reply.locator(".lnb-chat-text").inner_text())
            page.wait_for_timeout(120)
        _wait(
            lab,
            "the reply never finished streaming",
            chat.locator(".lnb-msg.lnb-msg-assistant:not(.lnb-msg-streaming) .lnb-chat-badge").first.wait_for,
            state="attached",
        )
        recorded = page.evaluate("() => { window.__lnbStopRecording(); return window.__lnbStream; }")
        final = reply.locator(".lnb-chat-text").inner_text()

        assert final.strip(), "empty reply"
        assert "Sam" in final, f"the offline persona should greet Sam by name: {final!r}"
        assert reply.locator(".lnb-caret").count() == 0, "the caret stayed after the reply finished"
        lengths = [r["len"] for r in recorded]
        streaming = [r["len"] for r in recorded if r["caret"]]
        assert len(set(lengths)) >= 3, f"the reply did not grow in steps: lengths {lengths}"
        assert any(0 < n < len(final) for n in streaming), (
            f"no partial text was shown while streaming (lengths with caret {streaming}, final {len(final)})"
        )
        # Sampled from here too (whether a sample falls mid-stream depends on the load):
        # every sample is the start of the final reply.
        for sample in samples:
            assert final.startswith(sample.strip()), f"sample {sample!r} is not a prefix of {final!r}"
        badges = reply.locator(".lnb-chat-badge").all_inner_texts()
        assert any(b.strip() == "stop" for b in badges), f"finish-reason badge missing: {badges}"
        assert not send.is_disabled(), "Send stayed disabled after the reply"


# --------------------------------------------------------------------------- blend studio


def _bar(lab: Lab, trait: str) -> tuple[str, str]:
    bar = lab.page.locator(f'.lnb-blend-studio .lnb-trait[data-trait="{trait}"]').first
    value = bar.locator(".lnb-trait-value").inner_text().strip()
    width = bar.locator(".lnb-trait-fill").evaluate("el => el.style.width")
    return value, width


def test_blend_slider_moves_trait_bar(lab: Lab) -> None:
    page = lab.page
    studio = page.locator(".lnb-blend-studio").first
    slider = studio.locator('input[type=range][aria-label="Weight of captain_quip"]')
    share = studio.locator('.lnb-bs-row[data-persona="captain_quip"] .lnb-bs-share')
    with lab.step("20-blend-studio", ".lnb-blend-studio"):
        studio.scroll_into_view_if_needed()
        _wait(lab, "no captain_quip slider", slider.wait_for, state="visible")
        before_value, before_width = _bar(lab, "humor")
        assert re.fullmatch(r"\d\.\d\d", before_value), f"humor bar shows {before_value!r}"
        assert before_width.endswith("%"), before_width
        assert share.inner_text().strip() == "50%"
        assert slider.input_value() == "50"

        slider.focus()
        for _ in range(5):
            slider.press("ArrowRight")
        slider.press("End")
        assert slider.input_value() == "100", "the keyboard did not move the slider"
        assert page.locator(".jp-Notebook .jp-Cell").count() == 4, "the keys reached JupyterLab's shortcuts"
        # The share next to the slider updates in the browser at once; the bars once the
        # kernel has computed the new preview.
        _wait(
            lab,
            "the share of captain_quip did not update",
            page.wait_for_function,
            """() => document.querySelector(
                '.lnb-blend-studio .lnb-bs-row[data-persona="captain_quip"] .lnb-bs-share'
            ).textContent.trim() === '67%'""",
        )
        _wait(
            lab,
            "the humor bar did not move after the slider",
            page.wait_for_function,
            """(before) => {
                const bar = document.querySelector('.lnb-blend-studio .lnb-trait[data-trait="humor"]');
                return bar.querySelector('.lnb-trait-value').textContent.trim() !== before;
            }""",
            arg=before_value,
        )
        after_value, after_width = _bar(lab, "humor")
        assert after_width != before_width, f"fill width stayed {before_width}"
        assert float(after_value) > float(before_value), (
            f"more captain_quip should mean more humor: {before_value} -> {after_value}"
        )
        assert float(after_width.rstrip("%")) > float(before_width.rstrip("%"))
        aurora = studio.locator('.lnb-bs-row[data-persona="aurora"] .lnb-bs-share').inner_text()
        assert aurora.strip() == "33%"


# --------------------------------------------------------------------------- compare grid


def test_compare_rating_reaches_session_log(lab: Lab) -> None:
    from luminora_nb.sessionlog import SessionLog

    page = lab.page
    grid = page.locator(".lnb-compare-grid").first
    cell = grid.locator('td.lnb-cell[data-prompt="0"][data-label="vex"]')
    rate_up = cell.get_by_role("button", name="Rate up")
    with lab.step("30-compare-grid", ".lnb-compare-grid"):
        grid.scroll_into_view_if_needed()
        _wait(
            lab,
            "the grid never finished (progress text)",
            grid.locator(".lnb-cg-progress-text", has_text=re.compile(r"^4 / 4 cells$")).wait_for,
            timeout=60_000,
        )
        for p in ("0", "1"):
            for label in ("aurora", "vex"):
                body = grid.locator(f'td.lnb-cell[data-prompt="{p}"][data-label="{label}"] .lnb-cg-body')
                assert body.inner_text().strip(), f"cell {p}/{label} is empty"
        _wait(lab, "no Rate up button in cell 0/vex", rate_up.wait_for, state="visible")
        rate_up.click()
        _wait(
            lab,
            "Rate up was not marked pressed",
            page.wait_for_function,
            """() => document.querySelector(
                'td.lnb-cell[data-prompt="0"][data-label="vex"] button[aria-label="Rate up"]'
            ).getAttribute('aria-pressed') === 'true'""",
        )

        log = SessionLog(lab.log_path)
        try:
            rows: list[dict[str, Any]] = []
            said: list[str] = []
            deadline = time.monotonic() + 30
            last_error: Exception | None = None
            while time.monotonic() < deadline:
                try:  # written by the kernel's process; read here while it may write
                    rows = log.ratings()[["blend", "prompt", "rating"]].to_dict("records")
                    said = log.messages()["content"].tolist()
                    if any(r["blend"] == "vex" for r in rows) and all(m in said for m in lab.sent):
                        break
                except Exception as exc:  # the file may not exist yet
                    last_error = exc
                time.sleep(0.3)
            assert rows, f"no rating in {lab.log_path} after 30 s (last error: {last_error!r})"
            vex = [r for r in rows if r["blend"] == "vex"]
            assert vex == [{"blend": "vex", "prompt": "Hello!", "rating": 1}], rows
            assert len(log.events("rating")) == 1
            # The chat turn of the first test (when it ran) reached the same log.
            for message in lab.sent:
                assert message in said, f"chat message {message!r} not in the log: {said}"
        finally:
            log.close()
