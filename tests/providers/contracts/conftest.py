"""Contract tests against the vendors' official Python SDKs (the ``contracts`` extra).

Each ``test_<vendor>_contract.py`` proves two things for one adapter, with the SDK
pinned in ``pyproject.toml`` as the vendor's own statement of its wire format:

1. **Requests.** Every body our adapter sends — plain and streamed; with and without a
   system prompt; with a history; with each generation option and all of them — is
   valid under the SDK's request types with unknown fields forbidden at every level
   (:mod:`.strict`), and equals, with the protocol headers, path and query, what the
   SDK client itself sends for the same conversation (:mod:`.exchange`).
2. **Replies.** Whole replies and stream event sequences built from the SDK's own
   response models (legal edge cases included) are served as the same bytes to our
   adapter and to the SDK client; what we read — text, finish reason, usage, or a
   failure — equals what the SDK client read, put in our terms by the documented
   normalisation (the adapter's finish-reason table, the usage formula).

No network and no server: both clients talk to an in-process mock transport. The tests
are marked ``contract``, and ``integration`` as they check us against another package: the
fast loop (``-m "not integration"``) leaves them out, as importing the six SDKs alone takes
seconds; the full suite runs them. Where the SDKs are not installed (the ``dev`` extra brings
them) the tests are skipped, except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

# Their assertions compare requests and replies: show the difference when one fails.
pytest.register_assert_rewrite("tests.providers.contracts.exchange", "tests.providers.contracts.strict")

#: Variables the SDK clients read (base URLs, extra headers, API versions, keys): none
#: may leak into what they send here.
_SDK_ENV_PREFIXES = (
    "OPENAI_",
    "ANTHROPIC_",
    "MISTRAL_",
    "CO_API",
    "COHERE_",
    "GOOGLE_",
    "GEMINI_",
    "OLLAMA_",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "contract: checks an adapter against a vendor's official SDK (no network)"
    )


def sdk(name: str) -> ModuleType:
    """Import the SDK module ``name``; skip when it is missing, unless under CI."""
    try:
        return importlib.import_module(name)
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{name} is not installed: pip install -e '.[contracts]'", allow_module_level=True)


@pytest.fixture(autouse=True)
def _no_sdk_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(_SDK_ENV_PREFIXES):
            monkeypatch.delenv(name)
