// luminora_nb ChatWidget, browser side (anywidget ES module, plain DOM, no imports;
// h, button and formatTime come from dom.js, put in front of this file by widget_module).
//
// The protocol is documented in luminora_nb/widgets/chat.py. In short: on render the
// view asks for its window ({type: "sync"}) and ignores everything until the "reset"
// answer; afterwards "append", "prepend", "delta" and "failed" messages change it.
//
// Safety: message text (user input, replies, names, errors) is only ever inserted as
// text (textContent, Text nodes, appendData); nothing here parses strings as HTML.

const FOLLOW_SLACK_PX = 32; // "at the bottom" tolerance for following the stream

let nextViewId = 0;

function formatLatency(ms) {
  if (ms >= 1000) return (ms / 1000).toFixed(2) + " s";
  return (ms < 10 ? ms.toFixed(1) : String(Math.round(ms))) + " ms";
}

// [text, title, extra class] triples of an assistant message's badge line.
function badgesOf(data) {
  const out = [];
  const usage = data.usage || {};
  const tokensIn = usage.prompt_tokens;
  const tokensOut = usage.completion_tokens;
  if (tokensIn !== undefined || tokensOut !== undefined) {
    const a = tokensIn !== undefined ? tokensIn : "?";
    const b = tokensOut !== undefined ? tokensOut : "?";
    out.push([a + " in / " + b + " out", "tokens: prompt in / completion out", ""]);
  } else if (usage.total_tokens !== undefined) {
    out.push([usage.total_tokens + " tokens", "total tokens", ""]);
  }
  if (typeof data.latency_ms === "number") {
    out.push([formatLatency(data.latency_ms), "latency", ""]);
  }
  if (data.stopped) {
    out.push(["\u25A0 stopped", "finish reason: stopped by you; the partial reply is kept", "lnb-chat-badge-stopped"]);
  } else if (data.finish_reason) {
    out.push([data.finish_reason, "finish reason", ""]);
  }
  if (data.provider || data.model) {
    const label = [data.provider, data.model].filter(Boolean).join("/");
    out.push([label, "provider/model", ""]);
  }
  if (data.relationship_level) out.push(["level: " + data.relationship_level, "relationship level", ""]);
  if (data.mood) out.push(["mood: " + data.mood, "mood", ""]);
  return out;
}

async function copyToClipboard(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_err) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "lnb-visually-hidden";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (_err2) {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

function render({ model, el }) {
  const viewId = "lnb-chat-" + nextViewId++;
  const cleanups = [];
  const listen = (target, type, fn, options) => {
    target.addEventListener(type, fn, options);
    cleanups.push(() => target.removeEventListener(type, fn, options));
  };
  const watch = (name, fn) => {
    model.on(name, fn);
    cleanups.push(() => model.off(name, fn));
  };

  el.classList.add("lnb-root", "lnb-chat");

  // -- header: avatar, persona, provider, busy spinner --------------------------------
  const header = h("div", "lnb-chat-header");
  const headAvatar = h("span", "lnb-chat-avatar");
  headAvatar.setAttribute("aria-hidden", "true");
  const headName = h("span", "lnb-chat-title");
  const headProvider = h("span", "lnb-muted lnb-chat-provider");
  const busyBox = h("span", "lnb-chat-busy");
  const spinner = h("span", "lnb-spinner");
  spinner.setAttribute("aria-hidden", "true");
  const busyText = h("span", "lnb-visually-hidden", "");
  busyText.setAttribute("role", "status");
  busyBox.append(spinner, busyText);
  header.append(headAvatar, headName, headProvider, busyBox);

  // -- transcript ----------------------------------------------------------------------
  const transcript = h("div", "lnb-chat-transcript");
  transcript.setAttribute("role", "log");
  transcript.setAttribute("aria-label", "Conversation");
  transcript.tabIndex = 0;
  const earlierBar = h("div", "lnb-chat-earlier");
  const earlierButton = button("Load earlier", "lnb-chat-earlier-button");
  const earlierCount = h("span", "lnb-muted");
  earlierBar.append(earlierButton, earlierCount);
  const list = h("div", "lnb-chat-list");
  const empty = h("div", "lnb-muted lnb-chat-empty", "No messages yet. Say hello!");
  transcript.append(earlierBar, list, empty);

  // -- error, notice, input ------------------------------------------------------------
  const errorBox = h("div", "lnb-error");
  errorBox.setAttribute("role", "alert");
  const noticeBox = h("div", "lnb-muted lnb-chat-notice");
  noticeBox.setAttribute("aria-live", "polite");

  const form = h("div", "lnb-chat-input");
  form.setAttribute("data-lm-suppress-shortcuts", "true"); // JupyterLab: typing here is not a command
  const inputId = viewId + "-input";
  const label = h("label", "lnb-visually-hidden", "Message");
  label.htmlFor = inputId;
  const input = h("textarea", "lnb-chat-textarea");
  input.id = inputId;
  input.rows = 2;
  input.setAttribute("aria-label", "Message");
  const hintId = viewId + "-hint";
  const keyHint = h("span", "lnb-visually-hidden", "Enter sends, Shift+Enter adds a new line.");
  keyHint.id = hintId;
  input.setAttribute("aria-describedby", hintId);
  const sendButton = button("Send", "lnb-primary lnb-chat-send");
  const stopButton = button("Stop", "lnb-chat-stop");
  const buttons = h("div", "lnb-chat-buttons");
  buttons.append(sendButton, stopButton);
  form.append(label, keyHint, input, buttons);

  el.replaceChildren(header, transcript, errorBox, noticeBox, form);

  // -- messages ------------------------------------------------------------------------
  const items = new Map(); // id -> {node, text, caret, badges, data}
  let synced = false;
  let follow = true;
  let localNotice = "";

  function assistantName() {
    return model.get("persona") || "Assistant";
  }

  function renderBadges(item) {
    item.badges.replaceChildren();
    if (item.data.role !== "assistant" || item.data.streaming) return;
    for (const [text, title, extra] of badgesOf(item.data)) {
      const badge = h("span", "lnb-chat-badge" + (extra ? " " + extra : ""), text);
      badge.title = title;
      item.badges.append(badge);
    }
  }

  function renderState(item) {
    const data = item.data;
    item.node.title = formatTime(data.timestamp);
    item.node.classList.toggle("lnb-msg-stopped", Boolean(data.stopped));
    item.node.classList.toggle("lnb-msg-streaming", Boolean(data.streaming));
    item.node.setAttribute("aria-busy", data.streaming ? "true" : "false");
    if (data.streaming && !item.caret.isConnected) item.body.append(item.caret);
    if (!data.streaming && item.caret.isConnected) item.caret.remove();
    renderBadges(item);
  }

  function makeItem(data) {
    const role = ["user", "assistant"].includes(data.role) ? data.role : "system";
    const node = h("div", "lnb-msg lnb-msg-" + role);
    const head = h("div", "lnb-chat-msg-head");
    if (role === "assistant") {
      const avatar = h("span", "lnb-chat-avatar", model.get("initial") || "?");
      avatar.setAttribute("aria-hidden", "true");
      head.append(avatar);
    }
    const who = h("span", "lnb-chat-name", role === "user" ? "You" : role === "assistant" ? assistantName() : data.role);
    head.append(who);
    const copy = button("Copy", "lnb-chat-copy", "Copy message");
    head.append(copy);
    const body = h("div", "lnb-chat-text");
    const text = document.createTextNode(data.content || "");
    body.append(text);
    const caret = h("span", "lnb-caret");
    caret.setAttribute("aria-hidden", "true");
    const badges = h("div", "lnb-chat-badges");
    node.append(head, body, badges);
    const item = { node, text, body, caret, badges, who, data: { ...data } };
    let resetLabel = null;
    copy.addEventListener("click", async () => {
      const ok = await copyToClipboard(text.data);
      copy.textContent = ok ? "Copied" : "Copy failed";
      clearTimeout(resetLabel);
      resetLabel = setTimeout(() => {
        copy.textContent = "Copy";
      }, 1500);
    });
    renderState(item);
    items.set(data.id, item);
    return item;
  }

  function removeItem(id) {
    const item = items.get(id);
    if (!item) return;
    item.node.remove();
    items.delete(id);
  }

  // -- scrolling: follow the bottom unless the reader scrolled up ------------------------
  let scrollQueued = false;
  function atBottom() {
    return transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight <= FOLLOW_SLACK_PX;
  }
  function scrollSoon() {
    if (!follow || scrollQueued) return;
    scrollQueued = true;
    requestAnimationFrame(() => {
      scrollQueued = false;
      if (follow) transcript.scrollTop = transcript.scrollHeight;
    });
  }
  listen(transcript, "scroll", () => {
    follow = atBottom();
  });

  function updateEmpty() {
    empty.hidden = !synced || items.size > 0 || model.get("has_earlier");
  }

  // -- Python -> browser ---------------------------------------------------------------
  function onCustom(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.do === "focus" || msg.do === "blur") {
      if (msg.do === "focus") input.focus();
      else input.blur();
      return;
    }
    if (msg.type === "reset") {
      synced = true;
      items.clear();
      list.replaceChildren(...(msg.messages || []).map((data) => makeItem(data).node));
      follow = true;
      scrollSoon();
    } else if (!synced) {
      return; // a reset is on its way and will include this
    } else if (msg.type === "append") {
      const item = makeItem(msg.message);
      const before = msg.before ? items.get(msg.before) : null;
      if (before) list.insertBefore(item.node, before.node);
      else list.append(item.node);
      scrollSoon();
    } else if (msg.type === "prepend") {
      const fromBottom = transcript.scrollHeight - transcript.scrollTop;
      const nodes = (msg.messages || []).map((data) => makeItem(data).node);
      list.prepend(...nodes);
      transcript.scrollTop = transcript.scrollHeight - fromBottom; // keep the reader's place
    } else if (msg.type === "delta") {
      const item = items.get(msg.id);
      if (!item) return;
      if (msg.text) item.text.appendData(msg.text);
      if (msg.final) {
        Object.assign(item.data, msg.message || {});
        item.data.streaming = false;
        renderState(item);
      }
      scrollSoon();
    } else if (msg.type === "failed") {
      for (const id of msg.ids || []) removeItem(id);
      if (msg.text && !input.value) input.value = msg.text; // let the user retry
    }
    updateEmpty();
  }
  watch("msg:custom", onCustom);

  // -- synced state --------------------------------------------------------------------
  function showNotice() {
    noticeBox.textContent = localNotice || model.get("notice") || "";
  }

  function updateControls() {
    const streaming = model.get("streaming");
    const canSend = model.get("can_send");
    sendButton.disabled = !canSend || streaming;
    stopButton.disabled = !streaming;
    input.disabled = !canSend;
    transcript.setAttribute("aria-busy", streaming ? "true" : "false");
  }

  function updateHeader() {
    const name = assistantName();
    headName.textContent = name;
    headAvatar.textContent = model.get("initial") || "?";
    headProvider.textContent = model.get("provider_label") || "";
    input.placeholder = "Message " + name + " (Enter sends, Shift+Enter adds a line)";
    for (const item of items.values()) {
      if (item.data.role === "assistant") {
        item.who.textContent = name;
        const avatar = item.node.querySelector(".lnb-chat-avatar");
        if (avatar) avatar.textContent = model.get("initial") || "?";
      }
    }
  }

  function updateBusy() {
    const busy = model.get("busy");
    busyBox.hidden = !busy;
    busyText.textContent = busy ? "Working\u2026" : "";
  }

  function updateEarlier() {
    const count = model.get("earlier") || 0;
    earlierBar.hidden = !model.get("has_earlier");
    earlierCount.textContent = count ? count + " earlier message" + (count === 1 ? "" : "s") : "";
    updateEmpty();
  }

  function updateError() {
    errorBox.textContent = model.get("error") || "";
  }

  watch("change:persona", updateHeader);
  watch("change:initial", updateHeader);
  watch("change:provider_label", updateHeader);
  watch("change:streaming", updateControls);
  watch("change:can_send", updateControls);
  watch("change:busy", updateBusy);
  watch("change:has_earlier", updateEarlier);
  watch("change:earlier", updateEarlier);
  watch("change:error", updateError);
  watch("change:notice", () => {
    localNotice = "";
    showNotice();
  });

  // -- browser -> Python ---------------------------------------------------------------
  function send() {
    const text = input.value;
    if (!text.trim()) {
      localNotice = "Type a message first (Enter sends, Shift+Enter adds a line).";
      showNotice();
      input.focus();
      return;
    }
    if (model.get("streaming")) {
      localNotice = "A reply is still streaming: wait for it, or press Stop.";
      showNotice();
      return;
    }
    if (!model.get("can_send")) return;
    localNotice = "";
    showNotice();
    model.send({ type: "send", text });
    input.value = "";
    input.focus();
    follow = true;
    scrollSoon();
  }

  listen(input, "keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey) {
      event.preventDefault();
      event.stopPropagation();
      send();
    }
  });
  listen(sendButton, "click", send);
  listen(stopButton, "click", () => {
    model.send({ type: "stop" });
    input.focus();
  });
  listen(earlierButton, "click", () => model.send({ type: "load_earlier" }));

  updateHeader();
  updateControls();
  updateBusy();
  updateEarlier();
  updateError();
  showNotice();
  updateEmpty();
  model.send({ type: "sync" });

  return () => {
    for (const undo of cleanups.splice(0)) undo();
    items.clear();
  };
}

export default { render };
