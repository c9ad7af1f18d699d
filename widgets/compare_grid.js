// CompareGrid, browser side (anywidget ES module; no imports, plain DOM; h and button
// come from dom.js, put in front of this file by widget_module).
//
// Rows are prompts (x repeats), columns are blends with the baseline first. The table
// is built from the synced traits (labels, prompts, repeat, baseline, cells) and then
// kept current cell by cell from {"type": "cell"} custom messages; every compact cell
// carries a version `v` and the newest wins, so a late snapshot never undoes a newer
// cell. Word diffs are asked for on demand ({"type": "diff"}) and cached per cell until
// its row changes. User and model text only ever goes through textContent.

const ROW_SEP = "\u0000";

function keyOf(p, label, r) {
  return JSON.stringify([p, label, r]);
}

function rowKey(p, r) {
  return `${p}${ROW_SEP}${r}`;
}

function ms(x) {
  return `${num(x, x !== null && x !== undefined && x < 10 ? 1 : 0)} ms`;
}

function num(x, digits) {
  if (x === null || x === undefined || Number.isNaN(x)) return "\u2013";
  return Number(x).toLocaleString(undefined, { maximumFractionDigits: digits });
}

export default {
  render({ model, el }) {
    const root = h("div", "lnb-root lnb-compare-grid");
    el.appendChild(root);

    // -- toolbar: Run / Stop, progress, the differences toggle ---------------------
    const bar = h("div", "lnb-cg-toolbar");
    const runBtn = button("Run", "lnb-primary");
    runBtn.title = "Run the cells not run yet";
    const stopBtn = button("Stop");
    stopBtn.title = "Stop the run; unfinished cells go back to 'not run'";
    const progWrap = h("span", "lnb-cg-progress-wrap");
    const prog = document.createElement("progress");
    prog.className = "lnb-progress";
    prog.setAttribute("aria-label", "Cells done");
    const progText = h("span", "lnb-muted lnb-cg-progress-text");
    progText.setAttribute("aria-live", "polite");
    progWrap.append(prog, progText);
    const toggle = h("label", "lnb-cg-toggle");
    const diffBox = document.createElement("input");
    diffBox.type = "checkbox";
    toggle.append(diffBox, document.createTextNode(" Show only differences"));
    const info = h("span", "lnb-muted lnb-cg-info");
    bar.append(runBtn, stopBtn, progWrap, toggle, info);

    const errorBox = h("div", "lnb-error");
    errorBox.setAttribute("role", "alert");

    const scroll = h("div", "lnb-cg-scroll");
    const table = h("table", "lnb-cg-table");
    const thead = h("thead");
    const tbody = h("tbody");
    table.append(thead, tbody);
    scroll.appendChild(table);
    const emptyNote = h("div", "lnb-muted lnb-cg-empty", "Every row equals the baseline.");
    root.append(bar, errorBox, scroll, emptyNote);

    // -- view state ----------------------------------------------------------------
    const cells = new Map(); // key -> compact cell
    const tds = new Map(); // key -> td
    const parts = new Map(); // key -> {body, actions, up, down, note}
    const rows = new Map(); // rowKey -> tr
    const heads = new Map(); // label -> totals element
    const totals = new Map(); // label -> totals
    const expanded = new Set(); // keys of expanded replies
    const diffOpen = new Set(); // keys whose diff is shown
    const diffs = new Map(); // key -> {ops} | {error}
    const asked = new Set(); // keys whose diff was asked for and not answered yet
    let progress = { done: 0, total: 0 };

    function newer(incoming) {
      const k = keyOf(incoming.p, incoming.label, incoming.r);
      const have = cells.get(k);
      return !have || (incoming.v || 0) >= (have.v || 0);
    }

    function forgetDiffs(p, r) {
      for (const label of model.get("labels") || []) {
        diffs.delete(keyOf(p, label, r));
        asked.delete(keyOf(p, label, r));
      }
    }

    function changedText(old, c) {
      return !old || old.reply !== c.reply || old.status !== c.status;
    }

    function requestDiff(c, k) {
      if (diffs.has(k) || asked.has(k)) return;
      asked.add(k);
      model.send({ type: "diff", p: c.p, label: c.label, r: c.r });
    }

    // -- header --------------------------------------------------------------------
    function totalsText(t) {
      if (!t) return "";
      const parts = [
        `${num(t.mean_tokens, 1)} tok avg`,
        `p50 ${ms(t.p50_latency_ms)}`,
        `\u25B2 ${t.up || 0} up \u00B7 \u25BC ${t.down || 0} down`,
      ];
      if (t.errors) parts.push(`${t.errors} error${t.errors === 1 ? "" : "s"}`);
      return parts.join(" \u00B7 ");
    }

    function renderTotals(label) {
      const node = heads.get(label);
      if (node) node.textContent = totalsText(totals.get(label));
    }

    // -- cells ---------------------------------------------------------------------
    function renderDiff(box, k) {
      box.replaceChildren();
      const got = diffs.get(k);
      if (!got) {
        box.appendChild(h("span", "lnb-muted", "computing diff\u2026"));
        return;
      }
      if (got.error) {
        box.appendChild(h("span", "lnb-cg-diff-error", got.error));
        return;
      }
      const caption = h("div", "lnb-muted lnb-cg-diff-caption", "vs baseline: ");
      caption.append(h("ins", null, "inserted"), document.createTextNode(" "), h("del", null, "removed"));
      box.appendChild(caption);
      const body = h("div", "lnb-cg-diff-text");
      for (const [op, text] of got.ops || []) {
        if (op === "insert") {
          const ins = h("ins", null, text);
          ins.title = "only in this reply";
          body.appendChild(ins);
        } else if (op === "delete") {
          const del = h("del", null, text);
          del.title = "only in the baseline";
          body.appendChild(del);
        } else {
          body.appendChild(document.createTextNode(text));
        }
      }
      box.appendChild(body);
    }

    function renderBody(body, c, k, isBase) {
      body.replaceChildren();
      const running = model.get("running");
      if (c.status === "pending" || c.status === "running") {
        if (running || c.status === "running") {
          body.append(h("span", "lnb-spinner"), h("span", "lnb-muted", " running\u2026"));
        } else {
          body.appendChild(h("span", "lnb-muted", "not run"));
        }
        return;
      }
      if (c.status === "error") {
        const msg = h("div", "lnb-cg-cell-error", c.error || "failed");
        msg.title = c.error || "";
        const retry = button("Retry");
        retry.addEventListener("click", () => {
          retry.disabled = true;
          model.send({ type: "retry", p: c.p, label: c.label, r: c.r });
        });
        body.append(msg, retry);
        return;
      }
      const reply = h("div", "lnb-cg-reply", c.reply || "");
      reply.tabIndex = 0;
      reply.setAttribute("role", "button");
      const open = expanded.has(k);
      reply.setAttribute("aria-expanded", open ? "true" : "false");
      reply.title = open ? "Click to collapse" : "Click to show the whole reply";
      if (open) reply.classList.add("lnb-expanded");
      const flip = () => {
        if (expanded.has(k)) expanded.delete(k);
        else expanded.add(k);
        renderBody(body, cells.get(k) || c, k, isBase);
      };
      reply.addEventListener("click", (event) => {
        const sel = window.getSelection ? window.getSelection() : null;
        if (sel && !sel.isCollapsed && sel.anchorNode && reply.contains(sel.anchorNode)) return; // copying
        event.preventDefault();
        flip();
      });
      reply.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          flip();
          const again = body.querySelector(".lnb-cg-reply");
          if (again) again.focus();
        }
      });
      const meta = h("div", "lnb-cg-meta lnb-muted");
      const bits = [];
      if (c.tokens !== null && c.tokens !== undefined) bits.push(`${num(c.tokens, 0)} tok`);
      if (c.latency_ms !== null && c.latency_ms !== undefined) bits.push(ms(c.latency_ms));
      meta.appendChild(document.createTextNode(bits.join(" \u00B7 ")));
      body.append(reply, meta);
      if (isBase) {
        meta.appendChild(h("span", "lnb-cg-mark", " \u00B7 \u2605 baseline"));
      } else if (c.same) {
        meta.appendChild(h("span", "lnb-cg-mark", " \u00B7 = same as baseline"));
      } else if (c.differs) {
        const mark = h("strong", "lnb-cg-differs", " \u00B7 \u2260 differs");
        mark.title = "This reply differs from the baseline's";
        const diffBtn = button("diff", "lnb-cg-diff-btn", "Show the word diff against the baseline");
        const shown = diffOpen.has(k);
        diffBtn.setAttribute("aria-expanded", shown ? "true" : "false");
        diffBtn.addEventListener("click", () => {
          if (diffOpen.has(k)) diffOpen.delete(k);
          else diffOpen.add(k);
          renderBody(body, cells.get(k) || c, k, isBase);
          const again = body.querySelector(".lnb-cg-diff-btn");
          if (again) again.focus();
        });
        meta.append(mark, document.createTextNode(" "), diffBtn);
        if (shown) {
          requestDiff(c, k);
          const box = h("div", "lnb-cg-diff");
          renderDiff(box, k);
          body.appendChild(box);
        }
      }
    }

    function buildCell(td, k) {
      const body = h("div", "lnb-cg-body");
      const actions = h("div", "lnb-cg-actions");
      const up = button("\u25B2 +1", "lnb-cg-rate", "Rate up");
      const down = button("\u25BC \u22121", "lnb-cg-rate", "Rate down");
      const note = document.createElement("input");
      note.type = "text";
      note.className = "lnb-cg-note";
      note.placeholder = "note";
      note.setAttribute("aria-label", "Note");
      const rate = (value) => {
        const c = cells.get(k);
        if (!c) return;
        model.send({ type: "rate", p: c.p, label: c.label, r: c.r, rating: c.rating === value ? 0 : value });
      };
      up.addEventListener("click", () => rate(1));
      down.addEventListener("click", () => rate(-1));
      note.addEventListener("change", () => {
        const c = cells.get(k);
        if (c) model.send({ type: "note", p: c.p, label: c.label, r: c.r, note: note.value });
      });
      note.addEventListener("keydown", (event) => {
        if (event.key === "Escape") {
          const c = cells.get(k);
          note.value = (c && c.note) || "";
          note.blur();
        }
      });
      actions.append(up, down, note);
      td.append(body, actions);
      return { body, actions, up, down, note };
    }

    function renderCell(k) {
      const td = tds.get(k);
      const c = cells.get(k);
      const own = parts.get(k);
      if (!td || !c || !own) return;
      const isBase = c.label === model.get("baseline");
      renderBody(own.body, c, k, isBase);
      td.classList.toggle("lnb-cg-failed", c.status === "error");
      td.classList.toggle("lnb-cg-is-differs", !!c.differs);
      td.classList.toggle("lnb-cg-is-same", !isBase && !!c.same);
      own.actions.hidden = c.status !== "ok";
      own.up.setAttribute("aria-pressed", c.rating === 1 ? "true" : "false");
      own.down.setAttribute("aria-pressed", c.rating === -1 ? "true" : "false");
      own.up.classList.toggle("lnb-on", c.rating === 1);
      own.down.classList.toggle("lnb-on", c.rating === -1);
      if (document.activeElement !== own.note) own.note.value = c.note || "";
    }

    // -- rows ----------------------------------------------------------------------
    function rowHidden(p, r) {
      if (!model.get("only_differences")) return false;
      const base = model.get("baseline");
      let others = 0;
      for (const label of model.get("labels") || []) {
        if (label === base) continue;
        others += 1;
        const c = cells.get(keyOf(p, label, r));
        if (!c || !c.same) return false;
      }
      return others > 0;
    }

    function updateRow(p, r) {
      const tr = rows.get(rowKey(p, r));
      if (tr) tr.hidden = rowHidden(p, r);
    }

    function updateRows() {
      let visible = 0;
      for (const [rk, tr] of rows) {
        const [p, r] = rk.split(ROW_SEP).map(Number);
        tr.hidden = rowHidden(p, r);
        if (!tr.hidden) visible += 1;
      }
      emptyNote.hidden = !(model.get("only_differences") && rows.size > 0 && visible === 0);
      diffBox.checked = !!model.get("only_differences");
    }

    // -- the table -----------------------------------------------------------------
    function build() {
      thead.replaceChildren();
      tbody.replaceChildren();
      tds.clear();
      parts.clear();
      rows.clear();
      heads.clear();
      const labels = model.get("labels") || [];
      const prompts = model.get("prompts") || [];
      const repeat = model.get("repeat") || 1;
      const base = model.get("baseline");
      scroll.hidden = labels.length === 0;
      const hr = h("tr");
      const corner = h("th", "lnb-cg-corner", "Prompt");
      corner.scope = "col";
      hr.appendChild(corner);
      for (const label of labels) {
        const th = h("th", "lnb-cg-head");
        th.scope = "col";
        const name = h("div", "lnb-cg-label");
        if (label === base) {
          th.classList.add("lnb-cg-baseline");
          name.append(document.createTextNode("\u2605 "), h("span", null, label), document.createTextNode(" "));
          name.appendChild(h("span", "lnb-cg-badge", "baseline"));
        } else {
          name.textContent = label;
        }
        name.title = label;
        const tot = h("div", "lnb-cg-totals lnb-muted");
        heads.set(label, tot);
        th.append(name, tot);
        hr.appendChild(th);
      }
      thead.appendChild(hr);
      prompts.forEach((prompt, p) => {
        for (let r = 0; r < repeat; r += 1) {
          const tr = h("tr");
          const th = h("th", "lnb-cg-prompt");
          th.scope = "row";
          const text = h("div", "lnb-cg-prompt-text", prompt);
          text.title = prompt;
          th.appendChild(text);
          if (repeat > 1) th.appendChild(h("div", "lnb-muted", `run ${r + 1} of ${repeat}`));
          tr.appendChild(th);
          for (const label of labels) {
            const k = keyOf(p, label, r);
            const td = h("td", "lnb-cell");
            td.dataset.prompt = String(p);
            td.dataset.label = label;
            td.dataset.repeat = String(r);
            parts.set(k, buildCell(td, k));
            tds.set(k, td);
            tr.appendChild(td);
          }
          rows.set(rowKey(p, r), tr);
          tbody.appendChild(tr);
        }
      });
      for (const k of tds.keys()) renderCell(k);
      for (const label of labels) renderTotals(label);
      updateRows();
    }

    // -- synced state --------------------------------------------------------------
    function loadCells() {
      for (const c of model.get("cells") || []) {
        if (newer(c)) {
          const k = keyOf(c.p, c.label, c.r);
          if (changedText(cells.get(k), c)) forgetDiffs(c.p, c.r);
          cells.set(k, c);
        }
      }
      for (const k of tds.keys()) renderCell(k);
      updateRows();
    }

    function loadTotals() {
      const t = model.get("totals") || {};
      for (const label of Object.keys(t)) {
        totals.set(label, t[label]);
        renderTotals(label);
      }
    }

    function renderToolbar() {
      const running = !!model.get("running");
      progress = model.get("progress") || progress;
      const { done, total } = progress;
      prog.max = Math.max(total, 1);
      prog.value = done;
      prog.hidden = !running;
      const waiting = !running && done < total ? ` \u00B7 ${total - done} not run` : "";
      progText.textContent = total ? `${done} / ${total} cells${waiting}` : "";
      stopBtn.hidden = !running;
      stopBtn.disabled = !running;
      runBtn.hidden = running || total === 0 || done >= total;
      const labels = model.get("labels") || [];
      const prompts = model.get("prompts") || [];
      const repeat = model.get("repeat") || 1;
      info.textContent = labels.length
        ? `${labels.length} blend${labels.length === 1 ? "" : "s"} \u00D7 ${prompts.length} prompt${prompts.length === 1 ? "" : "s"}${repeat > 1 ? ` \u00D7 ${repeat}` : ""}`
        : "";
      root.classList.toggle("lnb-busy", running || !!model.get("busy"));
    }

    function renderError() {
      errorBox.textContent = model.get("error") || "";
    }

    // -- kernel -> browser ---------------------------------------------------------
    function onCustom(msg) {
      if (!msg || typeof msg !== "object") return;
      if (msg.type === "cell" && msg.cell) {
        const c = msg.cell;
        if (newer(c)) {
          const k = keyOf(c.p, c.label, c.r);
          if (changedText(cells.get(k), c)) forgetDiffs(c.p, c.r);
          cells.set(k, c);
        }
        for (const [label, same] of Object.entries(msg.same || {})) {
          const k = keyOf(c.p, label, c.r);
          const other = cells.get(k);
          if (other) {
            const differs = msg.differs && label in msg.differs ? msg.differs[label] : other.differs;
            cells.set(k, { ...other, same, differs });
          }
        }
        for (const label of model.get("labels") || []) renderCell(keyOf(c.p, label, c.r));
        for (const [label, t] of Object.entries(msg.total || {})) {
          totals.set(label, t);
          renderTotals(label);
        }
        updateRow(c.p, c.r);
        if (model.get("only_differences")) updateRows();
      } else if (msg.type === "diff") {
        const k = keyOf(msg.p, msg.label, msg.r);
        if (!asked.has(k)) return; // an answer to a question made moot by a newer reply
        asked.delete(k);
        diffs.set(k, msg.error ? { error: msg.error } : { ops: msg.ops || [] });
        renderCell(k);
      }
    }

    // -- browser -> kernel ---------------------------------------------------------
    runBtn.addEventListener("click", () => model.send({ type: "run" }));
    stopBtn.addEventListener("click", () => model.send({ type: "stop" }));
    diffBox.addEventListener("change", () => {
      model.set("only_differences", diffBox.checked);
      model.save_changes();
      updateRows();
    });

    const rebuild = () => {
      build();
      renderToolbar();
    };
    const onRunning = () => {
      renderToolbar();
      // pending cells show a spinner while the run goes on, "not run" once it stopped
      for (const [k, c] of cells) if (c.status === "pending") renderCell(k);
    };
    const listeners = [
      ["msg:custom", onCustom],
      ["change:labels", rebuild],
      ["change:prompts", rebuild],
      ["change:repeat", rebuild],
      ["change:baseline", rebuild],
      ["change:cells", loadCells],
      ["change:totals", loadTotals],
      ["change:progress", renderToolbar],
      ["change:busy", renderToolbar],
      ["change:running", onRunning],
      ["change:only_differences", updateRows],
      ["change:error", renderError],
    ];
    for (const [event, fn] of listeners) model.on(event, fn);

    for (const c of model.get("cells") || []) cells.set(keyOf(c.p, c.label, c.r), c);
    loadTotals();
    build();
    renderToolbar();
    renderError();
    model.send({ type: "sync" }); // a view rendered mid-run asks for the current snapshot

    return () => {
      for (const [event, fn] of listeners) model.off(event, fn);
    };
  },
};
