"""What the top-level test modules share.

The storage conformance suite's ``backend`` fixture, and the session-scoped servers it
starts, are offered here, so the modules that run v1.1 learning or snapshots on every
storage backend borrow them from one place. Each such module chooses its cases in its own
``pytest_generate_tests`` with :func:`parametrize_backend`. (Under ``tests/storage`` the
conformance conftest's own ``backend`` and ``pytest_generate_tests`` apply, as before.)
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tests.storage.conftest import SERVER_BACKENDS, applicable_cases, backend  # noqa: F401 - the fixture, reused
from tests.storage.servers import mongodb_server, postgres_server, redis_server  # noqa: F401 - the fixtures, reused


def parametrize_backend(metafunc: pytest.Metafunc, *, modes: Sequence[str]) -> None:
    """Parametrise a test's ``backend`` fixture with every storage backend in these codec modes.

    A test that does not ask for ``backend`` is left alone. As in the conformance suite, the
    cases on a server (redis, postgres, mongodb) are marked ``integration``, so the fast loop
    runs memory, file and duckdb only.

    Args:
        metafunc: The test being generated, as ``pytest_generate_tests`` receives it.
        modes: The codec modes to cross every backend with (``"plain"``,
            ``"compressed+encrypted"``, ...).
    """
    if "backend" not in metafunc.fixturenames:
        return
    params = [
        pytest.param((b, m), id=f"{b}-{m}", marks=[pytest.mark.integration] if b in SERVER_BACKENDS else [])
        for b, m in applicable_cases(modes=modes)
    ]
    metafunc.parametrize("backend", params, indirect=True)
