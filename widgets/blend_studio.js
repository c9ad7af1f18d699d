// BlendStudio, browser side (anywidget ES module). Plain DOM, no imports.
//
// The kernel computes every preview; this module only draws it. Sliders update their
// share display on `input` by themselves and send the weights on `change` (release, key
// press) or after 150 ms without movement, never more than every 100 ms, so dragging
// never floods the kernel. Streamed replies arrive as custom messages
// {type: "delta", id, run, text, final?, finish_reason?, error?} and are appended to
// their column; the `tries` trait holds the columns and, once each is done, its text.
// User text is only ever set with textContent / text nodes, never innerHTML.

const TRAITS = ["verbosity", "formality", "humor", "empathy", "creativity", "directness"];
const BLEND_TYPES = [
  ["weighted_average", "Weighted average"],
  ["dominant", "Dominant (heaviest persona's style)"],
  ["hybrid", "Hybrid (lists interleaved)"],
];
const DEBOUNCE_MS = 150;
const MIN_INTERVAL_MS = 100;

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// Whole-percent shares that sum to 100 (largest remainder; ties to the earlier row),
// the same rule as the kernel's shares_percent.
function sharesPercent(weights) {
  const total = weights.reduce((a, b) => a + b, 0);
  if (!(total > 0)) return weights.map(() => 0);
  const exact = weights.map((w) => (w * 100) / total);
  const shares = exact.map((x) => Math.floor(x));
  const order = exact
    .map((x, i) => [x - shares[i], i])
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .map((pair) => pair[1]);
  let left = 100 - shares.reduce((a, b) => a + b, 0);
  for (const i of order) {
    if (left <= 0) break;
    shares[i] += 1;
    left -= 1;
  }
  return shares;
}

function fmt(value) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(2) : "–";
}

function render({ model, el }) {
  const disposers = [];
  const timers = new Set();
  const onModel = (name, fn) => {
    model.on(name, fn);
    disposers.push(() => model.off(name, fn));
  };
  const listen = (node, type, fn) => {
    node.addEventListener(type, fn);
    disposers.push(() => node.removeEventListener(type, fn));
  };
  const later = (fn, ms) => {
    const id = setTimeout(() => {
      timers.delete(id);
      fn();
    }, ms);
    timers.add(id);
    return id;
  };
  const cancel = (id) => {
    if (id !== null && id !== undefined) {
      clearTimeout(id);
      timers.delete(id);
    }
    return null;
  };

  // -- skeleton ---------------------------------------------------------------------
  const root = h("div", { class: "lnb-root lnb-blend-studio" });
  const nameEl = h("span", { class: "lnb-bs-name" });
  const busyEl = h(
    "span",
    { class: "lnb-bs-busy", "aria-live": "polite" },
    h("span", { class: "lnb-spinner", "aria-hidden": "true" }),
    h("span", { class: "lnb-visually-hidden", text: "working" }),
  );
  const header = h("div", { class: "lnb-bs-header" }, h("strong", { text: "Blend studio" }), nameEl, busyEl);
  const errorEl = h("div", { class: "lnb-error", role: "alert" });

  const rowsEl = h("div", { class: "lnb-bs-rows" });
  const typeId = `lnb-bs-type-${Math.random().toString(36).slice(2, 9)}`;
  const typeSelect = h("select", { id: typeId, class: "lnb-bs-type" });
  for (const [value, label] of BLEND_TYPES) typeSelect.append(h("option", { value, text: label }));
  const mixer = h(
    "section",
    { class: "lnb-bs-mixer", "aria-label": "Persona weights" },
    h("div", { class: "lnb-bs-section-title", text: "Weights" }),
    rowsEl,
    h("div", { class: "lnb-bs-type-row" }, h("label", { for: typeId, text: "Blend type" }), typeSelect),
  );

  const barsEl = h("div", { class: "lnb-bs-traits" });
  const legendEl = h("div", { class: "lnb-bs-legend lnb-muted" });
  const traits = h(
    "section",
    { class: "lnb-bs-preview", "aria-label": "Blended traits" },
    h("div", { class: "lnb-bs-section-title", text: "Blend traits" }),
    barsEl,
    legendEl,
  );
  const main = h("div", { class: "lnb-bs-main" }, mixer, traits);

  const summaryText = h("span", { text: "System prompt" });
  const changesEl = h("span", { class: "lnb-bs-changes lnb-muted" });
  const markBox = h("input", { type: "checkbox", checked: true });
  const promptText = h("pre", { class: "lnb-prompt-text lnb-mono", tabindex: "0" });
  const promptPanel = h(
    "details",
    { class: "lnb-prompt" },
    h("summary", {}, summaryText, changesEl),
    h(
      "div",
      { class: "lnb-bs-diff-key lnb-muted" },
      h("label", {}, markBox, " mark changes since the last preview: "),
      h("ins", { class: "lnb-ins", text: "inserted" }),
      " ",
      h("del", { class: "lnb-del", text: "removed" }),
    ),
    promptText,
  );

  const promptInput = h("input", {
    type: "text",
    class: "lnb-bs-prompt-input",
    placeholder: "Type a prompt to try the blend…",
    "aria-label": "Prompt to try",
  });
  const tryBtn = h("button", { type: "button", class: "lnb-primary", text: "Try it" });
  const compareBtn = h("button", { type: "button", text: "Compare with sources" });
  const stopBtn = h("button", { type: "button", class: "lnb-bs-stop", text: "Stop" });
  const triedEl = h("div", { class: "lnb-bs-tried lnb-muted" });
  const columnsEl = h("div", { class: "lnb-replies", "aria-live": "polite" });
  const tryBox = h(
    "section",
    { class: "lnb-bs-try", "aria-label": "Try the blend" },
    h("div", { class: "lnb-bs-controls" }, promptInput, tryBtn, compareBtn, stopBtn),
    triedEl,
    columnsEl,
  );

  const saveInput = h("input", { type: "text", class: "lnb-bs-save-name", "aria-label": "Blend name" });
  const saveBtn = h("button", { type: "button", text: "Save" });
  const copyBtn = h("button", { type: "button", text: "Copy as code" });
  const statusEl = h("span", { class: "lnb-bs-status lnb-muted", role: "status" });
  const codeBox = h("textarea", {
    class: "lnb-bs-code lnb-mono",
    readonly: true,
    rows: "2",
    hidden: true,
    "aria-label": "Code of this blend",
  });
  const saveBox = h(
    "section",
    { class: "lnb-bs-save", "aria-label": "Save the blend" },
    h("div", { class: "lnb-bs-controls" }, h("span", { text: "Save as" }), saveInput, saveBtn, copyBtn),
    statusEl,
    codeBox,
  );

  root.append(header, errorEl, main, promptPanel, tryBox, saveBox);
  el.append(root);

  // -- weights: local share display, coalesced sends ---------------------------------
  let names = [];
  let rows = new Map(); // name -> {slider, valueEl, shareEl}
  let local = {};
  let lastSent = "";
  let lastSendAt = 0;
  let debounceTimer = null;
  let throttleTimer = null;
  let dragging = null;

  function renderShares() {
    const shares = sharesPercent(names.map((n) => Number(local[n]) || 0));
    names.forEach((n, i) => {
      const row = rows.get(n);
      row.valueEl.textContent = String(local[n] ?? 0);
      row.shareEl.textContent = `${shares[i]}%`;
      row.slider.setAttribute("aria-valuetext", `${local[n] ?? 0}, share ${shares[i]} percent`);
    });
  }

  function flush() {
    debounceTimer = cancel(debounceTimer);
    const wait = lastSendAt + MIN_INTERVAL_MS - Date.now();
    if (wait > 0) {
      if (throttleTimer === null) {
        throttleTimer = later(() => {
          throttleTimer = null;
          flush();
        }, wait);
      }
      return;
    }
    const key = JSON.stringify(local);
    if (key === lastSent) return;
    lastSent = key;
    lastSendAt = Date.now();
    model.set("weights", { ...local });
    model.save_changes();
  }

  function buildRows() {
    const personas = model.get("personas") || [];
    names = personas.map((p) => p.name);
    local = { ...(model.get("weights") || {}) };
    lastSent = JSON.stringify(local);
    rows = new Map();
    rowsEl.replaceChildren();
    personas.forEach((p, i) => {
      const slider = h("input", {
        type: "range",
        min: "0",
        max: "100",
        step: "1",
        class: "lnb-bs-slider",
        "aria-label": `Weight of ${p.name}`,
      });
      slider.value = String(local[p.name] ?? 0);
      const valueEl = h("span", { class: "lnb-bs-weight lnb-muted", "aria-hidden": "true" });
      const shareEl = h("span", { class: "lnb-bs-share", title: "share of the blend" });
      const row = h(
        "div",
        { class: "lnb-bs-row", "data-persona": p.name },
        h("span", { class: `lnb-bs-marker lnb-bs-m${i % 6}`, "aria-hidden": "true", text: String(i + 1) }),
        h(
          "span",
          { class: "lnb-bs-who" },
          h("span", { class: "lnb-bs-persona", text: p.name }),
          h("span", { class: "lnb-bs-archetype lnb-muted", text: [p.archetype, p.temperament].filter(Boolean).join(" · ") }),
        ),
        slider,
        valueEl,
        shareEl,
      );
      const read = () => {
        local[p.name] = Number(slider.value);
        renderShares();
      };
      listen(slider, "input", () => {
        read();
        debounceTimer = cancel(debounceTimer);
        debounceTimer = later(flush, DEBOUNCE_MS);
      });
      listen(slider, "change", () => {
        dragging = null;
        read();
        flush();
      });
      listen(slider, "pointerdown", () => {
        dragging = slider;
      });
      listen(slider, "pointerup", () => {
        dragging = null;
      });
      rows.set(p.name, { slider, valueEl, shareEl });
      rowsEl.append(row);
    });
    renderShares();
    buildBars();
  }

  function syncWeights() {
    const incoming = model.get("weights") || {};
    for (const n of names) {
      const row = rows.get(n);
      if (row.slider === dragging || incoming[n] === undefined) continue;
      local[n] = incoming[n];
      row.slider.value = String(incoming[n]);
    }
    lastSent = JSON.stringify(incoming);
    renderShares();
  }

  // -- trait bars with ghost markers ----------------------------------------------------
  let bars = new Map(); // trait -> {fill, value, ghosts: [el], summary}

  function buildBars() {
    bars = new Map();
    barsEl.replaceChildren();
    for (const trait of TRAITS) {
      const fill = h("div", { class: "lnb-trait-fill" });
      const ghosts = names.map((n, i) =>
        h("span", { class: `lnb-trait-ghost lnb-bs-m${i % 6}`, "data-persona": n }, h("span", { text: String(i + 1) })),
      );
      const track = h("div", { class: "lnb-trait-track", "aria-hidden": "true" }, fill, ...ghosts);
      const value = h("span", { class: "lnb-trait-value" });
      const summary = h("span", { class: "lnb-visually-hidden" });
      bars.set(trait, { fill, value, ghosts, summary });
      barsEl.append(
        h(
          "div",
          { class: "lnb-trait", "data-trait": trait },
          h("span", { class: "lnb-trait-label", text: trait }),
          track,
          value,
          summary,
        ),
      );
    }
    legendEl.replaceChildren(
      h("span", {}, h("span", { class: "lnb-bs-legend-fill", "aria-hidden": "true" }), " blend"),
      ...names.map((n, i) =>
        h(
          "span",
          {},
          h("span", { class: `lnb-bs-marker lnb-bs-m${i % 6}`, "aria-hidden": "true", text: String(i + 1) }),
          ` ${n}`,
        ),
      ),
    );
    renderBars();
  }

  function renderBars() {
    const preview = model.get("preview") || {};
    const params = preview.params || {};
    const sources = preview.sources || {};
    for (const [trait, bar] of bars) {
      const v = params[trait];
      const known = typeof v === "number";
      bar.fill.style.width = known ? `${+(v * 100).toFixed(1)}%` : "0%";
      bar.value.textContent = fmt(v);
      const parts = [];
      names.forEach((n, i) => {
        const sv = (sources[n] || {})[trait];
        const ghost = bar.ghosts[i];
        if (!ghost) return;
        const has = typeof sv === "number";
        ghost.hidden = !has;
        if (has) {
          ghost.style.left = `${+(sv * 100).toFixed(1)}%`;
          ghost.title = `${n}: ${trait} ${fmt(sv)}`;
          parts.push(`${n} ${fmt(sv)}`);
        }
      });
      bar.summary.textContent = known ? ` (sources: ${parts.join(", ")})` : "";
    }
  }

  // -- prompt with the diff since the last preview --------------------------------------
  function renderPrompt() {
    const preview = model.get("preview") || {};
    const ops = preview.prompt_diff || [["equal", preview.prompt || ""]];
    const mark = markBox.checked;
    promptText.replaceChildren();
    let changes = 0;
    let previous = "equal";
    for (const [op, text] of ops) {
      if (op !== "equal" && previous === "equal") changes += 1;
      previous = op;
      if (op === "equal" || !mark) {
        if (op !== "delete") promptText.append(document.createTextNode(text));
      } else if (op === "insert") {
        promptText.append(h("ins", { class: "lnb-ins", title: "inserted", text }));
      } else if (op === "delete") {
        promptText.append(h("del", { class: "lnb-del", title: "removed", text }));
      }
    }
    changesEl.textContent = preview.prompt
      ? ` · ${(preview.prompt || "").length.toLocaleString()} characters · ${
          changes === 0 ? "no changes" : changes === 1 ? "1 change" : `${changes} changes`
        } since the last preview`
      : "";
  }

  // -- try it: columns fed by deltas ---------------------------------------------------
  let currentRun = null;
  let columns = new Map(); // id -> {text, status, done, article}

  function statusText(col) {
    if (col.error) return `error: ${col.error}`;
    if (col.finish_reason) return `finish: ${col.finish_reason}`;
    return col.done ? "done" : "";
  }

  function renderTries() {
    const tries = model.get("tries") || {};
    const cols = tries.columns || [];
    if (tries.run !== currentRun) {
      currentRun = tries.run || null;
      columns = new Map();
      columnsEl.replaceChildren();
      triedEl.textContent = tries.prompt ? `Prompt: ${tries.prompt}` : "";
      for (const col of cols) {
        const text = h("div", { class: "lnb-reply-text" });
        const caret = h("span", { class: "lnb-caret", "aria-hidden": "true" });
        const status = h("div", { class: "lnb-reply-status lnb-muted" });
        const article = h(
          "article",
          { class: `lnb-reply lnb-reply-${col.kind}`, "data-label": col.label },
          h(
            "header",
            { class: "lnb-reply-head" },
            h("span", { class: "lnb-reply-label", text: col.label }),
            h("span", { class: "lnb-reply-kind lnb-muted", text: col.kind === "blend" ? "blend" : "source" }),
          ),
          h("div", { class: "lnb-reply-body" }, text, caret),
          status,
        );
        columns.set(col.id, { text, caret, status, article, done: false });
        columnsEl.append(article);
      }
    }
    for (const col of cols) {
      const view = columns.get(col.id);
      if (!view || !col.done) continue;
      if (!view.done || view.text.textContent !== col.text) view.text.textContent = col.text;
      finishColumn(view, col);
    }
  }

  function finishColumn(view, info) {
    view.done = true;
    view.caret.hidden = true;
    view.status.textContent = statusText({ ...info, done: true });
    view.article.classList.toggle("lnb-reply-error", Boolean(info.error));
    view.article.classList.toggle("lnb-reply-stopped", info.finish_reason === "stopped");
  }

  function onCustom(msg) {
    if (!msg || msg.type !== "delta" || msg.run !== currentRun) return;
    const view = columns.get(msg.id);
    if (!view || view.done) return;
    if (msg.text) {
      const body = view.text.parentElement;
      const atBottom = body.scrollHeight - body.scrollTop - body.clientHeight < 24;
      view.text.append(document.createTextNode(msg.text));
      if (atBottom) body.scrollTop = body.scrollHeight;
    }
    if (msg.final) finishColumn(view, msg);
  }

  // -- state -> view ------------------------------------------------------------------------
  function renderError() {
    errorEl.textContent = model.get("error") || "";
  }

  function renderBusy() {
    const busy = Boolean(model.get("busy"));
    root.setAttribute("aria-busy", busy ? "true" : "false");
    busyEl.hidden = !busy;
    stopBtn.disabled = !busy;
    tryBtn.disabled = busy;
    compareBtn.disabled = busy;
  }

  function renderName() {
    const name = model.get("blend_name") || "";
    nameEl.textContent = name;
    if (document.activeElement !== saveInput) saveInput.value = name;
  }

  function renderSaved() {
    const saved = model.get("saved_name");
    if (saved) statusEl.textContent = `Saved as “${saved}”: it is in lum.list_personalities().`;
  }

  function renderType() {
    typeSelect.value = model.get("blend_type") || "weighted_average";
    compareBtn.hidden = names.length < 1;
  }

  // -- actions --------------------------------------------------------------------------------
  const send = (content) => model.send(content);
  listen(tryBtn, "click", () => send({ type: "try", prompt: promptInput.value }));
  listen(compareBtn, "click", () => send({ type: "compare", prompt: promptInput.value }));
  listen(stopBtn, "click", () => send({ type: "stop" }));
  listen(promptInput, "keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !tryBtn.disabled) {
      event.preventDefault();
      send({ type: "try", prompt: promptInput.value });
    }
  });
  listen(saveBtn, "click", () => send({ type: "save", name: saveInput.value }));
  listen(saveInput, "keydown", (event) => {
    if (event.key === "Enter" && !event.isComposing) {
      event.preventDefault();
      send({ type: "save", name: saveInput.value });
    }
  });
  listen(typeSelect, "change", () => {
    model.set("blend_type", typeSelect.value);
    model.save_changes();
  });
  listen(markBox, "change", renderPrompt);
  listen(copyBtn, "click", async () => {
    const code = model.get("code_text") || "";
    const fallback = (why) => {
      codeBox.hidden = false;
      codeBox.value = code;
      codeBox.focus();
      codeBox.select();
      statusEl.textContent = `${why}: the code is selected below; press Ctrl+C (⌘C) to copy it.`;
    };
    if (!navigator.clipboard || !navigator.clipboard.writeText) {
      fallback("No clipboard access here");
      return;
    }
    try {
      await navigator.clipboard.writeText(code);
      codeBox.hidden = false;
      codeBox.value = code;
      statusEl.textContent = "Copied to the clipboard.";
    } catch (err) {
      fallback("The browser blocked the clipboard");
    }
  });

  onModel("change:personas", () => {
    buildRows();
    renderType();
  });
  onModel("change:weights", syncWeights);
  onModel("change:preview", () => {
    renderBars();
    renderPrompt();
  });
  onModel("change:error", renderError);
  onModel("change:busy", renderBusy);
  onModel("change:blend_name", renderName);
  onModel("change:saved_name", renderSaved);
  onModel("change:blend_type", renderType);
  onModel("change:tries", renderTries);
  onModel("msg:custom", onCustom);

  buildRows();
  renderPrompt();
  renderError();
  renderBusy();
  renderName();
  renderSaved();
  renderType();
  renderTries();

  return () => {
    for (const id of timers) clearTimeout(id);
    timers.clear();
    for (const dispose of disposers) dispose();
    root.remove();
  };
}

export default { render };
