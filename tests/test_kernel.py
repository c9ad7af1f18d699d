"""``asyncio.run(...)`` in Jupyter cells (luminora_nb._kernel), and the facade in a real kernel.

Fast tests drive the nested run in process on a plain event loop (the situation of a
kernel cell: a callback or task of a running loop calls ``asyncio.run``). The slow tests
start real ipykernel kernels (nbclient, or jupyter_client to interrupt a running cell)
and check what a user would see: every scenario that decided the design (objects from
earlier top-level-``await`` cells, repeated and nested runs, widget callbacks, the
facade, 20 concurrent HTTP requests), the opt-out variable, and that nothing is patched
outside a kernel.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from luminora_nb import _kernel

from .kernel_notebooks import harness
from .kernel_notebooks.local_server import start as start_server
from .test_reference_examples import V11_COMPLETE_EXAMPLE


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    server, url = start_server()
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


# -- outside a kernel: nothing is patched ------------------------------------------------------


def test_nothing_patched_in_this_process() -> None:
    import asyncio.runners

    assert asyncio.run is asyncio.runners.run
    assert _kernel.enable_asyncio_run() is False
    assert asyncio.run is asyncio.runners.run


@pytest.mark.integration  # starts another process
def test_a_script_imports_luminora_nb_without_patching_or_importing_ipython() -> None:
    script = textwrap.dedent(
        """
        import asyncio, asyncio.runners, sys
        import luminora_nb, luminoracore, luminoracore_sdk.client_v1_1
        assert asyncio.run is asyncio.runners.run, "patched in a script"
        assert "IPython" not in sys.modules, "import luminora_nb imported IPython"
        # A terminal IPython (a shell without a kernel) is not patched either.
        from IPython.core.interactiveshell import InteractiveShell
        InteractiveShell.instance()
        from luminora_nb import _kernel
        assert _kernel.enable_asyncio_run() is False
        assert asyncio.run is asyncio.runners.run, "patched in a terminal IPython"
        async def answer():
            return 42
        print(asyncio.run(answer()))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"


def test_run_is_the_original_without_the_kernel_loop(loop: asyncio.AbstractEventLoop) -> None:
    async def answer() -> int:
        return 42

    assert _kernel.run(answer()) == 42  # no running loop: a fresh one, as asyncio.run

    async def inside() -> None:
        coro = answer()
        with pytest.raises(RuntimeError, match="running event loop"):
            _kernel.run(coro)  # a loop that is not the kernel's: the original refusal
        coro.close()

    loop.run_until_complete(inside())

    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(_kernel.run(answer())))
    worker.start()
    worker.join()
    assert results == [42]


# -- the nested run, in process ---------------------------------------------------------------


@pytest.fixture
def as_kernel_loop(
    monkeypatch: pytest.MonkeyPatch, loop: asyncio.AbstractEventLoop
) -> asyncio.AbstractEventLoop:
    """Make ``loop`` the loop that :func:`_kernel.run` treats as the kernel's."""
    monkeypatch.setattr(_kernel, "_kernel_loop", loop)
    return loop


def test_nested_run_returns_and_keeps_the_paused_iteration_intact(
    as_kernel_loop: asyncio.AbstractEventLoop,
) -> None:
    loop = as_kernel_loop
    seen: list[object] = []

    async def main() -> str:
        await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        return "main"

    def cell() -> None:  # a callback of the running loop, like a kernel cell
        seen.append(_kernel.run(main()))
        loop.stop()

    # The loop's iteration counts these four handles before it runs `cell`, which runs
    # the other three itself; the iteration must then not pop from an empty queue.
    loop.call_soon(cell)
    for i in range(3):
        loop.call_soon(seen.append, i)
    loop.run_forever()
    assert seen == [0, 1, 2, "main"]


def test_nested_run_inside_a_task(as_kernel_loop: asyncio.AbstractEventLoop) -> None:
    loop = as_kernel_loop

    async def cell() -> tuple[str, bool]:
        me = asyncio.current_task()
        other = asyncio.create_task(asyncio.sleep(0.01, "other task ran"))

        async def main() -> str:
            assert asyncio.current_task() is not me
            return await other  # a task of the cell, finished by the nested run

        result = _kernel.run(main())
        nested = _kernel.run(_twice())  # asyncio.run inside asyncio.run
        return f"{result} {nested}", asyncio.current_task() is me

    assert loop.run_until_complete(cell()) == ("other task ran 2", True)


async def _twice() -> int:
    async def one() -> int:
        return 1

    return _kernel.run(one()) + 1


def test_nested_run_runs_callbacks_of_the_entered_context(as_kernel_loop: asyncio.AbstractEventLoop) -> None:
    # ipykernel 7 runs every shell message's task in one persistent context; one that
    # arrives while a cell (in that context) waits in asyncio.run must still run.
    loop = as_kernel_loop
    shared = contextvars.copy_context()
    seen: list[str] = []
    failures: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: failures.append(context))

    async def message() -> None:
        seen.append("next message handled")

    def cell() -> None:  # runs inside `shared`, like a cell inside ipykernel's context
        loop.create_task(message(), context=shared)
        seen.append(_kernel.run(asyncio.sleep(0.01, "cell done")))
        loop.stop()

    loop.call_soon(cell, context=shared)
    loop.run_forever()
    assert seen == ["next message handled", "cell done"]
    assert not failures


def test_nested_run_raises_the_coroutines_exception(as_kernel_loop: asyncio.AbstractEventLoop) -> None:
    async def boom() -> None:
        raise ValueError("boom")

    async def cell() -> None:
        _kernel.run(boom())

    with pytest.raises(ValueError, match="boom"):
        as_kernel_loop.run_until_complete(cell())
    assert as_kernel_loop.run_until_complete(asyncio.sleep(0, "still fine")) == "still fine"


def test_cancelling_the_cell_cancels_the_nested_run(as_kernel_loop: asyncio.AbstractEventLoop) -> None:
    loop = as_kernel_loop

    async def cell() -> None:
        me = asyncio.current_task()
        assert me is not None
        loop.call_later(0.05, me.cancel)
        _kernel.run(asyncio.sleep(10))

    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        loop.run_until_complete(cell())
    assert time.monotonic() - started < 5


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals: main thread")
def test_ctrl_c_cancels_the_nested_run_and_restores_the_handler(
    as_kernel_loop: asyncio.AbstractEventLoop,
) -> None:
    loop = as_kernel_loop
    cleaned: list[bool] = []
    before = signal.getsignal(signal.SIGINT)

    async def main() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            cleaned.append(True)

    def cell() -> None:
        loop.call_later(0.05, os.kill, os.getpid(), signal.SIGINT)
        _kernel.run(main())

    loop.call_soon(cell)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    assert time.monotonic() - started < 5
    assert cleaned == [True]
    assert signal.getsignal(signal.SIGINT) is before


def test_why_not_a_helper_loop_thread(loop: asyncio.AbstractEventLoop) -> None:
    """Design (b), running the coroutine on a helper loop in another thread, was rejected:

    what earlier top-level-await cells made belongs to the kernel's loop, and the kernel's
    loop is blocked while the cell waits for the helper.
    """
    kernel_future = loop.create_future()
    lock = asyncio.Lock()

    async def hold() -> None:
        async with lock:
            await asyncio.sleep(3600)

    holder = loop.create_task(hold())
    loop.run_until_complete(asyncio.sleep(0.01))

    def on_helper_loop(coro: Any) -> BaseException | None:
        box: list[BaseException | None] = [None]

        def target() -> None:
            try:
                asyncio.run(asyncio.wait_for(coro, 0.5))
            except BaseException as exc:  # reported to the test
                box[0] = exc

        worker = threading.Thread(target=target)
        worker.start()
        worker.join()
        return box[0]

    async def await_kernel_future() -> None:
        await kernel_future

    async def take_lock() -> None:
        async with lock:
            pass

    assert "different loop" in str(on_helper_loop(await_kernel_future()))
    assert isinstance(on_helper_loop(take_lock()), TimeoutError)  # the holder can never run: a deadlock
    holder.cancel()
    loop.run_until_complete(asyncio.gather(holder, return_exceptions=True))


# -- real kernels -------------------------------------------------------------------------------


def _part1_cells(url: str) -> list[str]:
    return [
        # 0: a fresh kernel; the reference example pasted as one cell (the seed path imports
        # luminora_nb, which enables asyncio.run, in the very cell that calls it)
        V11_COMPLETE_EXAMPLE,
        # 1: patched, C tasks kept; top-level await before
        "import luminora_nb._kernel as lk\n"
        "print(asyncio.run is lk.run, asyncio.Task is asyncio.tasks._CTask)\n"
        "await asyncio.sleep(0.01, 'await before')",
        # 2: a client talking HTTP, created with top-level await
        "from luminora_nb import LuminoraCoreClient, ProviderConfig\n"
        f"URL = {url!r}\n"
        "client = LuminoraCoreClient()\n"
        "await client.initialize()\n"
        "config = ProviderConfig(name='llama', base_url=URL + '/v1', model='m')\n"
        "sid = await client.create_session('aurora', config)\n"
        "print((await client.send_message(sid, 'one')).content)",
        # 3: ... used from asyncio.run in the next cell, repeatedly, and streamed
        "print(asyncio.run(client.send_message(sid, 'two')).content)\n"
        "print([asyncio.run(client.send_message(sid, w)).content for w in ('three', 'four')])\n"
        "async def collect(text):\n"
        "    return ''.join([chunk.content async for chunk in client.stream_message(sid, text)])\n"
        "print(asyncio.run(collect('five')))",
        # 4-5: an httpx client with a kept-alive connection from an earlier cell
        "import httpx\nhc = httpx.AsyncClient()\nprint((await hc.get(URL + '/ping?i=1')).json())",
        "print(asyncio.run(hc.get(URL + '/ping?i=2')).json())",
        # 6: 20 concurrent requests inside asyncio.run
        "import time\n"
        "async def many():\n"
        "    async with httpx.AsyncClient() as c:\n"
        "        rs = await asyncio.gather(*(c.get(URL + f'/ping?i={i}') for i in range(20)))\n"
        "    return [r.json()['i'] for r in rs]\n"
        "t0 = time.perf_counter()\n"
        "ids = asyncio.run(many())\n"
        "print(ids == list(range(20)), time.perf_counter() - t0 < 2.0)",  # one by one: 4 s
        # 7: nested runs, exceptions, a future of the kernel loop
        "async def one(i):\n"
        "    await asyncio.sleep(0.001)\n"
        "    return i\n"
        "async def outer():\n"
        "    return asyncio.run(one(7)) + 1\n"
        "async def boom():\n"
        "    raise ValueError('boom')\n"
        "try:\n"
        "    asyncio.run(boom())\n"
        "except ValueError as exc:\n"
        "    print('caught', exc)\n"
        "async def kernel_future(loop):\n"
        "    fut = loop.create_future()\n"
        "    loop.call_later(0.01, fut.set_result, 'kernel future')\n"
        "    return await fut\n"
        "print(asyncio.run(outer()), asyncio.run(kernel_future(asyncio.get_running_loop())))",
        # 8-9: a lock held by a task of the kernel loop, taken inside asyncio.run
        "lock, go = asyncio.Lock(), asyncio.Event()\n"
        "async def holder():\n"
        "    async with lock:\n"
        "        await go.wait()\n"
        "held = asyncio.ensure_future(holder())\n"
        "await asyncio.sleep(0.01)",
        "async def take():\n"
        "    asyncio.get_running_loop().call_later(0.02, go.set)\n"
        "    async with lock:\n"
        "        return 'lock taken'\n"
        "print(asyncio.run(asyncio.wait_for(take(), 5)))",
        # 10: an ipywidgets button whose callback calls asyncio.run (directly, and from a task)
        "import ipywidgets as widgets\n"
        "button, got = widgets.Button(description='Send'), []\n"
        "button.on_click(lambda b: got.append(asyncio.run(client.send_message(sid, 'clicked')).content))\n"
        "button.click()\n"
        "async def click_later():\n"
        "    button.click()\n"
        "await asyncio.create_task(click_later())\n"
        "print(got)",
        # 11: asyncio.run in a worker thread is the original (its own loop, closed after)
        "import threading\n"
        "seen, kernel_loop = [], asyncio.get_running_loop()\n"
        "async def which_loop():\n"
        "    return asyncio.get_running_loop()\n"
        "def work():\n"
        "    used = asyncio.run(which_loop())\n"
        "    seen.append((used is kernel_loop, used.is_closed()))\n"
        "t = threading.Thread(target=work)\n"
        "t.start(); t.join()\n"
        "print(seen)",
        # 12: top-level await after; everything is in the conversation
        "conversation = await client.get_conversation(sid)\n"
        "print(len(conversation.messages))\n"
        "await client.cleanup(); await hc.aclose(); held.cancel()\n"
        "await asyncio.sleep(0.01, 'await after')",
        # 13-17: the synchronous facade in the same kernel
        "from luminora_nb import Luminora\n"
        "lum = Luminora(log=None)\n"
        # paced chunks: the stream abandoned below cannot have ended (and stored its turn)
        # before the cancel reaches it, however loaded the machine
        "fsid = lum.create_session('aurora', {'name': 'offline', 'extra': {'chunk_delay': 0.05}})\n"
        "print(lum.send_message(fsid, 'Hello! My name is Sam.').content)",
        "full = ''.join(chunk.content for chunk in lum.stream_message(fsid, 'How do volcanoes work?'))\n"
        "for chunk in lum.stream_message(fsid, 'Tell me about the stars.'):\n"
        "    if not chunk.finish_reason:  # the first chunk before the end: abandon the turn\n"
        "        break\n"
        "print(bool(full), lum.send_message(fsid, 'Hello again!').content)",
        "fbutton, fgot = widgets.Button(description='Ask'), []\n"
        "fbutton.on_click(lambda b: fgot.append(lum.send_message(fsid, 'Thanks!').content))\n"
        "fbutton.click()\n"
        "print(len(fgot), bool(fgot[0]))",
        "async def via_facade():\n"
        "    return lum.send_message(fsid, 'Hello again!').content\n"
        "print(asyncio.run(via_facade()))",
        "print(len(lum.get_conversation(fsid).messages))\nlum.close()",
    ]


@pytest.mark.slow
@pytest.mark.integration  # a real Jupyter kernel
def test_asyncio_run_and_the_facade_in_a_kernel(tmp_path: Path, server_url: str) -> None:
    cells = harness.run_notebook(_part1_cells(server_url), cwd=tmp_path)
    out = [harness.text(cell) for cell in cells]
    problems = [(i, harness.errors(cell)) for i, cell in enumerate(cells) if harness.errors(cell)]
    assert not problems, problems
    assert out[0] == "Affinity: 5 points\nFacts: 0\nEpisodes: 0\n"
    assert out[1] == "True True\n'await before'\n"
    assert out[2] == "You said: one\n"
    assert out[3] == "You said: two\n['You said: three', 'You said: four']\nYou said: five\n"
    assert out[4] == "{'i': 1}\n"
    assert out[5] == "{'i': 2}\n"
    assert out[6] == "True True\n"
    assert out[7] == "caught boom\n8 kernel future\n"
    assert out[9] == "lock taken\n"
    assert out[10] == "['You said: clicked', 'You said: clicked']\n"
    assert out[11] == "[(False, True)]\n"  # its own loop, closed afterwards
    assert out[12] == "14\n'await after'\n"  # 7 turns: one to five, two clicks
    assert "Sam" in out[13]
    assert out[14].startswith("True ") and "Sam" in out[14]
    assert out[15] == "1 True\n"
    assert "Sam" in out[16]
    # Hello, full stream, (broken stream: nothing stored), Hello again, Thanks, Hello again
    assert out[17] == "10\n"


@pytest.mark.slow
@pytest.mark.integration  # a real Jupyter kernel
def test_opt_out_keeps_the_original_error(tmp_path: Path) -> None:
    cells = harness.run_notebook(
        [
            "import asyncio, asyncio.runners, luminora_nb\nprint(asyncio.run is asyncio.runners.run)",
            "async def answer():\n    return 42\nasyncio.run(answer())",
            "await answer()",
        ],
        cwd=tmp_path,
        env={_kernel.OPT_OUT_ENV: "1"},
    )
    assert harness.text(cells[0]) == "True\n"
    (error,) = harness.errors(cells[1])
    assert (error.ename, error.evalue) == (
        "RuntimeError",
        "asyncio.run() cannot be called from a running event loop",
    )
    assert harness.text(cells[2]) == "42\n"


RUN_ALL_CELLS = [
    "import ipywidgets as widgets\nprint('cell 1')",
    "print(asyncio.run(asyncio.sleep(0.3, 'cell 2')))",
    # 3: a button whose every click runs asyncio.run in its callback; the cell itself
    # waits, inside asyncio.run, for a click coming from the front end
    "button, clicks = widgets.Button(description='Go'), []\n"
    "button.on_click(lambda b: clicks.append(asyncio.run(asyncio.sleep(0.01, 'click'))))\n"
    "async def wait_for_click():\n"
    "    clicked = asyncio.get_running_loop().create_future()\n"
    "    button.on_click(lambda b: clicked.done() or clicked.set_result('clicked'))\n"
    "    print('waiting', button.comm.comm_id, flush=True)\n"
    "    return await asyncio.wait_for(clicked, 10)\n"
    "print(asyncio.run(wait_for_click()))",
    "print('cell 4:', clicks)",
]


@pytest.mark.slow
@pytest.mark.integration  # a real Jupyter kernel
def test_run_all_widget_events_and_interrupts_in_a_kernel(tmp_path: Path) -> None:
    # luminora_nb imported while the kernel starts (no loop running yet): enabled at the first cell.
    start = (
        "--IPKernelApp.exec_lines=import asyncio, luminora_nb; "
        "at_start = asyncio.run is luminora_nb._kernel.run"
    )
    with harness.kernel(cwd=tmp_path, extra_arguments=[start]) as k:
        first = k.execute(
            "print(at_start, asyncio.run is luminora_nb._kernel.run)\nasyncio.run(asyncio.sleep(0, 'ok'))"
        )
        assert (first.stdout, first.result) == ("False True\n", "'ok'")

        # "Run All": the cells queued behind a running asyncio.run must not be lost, and
        # widget messages and other requests arriving during a run are handled.
        def click_when_waiting(
            kernel: harness.Kernel, replies: list[harness.Reply], msg: dict[str, Any]
        ) -> None:
            text = msg["content"].get("text", "") if msg["msg_type"] == "stream" else ""
            if text.startswith("waiting "):
                comm_id = text.split()[1]
                for _ in range(3):  # a triple click, each callback calling asyncio.run
                    kernel.send_comm_msg(comm_id, {"method": "custom", "content": {"event": "click"}})
                requests.append(kernel.kc.kernel_info())

        requests: list[str] = []
        replies = k.run_all(RUN_ALL_CELLS, react=click_when_waiting, timeout=30)
        assert [r.status for r in replies] == ["ok"] * 4, [r.error for r in replies]
        assert [r.stdout.splitlines()[-1] for r in replies] == [
            "cell 1",
            "cell 2",
            "clicked",
            "cell 4: ['click', 'click', 'click']",
        ]
        assert k.reply_to(requests[0])["msg_type"] == "kernel_info_reply"

        k.execute(
            "state = []\n"
            "async def slow():\n"
            "    try:\n"
            "        await asyncio.sleep(30)\n"
            "    except asyncio.CancelledError:\n"
            "        state.append('cancelled')\n"
            "        raise"
        )
        # Interrupt a plain cell, then a cell with top-level await (ipykernel handles its
        # interrupt differently: by cancelling the cell's task).
        for code in ("asyncio.run(slow())", "await asyncio.sleep(0)\nasyncio.run(slow())"):
            reply = k.execute(code, interrupt_after=1.0, timeout=20)
            assert reply.status == "error"
            assert reply.error is not None and reply.error["ename"] == "KeyboardInterrupt"
            assert reply.seconds < 10
        after = k.execute("print(state)\nasyncio.run(asyncio.sleep(0.01, 'still works'))")
        assert (after.stdout, after.result) == ("['cancelled', 'cancelled']\n", "'still works'")
        assert k.execute("await asyncio.sleep(0.01, 'await works')").result == "'await works'"


@pytest.mark.integration  # starts another process
def test_kernel_module_is_cheap_to_import() -> None:
    # import luminora_nb runs enable_asyncio_run(): outside IPython it must not even import asyncio.
    script = "import sys; import luminora_nb; print('asyncio' in sys.modules, 'IPython' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False False"
