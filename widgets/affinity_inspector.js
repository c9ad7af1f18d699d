// AffinityInspector, browser side (anywidget ES module; no imports, plain DOM + SVG;
// h comes from dom.js, put in front of this file by widget_module).
//
// Draws the level ladder with the current rung marked (an arrow and bold, not colour
// alone), the points and a progress bar to the next level, and the history as a small
// SVG step plot with the level thresholds dashed. Everything comes from synced traits;
// the adjust box sends {"type": "adjust"} and Python answers by changing the traits.

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

export default {
  render({ model, el }) {
    const root = h("div", "lnb-root lnb-affinity-inspector");
    el.appendChild(root);

    const head = h("div", "lnb-ai-head");
    const title = h("strong");
    const spinner = h("span", "lnb-spinner");
    head.append(title, spinner);
    const errorBox = h("div", "lnb-error");
    errorBox.setAttribute("role", "alert");

    const summary = h("div", "lnb-ai-summary");
    const levelText = h("span", "lnb-ai-level");
    const pointsText = h("span", "lnb-muted");
    summary.append(levelText, pointsText);
    const progWrap = h("div", "lnb-ai-progress-wrap");
    const prog = document.createElement("progress");
    prog.className = "lnb-ai-progress";
    prog.max = 1;
    prog.setAttribute("aria-label", "Progress to the next level");
    const progText = h("span", "lnb-muted");
    progText.setAttribute("aria-live", "polite");
    progWrap.append(prog, progText);

    const ladder = h("ol", "lnb-ai-ladder");
    ladder.setAttribute("aria-label", "Relationship levels, lowest first");

    const plotBox = h("div", "lnb-ai-plot");
    const plotEmpty = h("div", "lnb-muted", "No changes yet: they appear here as turns happen.");

    const adjust = h("form", "lnb-ai-adjust");
    const deltaBox = document.createElement("input");
    deltaBox.type = "number";
    deltaBox.step = "1";
    deltaBox.value = "5";
    deltaBox.setAttribute("aria-label", "Points to add (negative to remove)");
    const reasonBox = document.createElement("input");
    reasonBox.type = "text";
    reasonBox.placeholder = "reason (optional)";
    reasonBox.setAttribute("aria-label", "Reason of the change");
    const apply = h("button", null, "Adjust");
    apply.type = "submit";
    adjust.append(h("span", "lnb-muted", "Adjust by "), deltaBox, reasonBox, apply);

    root.append(head, errorBox, summary, progWrap, ladder, plotBox, plotEmpty, adjust);

    function renderSummary() {
      title.textContent = `${model.get("user_id") || "?"} and ${model.get("persona") || model.get("personality") || "?"}`;
      const level = model.get("level") || "";
      levelText.textContent = level ? `Level: ${level.replace(/_/g, " ")}` : "";
      const n = model.get("total_interactions") || 0;
      pointsText.textContent = ` \u00B7 ${model.get("points")} / 100 points \u00B7 ${n} interaction${n === 1 ? "" : "s"}`;
      const next = model.get("next_level") || "";
      prog.value = model.get("progress") || 0;
      progText.textContent = next
        ? `${model.get("to_next")} points to ${next.replace(/_/g, " ")}`
        : "top level";
      spinner.hidden = !model.get("busy");
      const levels = model.get("levels") || [];
      ladder.replaceChildren();
      for (const lvl of levels) {
        const li = h("li", "lnb-ai-rung");
        const here = lvl.name === level;
        li.classList.toggle("lnb-ai-here", here);
        if (here) li.setAttribute("aria-current", "step");
        li.append(
          h("span", "lnb-ai-arrow", here ? "\u25B6" : ""),
          h("span", "lnb-ai-name", lvl.name.replace(/_/g, " ")),
          h("span", "lnb-muted", ` ${lvl.low}\u2013${lvl.high}`),
        );
        ladder.appendChild(li);
      }
      adjust.hidden = levels.length === 0;
    }

    function renderPlot() {
      const history = model.get("history") || [];
      const levels = model.get("levels") || [];
      plotBox.replaceChildren();
      plotEmpty.hidden = history.length > 0;
      plotBox.hidden = history.length === 0;
      if (!history.length) return;
      const W = 600, H = 160, L = 34, R = 90, T = 8, B = 20;
      const start = history[0].before ?? history[0].points;
      const ys = [start, ...history.map((c) => c.points)];
      const x = (i) => L + (i / Math.max(1, ys.length - 1)) * (W - L - R);
      const y = (p) => T + (1 - p / 100) * (H - T - B);
      const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "lnb-ai-svg" });
      const desc = s("title");
      desc.textContent = `Affinity points over ${history.length} changes, from ${start} to ${ys[ys.length - 1]}`;
      svg.appendChild(desc);
      svg.appendChild(s("line", { x1: L, y1: y(0), x2: W - R, y2: y(0), class: "lnb-ai-axis" }));
      svg.appendChild(s("line", { x1: L, y1: y(0), x2: L, y2: y(100), class: "lnb-ai-axis" }));
      for (const lvl of levels) {
        if (lvl.low > 0) svg.appendChild(s("line", { x1: L, y1: y(lvl.low), x2: W - R, y2: y(lvl.low), class: "lnb-ai-threshold" }));
        const label = s("text", { x: W - R + 4, y: y(lvl.low) - 2, class: "lnb-ai-label" });
        label.textContent = lvl.name.replace(/_/g, " ");
        svg.appendChild(label);
      }
      for (const p of [0, 50, 100]) {
        const tick = s("text", { x: L - 4, y: y(p) + 4, class: "lnb-ai-label", "text-anchor": "end" });
        tick.textContent = String(p);
        svg.appendChild(tick);
      }
      let d = `M ${x(0)} ${y(ys[0])}`;
      for (let i = 1; i < ys.length; i += 1) d += ` H ${x(i)} V ${y(ys[i])}`;
      svg.appendChild(s("path", { d, class: "lnb-ai-line" }));
      ys.forEach((p, i) => {
        const dot = s("circle", { cx: x(i), cy: y(p), r: i > 0 && history[i - 1].level_changed ? 4.5 : 2.5, class: "lnb-ai-dot" });
        const tip = s("title");
        tip.textContent = i === 0 ? `start: ${p} points` : `${history[i - 1].delta >= 0 ? "+" : ""}${history[i - 1].delta} ${history[i - 1].type} \u2192 ${p} points (${history[i - 1].level})`;
        dot.appendChild(tip);
        svg.appendChild(dot);
      });
      plotBox.appendChild(svg);
    }

    function renderError() {
      errorBox.textContent = model.get("error") || "";
    }

    adjust.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = deltaBox.value.trim() === "" ? NaN : Number(deltaBox.value);
      model.send({ type: "adjust", delta: Number.isFinite(value) ? value : deltaBox.value, reason: reasonBox.value });
    });

    const listeners = [
      ["change:history", renderPlot],
      ["change:levels", () => {
        renderSummary();
        renderPlot();
      }],
      ["change:error", renderError],
    ];
    for (const name of ["points", "level", "next_level", "to_next", "progress", "total_interactions", "busy", "persona", "user_id"]) {
      listeners.push([`change:${name}`, renderSummary]);
    }
    for (const [event, fn] of listeners) model.on(event, fn);

    renderSummary();
    renderPlot();
    renderError();

    return () => {
      for (const [event, fn] of listeners) model.off(event, fn);
    };
  },
};
