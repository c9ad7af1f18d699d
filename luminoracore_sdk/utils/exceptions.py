"""Seed import path ``luminoracore_sdk.utils.exceptions``: the SDK's name for each error.

``LuminoraCoreSDKError`` is the base of every error the library raises
(:class:`luminora_nb.errors.LuminoraError`), so ``except LuminoraCoreSDKError`` catches
them all.

Example:
    >>> from luminora_nb.errors import SessionError
    >>> issubclass(SessionError, LuminoraCoreSDKError)
    True
"""

from luminoracore.utils.exceptions import *  # noqa: F403 (the same errors, one list)
from luminoracore.utils.exceptions import LuminoraError
from luminoracore.utils.exceptions import __all__ as _CORE

LuminoraCoreSDKError = LuminoraError

__all__ = ["LuminoraCoreSDKError", *_CORE]
