"""The word diff of two texts: replies in a comparison, prompts in the BlendStudio.

One implementation, fast on long texts:

* **Lines first.** :class:`difflib.SequenceMatcher` aligns the two texts line by line;
  equal lines are taken whole, and only the lines that changed are split into words
  and aligned again. Two 3.5k-character system prompts differing in a few numbers cost
  about a millisecond, not the ~100 ms of a word-level match over the whole texts.
* **Words carry their whitespace while matching.** A word token is the word with the
  whitespace after it (``"calm, "``), so the matcher never aligns lone spaces with each
  other: with whitespace as tokens of its own, the frequent ``" "`` makes the matcher
  try every space against every space (slow), and islands of nothing but a space split
  a changed phrase into pieces.
* **Two forms of output.** ``spaces="with_words"`` reports the tokens as matched (the
  BlendStudio's :func:`~luminora_nb.widgets.blend_studio.prompt_diff`).
  ``spaces="apart"`` (:func:`word_diff`, :meth:`CompareResult.diff
  <luminora_nb.compare.CompareResult.diff>`) keeps whitespace that is equal on both
  sides out of the changes, and folds a whitespace-only equal island between two changes
  into them: a change spanning several words is one delete and one insert.
* **Exact.** Joining the ``"equal"`` and ``"delete"`` texts gives back the old text;
  joining the ``"equal"`` and ``"insert"`` texts gives back the new one. No op is empty
  and no two neighbouring ops have the same kind.

Example:
    >>> text_diff("Tone: calm.\\nBe kind.", "Tone: playful.\\nBe kind.")
    [('equal', 'Tone: '), ('delete', 'calm.'), ('insert', 'playful.'), ('equal', '\\nBe kind.')]
    >>> text_diff("Tone: calm.\\nBe kind.", "Tone: playful.\\nBe kind.", spaces="with_words")
    [('equal', 'Tone: '), ('delete', 'calm.\\n'), ('insert', 'playful.\\n'), ('equal', 'Be kind.')]
"""

from __future__ import annotations

import difflib
import re
from typing import Literal, TypeAlias

__all__ = ["DiffOp", "text_diff", "word_diff"]

#: One operation of a word diff: ``("equal" | "insert" | "delete", text)``.
DiffOp: TypeAlias = tuple[Literal["equal", "insert", "delete"], str]

_WORDS = re.compile(r"\s+|\S+\s*")  # a word with the whitespace after it (leading whitespace alone)
_SPACES_APART = re.compile(r"\s+|\S+")  # words and runs of whitespace as tokens of their own

# Blocks while diffing: ["equal", text] or ["change", deleted, inserted].
_Block = list[str]


def _equal(blocks: list[_Block], text: str) -> None:
    if not text:
        return
    if blocks and blocks[-1][0] == "equal":
        blocks[-1][1] += text
    else:
        blocks.append(["equal", text])


def _change(blocks: list[_Block], deleted: str, inserted: str) -> None:
    if blocks and blocks[-1][0] == "change":
        blocks[-1][1] += deleted
        blocks[-1][2] += inserted
    else:
        blocks.append(["change", deleted, inserted])


def _change_apart(blocks: list[_Block], deleted: str, inserted: str) -> None:
    """A change without the words and whitespace that are equal at its two ends."""
    old, new = _SPACES_APART.findall(deleted), _SPACES_APART.findall(inserted)
    start, end_old, end_new = 0, len(old), len(new)
    while start < end_old and start < end_new and old[start] == new[start]:
        start += 1
    while end_old > start and end_new > start and old[end_old - 1] == new[end_new - 1]:
        end_old -= 1
        end_new -= 1
    _equal(blocks, "".join(old[:start]))
    if start < end_old or start < end_new:
        _change(blocks, "".join(old[start:end_old]), "".join(new[start:end_new]))
    _equal(blocks, "".join(old[end_old:]))


def _merge_spaces(blocks: list[_Block]) -> list[_Block]:
    """Fold whitespace-only equal islands between two changes into one change."""
    merged: list[_Block] = []
    i = 0
    while i < len(blocks):
        block = blocks[i]
        if (
            block[0] == "equal"
            and not block[1].strip()
            and merged
            and merged[-1][0] == "change"
            and i + 1 < len(blocks)
            and blocks[i + 1][0] == "change"
        ):
            nxt = blocks[i + 1]
            merged[-1][1] += block[1] + nxt[1]
            merged[-1][2] += block[1] + nxt[2]
            i += 2
            continue
        merged.append(list(block))
        i += 1
    return merged


def text_diff(a: str, b: str, *, spaces: Literal["apart", "with_words"] = "apart") -> list[DiffOp]:
    """Diff turning ``a`` into ``b``: lines first, then words inside the changed lines.

    Args:
        a: The old text.
        b: The new text.
        spaces: ``"apart"``: whitespace equal on both sides stays out of the changes, and
            changes separated only by whitespace are one change. ``"with_words"``: each
            word carries its trailing whitespace.

    Returns:
        The ops; ``[("equal", a)]`` for equal texts, ``[]`` for two empty ones.

    Example:
        >>> text_diff("one two", "one  two")
        [('equal', 'one'), ('delete', ' '), ('insert', '  '), ('equal', 'two')]
        >>> text_diff("a b c", "a B c", spaces="with_words")
        [('equal', 'a '), ('delete', 'b '), ('insert', 'B '), ('equal', 'c')]
    """
    if a == b:
        return [("equal", a)] if a else []
    apart = spaces == "apart"
    blocks: list[_Block] = []
    la, lb = a.splitlines(keepends=True), b.splitlines(keepends=True)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, la, lb, autojunk=False).get_opcodes():
        if tag == "equal":
            _equal(blocks, "".join(la[i1:i2]))
            continue
        wa, wb = _WORDS.findall("".join(la[i1:i2])), _WORDS.findall("".join(lb[j1:j2]))
        for wtag, k1, k2, m1, m2 in difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes():
            old, new = "".join(wa[k1:k2]), "".join(wb[m1:m2])
            if wtag == "equal":
                _equal(blocks, old)
            elif apart:
                _change_apart(blocks, old, new)
            else:
                _change(blocks, old, new)
    if apart:
        blocks = _merge_spaces(blocks)
    ops: list[DiffOp] = []
    for block in blocks:
        if block[0] == "equal":
            ops.append(("equal", block[1]))
            continue
        if block[1]:
            ops.append(("delete", block[1]))
        if block[2]:
            ops.append(("insert", block[2]))
    return ops


def word_diff(a: str, b: str) -> list[DiffOp]:
    """Word-level diff turning ``a`` into ``b``; whitespace is kept.

    Joining the ``"equal"`` and ``"delete"`` texts gives back ``a``; joining the
    ``"equal"`` and ``"insert"`` texts gives back ``b``. A change spanning several words
    comes as one delete and one insert (the spaces between changed words are not
    reported as tiny "equal" islands).

    Example:
        >>> word_diff("the quick brown fox", "the slow red fox")
        [('equal', 'the '), ('delete', 'quick brown'), ('insert', 'slow red'), ('equal', ' fox')]
        >>> word_diff("same", "same")
        [('equal', 'same')]
    """
    return text_diff(a, b, spaces="apart")
