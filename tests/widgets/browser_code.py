"""The widgets' browser code: the rules every module and stylesheet keeps, and a Node runner.

Shared by the widget tests; nothing here mocks our code: the checks read the shipped
assets, and :func:`run_in_node` renders a module exactly as anywidget gets it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from luminora_nb.widgets._base import asset_text, widget_module

#: Ways of turning a string into markup or code; our modules insert text only as text.
HTML_SINKS = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function")

#: A colour written out rather than taken from a JupyterLab variable.
FIXED_COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}\b|\brgba?\(|\bhsla?\(")

#: The translucent grey base.css gives as a variable's fallback (the one fixed colour allowed).
GREY_FALLBACK = "rgba(127, 127, 127, 0.3)"


def assert_module_inserts_text_only_as_text(widget: str) -> None:
    """Check the module the browser gets for ``widget`` (shared helpers included).

    It has no HTML or code sinks, no ``import`` (anywidget loads one module's text) and
    a default export.

    Args:
        widget: The widget's asset stem (``"chat"``).
    """
    source = widget_module(widget)
    for sink in HTML_SINKS:
        assert sink not in source, sink
    assert re.search(r"^import\s", source, re.M) is None  # no external imports
    assert "export default" in source


def scoped_selectors(widget: str, *, grey: str = GREY_FALLBACK) -> list[str]:
    """The selectors of ``<widget>.css``, checked to be themed and scoped to the widget.

    Its only fixed colour is the grey fallback ``grey`` (a prefix such as
    ``"rgba(127, 127, 127"`` allows any opacity), and every selector starts with
    ``.lnb-root.lnb-<widget, dashed>``. Keyframe stops (``50%``) are not selectors.

    Args:
        widget: The widget's asset stem (``"memory_inspector"``).
        grey: The fallback colour text allowed.

    Returns:
        The selectors, for checks of their number.
    """
    css = re.sub(r"/\*.*?\*/", "", asset_text(f"{widget}.css"), flags=re.S)
    assert FIXED_COLOUR.search(css.replace(grey, "")) is None
    rules = re.findall(r"(?:^|})\s*([^{}@]+?)\s*\{", css)
    selectors = [part.strip() for rule in rules for part in rule.split(",") if not rule.strip()[0].isdigit()]
    root = ".lnb-root.lnb-" + widget.replace("_", "-")
    assert selectors and [s for s in selectors if not s.startswith(root)] == []
    return selectors


# -- the module, run in Node against a minimal DOM ------------------------------------------------

#: A minimal DOM and a fake anywidget model, enough to render our ES modules in Node.
HARNESS = r"""
// A minimal DOM, enough for our widgets' ES modules, and a fake anywidget model.
class ClassList {
  constructor(el) { this.el = el; }
  get set() { return new Set((this.el.className || "").split(/\s+/).filter(Boolean)); }
  add(c) { const s = this.set; s.add(c); this.el.className = [...s].join(" "); }
  remove(c) { const s = this.set; s.delete(c); this.el.className = [...s].join(" "); }
  toggle(c, on) { if (on === undefined) on = !this.set.has(c); on ? this.add(c) : this.remove(c); return on; }
  contains(c) { return this.set.has(c); }
}
class Node_ {
  constructor(tag) {
    this.tagName = tag.toUpperCase(); this.children = []; this.attrs = {}; this.style = {};
    this.dataset = {}; this.listeners = {}; this.className = ""; this._text = ""; this.hidden = false;
    this.classList = new ClassList(this); this.value = ""; this.parent = null;
  }
  set textContent(t) { this.children = []; this._text = String(t); }
  get textContent() { return this._text + this.children.map((c) => c.textContent).join(""); }
  appendChild(c) { c.parent = this; this.children.push(c); return c; }
  append(...cs) {
    for (const c of cs) this.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
  replaceChildren(...cs) { this.children = []; this._text = ""; this.append(...cs); }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  getAttribute(k) { return this.attrs[k] ?? null; }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  dispatch(type, extra) {
    const event = { type, key: undefined, preventDefault() {}, ...extra };
    for (const fn of this.listeners[type] || []) fn(event);
  }
  focus() { document.activeElement = this; }
  blur() { document.activeElement = null; }
  contains(n) { for (let x = n; x; x = x.parent) if (x === this) return true; return false; }
  querySelector() { return null; }
  all() { return [this, ...this.children.flatMap((c) => c.all())]; }
}
globalThis.document = {
  activeElement: null,
  createElement: (t) => new Node_(t),
  createElementNS: (_ns, t) => new Node_(t),
  createTextNode: (t) => { const n = new Node_("#text"); n._text = String(t); return n; },
};
globalThis.window = { getSelection: () => null };

export function fakeModel(state) {
  const handlers = {};
  const sent = [];
  return {
    sent,
    get: (k) => state[k],
    set: (k, v) => { state[k] = v; },
    save_changes: () => sent.push({ saved: { ...state } }),
    on: (e, fn) => { (handlers[e] ||= []).push(fn); },
    off: (e, fn) => { handlers[e] = (handlers[e] || []).filter((f) => f !== fn); },
    send: (m) => sent.push(m),
    change(k, v) { state[k] = v; for (const fn of handlers[`change:${k}`] || []) fn(); },
    listeners: () => Object.values(handlers).reduce((n, l) => n + l.length, 0),
  };
}

export async function render(path, state) {
  const mod = await import(path);
  const model = fakeModel(state);
  const el = new Node_("div");
  const cleanup = mod.default.render({ model, el });
  const find = (pred) => el.all().filter(pred);
  return { model, el, cleanup, find };
}
"""

NODE = shutil.which("node")


def run_in_node(tmp_path: Path, widget: str, state: dict[str, Any], script: str) -> Any:
    """Render a widget's module in Node with ``state``, run ``script``, return what it prints as JSON.

    The module is the text the browser gets (:func:`widget_module`: ``dom.js``, then
    ``<widget>.js``), so the shared helpers run here too.

    Args:
        tmp_path: A folder for the module, the harness and the script.
        widget: The widget's asset stem (``"memory_inspector"``).
        state: The synced traits the fake model starts with.
        script: JavaScript run after rendering; it fills ``out``, which is printed as JSON.

    Returns:
        ``out``, parsed.
    """
    if NODE is None:
        pytest.skip("node is not installed")
    (tmp_path / "harness.mjs").write_text(HARNESS, encoding="utf-8")
    (tmp_path / "widget.mjs").write_text(widget_module(widget), encoding="utf-8")
    (tmp_path / "state.json").write_text(json.dumps(state, default=str), encoding="utf-8")
    (tmp_path / "main.mjs").write_text(
        'import { readFileSync } from "node:fs";\n'
        'import { render } from "./harness.mjs";\n'
        'const state = JSON.parse(readFileSync(new URL("./state.json", import.meta.url), "utf-8"));\n'
        'const { model, el, cleanup, find } = await render("./widget.mjs", state);\n'
        "const out = {};\n" + script + "\nconsole.log(JSON.stringify(out));\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [NODE, str(tmp_path / "main.mjs")], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
