"""From a source (path, bytes, file object, dict) to the card's JSON object and assets.

Example:
    >>> read_card({"name": "Mira", "description": "A cartographer."}).spec
    'chara_card_v1'
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from ...errors import PersonalityError
from ..validate import json_problem
from .containers import (
    MAX_CARD_JSON_BYTES,
    MAX_SOURCE_BYTES,
    PNG_SIGNATURE,
    read_charx,
    read_source_bytes,
    text_chunks,
)

__all__ = ["CardSource", "RawCard", "card_fields", "classify", "read_card"]

V1_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
CardSource = str | PathLike[str] | bytes | bytearray | memoryview | Mapping[str, Any]


@dataclass
class RawCard:
    """A card as read: its JSON object untouched, its spec, where it came from, its assets."""

    card: dict[str, Any]
    spec: str
    container: str = "json"
    image: bytes | None = None
    assets: dict[str, bytes] = field(default_factory=dict)


def classify(card: Any, *, where: str = "JSON") -> str:
    """The spec of a card object: ``chara_card_v1``, ``chara_card_v2`` or ``chara_card_v3``.

    Raises:
        PersonalityError: not an object, a V2/V3 card without a ``data`` object, or JSON
            that is no card at all (the message lists what was found).

    Example:
        >>> classify({"spec": "chara_card_v2", "data": {"name": "Mira"}})
        'chara_card_v2'
    """
    if not isinstance(card, Mapping):
        raise PersonalityError(
            f"{where} is not a character card: expected a JSON object, got {type(card).__name__}"
        )
    spec = card.get("spec")
    if spec in ("chara_card_v2", "chara_card_v3"):
        version = "V2" if spec == "chara_card_v2" else "V3"
        if not isinstance(card.get("data"), Mapping):
            raise PersonalityError(
                f"{where} says spec {spec!r} but has no 'data' object; a {version} card keeps its fields "
                "(name, description, ...) under 'data'"
            )
        data = card["data"]
        _check_fields(data, where)
        return str(spec)
    if spec is not None:
        raise PersonalityError(
            f"{where} has spec {spec!r}, which is not a character card; supported: 'chara_card_v2', "
            "'chara_card_v3', or a V1 card (no spec, flat name/description/...)"
        )
    if isinstance(card.get("name"), str) and any(k in card for k in V1_FIELDS[1:]):
        _check_fields(card, where)
        return "chara_card_v1"
    keys = sorted(str(k) for k in card)[:12]
    raise PersonalityError(
        f"{where} is not a character card: expected 'spec': 'chara_card_v2' / 'chara_card_v3' with a "
        f"'data' object, or the V1 fields {', '.join(V1_FIELDS)}; found keys {keys}"
    )


def _check_fields(data: Mapping[str, Any], where: str) -> None:
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PersonalityError(f"{where}: the card's 'name' must be a non-empty string, got {name!r}")
    for key in (*V1_FIELDS[1:], "creator_notes", "system_prompt", "post_history_instructions"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise PersonalityError(
                f"{where}: the card's {key!r} must be a string, got {type(value).__name__}"
            )
    for key in ("alternate_greetings", "tags", "group_only_greetings"):
        value = data.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise PersonalityError(f"{where}: the card's {key!r} must be a list of strings")
    for key in ("extensions", "character_book"):
        value = data.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise PersonalityError(
                f"{where}: the card's {key!r} must be an object, got {type(value).__name__}"
            )


def card_fields(card: Mapping[str, Any], spec: str) -> Mapping[str, Any]:
    """The object holding a card's fields: ``data`` for V2/V3, the card itself for V1."""
    return card if spec == "chara_card_v1" else card["data"]


def _json(data: bytes, where: str) -> Any:
    if len(data) > MAX_CARD_JSON_BYTES:
        raise PersonalityError(
            f"{where} holds {len(data) / 2**20:.1f} MB of card JSON; at most "
            f"{MAX_CARD_JSON_BYTES // 2**20} MB is accepted"
        )
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise PersonalityError(f"{where} is not UTF-8 text, so it is not card JSON") from None
    except json.JSONDecodeError as exc:
        raise PersonalityError(
            f"{where} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        value = _TOO_DEEP
    if value is _TOO_DEEP or _too_deep(value):
        raise PersonalityError(f"{where} nests deeper than {MAX_DEPTH} levels; no card needs that")
    return value


_TOO_DEEP = object()
#: How deeply card JSON may nest (real cards stay under ten levels; copying and storing
#: a deeper one could exhaust the stack).
MAX_DEPTH = 64


def _too_deep(value: Any, depth: int = 1) -> bool:
    # Recursion is safe here: it stops at MAX_DEPTH, far below the interpreter's limit.
    if depth > MAX_DEPTH:
        return True
    kind = type(value)
    if kind is dict:
        children: Any = value.values()
    elif kind is list:
        children = value
    else:
        return False
    for child in children:
        sub = type(child)
        if (sub is dict or sub is list) and _too_deep(child, depth + 1):
            return True
    return False


def _b64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise PersonalityError(
            f"{where} is not base64; a card chunk holds the card JSON base64-encoded"
        ) from None


def _from_png(data: bytes) -> RawCard:
    chunks = {key.lower(): (key, value) for key, value in reversed(text_chunks(data).items())}
    # V3 spec: with both a ccv3 and a chara chunk, ccv3 wins.
    for keyword in ("ccv3", "chara"):
        if keyword in chunks:
            key, value = chunks[keyword]
            where = f"PNG chunk {key!r}"
            card = _json(_b64(value, where), f"{where} (after base64)")
            spec = classify(card, where=where)
            assets = {
                original.split(":", 1)[1]: _b64(text, f"PNG chunk {original!r}")
                for original, text in chunks.values()
                if original.lower().startswith("chara-ext-asset_:")
            }
            return RawCard(card=dict(card), spec=spec, container="png", image=data, assets=assets)
    found = sorted(key for key, _ in chunks.values())
    raise PersonalityError(
        "PNG holds no character card: it has no 'chara' (V1/V2) or 'ccv3' (V3) text chunk"
        + (f" (its text chunks: {found})" if found else " (it has no text chunks at all)")
        + "; export the card from its app as PNG or JSON again"
    )


def read_card(source: CardSource | Any) -> RawCard:
    """Read a card from a path, bytes, a file object or a dict (see :func:`import_card`).

    Raises:
        PersonalityError: unreadable, too large, or not a card (the message says why).
    """
    if isinstance(source, Mapping):
        # the caller keeps its dict: the personality must not share (and later see) its edits
        spec = classify(source, where="the dict")
        if _too_deep(source):
            raise PersonalityError(f"the dict nests deeper than {MAX_DEPTH} levels; no card needs that")
        problem = json_problem(source)
        if problem is not None:  # only a dict built in Python can hold one; parsed cards are JSON
            raise PersonalityError(
                f"the card holds a value that is not JSON at {problem}; use JSON values only"
            )
        return RawCard(card=copy.deepcopy(dict(source)), spec=spec)
    if isinstance(source, str) and source.lstrip().startswith("{"):
        source = source.encode("utf-8")
    if isinstance(source, str | PathLike):
        data = read_source_bytes(Path(source))
    elif isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif hasattr(source, "read"):
        data = source.read(MAX_SOURCE_BYTES + 1)
        if not isinstance(data, bytes):
            raise PersonalityError("the file object must be opened in binary mode ('rb')")
    else:
        raise PersonalityError(
            f"cannot read a character card from {type(source).__name__}; pass a path, bytes, a binary file "
            "or a dict"
        )
    if len(data) > MAX_SOURCE_BYTES:
        raise PersonalityError(
            f"character card is {len(data) / 2**20:.1f} MB; cards up to {MAX_SOURCE_BYTES // 2**20} MB are "
            "accepted (shrink the embedded image, or export the card as JSON)"
        )
    if data.startswith(PNG_SIGNATURE):
        return _from_png(data)
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        card_json, assets = read_charx(data)
        card = _json(card_json, "CHARX card.json")
        return RawCard(
            card=dict(card), spec=classify(card, where="CHARX card.json"), container="charx", assets=assets
        )
    if not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        raise PersonalityError(
            "not a character card: the data is neither a PNG, a CHARX (zip) nor a JSON object"
        )
    card = _json(data, "card JSON")
    return RawCard(card=dict(card), spec=classify(card))
