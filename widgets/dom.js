// Helpers shared by the widgets' ES modules (plain DOM, no imports, no exports).
//
// anywidget loads a widget's `_esm` as the text of one module, so a relative `import`
// has nothing to resolve against. Instead `widget_module(name)` in
// luminora_nb/widgets/_base.py puts this file in front of `<name>.js`: these functions
// are top-level declarations of every widget module that is built that way.
// Text only ever goes in through textContent, never as HTML.

// An element with an optional class and text.
function h(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// A plain button (not a form's submit button), with an accessible name if the text is not one.
function button(text, cls, aria) {
  const b = h("button", cls, text);
  b.type = "button";
  if (aria) b.setAttribute("aria-label", aria);
  return b;
}

// An ISO timestamp in the reader's locale; the stamp itself if it does not parse.
function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}
