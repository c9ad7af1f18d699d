"""Shared fixtures of the whole suite. Area-specific fixtures live in each folder's conftest."""

from __future__ import annotations

import os

# Tests never reach a model hub or a vendor API; keys in the environment must not leak in.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
for _var in (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "MISTRAL_API_KEY",
    "CO_API_KEY",
    "COHERE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "LUMINORA_ENCRYPTION_KEY",
):
    os.environ.pop(_var, None)
