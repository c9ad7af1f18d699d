"""Checking a snapshot document before anything is written: shape, version, size, secrets.

:func:`validate_snapshot` runs every check and raises one :class:`SnapshotError` that
lists each fault with its JSON path (``current_state.learned_facts[3].confidence``), so
a broken file is fixed in one pass. The checks, in order:

1. **size** — the document's JSON text (UTF-8) must fit ``max_bytes``
   (:data:`DEFAULT_MAX_BYTES`, 50 MB, unless configured): a snapshot is read whole into
   memory and written in one batch, so an oversized one is refused before it is parsed;
2. **version** — ``_snapshot_info.format_version`` must have major version 1 (absent:
   1.0, as other tools write it); a newer minor version is read;
3. **secrets** — no key anywhere may name a credential (``api_key``, ``token``,
   ``password`` ... see :func:`luminora_nb.types._base.is_secret_key`; a fact's ``key``
   field is not one), and no string in ``active_configuration`` may look like one
   (``sk-...``, ``Bearer ...``): a snapshot is shared, so a credential in it has leaked;
4. **shape** — the pydantic model (:class:`~luminora_nb.snapshot.model.SnapshotDocument`):
   required keys, types (no ``"5"`` for 5), ranges (importance 0..10, confidence 0..1).

Example:
    >>> from luminora_nb.snapshot.model import minimal_snapshot
    >>> bad = minimal_snapshot("aurora")
    >>> bad["current_state"]["learned_facts"] = [{"category": "work", "key": "job", "value": "x",
    ...                                           "confidence": 2}]
    >>> try:
    ...     validate_snapshot(bad)
    ... except SnapshotError as exc:
    ...     print(exc.faults[0][0])
    current_state.learned_facts[0].confidence
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from ..errors import SessionError
from ..types._base import is_secret_key, redact
from .model import FORMAT_VERSION, SnapshotDocument

__all__ = ["DEFAULT_MAX_BYTES", "SnapshotError", "check_size", "json_path", "validate_snapshot"]

#: The default size limit of a snapshot document, in bytes of its UTF-8 JSON text (50 MB).
DEFAULT_MAX_BYTES = 50 * 1024 * 1024

# Keys that look like credential names but are data in a snapshot: a fact's ``key``.
_NOT_SECRET_KEYS = frozenset({"key"})
_SECRET_VALUE = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}|\bAIza[0-9A-Za-z_\-]{20,}|(?i:\bbearer\s+\S{8,})")
_MAX_LISTED = 20
_SECRET_FIELD = "a credential-named field; a snapshot must never hold a secret, remove it"
_SECRET_TEXT = "looks like a credential; a snapshot must never hold a secret, remove it"


class SnapshotError(SessionError):
    """A snapshot that cannot be imported; ``faults`` lists ``(json_path, problem)`` pairs."""

    def __init__(self, message: str, faults: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.faults: list[tuple[str, str]] = faults or []


def json_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """A pydantic error location as a JSON path: ``current_state.learned_facts[0].key``.

    Example:
        >>> json_path(("current_state", "learned_facts", 0, "key"))
        'current_state.learned_facts[0].key'
    """
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(document)"


def _raise(faults: list[tuple[str, str]], what: str) -> None:
    listed = "; ".join(f"{path}: {problem}" for path, problem in faults[:_MAX_LISTED])
    more = f" (and {len(faults) - _MAX_LISTED} more)" if len(faults) > _MAX_LISTED else ""
    raise SnapshotError(f"invalid snapshot{what}: {listed}{more}; fix these and import it again", faults)


def check_size(size: int, max_bytes: int | None, what: str = "") -> None:
    """Refuse a document of ``size`` bytes above ``max_bytes`` (``None``: the default limit).

    Raises:
        SnapshotError: too large, with the size, the limit and how to raise it.
    """
    limit = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    if size > limit:
        raise SnapshotError(
            f"snapshot{what} is {size:,} bytes, above the size limit of {limit:,} bytes; export it with "
            "fewer messages (max_messages) or without embeddings, or raise the limit with "
            f"max_snapshot_bytes=... (default {DEFAULT_MAX_BYTES:,})",
            [("(document)", "too large")],
        )


@functools.lru_cache(maxsize=4096)
def _secret_name(key: str) -> bool:
    # a document repeats few key names many times (role, content, ... per message): cached
    return key not in _NOT_SECRET_KEYS and is_secret_key(key)


def _secret_faults(value: Any, path: str, in_config: bool, out: list[tuple[str, str]]) -> None:
    """Credential-named keys anywhere, credential-looking strings under ``active_configuration``.

    Iterative (a deep document cannot exhaust the stack); a path string is only built
    for a fault or a container, never for each scalar.
    """
    stack: list[tuple[Any, str, bool]] = [(value, path, in_config)]
    while stack:
        item, where, config = stack.pop()
        if isinstance(item, Mapping):
            for key, child in item.items():
                if isinstance(key, str) and _secret_name(key):
                    out.append((_join(where, key), _SECRET_FIELD))
                    continue
                kind = type(child)  # exact types first: an ABC isinstance per scalar is slow
                if kind is str:
                    if config and _SECRET_VALUE.search(child):
                        out.append((_join(where, key), _SECRET_TEXT))
                elif kind is dict or kind is list or isinstance(child, Mapping | list):
                    here = _join(where, key)
                    stack.append((child, here, config or here == "active_configuration"))
        elif isinstance(item, list):
            for index, child in enumerate(item):
                kind = type(child)
                if kind is str:
                    if config and _SECRET_VALUE.search(child):
                        out.append((f"{where}[{index}]", _SECRET_TEXT))
                elif kind is dict or kind is list or isinstance(child, Mapping | list):
                    stack.append((child, f"{where}[{index}]", config))
    out.sort()


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _version_faults(data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    info = data.get("_snapshot_info")
    version = info.get("format_version") if isinstance(info, Mapping) else None
    if version is None:
        return
    if not isinstance(version, str) or not re.fullmatch(r"\d+\.\d+", version):
        yield "_snapshot_info.format_version", f"must be 'MAJOR.MINOR', got {version!r}"
        return
    major = version.split(".")[0]
    if major != FORMAT_VERSION.split(".")[0]:
        yield (
            "_snapshot_info.format_version",
            f"version {version} is not supported (this luminora_nb reads {FORMAT_VERSION.split('.')[0]}.x); "
            "import it with the luminora_nb version that wrote it, or upgrade luminora_nb",
        )


def validate_snapshot(
    data: Any, *, max_bytes: int | None = None, size: int | None = None, what: str = ""
) -> SnapshotDocument:
    """Check a snapshot document and return its model; nothing is written.

    Args:
        data: The document (a dict, as ``export_snapshot`` returns or JSON loads it).
        max_bytes: The size limit in bytes (``None``: :data:`DEFAULT_MAX_BYTES`).
        size: The document's size when already known (a file's); else its JSON is measured.
        what: Where the document came from, for the messages (e.g. ``" in snap.json"``).

    Raises:
        SnapshotError: every fault found, each with its JSON path.

    Example:
        >>> from luminora_nb.snapshot.model import minimal_snapshot
        >>> validate_snapshot(minimal_snapshot("aurora")).info.template_name
        'aurora'
    """
    if not isinstance(data, Mapping):
        raise SnapshotError(
            f"a snapshot must be a JSON object (dict), got {type(data).__name__}",
            [("(document)", "not an object")],
        )
    if size is None:
        try:
            size = len(json.dumps(data, ensure_ascii=False).encode("utf-8"))
        except (TypeError, ValueError) as exc:
            raise SnapshotError(
                f"snapshot{what} is not JSON-serialisable ({exc}); a snapshot holds JSON values only",
                [("(document)", "not JSON")],
            ) from None
    check_size(size, max_bytes, what)
    faults = list(_version_faults(data))
    if faults:  # another major version: its shape is unknown, so nothing more is said
        _raise(faults, what)
    _secret_faults(data, "", False, faults)
    try:
        document = SnapshotDocument.model_validate(data)
    except ValidationError as exc:
        faults.extend((json_path(err["loc"]), _problem(err)) for err in exc.errors(include_url=False))
        document = None
    if faults or document is None:
        _raise(faults, what)
    assert document is not None
    return document


def _problem(err: Mapping[str, Any]) -> str:
    if err["type"] == "missing":
        return "required, missing"
    text = repr(err.get("input"))
    text = redact(text if len(text) <= 60 else text[:57] + "...")  # never echo a credential
    return f"{err['msg']} (got {text})"
