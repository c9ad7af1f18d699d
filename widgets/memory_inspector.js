// MemoryInspector, browser side (anywidget ES module; no imports, plain DOM; h, button
// and formatTime come from dom.js, put in front of this file by widget_module).
//
// Three panels drawn from synced traits: facts (an editable table with a category
// filter, confidence as a bar and a number, the source message on hover, delete), the
// episodes timeline (markers sized by importance, sentiment as a symbol and a word, so
// colour is never the only carrier) and the search box with its scored hits. Actions go
// to Python as custom messages; Python answers by changing the traits. User text only
// ever goes through textContent.

const SENTIMENT = {
  very_negative: ["\u25BC\u25BC", "very negative"],
  negative: ["\u25BC", "negative"],
  neutral: ["\u2022", "neutral"],
  positive: ["\u25B2", "positive"],
  very_positive: ["\u25B2\u25B2", "very positive"],
};

export default {
  render({ model, el }) {
    const root = h("div", "lnb-root lnb-memory-inspector");
    el.appendChild(root);

    const head = h("div", "lnb-mi-head");
    const title = h("strong", "lnb-mi-title");
    const counts = h("span", "lnb-muted");
    const refreshBtn = button("\u21BB Refresh", null, "Reload facts and episodes");
    const spinner = h("span", "lnb-spinner");
    head.append(title, counts, spinner, refreshBtn);
    const errorBox = h("div", "lnb-error");
    errorBox.setAttribute("role", "alert");
    const noticeBox = h("div", "lnb-muted lnb-mi-notice");

    // -- facts -----------------------------------------------------------------------
    const factsSec = h("section", "lnb-mi-section");
    const factsBar = h("div", "lnb-mi-bar");
    const factsTitle = h("h4", null, "Facts");
    const filterLabel = h("label", "lnb-muted", "Category ");
    const filter = document.createElement("select");
    filter.setAttribute("aria-label", "Show facts of category");
    filterLabel.appendChild(filter);
    factsBar.append(factsTitle, filterLabel);
    const factsScroll = h("div", "lnb-mi-scroll");
    const table = h("table", "lnb-mi-table");
    const thead = h("thead");
    const hr = h("tr");
    for (const name of ["Category", "Key", "Value", "Confidence", ""]) {
      const th = h("th", null, name);
      th.scope = "col";
      hr.appendChild(th);
    }
    thead.appendChild(hr);
    const tbody = h("tbody");
    table.append(thead, tbody);
    factsScroll.appendChild(table);
    const factsEmpty = h("div", "lnb-muted", "No facts to show.");
    factsSec.append(factsBar, factsScroll, factsEmpty);

    // -- episodes ----------------------------------------------------------------------
    const epSec = h("section", "lnb-mi-section");
    const epTitle = h("h4", null, "Episodes");
    const legend = h("div", "lnb-muted lnb-mi-legend");
    legend.textContent =
      "Marker size = importance (0\u201310); " +
      Object.values(SENTIMENT)
        .map(([mark, word]) => `${mark} ${word}`)
        .join(" \u00B7 ");
    const timeline = h("ol", "lnb-mi-timeline");
    const epEmpty = h("div", "lnb-muted", "No episodes yet.");
    epSec.append(epTitle, legend, timeline, epEmpty);

    // -- search ------------------------------------------------------------------------
    const searchSec = h("section", "lnb-mi-section");
    const searchTitle = h("h4", null, "Search by meaning");
    const form = h("form", "lnb-mi-search");
    const input = document.createElement("input");
    input.type = "text";
    input.placeholder = "e.g. what music do I like?";
    input.setAttribute("aria-label", "Search memories");
    const searchBtn = button("Search", "lnb-primary");
    searchBtn.type = "submit";
    form.append(input, searchBtn);
    const hitsList = h("ol", "lnb-mi-hits");
    searchSec.append(searchTitle, form, hitsList);

    root.append(head, errorBox, noticeBox, factsSec, epSec, searchSec);

    let editing = null; // "category\u0000key" of the row being edited

    function renderHead() {
      title.textContent = `Memory of ${model.get("user_id") || "?"}`;
      const f = (model.get("facts") || []).length;
      const e = (model.get("episodes") || []).length;
      counts.textContent = ` \u00B7 ${f} fact${f === 1 ? "" : "s"} \u00B7 ${e} episode${e === 1 ? "" : "s"}`;
      spinner.hidden = !model.get("busy");
      root.classList.toggle("lnb-busy", !!model.get("busy"));
    }

    function renderFilter() {
      const current = model.get("category") || "";
      filter.replaceChildren();
      const all = h("option", null, "all");
      all.value = "";
      filter.appendChild(all);
      for (const c of model.get("categories") || []) {
        const o = h("option", null, c.replace(/_/g, " "));
        o.value = c;
        filter.appendChild(o);
      }
      filter.value = current;
    }

    function valueCell(td, f) {
      const id = `${f.category}\u0000${f.key}`;
      td.replaceChildren();
      if (editing === id) {
        const box = document.createElement("input");
        box.type = "text";
        box.value = f.value;
        box.setAttribute("aria-label", `New value of ${f.key}`);
        const save = () => {
          editing = null;
          model.send({ type: "edit", category: f.category, key: f.key, value: box.value });
          renderFacts();
        };
        box.addEventListener("keydown", (event) => {
          if (event.key === "Enter") {
            event.preventDefault();
            save();
          } else if (event.key === "Escape") {
            editing = null;
            renderFacts();
          }
        });
        const ok = button("Save", "lnb-primary", `Save the new value of ${f.key}`);
        ok.addEventListener("click", save);
        td.append(box, ok);
        setTimeout(() => box.focus(), 0);
        return;
      }
      const text = h("span", "lnb-mi-value", f.value);
      text.tabIndex = 0;
      text.setAttribute("role", "button");
      text.title = (f.source ? `From: \u201C${f.source}\u201D` : "No source message") + "\nClick or Enter to edit";
      const start = () => {
        editing = id;
        renderFacts();
      };
      text.addEventListener("click", start);
      text.addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          start();
        }
      });
      td.appendChild(text);
      if (f.revisions) td.appendChild(h("span", "lnb-muted", ` (${f.revisions} earlier)`));
    }

    function renderFacts() {
      const wanted = model.get("category") || "";
      const facts = (model.get("facts") || []).filter((f) => !wanted || f.category === wanted);
      tbody.replaceChildren();
      for (const f of facts) {
        const tr = h("tr");
        tr.appendChild(h("td", "lnb-muted", f.category.replace(/_/g, " ")));
        tr.appendChild(h("td", "lnb-mono", f.key));
        const value = h("td");
        valueCell(value, f);
        tr.appendChild(value);
        const conf = h("td", "lnb-mi-conf");
        const bar = h("span", "lnb-mi-bar-outer");
        const fill = h("span", "lnb-mi-bar-inner");
        fill.style.width = `${Math.round(Math.max(0, Math.min(1, f.confidence)) * 100)}%`;
        bar.appendChild(fill);
        bar.setAttribute("aria-hidden", "true");
        conf.append(bar, h("span", "lnb-muted", ` ${Number(f.confidence).toFixed(2)}`));
        tr.appendChild(conf);
        const act = h("td");
        const del = button("\u2715", "lnb-mi-del", `Delete the fact ${f.key}`);
        del.title = "Delete this fact";
        del.addEventListener("click", () => model.send({ type: "delete", category: f.category, key: f.key }));
        act.appendChild(del);
        tr.appendChild(act);
        tbody.appendChild(tr);
      }
      factsEmpty.hidden = facts.length > 0;
      factsScroll.hidden = facts.length === 0;
    }

    function renderEpisodes() {
      const episodes = [...(model.get("episodes") || [])].sort((a, b) =>
        String(a.timestamp).localeCompare(String(b.timestamp)),
      );
      timeline.replaceChildren();
      for (const e of episodes) {
        const li = h("li", `lnb-mi-episode lnb-mi-${e.sentiment}`);
        const size = 8 + Math.round(Math.max(0, Math.min(10, e.importance)) * 2);
        const dot = h("span", "lnb-mi-dot");
        dot.style.width = `${size}px`;
        dot.style.height = `${size}px`;
        dot.setAttribute("aria-hidden", "true");
        const [mark, word] = SENTIMENT[e.sentiment] || ["\u2022", e.sentiment];
        const body = h("div", "lnb-mi-ep-body");
        const line = h("div");
        line.append(
          h("strong", null, e.title),
          h("span", "lnb-muted", ` \u00B7 ${e.type.replace(/_/g, " ")} \u00B7 importance ${e.importance} \u00B7 `),
          h("span", "lnb-mi-sent", `${mark} ${word}`),
        );
        const summary = h("div", "lnb-mi-summary", e.summary);
        const time = h("time", "lnb-muted", formatTime(e.timestamp));
        time.dateTime = e.timestamp || "";
        body.append(line, summary, time);
        li.append(dot, body);
        timeline.appendChild(li);
      }
      epEmpty.hidden = episodes.length > 0;
    }

    function renderHits() {
      hitsList.replaceChildren();
      for (const hit of model.get("hits") || []) {
        const li = h("li");
        li.append(
          h("span", "lnb-mi-score lnb-mono", Number(hit.score).toFixed(3)),
          h("span", "lnb-mi-kind", hit.kind),
          h("span", null, hit.text),
        );
        hitsList.appendChild(li);
      }
    }

    function renderError() {
      errorBox.textContent = model.get("error") || "";
      noticeBox.textContent = model.get("notice") || "";
    }

    filter.addEventListener("change", () => {
      model.set("category", filter.value);
      model.save_changes();
      renderFacts();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      model.send({ type: "search", query: input.value });
    });
    refreshBtn.addEventListener("click", () => model.send({ type: "refresh" }));

    const onFacts = () => {
      renderHead();
      renderFacts();
    };
    const onEpisodes = () => {
      renderHead();
      renderEpisodes();
    };
    const listeners = [
      ["change:facts", onFacts],
      ["change:category", () => {
        filter.value = model.get("category") || "";
        renderFacts();
      }],
      ["change:categories", renderFilter],
      ["change:episodes", onEpisodes],
      ["change:hits", renderHits],
      ["change:query", () => {
        if (document.activeElement !== input) input.value = model.get("query") || "";
      }],
      ["change:error", renderError],
      ["change:notice", renderError],
      ["change:busy", renderHead],
      ["change:user_id", renderHead],
    ];
    for (const [event, fn] of listeners) model.on(event, fn);

    input.value = model.get("query") || "";
    renderHead();
    renderFilter();
    renderFacts();
    renderEpisodes();
    renderHits();
    renderError();

    return () => {
      for (const [event, fn] of listeners) model.off(event, fn);
    };
  },
};
