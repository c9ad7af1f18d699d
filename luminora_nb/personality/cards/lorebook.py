"""A card's ``character_book``: which entries a conversation activates, within a budget.

Rules (Character Card V2 and V3):

* ``enabled: false`` entries never activate; entries with empty ``content`` add nothing.
* A keyed entry activates when one of its ``keys`` occurs (as a substring) in the last
  ``scan_depth`` messages (the book's ``scan_depth``, :data:`DEFAULT_SCAN_DEPTH` when it
  has none; a V3 ``@@scan_depth N`` decorator sets it per entry). ``case_sensitive``
  entries compare exactly, the others ignoring case (the spec leaves an absent value to
  the application: we ignore case).
* ``selective`` entries with ``secondary_keys`` also need one secondary key present.
* ``constant`` entries always activate (V3: not when ``use_regex`` is set).
* V3 ``use_regex`` entries match their keys as regular expressions; an invalid
  pattern never matches, as the spec requires.
* ``recursive_scanning: true`` lets activated entries' content activate more entries
  (whatever the scan depth), until nothing new activates.
* V3 decorators at the top of ``content`` are removed from the inserted text; we
  honour ``@@activate``, ``@@dont_activate``, ``@@scan_depth``, ``@@position``
  (``before_desc`` / ``after_desc``), ``@@additional_keys`` and ``@@exclude_keys``,
  and use the first ``@@@`` fallback we know for any other.
* ``token_budget`` caps the inserted text: entries are ranked constant first, then by
  ``priority`` (``insertion_order`` when there is none), highest kept; the lowest are
  dropped until the rest fit. Tokens are counted by :func:`approx_tokens`: one per
  four characters, rounded up (the usual rule of thumb for English with GPT-style
  tokenisers; no tokeniser is loaded).
* What is kept is inserted in ascending ``insertion_order`` (ties in book order),
  ``before_char`` or ``after_char`` the character definition (``before_char`` when
  the entry does not say).

Matching is one pass per case mode over the scanned text, whatever the number of
entries: all plain keys are compiled once into a single regular expression shaped as
a trie (``dra(?:gon(?: queen)?|ke)``), tried at every position through a lookahead, so
overlapping keys are all seen; a key that is a prefix of a longer key found at the
same position is credited too. The compiled book is cached per ``character_book``.

Example:
    >>> book = Lorebook({"entries": [{"keys": ["Eldoria"], "content": "Eldoria is a city.",
    ...                               "enabled": True, "insertion_order": 0, "extensions": {}}]})
    >>> [e.content for e in book.activate(["Tell me about eldoria"])]
    ['Eldoria is a city.']
    >>> book.activate(["Hello"])
    []
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_SCAN_DEPTH", "LoreEntry", "Lorebook", "approx_tokens", "lorebook_for"]

#: Messages scanned for keys when the book gives no ``scan_depth`` (SillyTavern's default).
DEFAULT_SCAN_DEPTH = 2
_SEPARATOR = "\n\x00\n"  # between messages: no key spans two messages
_KNOWN_DECORATORS = {"activate", "dont_activate", "scan_depth", "position", "additional_keys", "exclude_keys"}


def approx_tokens(text: str) -> int:
    """Approximate token count: one token per four characters, rounded up.

    Example:
        >>> approx_tokens("abcdefghi")
        3
    """
    return math.ceil(len(text) / 4)


@dataclass
class LoreEntry:
    """One usable entry of a lorebook, its keys normalised for matching."""

    index: int
    content: str
    keys: tuple[str, ...]
    secondary_keys: tuple[str, ...] = ()
    additional_keys: tuple[str, ...] = ()
    exclude_keys: tuple[str, ...] = ()
    selective: bool = False
    constant: bool = False
    case_sensitive: bool = False
    insertion_order: float = 0.0
    priority: float | None = None
    position: str = "before_char"
    scan_depth: int | None = None
    regexes: tuple[re.Pattern[str], ...] | None = None
    forced: bool | None = None  # @@activate (True) / @@dont_activate (False)
    tokens: int = 0
    raw_content: str = field(default="", repr=False)


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return float(value)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):  # V3: secondary_keys may be written comma-separated
        value = value.split(",")
    if not isinstance(value, list):
        return []
    return [v.strip() for v in value if isinstance(v, str) and v.strip()]


def _decorators(content: str) -> tuple[dict[str, str], str]:
    """The V3 decorators heading ``content`` (first known of each fallback chain) and the rest."""
    lines = content.split("\n")
    found: dict[str, str] = {}
    chain_done = False
    index = 0
    while index < len(lines) and lines[index].startswith("@@"):
        line = lines[index]
        fallback = line.startswith("@@@")
        name, _, value = line.lstrip("@").partition(" ")
        if not fallback:
            chain_done = False
        if not chain_done and name in _KNOWN_DECORATORS:
            found.setdefault(name, value.strip())
            chain_done = True
        index += 1
    return found, "\n".join(lines[index:]).strip("\n")


def _entry(index: int, raw: Mapping[str, Any]) -> LoreEntry | None:
    if raw.get("enabled") is False:
        return None
    content = raw.get("content")
    if not isinstance(content, str) or not content.strip():
        return None
    decorators, text = _decorators(content)
    if not text.strip():
        return None
    sensitive = raw.get("case_sensitive") is True

    def norm(keys: Iterable[str]) -> tuple[str, ...]:
        return tuple(k if sensitive else k.lower() for k in keys)

    entry = LoreEntry(
        index=index,
        content=text,
        raw_content=content,
        keys=norm(_strings(raw.get("keys"))),
        selective=raw.get("selective") is True,
        case_sensitive=sensitive,
        insertion_order=_number(raw.get("insertion_order"), 0.0),
        priority=_number(raw["priority"], 0.0) if "priority" in raw else None,
        position="after_char" if raw.get("position") == "after_char" else "before_char",
        tokens=approx_tokens(text),
    )
    if entry.selective:
        entry.secondary_keys = norm(_strings(raw.get("secondary_keys")))
    if raw.get("use_regex") is True:
        flags = 0 if sensitive else re.IGNORECASE
        patterns = []
        for key in _strings(raw.get("keys")):
            try:
                patterns.append(re.compile(key, flags))
            except re.error:
                return None  # an invalid pattern is "not a match", per the V3 spec
        entry.regexes, entry.keys, entry.secondary_keys = tuple(patterns), (), ()
    else:
        entry.constant = raw.get("constant") is True
    if "activate" in decorators:
        entry.forced = True
    elif "dont_activate" in decorators:
        entry.forced = False
    depth = decorators.get("scan_depth", "")
    if depth.isdigit():
        entry.scan_depth = int(depth)
    if decorators.get("position") in ("before_desc", "after_desc"):
        entry.position = "before_char" if decorators["position"] == "before_desc" else "after_char"
    if "additional_keys" in decorators:
        entry.additional_keys = norm(_strings(decorators["additional_keys"]))
    if "exclude_keys" in decorators:
        entry.exclude_keys = norm(_strings(decorators["exclude_keys"]))
    return entry


def _trie_pattern(words: Iterable[str]) -> str:
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = True

    def build(node: dict[str, Any]) -> str:
        end = "" in node
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch != ""]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if end:
            return f"(?:{body})?"
        return body

    return build(trie)


class _KeyScanner:
    """Finds which of a set of keys occur in a text, in one regex pass."""

    def __init__(self, keys: set[str]) -> None:
        self.keys = keys
        # a key found at a position stands for every shorter key that is its prefix
        self.prefixes = {k: [k[:i] for i in range(1, len(k) + 1) if k[:i] in keys] for k in keys}
        self.pattern = re.compile("(?=(" + _trie_pattern(keys) + "))") if keys else None

    def found(self, text: str) -> set[str]:
        if self.pattern is None or not text:
            return set()
        hits: set[str] = set()
        for match in self.pattern.finditer(text):
            key = match.group(1)
            if key and key not in hits:
                hits.update(self.prefixes[key])
        return hits


class Lorebook:
    """A compiled ``character_book``: call :meth:`activate` with the recent messages."""

    def __init__(self, book: Mapping[str, Any]) -> None:
        raw_entries = book.get("entries")
        entries = raw_entries if isinstance(raw_entries, list) else []
        self.entries = [
            e for i, raw in enumerate(entries) if isinstance(raw, Mapping) and (e := _entry(i, raw))
        ]
        depth = book.get("scan_depth")
        self.scan_depth = (
            max(0, int(_number(depth, DEFAULT_SCAN_DEPTH))) if depth is not None else DEFAULT_SCAN_DEPTH
        )
        budget = book.get("token_budget")
        self.token_budget = (
            int(_number(budget, 0)) if isinstance(budget, int | float) and budget > 0 else None
        )
        self.recursive = book.get("recursive_scanning") is True
        self._scanners: tuple[_KeyScanner, _KeyScanner] | None = None  # built on the first scan
        self.depths = sorted(
            {e.scan_depth if e.scan_depth is not None else self.scan_depth for e in self.entries}
        )

    def _scan(self, text: str) -> tuple[set[str], set[str]]:
        if not text:
            return set(), set()
        if self._scanners is None:
            keys = [
                (e.case_sensitive, (*e.keys, *e.secondary_keys, *e.additional_keys, *e.exclude_keys))
                for e in self.entries
            ]
            self._scanners = (
                _KeyScanner({k for sensitive, ks in keys if sensitive for k in ks}),
                _KeyScanner({k for sensitive, ks in keys if not sensitive for k in ks}),
            )
        sensitive, insensitive = self._scanners
        return sensitive.found(text), insensitive.found(text.lower())

    @staticmethod
    def _matches(entry: LoreEntry, found: tuple[set[str], set[str]], text: str) -> bool:
        if entry.regexes is not None:
            return any(p.search(text) for p in entry.regexes)
        hits = found[0] if entry.case_sensitive else found[1]
        if not any(k in hits for k in entry.keys):
            return False
        if entry.selective and entry.secondary_keys and not any(k in hits for k in entry.secondary_keys):
            return False
        if entry.additional_keys and not any(k in hits for k in entry.additional_keys):
            return False
        return not any(k in hits for k in entry.exclude_keys)

    def activate(self, messages: Sequence[str]) -> list[LoreEntry]:
        """The entries ``messages`` (oldest first) activate, within budget, in insertion order."""
        active: dict[int, LoreEntry] = {}
        scans: dict[int, tuple[tuple[set[str], set[str]], str]] = {}
        for depth in self.depths:
            text = _SEPARATOR.join(messages[-depth:]) if depth > 0 else ""
            scans[depth] = (self._scan(text), text)
        for entry in self.entries:
            if entry.forced is not None:
                if entry.forced:
                    active[entry.index] = entry
                continue
            if entry.constant:
                active[entry.index] = entry
                continue
            found, text = scans[entry.scan_depth if entry.scan_depth is not None else self.scan_depth]
            if self._matches(entry, found, text):
                active[entry.index] = entry
        if self.recursive:
            fresh = list(active.values())
            while fresh:
                text = _SEPARATOR.join(e.content for e in fresh)
                found = self._scan(text)
                fresh = [
                    e
                    for e in self.entries
                    if e.index not in active and e.forced is None and self._matches(e, found, text)
                ]
                active.update((e.index, e) for e in fresh)
        chosen = list(active.values())
        if self.token_budget is not None:
            ranked = sorted(
                chosen,
                key=lambda e: (
                    not e.constant,
                    -(e.priority if e.priority is not None else e.insertion_order),
                    e.index,
                ),
            )
            kept, used = [], 0
            for entry in ranked:
                if used + entry.tokens > self.token_budget:
                    break  # the lowest-ranked are dropped until the rest fit
                kept.append(entry)
                used += entry.tokens
            chosen = kept
        return sorted(chosen, key=lambda e: (e.insertion_order, e.index))


_CACHE: dict[int, tuple[Mapping[str, Any], Lorebook]] = {}
_CACHE_SIZE = 64
# Turns run on the facade's loop thread while a notebook imports cards on its own.
_CACHE_LOCK = threading.Lock()


def lorebook_for(book: Mapping[str, Any]) -> Lorebook:
    """The compiled :class:`Lorebook` of ``book``, built once per book object.

    The cache holds the book itself, so an id is never reused while its entry lives.
    """
    with _CACHE_LOCK:
        cached = _CACHE.get(id(book))
    if cached is not None and cached[0] is book:
        return cached[1]
    compiled = Lorebook(book)
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[id(book)] = (book, compiled)
    return compiled
