"""Seed import path ``luminoracore_sdk.types.personality``."""

from luminoracore.types.personality import *  # noqa: F403
from luminoracore.types.personality import __all__ as __all__
