"""Normalising vendor replies: finish reasons, usage counts, generation-parameter names.

Every vendor has its own words for the same few things; the adapters translate them
with these helpers, so that every :class:`~luminora_nb.types.ChatResponse` speaks ours:

* :class:`FinishReasons` — a vendor's finish reasons to ``stop``, ``length``,
  ``content_filter``, ``tool_calls`` or ``error``; every adapter names its table
  ``finish_reasons``;
* :func:`usage_dict` / :func:`merge_usage` — token counts to ``prompt_tokens``,
  ``completion_tokens`` and ``total_tokens``, where a count a later stream event leaves
  out (or sends as null) keeps its earlier value;
* :func:`vendor_params` — our (checked) generation parameters under the vendor's names.

Example:
    >>> usage_dict(12, 5)
    {'prompt_tokens': 12, 'completion_tokens': 5, 'total_tokens': 17}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FinishReasons", "merge_usage", "usage_dict", "vendor_params"]


class FinishReasons:
    """A vendor's finish reasons mapped to ours: ``length``, ``content_filter``,
    ``tool_calls``, ``error`` — or ``stop``, which is what every other value means (the
    normal end of a reply, and values a vendor adds later). Each keyword lists the
    vendor's values for that reason, separated by spaces; None stays None.

    Every adapter names its table ``finish_reasons`` and calls it like a function.

    Example:
        >>> reasons = FinishReasons(length="max_tokens", tool_calls="tool_use")
        >>> reasons("max_tokens"), reasons("end_turn"), reasons(None)
        ('length', 'stop', None)
        >>> FinishReasons(length="MAX_TOKENS", fold_case=True)("max_tokens")
        'length'
    """

    __slots__ = ("fold_case", "table")

    def __init__(
        self,
        *,
        length: str = "",
        content_filter: str = "",
        tool_calls: str = "",
        error: str = "",
        fold_case: bool = False,
    ) -> None:
        ours = {"length": length, "content_filter": content_filter, "tool_calls": tool_calls, "error": error}
        self.table = {value: reason for reason, values in ours.items() for value in values.split()}
        self.fold_case = fold_case

    def __call__(self, value: Any) -> str | None:
        if value is None:
            return None
        key = str(value)
        return self.table.get(key.upper() if self.fold_case else key, "stop")

    def __repr__(self) -> str:
        return f"FinishReasons({self.table!r})"


def _count(value: Any) -> int | None:
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
    p = _count(prompt)
    c = _count(completion)
    p = previous.get("prompt_tokens", 0) if p is None else p
    c = previous.get("completion_tokens", 0) if c is None else c
    t = _count(total)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c if t is None else t}


def vendor_params(params: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """The (checked) generation parameters under the vendor's names, in ``names`` order;
    a parameter the vendor has no name for is left out.

    Example:
        >>> vendor_params({"top_p": 0.5, "stop": ["###"]}, {"top_p": "p", "stop": "stop_sequences"})
        {'p': 0.5, 'stop_sequences': ['###']}
    """
    return {vendor: params[ours] for ours, vendor in names.items() if ours in params}
