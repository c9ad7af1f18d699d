"""Seed import path ``luminoracore_sdk.types``."""

from luminora_nb.types import *  # noqa: F403
from luminora_nb.types import __all__ as __all__
