"""The session log's exception and warning, shared by every part of the package."""

from __future__ import annotations

from ..errors import LuminoraError

__all__ = ["SessionLogError", "SessionLogWarning"]


class SessionLogError(LuminoraError):
    """The session log cannot be used as asked (bad path, newer schema, unreadable file)."""


class SessionLogWarning(UserWarning):
    """Writing the session log failed; the events are kept and retried at the next flush."""
