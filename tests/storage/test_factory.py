"""create_storage: the backend a StorageConfig asks for, or a clear error."""

from __future__ import annotations

import sys

import pytest

from luminora_nb.errors import StorageError
from luminora_nb.storage.factory import available_backends, create_storage
from luminora_nb.types.session import StorageConfig


def test_every_backend_is_known() -> None:
    assert sorted(available_backends()) == ["duckdb", "file", "memory", "mongodb", "postgres", "redis"]


async def test_a_missing_driver_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import redis` fail as if the package were not installed
    for name in [m for m in sys.modules if m == "redis" or m.startswith("redis.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "redis", None)
    storage = create_storage(StorageConfig(storage_type="redis", connection_string="redis://127.0.0.1:1/0"))
    with pytest.raises(StorageError, match=r"needs the 'redis' package.*pip install 'luminora_nb\[redis\]'"):
        await storage.initialize()
