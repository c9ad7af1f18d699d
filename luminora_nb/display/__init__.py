"""Rich notebook display of the public models: HTML for Jupyter, plain text for everything else.

The models in :mod:`luminora_nb.types` get thin ``_repr_html_`` and
``_repr_mimebundle_`` methods that import this package lazily and call one of the
builders below, so ``import luminora_nb`` stays fast and ``types`` keeps no display
code of its own. Design rules:

* **Pure stdlib.** Only :mod:`html` and :mod:`datetime`; the models are imported for
  type checking only, and every builder reads its object by attribute, defensively
  (a repr must never raise, whatever sits in a ``metadata`` dict).
* **Escaped.** Every piece of user-provided text (names, descriptions, prompts, message
  contents, metadata values) goes through :func:`html.escape`, in text and attributes.
* **Native look.** One inline ``<style>`` block, every selector under the ``lnbr-`` class
  prefix, coloured only by JupyterLab CSS variables, so light, dark and high-contrast
  themes work (details in :mod:`~luminora_nb.display._style`). No JavaScript.
* **Fits the cell.** Full width, wrapping long words, long transcripts and prompts
  scroll inside a capped height; a conversation shows at most its last ``limit``
  messages (200 by default) with a line saying how many were left out.
* **Accessible.** Nothing is said by colour alone: every bar prints its value, roles
  are written as text, the default mood is marked in words; decorative bars are
  ``aria-hidden`` and tables have header cells.
* **Plain-text fallback.** Each object also has a short text form (``text/plain`` of
  the mime bundle) for nbconvert, GitHub previews and terminals, with text bars such as
  ``verbosity   0.70 ███████···``.

The package: :mod:`~luminora_nb.display._style` (the style sheet, escaping, number
formats, bars, :func:`mimebundle`), :mod:`~luminora_nb.display._personality`
(personalities and blend recipes) and :mod:`~luminora_nb.display._conversation`
(conversations, provider replies, session listings).

Example:
    >>> from luminora_nb.types import ChatResponse
    >>> reply = ChatResponse(content="Hi <there>", finish_reason="stop", model="m")
    >>> "Hi &lt;there&gt;" in chat_response_html(reply)
    True
    >>> print(chat_response_text(reply))
    Hi <there>
    [model m · finish stop]
"""

from __future__ import annotations

from ._conversation import (
    DEFAULT_LIMIT,
    chat_response_html,
    chat_response_text,
    conversation_html,
    conversation_text,
    session_summary_html,
    session_summary_text,
)
from ._personality import blend_html, blend_text, personality_html, personality_text
from ._style import CSS, bar_html, mimebundle, stacked_bar_html, text_bar, when

_when = when  # the timestamp format under its name in the single-module display

__all__ = [
    "CSS",
    "DEFAULT_LIMIT",
    "bar_html",
    "blend_html",
    "blend_text",
    "chat_response_html",
    "chat_response_text",
    "conversation_html",
    "conversation_text",
    "mimebundle",
    "personality_html",
    "personality_text",
    "session_summary_html",
    "session_summary_text",
    "stacked_bar_html",
    "text_bar",
]
