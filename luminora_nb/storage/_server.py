"""What the backends behind a server share: readiness, connecting, reconnection, errors.

:class:`ServerBackend` is mixed into the Redis, PostgreSQL and MongoDB storages. It owns:

* **readiness** — ``initialize`` builds the codec (so a missing encryption key fails before
  any I/O), imports the driver (naming the extra to install when it is missing), calls
  the backend's ``_connect``, then checks the encryption key against the store
  (:mod:`._keys`: a wrong key is refused there); until it succeeds every call raises
  "not initialised";
* **reconnection** — the drivers' pools open a new connection when an old one broke: a
  call that meets a dead server fails with :class:`StorageError`, the next call after the
  server is back works on the same storage object. A call is never sent twice (the reply
  of the first may have been lost after the server applied it), except through
  :meth:`ServerBackend._reconnecting` when the connection was found dead *before* anything
  was sent;
* **credentials** — every message names the server by its URL without credentials, and
  a driver's own text has the password scrubbed (:func:`._names.scrub_credentials`);
* **errors** — a driver exception becomes ``"<backend> storage: could not <op> <subject>:
  <reason> (<type>); <hint>"``, where the hint tells a command the server refused (fix
  what it names; retrying will not help) from a server that could not be reached.

A backend subclasses :class:`ServerBackend` (itself a :class:`~.base.Storage`), has its
server described in :data:`SERVERS` under its ``backend_name`` (the server's name in
messages, the driver, the connection string's form and default), implements ``_connect``
and ``close``, and says which driver errors are refusals (:meth:`ServerBackend._refused`,
:attr:`ServerBackend._refusal_advice`) and how the server turns a connection down
(:meth:`ServerBackend._connect_refusal`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

from ..errors import StorageError
from ..types.session import StorageConfig, StorageType
from ._names import redacted_url, scrub_credentials
from .base import Storage
from .codec import DocumentCodec

__all__ = ["SERVERS", "Server", "ServerBackend", "Unsent"]

logger = logging.getLogger("luminora_nb.storage")

T = TypeVar("T")


class Unsent(Exception):
    """The connection was found dead before the request was sent: safe to send it again."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(frozen=True)
class Server:
    """The server behind a backend, as its messages and defaults name it."""

    #: How messages name the server ("Redis", "PostgreSQL", "MongoDB")
    name: str
    #: The driver's package, also the name of the extra that installs it
    driver: str
    #: How a connection string looks, for the message about an invalid one
    url_form: str
    #: The connection string used when the config gives none
    default_url: str


#: The server of each backend behind one, by ``backend_name``
SERVERS: Mapping[str, Server] = MappingProxyType(
    {
        "redis": Server("Redis", "redis", "redis://[:password@]host:port/db", "redis://localhost:6379/0"),
        "postgres": Server(
            "PostgreSQL",
            "asyncpg",
            "postgresql://user[:password]@host:port/database",
            "postgresql://postgres@localhost:5432/postgres",
        ),
        "mongodb": Server(
            "MongoDB",
            "pymongo",
            "mongodb://[user:password@]host:port/database",
            "mongodb://localhost:27017/luminora",
        ),
    }
)


class ServerBackend(Storage):
    """Readiness, connection errors and driver-error mapping of a backend behind a server.

    Args:
        config: The backend's configuration (default: its storage type's defaults).
            Nothing is connected until :meth:`initialize`.
    """

    def __init__(self, config: StorageConfig | None = None) -> None:
        super().__init__(config or StorageConfig(storage_type=StorageType(self.backend_name)))
        self.server = SERVERS[self.backend_name]
        self._url = self.config.connection_string or self.server.default_url
        self._where = redacted_url(self._url, kind=f"{self.server.name} URL")
        self._codec: DocumentCodec | None = None
        #: The driver's exception classes, known once it is imported (``_connect`` sets them)
        self._driver_errors: tuple[type[BaseException], ...] = ()

    # -- readiness -------------------------------------------------------------------
    async def initialize(self) -> None:
        """Connect and check the server answers within ``config.connect_timeout`` seconds.

        Raises:
            StorageError: no encryption key while encryption is on, the driver is not
                installed, the connection string is invalid, the server does not answer
                in time or refuses the credentials, or the schema is missing.
        """
        if self._codec is not None:
            return
        codec = DocumentCodec.from_config(self.config)
        try:
            await self._connect(codec)
        except ImportError:
            raise StorageError(
                f"{self.backend_name} storage needs the '{self.server.driver}' package; install it with: "
                f"pip install 'luminora_nb[{self.backend_name}]'"
            ) from None
        self._codec = codec
        try:  # the key is checked against the store (a wrong one is refused), its salt applied
            self._codec = await self._check_key(codec)
            await self._migrate_names(self._codec)  # codec v1's unkeyed digests
        except BaseException:
            await self.close()
            raise

    async def _connect(self, codec: DocumentCodec) -> None:
        """Import the driver, open the client, check the server answers, prepare the schema.

        Raise :meth:`_invalid_url` or :meth:`_cannot_connect` errors; leave nothing open
        when failing.
        """
        raise NotImplementedError

    def _ready(self) -> DocumentCodec:
        """The codec, once connected; else a clear error."""
        if self._codec is None:
            raise StorageError(
                f"{self.backend_name} storage is not initialised; call 'await storage.initialize()' first"
            )
        return self._codec

    # -- messages --------------------------------------------------------------------
    @property
    def _label(self) -> str:
        return f"{self.backend_name} storage"

    def _scrub(self, text: str) -> str:
        return scrub_credentials(text, self._url)

    def _invalid_url(self, exc: BaseException) -> StorageError:
        reason = self._scrub(str(exc)) or type(exc).__name__
        return StorageError(
            f"{self._label}: invalid connection_string {self._where!r} ({reason}); use {self.server.url_form}"
        )

    def _cannot_connect(self, exc: BaseException) -> StorageError:
        """The error of a failed connection attempt (refused, or no server reached)."""
        refusal = self._connect_refusal(exc)
        if refusal is not None:
            return StorageError(f"{self._label}: {refusal}")
        reason = "no answer in time" if isinstance(exc, TimeoutError) else self._scrub(str(exc))
        return StorageError(
            f"{self._label}: cannot reach the {self.server.name} server at {self._where} within "
            f"{self.config.connect_timeout:g} s ({reason}); check that it is running and that "
            "connection_string is right, or raise StorageConfig.connect_timeout"
        )

    def _connect_refusal(self, exc: BaseException) -> str | None:
        """Why the server turned the connection down, or ``None`` when it was not reached."""
        return None

    def _credentials_refused(self, exc: BaseException) -> str:
        return (
            f"the {self.server.name} server at {self._where} refused the connection, as it refused the "
            f"credentials ({self._scrub(str(exc))}); check the user name and password in connection_string"
        )

    def _refused(self, exc: BaseException) -> bool:
        """Whether the server answered and refused the command (as opposed to not being reached)."""
        return False

    @property
    def _refusal_advice(self) -> str:
        """What to check when the server refuses a command."""
        return "check the server's log"

    def _failure(self, operation: str, subject: str, exc: BaseException) -> StorageError:
        """The error of one failed operation: ``could not <operation> <subject>: ...``."""
        reason = "timed out" if isinstance(exc, TimeoutError) else self._scrub(str(exc)) or "no detail"
        if self._refused(exc):
            hint = (
                "the server refused the command (it was reached and refused it, so retrying will not help); "
                + self._refusal_advice
            )
        else:
            hint = f"check that the {self.server.name} server at {self._where} is running and reachable, "
            hint += "then retry"
        return StorageError(
            f"{self._label}: could not {operation} {subject}: {reason} ({type(exc).__name__}); {hint}"
        )

    @asynccontextmanager
    async def _op(self, operation: str, subject: str) -> AsyncIterator[None]:
        """Turn the driver's failures of one operation into a :class:`StorageError`."""
        failures: tuple[type[BaseException], ...] = (*self._driver_errors, OSError, TimeoutError)
        try:
            yield
        except StorageError:
            raise
        except UnicodeEncodeError:
            raise StorageError(
                f"{self._label}: could not {operation} {subject}: an id or name holds text that "
                "is not valid Unicode (an unpaired surrogate such as '\\ud800'); use valid text"
            ) from None
        except failures as exc:
            raise self._failure(operation, subject, exc) from None

    async def _reconnecting(self, operation: str, subject: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt``, once more when it raised :class:`Unsent` (nothing reached the server)."""
        try:
            return await attempt()
        except Unsent:
            logger.debug("%s storage: dropping a dead pooled connection and retrying", self.backend_name)
        try:
            return await attempt()
        except Unsent as lost:
            raise self._failure(operation, subject, lost.cause) from None


def verb(operation: str) -> str:
    """The verb of messages for a write operation: ``delete_fact`` -> ``delete``, else ``save``.

    Example:
        >>> verb("delete_memory"), verb("set_memory"), verb("batch")
        ('delete', 'save', 'write')
    """
    if operation.startswith("delete"):
        return "delete"
    return "write" if operation == "batch" else "save"
