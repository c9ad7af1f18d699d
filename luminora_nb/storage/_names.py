"""Small helpers the server backends share: hashed field names and password-free URLs."""

from __future__ import annotations

import hashlib
import json
import urllib.parse

__all__ = ["name_digest", "redacted_url"]


def name_digest(*parts: str) -> str:
    """A stable field name for a tuple of names, revealing none of them.

    Example:
        >>> name_digest("u1", "aurora") == name_digest("u1", "aurora") != name_digest("u1", "pip")
        True
    """
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()


def redacted_url(url: str, *, kind: str) -> str:
    """``url`` without user name or password, for messages; ``kind`` names it when unparseable.

    Several hosts (``mongodb://a:1,b:2/db``) are kept as written.

    Example:
        >>> redacted_url("postgresql://user:secret@db.example:5432/app", kind="PostgreSQL DSN")
        'postgresql://db.example:5432/app'
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return f"<unparseable {kind}>"
    if not parts.scheme:
        return f"<{kind}>"
    hosts = parts.netloc.rsplit("@", 1)[-1] or "localhost"
    return f"{parts.scheme}://{hosts}{parts.path}"
