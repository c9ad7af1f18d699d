"""``StorageConfig`` -> backend instance. Backends load lazily (their drivers are extras)."""

from __future__ import annotations

import importlib

from ..errors import StorageError
from ..types.session import StorageConfig, StorageType
from .base import Storage

__all__ = ["available_backends", "create_storage"]

_BACKENDS: dict[StorageType, str] = {
    StorageType.MEMORY: "luminora_nb.storage.memory:InMemoryStorage",
    StorageType.FILE: "luminora_nb.storage.file:FileStorage",
    StorageType.DUCKDB: "luminora_nb.storage.duckdb:DuckDBStorage",
    StorageType.REDIS: "luminora_nb.storage.redis:RedisStorage",
    StorageType.POSTGRES: "luminora_nb.storage.postgres:PostgresStorage",
    StorageType.MONGODB: "luminora_nb.storage.mongodb:MongoDBStorage",
}


def available_backends() -> list[str]:
    """Storage type names ``create_storage`` knows."""
    return [t.value for t in _BACKENDS]


def create_storage(config: StorageConfig | None = None) -> Storage:
    """Build (not yet initialise) the backend ``config`` asks for."""
    config = config or StorageConfig()
    module_name, _, class_name = _BACKENDS[config.storage_type].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # The backend's driver (redis, asyncpg, pymongo, duckdb) is an optional extra.
        kind = config.storage_type.value
        raise StorageError(
            f"the {kind!r} storage backend needs the {exc.name!r} package: pip install 'luminora_nb[{kind}]'"
        ) from None
    backend: type[Storage] = getattr(module, class_name)
    return backend(config)
