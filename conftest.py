"""What the whole suite shares: tests, doctests and the notebooks under nbval.

It sits at the repository root so ``pytest notebooks`` gets it too. Area-specific
fixtures live in each test folder's conftest.
"""

from __future__ import annotations

import os

import pytest

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
    "LUMINORA_LLAMA_URL",
    "LUMINORA_LOG",
):
    os.environ.pop(_var, None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the notebook cells nbval collects (``--nbval``) as ``integration``.

    Each one runs in a real Jupyter kernel, so the fast loop (``pytest -m "not integration"``)
    skips them; ``bash scripts/test.sh`` runs them with everything else.
    """
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.integration)
