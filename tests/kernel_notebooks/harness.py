"""Run code in real ipykernel kernels and read what the front end would show.

Two ways, both on the ``python3`` kernel of this environment:

* :func:`run_notebook` builds a notebook in code (``nbformat.v4``) and executes it with
  ``nbclient`` in one fresh kernel, errors allowed, and returns the executed cells.
  ``nbclient`` applies ``update_display_data`` to the outputs, so a display updated while
  a reply streams ends up as its final state, as in a saved notebook.
* :class:`Kernel` talks to a kernel directly (``jupyter_client``) for what a notebook run
  cannot do: interrupt a cell while it runs, and see every message (each display update).
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

KERNEL = "python3"


def run_notebook(
    cells: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    extra_arguments: Sequence[str] = (),
    timeout: int = 60,
) -> list[Any]:
    """Execute ``cells`` in one fresh kernel (working directory ``cwd``); the executed cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=timeout,
        allow_errors=True,
        extra_arguments=list(extra_arguments),
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(env={**os.environ, **(env or {})})
    return list(nb.cells)


def text(cell: Any) -> str:
    """Everything a cell shows as text: streams, text/plain of results and displays, errors."""
    parts: list[str] = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}\n")
        else:
            parts.append(str(out.get("data", {}).get("text/plain", "")) + "\n")
    return "".join(parts)


def errors(cell: Any) -> list[Any]:
    """The cell's error outputs."""
    return [out for out in cell.outputs if out.output_type == "error"]


def stream(cell: Any, name: str) -> str:
    """The cell's ``stdout`` or ``stderr`` text."""
    return "".join(out.text for out in cell.outputs if out.output_type == "stream" and out.name == name)


def data(cell: Any, mime: str) -> list[str]:
    """Every ``mime`` payload of the cell's results and displays, in order."""
    return [
        out.data[mime] for out in cell.outputs if out.output_type != "stream" and mime in out.get("data", {})
    ]


@dataclass
class Reply:
    """What one execution of :meth:`Kernel.execute` produced."""

    status: str = ""
    seconds: float = 0.0
    messages: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [m["content"] for m in self.messages if m["msg_type"] == msg_type]

    @property
    def stdout(self) -> str:
        return "".join(c["text"] for c in self.of_type("stream") if c["name"] == "stdout")

    @property
    def stderr(self) -> str:
        return "".join(c["text"] for c in self.of_type("stream") if c["name"] == "stderr")

    @property
    def error(self) -> dict[str, Any] | None:
        found = self.of_type("error")
        return found[0] if found else None

    @property
    def result(self) -> str | None:
        found = self.of_type("execute_result")
        return found[0]["data"]["text/plain"] if found else None


class Kernel:
    """A kernel driven message by message (``jupyter_client``)."""

    def __init__(self, km: Any, kc: Any) -> None:
        self.km, self.kc = km, kc
        #: Shell replies :meth:`run_all` received for requests other than its cells.
        self.other_replies: list[dict[str, Any]] = []

    def execute(self, code: str, *, interrupt_after: float | None = None, timeout: float = 30.0) -> Reply:
        """Run ``code``; optionally interrupt the kernel ``interrupt_after`` seconds in."""
        msg_id = self.kc.execute(code)
        reply, started, interrupted = Reply(), time.monotonic(), False
        while True:
            elapsed = time.monotonic() - started
            if interrupt_after is not None and not interrupted and elapsed >= interrupt_after:
                self.km.interrupt_kernel()
                interrupted = True
            if elapsed > timeout:
                raise TimeoutError(f"no idle status {timeout} s after executing {code!r}")
            try:
                msg = self.kc.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":
                if msg["content"]["execution_state"] == "idle":
                    break
                continue
            reply.messages.append(msg)
        reply.seconds = time.monotonic() - started
        shell = self.kc.get_shell_msg(timeout=timeout)
        reply.status = shell["content"]["status"]
        return reply

    def run_all(
        self,
        cells: Sequence[str],
        *,
        react: Callable[[Kernel, list[Reply], dict[str, Any]], None] | None = None,
        timeout: float = 30.0,
    ) -> list[Reply]:
        """Send every cell at once, as a front end's "Run All" does; one :class:`Reply` each.

        ``react(kernel, replies, msg)`` sees every output message as it arrives (to click
        a widget, send another request, ...).
        """
        ids = [self.kc.execute(code) for code in cells]
        replies = [Reply() for _ in cells]
        idle: set[str] = set()
        started = time.monotonic()
        while len(idle) < len(ids):
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{len(ids) - len(idle)} of {len(ids)} cells never finished")
            try:
                msg = self.kc.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                continue
            parent = msg["parent_header"].get("msg_id")
            if parent not in ids:
                continue
            if msg["msg_type"] == "status":
                if msg["content"]["execution_state"] == "idle":
                    idle.add(parent)
                    replies[ids.index(parent)].seconds = time.monotonic() - started
                continue
            replies[ids.index(parent)].messages.append(msg)
            if react is not None:
                react(self, replies, msg)
        while any(not r.status for r in replies):
            shell = self.kc.get_shell_msg(timeout=timeout)
            parent = shell["parent_header"].get("msg_id")
            if parent in ids:
                replies[ids.index(parent)].status = shell["content"]["status"]
            else:
                self.other_replies.append(shell)
        return replies

    def reply_to(self, msg_id: str, *, timeout: float = 10.0) -> dict[str, Any]:
        """The shell reply to request ``msg_id`` (kept by :meth:`run_all`, or read now)."""
        for reply in self.other_replies:
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply
        deadline = time.monotonic() + timeout
        while True:
            reply = self.kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply
            self.other_replies.append(reply)

    def send_comm_msg(self, comm_id: str, data: Mapping[str, Any]) -> None:
        """Send a ``comm_msg`` as the front end of a widget does (a button click, ...)."""
        self.kc.shell_channel.send(self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": dict(data)}))


@contextmanager
def kernel(
    *, cwd: Path, env: Mapping[str, str] | None = None, extra_arguments: Sequence[str] = ()
) -> Iterator[Kernel]:
    """A fresh kernel for the block; shut down afterwards."""
    km, kc = start_new_kernel(
        kernel_name=KERNEL,
        cwd=str(cwd),
        env={**os.environ, **(env or {})},
        extra_arguments=list(extra_arguments),
    )
    try:
        yield Kernel(km, kc)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
