"""Helpers of the real-browser test: a throwaway JupyterLab server and a notebook file.

:class:`LabServer` starts ``python -m jupyter lab`` (this interpreter, so the kernel is
this venv's) on a free loopback port with a random token and its own temporary
``JUPYTER_CONFIG_DIR``, ``JUPYTER_RUNTIME_DIR``, settings and workspaces directories,
so nothing of the user's Jupyter setup leaks in and nothing is left behind:

* the announcements extension is disabled (no news pop-up over the notebook);
* the notebook's windowing is off, so every cell (and widget) is in the DOM;
* the server runs in its own process group, and :meth:`LabServer.stop` ends the
  whole group (server and kernels): SIGTERM, then SIGKILL if it lingers.

:func:`browser_unavailable` says why Chromium or Playwright cannot be used here, and
:func:`write_notebook` saves a notebook with its kernelspec (without one JupyterLab
asks for a kernel instead of starting it).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


class LabError(RuntimeError):
    """JupyterLab did not start (the message carries the end of its log)."""


def chromium_path() -> str:
    """The Chromium to drive: ``$LUMINORA_CHROMIUM``, else Debian's, else ``chromium`` on PATH."""
    explicit = os.environ.get("LUMINORA_CHROMIUM")
    if explicit:
        return explicit
    if os.path.isfile(CHROMIUM):
        return CHROMIUM
    return shutil.which("chromium") or CHROMIUM


def browser_unavailable() -> str | None:
    """Why the browser test cannot run here (``None`` when Chromium and Playwright are there)."""
    chromium = chromium_path()
    if not (os.path.isfile(chromium) and os.access(chromium, os.X_OK)):
        return f"Chromium not found at {chromium} (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install playwright)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_notebook(path: Path, cells: Sequence[str]) -> Path:
    """Save ``cells`` (code) as an nbformat v4 notebook with the python3 kernelspec."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.validate(nb)
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    return path


class LabServer:
    """One JupyterLab server on 127.0.0.1 serving ``root_dir``; use as a context manager."""

    def __init__(self, root_dir: Path, *, startup_timeout: float = 90.0) -> None:
        self.root_dir = Path(root_dir)
        self.startup_timeout = startup_timeout
        self.token = secrets.token_hex(16)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._home = Path(tempfile.mkdtemp(prefix="lnb-lab-"))
        self.log_path = self._home / "lab.log"
        self._log_file: object | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """``path`` (e.g. ``lab/tree/x.ipynb``) on this server, with the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def _environment(self) -> dict[str, str]:
        config = self._home / "config"
        (config / "labconfig").mkdir(parents=True)
        (config / "labconfig" / "page_config.json").write_text(
            json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}),
            encoding="utf-8",
        )
        settings = self._home / "settings"
        tracker = settings / "@jupyterlab" / "notebook-extension"
        tracker.mkdir(parents=True)
        # Every cell stays in the DOM: a widget below the fold is rendered and findable.
        (tracker / "tracker.jupyterlab-settings").write_text(
            json.dumps({"windowingMode": "none"}), encoding="utf-8"
        )
        runtime = self._home / "runtime"
        runtime.mkdir()
        workspaces = self._home / "workspaces"
        workspaces.mkdir()
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(config),
            JUPYTER_RUNTIME_DIR=str(runtime),
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(workspaces),
            JUPYTER_PLATFORM_DIRS="1",
            PYTHONUNBUFFERED="1",
        )
        # Our --IdentityProvider.token is the only token (an inherited one would compete).
        env.pop("JUPYTER_TOKEN", None)
        return env

    def start(self) -> LabServer:
        env = self._environment()
        self.port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            f"--ServerApp.root_dir={self.root_dir}",
            f"--IdentityProvider.token={self.token}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "getuid") and os.getuid() == 0:
            cmd.append("--allow-root")
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._log_file = log
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.root_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends kernels too
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        status = self.url("api/status")
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise LabError(
                    f"JupyterLab exited with code {self.proc.returncode} before it was ready:\n"
                    f"{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(status, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise LabError(f"JupyterLab not ready after {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def descendants(self) -> list[Any]:
        """The server's child processes (``psutil.Process``; kernels run in their own sessions)."""
        if self.proc is None:
            return []
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil comes with ipykernel
            return []
        with contextlib.suppress(psutil.Error):
            return list(psutil.Process(self.proc.pid).children(recursive=True))
        return []

    def stop(self, grace: float = 10.0) -> None:
        """Stop the server and its kernels, and remove the temporary directories.

        The server is asked to shut down (it shuts its kernels down); whatever still runs
        afterwards, in its process group or among its former children (jupyter_client
        starts each kernel in a session of its own), gets SIGTERM, then SIGKILL.
        """
        children = self.descendants()
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(OSError, urllib.error.URLError):
                    request = urllib.request.Request(self.url("api/shutdown"), method="POST", data=b"")
                    urllib.request.urlopen(request, timeout=5).close()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(grace)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if proc.poll() is not None:
                    break
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5.0)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers left in the group
        _end(children)
        log = self._log_file
        self._log_file = None
        if log is not None:
            log.close()  # type: ignore[attr-defined]
        shutil.rmtree(self._home, ignore_errors=True)

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _end(processes: Sequence[Any], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL, those of ``processes`` (``psutil.Process``) still alive.

    psutil checks a process's start time before signalling it, so a reused pid is safe.
    """
    try:
        import psutil
    except ImportError:  # pragma: no cover
        return
    alive = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.terminate()
            alive.append(process)
    _, left = psutil.wait_procs(alive, timeout=grace)
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(left, timeout=grace)
