"""Seed import path ``luminoracore_sdk.types.relationship``."""

from luminora_nb.types.relationship import AffinityDict

__all__ = ["AffinityDict"]
