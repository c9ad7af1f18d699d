"""What the whole suite shares: tests, doctests and the notebooks under nbval.

It sits at the repository root so ``pytest notebooks`` gets it too. Area-specific
fixtures live in each test folder's conftest.
"""

from __future__ import annotations

import gc
import os
import re
import sys
from pathlib import Path

import pytest

# Cache compiled modules, and pytest's rewritten test modules, even where the environment
# says not to (PYTHONDONTWRITEBYTECODE): without the cache every run, and every fast-loop
# worker, parses and rewrites all the test modules again — seconds each time. The files
# land in __pycache__ folders, which git ignores.
sys.dont_write_bytecode = False

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


def _deselects_integration(config: pytest.Config) -> bool:
    """Whether ``-m`` leaves out a test whose only mark is ``integration``."""
    markexpr = config.getoption("markexpr", "") or ""
    if not markexpr:
        return False
    from _pytest.mark.expression import Expression

    def only_integration(name: str, /, **kwargs: str | int | bool | None) -> bool:
        return name == "integration"

    return not Expression.compile(markexpr).evaluate(only_integration)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Run the fast loop on every core: ``pytest -m "not integration"`` over the whole suite.

    The fast loop (about 3,000 tests, no servers) is the one a developer runs after every
    edit, so it spreads over the machine's cores with pytest-xdist, one file a worker at a
    time (``--dist loadfile``: a file's expensive fixtures are built once). Anything else —
    the full suite, which starts real servers, a kernel and a browser once per process; a
    run of chosen files, where starting workers would cost more than it saves; ``--pdb`` —
    stays in one process, as do runs given ``-n`` explicitly (``-n 0`` for one process).
    """
    if (
        config.pluginmanager.hasplugin("xdist")
        and config.getoption("numprocesses", None) is None
        and not config.getoption("usepdb", False)
        and config.args_source is pytest.Config.ArgsSource.TESTPATHS
        and "PYTEST_XDIST_WORKER" not in os.environ
        and (os.cpu_count() or 1) > 1
        and _deselects_integration(config)
    ):
        config.option.numprocesses = "auto"
        config.option.dist = "loadfile"
        # Every worker imports the whole package while collecting: compile it once, here,
        # rather than in each worker at the same time.
        import compileall

        for package in ("luminora_nb", "luminoracore", "luminoracore_sdk"):
            compileall.compile_dir(config.rootpath / package, quiet=1, workers=0)


# A module-level mark, as ``pytestmark = pytest.mark.integration`` or in a list of marks.
_FILE_IS_INTEGRATION = re.compile(rb"^pytestmark\s*=\s*(?:\[[^\]]*)?\bpytest\.mark\.integration\b", re.M)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """In a run that deselects ``integration``, do not even import the files that are all integration.

    Their tests would be deselected anyway; importing them would load what only they need
    (Dask, Playwright, the database drivers) in every fast-loop process.
    """
    if collection_path.suffix not in {".py", ".ipynb"} or not _deselects_integration(config):
        return None
    if collection_path.suffix == ".ipynb":
        return True  # every notebook cell is integration (below)
    if collection_path.name.startswith("test_") and _FILE_IS_INTEGRATION.search(collection_path.read_bytes()):
        return True
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move everything collection created (every imported module, every item) out of the GC's sight.

    Those objects live for the whole run; left in the oldest generation, each full
    collection during the tests, and the ones pytest forces at the end, would walk them
    all again (seconds over a run this size).
    """
    gc.freeze()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the notebook cells nbval collects (``--nbval``) as ``integration``.

    Each one runs in a real Jupyter kernel, so the fast loop (``pytest -m "not integration"``)
    skips them; ``bash scripts/test.sh`` runs them with everything else.
    """
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.integration)
