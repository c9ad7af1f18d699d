"""Seed import path ``luminoracore_sdk``: re-exports from :mod:`luminora_nb`."""

from luminora_nb.client_v11 import LuminoraCoreClientV11
from luminoracore import *  # noqa: F403
from luminoracore import __all__ as _base_all

__all__ = [*_base_all, "LuminoraCoreClientV11"]
