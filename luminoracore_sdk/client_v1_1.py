"""Seed import path ``luminoracore_sdk.client_v1_1``."""

from luminora_nb.client_v11 import LuminoraCoreClientV11

__all__ = ["LuminoraCoreClientV11"]
