"""Seed import path ``luminoracore_sdk.types.session``."""

from luminoracore.types.session import *  # noqa: F403
from luminoracore.types.session import __all__ as __all__
