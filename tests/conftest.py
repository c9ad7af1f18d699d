"""What the top-level test modules share.

The storage conformance suite's ``backend`` fixture, and the session-scoped servers it
starts, are offered here, so the modules that run v1.1 learning or snapshots on every
storage backend borrow them from one place. Each such module chooses its cases in its own
``pytest_generate_tests`` with :func:`parametrize_backend`. (Under ``tests/storage`` the
conformance conftest's own ``backend`` and ``pytest_generate_tests`` apply, as before.)

:func:`register_recording_offline` registers the real offline simulator under a name of
the caller's, keeping each request it answers so a test can read the compiled prompt.

For the session log: :func:`stamp_schema_version` makes a log file look written by another
version of luminora_nb, and the ``newer_schema_log`` fixture is such a file, from a newer one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from luminora_nb.sessionlog import SessionLog
from tests.storage.conftest import SERVER_BACKENDS, applicable_cases, backend  # noqa: F401 - the fixture, reused
from tests.storage.servers import mongodb_server, postgres_server, redis_server  # noqa: F401 - the fixtures, reused

if TYPE_CHECKING:
    from luminora_nb.providers import ChatRequest
    from luminora_nb.types import ChatResponse


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


def stamp_schema_version(path: Path, version: int) -> None:
    """Set the schema version recorded in the session log file at ``path``, as another release would.

    Args:
        path: A DuckDB file a :class:`SessionLog` has written (so it has its ``meta`` table).
        version: The schema version to record; above ``SCHEMA_VERSION`` it is a newer log.
    """
    import duckdb  # here, not at the top: most tests under tests/ never open a log file

    con = duckdb.connect(str(path))
    try:
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(version)])
    finally:
        con.close()


@pytest.fixture
def newer_schema_log(tmp_path: Path) -> Path:
    """A session log file holding one rating, stamped with a schema version far newer than ours."""
    path = tmp_path / "newer.duckdb"
    with SessionLog(path) as log:
        log.record_rating(blend="b", prompt="p", rating=1)
    stamp_schema_version(path, 999)
    return path


def register_recording_offline(provider_name: str) -> list[ChatRequest]:
    """Register, as provider ``provider_name``, the real offline simulator keeping each request.

    Only the requests are kept; the replies are the simulator's own. Registering again
    under the same name replaces the earlier one.

    Args:
        provider_name: The name sessions select it by (``{"name": provider_name}``).

    Returns:
        The list each request is appended to, in order; the caller's tests clear it.
    """
    from luminora_nb.providers import register_provider
    from luminora_nb.providers.offline import OfflineProvider

    requests: list[ChatRequest] = []

    class RecordingOffline(OfflineProvider):
        """The offline simulator, appending each request to ``requests`` before answering it."""

        name = provider_name

        async def chat(self, request: ChatRequest) -> ChatResponse:
            requests.append(request)
            return await super().chat(request)

    register_provider(provider_name, RecordingOffline, replace=True)
    return requests
