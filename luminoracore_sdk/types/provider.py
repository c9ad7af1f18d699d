"""Seed import path ``luminoracore_sdk.types.provider``."""

from luminoracore.types.provider import *  # noqa: F403
from luminoracore.types.provider import __all__ as __all__
