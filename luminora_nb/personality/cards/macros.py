"""Card macros: ``{{char}}``, ``{{user}}``, the legacy ``<BOT>`` / ``<USER>`` and V3's CBS.

Substituted case-insensitively, as both specs require. ``{{char}}``, ``<bot>`` and
``<char>`` become the card's ``nickname`` (V3) or ``name``; ``{{user}}`` and ``<user>``
the user's display name (:data:`DEFAULT_USER_NAME` unless given). Of V3's curly-braced
syntax, ``{{// ...}}``, ``{{comment: ...}}`` and ``{{hidden_key: ...}}`` are removed,
``{{reverse:A}}`` is reversed, and ``{{random:...}}``, ``{{pick:...}}`` and
``{{roll:N}}`` choose deterministically from the template text and the macro's
position (the same prompt always gets the same choice, so runs are reproducible).
``{{original}}`` is left for the prompt compiler (:mod:`.prompt`).

Example:
    >>> render("<BOT> greets {{User}}. {{// hidden}}{{reverse:abc}}", char="Mira", user="Sam")
    'Mira greets Sam. cba'
"""

from __future__ import annotations

import re
import zlib

__all__ = ["DEFAULT_USER_NAME", "render"]

#: The user's name in card text when none is given (the V1 spec requires a default).
DEFAULT_USER_NAME = "User"

_MACRO = re.compile(
    r"\{\{\s*(char|user)\s*\}\}|<(bot|char|user)>|\{\{\s*(//|comment:|hidden_key:|reverse:|random:|pick:|roll:)(.*?)\}\}",
    re.I | re.S,
)


def _choices(body: str) -> list[str]:
    parts = re.split(r"(?<!\\),", body)
    return [p.replace("\\,", ",").strip() for p in parts]


def render(text: str, *, char: str, user: str = DEFAULT_USER_NAME) -> str:
    """``text`` with the card macros substituted (see the module docstring)."""
    if "{" not in text and "<" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        word = (match.group(1) or match.group(2) or "").lower()
        if word:
            return user if word == "user" else char
        kind, body = match.group(3).lower(), match.group(4)
        if kind in ("//", "comment:", "hidden_key:"):
            return ""
        if kind == "reverse:":
            return body[::-1]
        seed = zlib.crc32(f"{match.start()}:{text}".encode())
        if kind == "roll:":
            digits = body.strip().lower().lstrip("d")
            return str(seed % int(digits) + 1) if digits.isdigit() and int(digits) > 0 else match.group(0)
        options = _choices(body.lstrip(":"))
        return options[seed % len(options)] if options else ""

    return _MACRO.sub(one, text)
