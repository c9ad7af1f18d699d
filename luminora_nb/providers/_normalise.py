"""Normalising vendor replies: finish reasons, usage counts, generation-parameter names.

Every vendor has its own words for the same few things; the adapters translate them
with these helpers, so that every :class:`~luminora_nb.types.ChatResponse` speaks ours:

* :class:`FinishReasons` — a vendor's finish reasons to ``stop``, ``length``,
  ``content_filter``, ``tool_calls`` or ``error``; every adapter names its table
  ``finish_reasons``. A value the table does not list (one the vendor added after the
  table was written) means ``stop``, and the reply says so: its metadata keeps the raw
  value (``raw_finish_reason``, as always) and ``unknown_finish_reason: True``;
* :func:`usage_dict` / :func:`merge_usage` — token counts to ``prompt_tokens``,
  ``completion_tokens`` and ``total_tokens``, where a count a later stream event leaves
  out (or sends as null) keeps its earlier value;
* :func:`vendor_params` — our (checked) generation parameters under the vendor's names;
* :func:`chunk_text` — text and reasoning out of a list of typed content chunks
  (``[{"type": "thinking", ...}, {"type": "text", "text": ...}]``), the shape reasoning
  models use for a message's ``content``.

Example:
    >>> usage_dict(12, 5)
    {'prompt_tokens': 12, 'completion_tokens': 5, 'total_tokens': 17}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FinishReasons", "chunk_text", "merge_usage", "token_count", "usage_dict", "vendor_params"]


class FinishReasons:
    """A vendor's finish reasons mapped to ours: ``length``, ``content_filter``,
    ``tool_calls``, ``error`` — or ``stop``, the normal end of a reply. Each keyword lists
    the vendor's values for that reason, separated by spaces; None stays None.

    ``stop`` lists the vendor's values that mean a normal end. A value listed nowhere —
    one the vendor added after this table was written — also maps to ``stop`` (the
    documented default: the text was delivered, nothing says it is incomplete), and
    :meth:`known` tells it apart so the reply can flag it.

    Every adapter names its table ``finish_reasons`` and calls it like a function.

    Example:
        >>> reasons = FinishReasons(stop="end_turn", length="max_tokens", tool_calls="tool_use")
        >>> reasons("max_tokens"), reasons("end_turn"), reasons("brand_new"), reasons(None)
        ('length', 'stop', 'stop', None)
        >>> reasons.known("end_turn"), reasons.known("brand_new")
        (True, False)
        >>> FinishReasons(length="MAX_TOKENS", fold_case=True)("max_tokens")
        'length'
    """

    __slots__ = ("fold_case", "table")

    def __init__(
        self,
        *,
        stop: str = "",
        length: str = "",
        content_filter: str = "",
        tool_calls: str = "",
        error: str = "",
        fold_case: bool = False,
    ) -> None:
        ours = {
            "stop": stop,
            "length": length,
            "content_filter": content_filter,
            "tool_calls": tool_calls,
            "error": error,
        }
        self.table = {value: reason for reason, values in ours.items() for value in values.split()}
        self.fold_case = fold_case

    def __call__(self, value: Any) -> str | None:
        if value is None:
            return None
        key = str(value)
        return self.table.get(key.upper() if self.fold_case else key, "stop")

    def known(self, value: Any) -> bool:
        """Whether ``value`` is one of the vendor's values this table lists (None is known)."""
        if value is None:
            return True
        key = str(value)
        return (key.upper() if self.fold_case else key) in self.table

    def __repr__(self) -> str:
        return f"FinishReasons({self.table!r})"


def token_count(value: Any) -> int | None:
    """A vendor's token count as an int (floats, as Cohere sends them, are truncated);
    None for a missing, null or non-numeric value.

    Example:
        >>> token_count(12.0), token_count(None), token_count(True)
        (12, None, None)
    """
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def usage_dict(prompt: Any, completion: Any, total: Any = None) -> dict[str, int]:
    """Normalised usage from vendor counts (missing counts are 0; total defaults to the sum).

    Example:
        >>> usage_dict(12, None)
        {'prompt_tokens': 12, 'completion_tokens': 0, 'total_tokens': 12}
    """
    return merge_usage({}, prompt, completion, total)


def merge_usage(
    previous: Mapping[str, int], prompt: Any, completion: Any, total: Any = None
) -> dict[str, int]:
    """``previous`` usage updated with the counts a later event reports.

    A count that is missing or null (``"input_tokens": null`` in Anthropic's
    ``message_delta``, a Gemini chunk without ``candidatesTokenCount``) keeps its previous
    value instead of dropping to 0; the total is the new total if given, else the sum.

    Example:
        >>> merge_usage({"prompt_tokens": 12, "completion_tokens": 0, "total_tokens": 12}, None, 5)
        {'prompt_tokens': 12, 'completion_tokens': 5, 'total_tokens': 17}
    """
    p = token_count(prompt)
    c = token_count(completion)
    p = previous.get("prompt_tokens", 0) if p is None else p
    c = previous.get("completion_tokens", 0) if c is None else c
    t = token_count(total)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c if t is None else t}


def vendor_params(params: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """The (checked) generation parameters under the vendor's names, in ``names`` order;
    a parameter the vendor has no name for is left out.

    Example:
        >>> vendor_params({"top_p": 0.5, "stop": ["###"]}, {"top_p": "p", "stop": "stop_sequences"})
        {'p': 0.5, 'stop_sequences': ['###']}
    """
    return {vendor: params[ours] for ours, vendor in names.items() if ours in params}


def chunk_text(content: Any) -> tuple[str, str]:
    """``(text, thinking)`` of a message's ``content``: a string, None, or a list of chunks.

    ``text`` chunks (``{"type": "text", "text": ...}``; a chunk without a type counts as
    text) make the reply; ``thinking`` chunks (Mistral's ``{"type": "thinking",
    "thinking": [text chunks]}``, or a plain ``"thinking"`` string) are the model's
    reasoning and stay out of it; any other chunk (references, images) is neither.

    Raises:
        TypeError: ``content`` is none of these shapes (a malformed reply).

    Example:
        >>> chunk_text([{"type": "thinking", "thinking": [{"type": "text", "text": "hm"}]},
        ...             {"type": "text", "text": "Hi"}])
        ('Hi', 'hm')
        >>> chunk_text("Hi"), chunk_text(None)
        (('Hi', ''), ('', ''))
    """
    if content is None:
        return "", ""
    if isinstance(content, str):
        return content, ""
    if not isinstance(content, list):
        raise TypeError(f"content must be a string or a list of chunks, not {type(content).__name__}")
    text: list[str] = []
    thinking: list[str] = []
    for chunk in content:
        if not isinstance(chunk, dict):
            raise TypeError("a content chunk must be an object")
        kind = chunk.get("type", "text")
        if kind == "text":
            piece = chunk.get("text")
            if not isinstance(piece, str):
                raise TypeError("a text chunk needs its text")
            text.append(piece)
        elif kind == "thinking":
            inner = chunk.get("thinking")
            thinking.append(inner if isinstance(inner, str) else chunk_text(inner)[0])
    return "".join(text), "".join(thinking)
