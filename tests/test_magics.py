"""The ``%%luminora`` magics: argument parsing and behaviour in an in-process IPython shell
(fast), then in real kernels (streamed Markdown, sessions across cells, one-line errors,
display updates and Ctrl-C while a reply streams).
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from luminora_nb import Luminora, ProviderConfig
from luminora_nb.errors import ProviderAuthenticationError
from luminora_nb.magics import (
    UPDATE_INTERVAL,
    LuminoraMagics,
    PersonaTable,
    footer_bundle,
    luminora_magics,
    parse_config_args,
    parse_luminora_args,
)

from .kernel_notebooks import harness

# -- parsing ---------------------------------------------------------------------------------


def test_parse_arguments() -> None:
    args = parse_luminora_args("aurora --provider openai --model gpt-4o-mini --session 'my study' --user sam")
    assert (args.persona, args.provider, args.model, args.session, args.user, args.new) == (
        "aurora",
        "openai",
        "gpt-4o-mini",
        "my study",
        "sam",
        False,
    )
    assert parse_luminora_args("vex --new").new is True
    assert parse_config_args("--log none").log == "none"
    assert parse_config_args("").provider is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "the following arguments are required: persona"),
        ("aurora --bogus", "unrecognized arguments: --bogus"),
        ("aurora vex", "unrecognized arguments: vex"),
        ("aurora --session", "expected one argument"),
        ("aurora --session ''", "session must not be empty"),
        ("aurora --session 'open", "cannot read the arguments"),
    ],
)
def test_bad_arguments_are_one_usage_error(line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        parse_luminora_args(line)
    assert "\n" not in str(caught.value)


def test_footer_is_escaped_and_themed() -> None:
    bundle = footer_bundle(["<b>x</b>", "offline · m", "3 ms"])
    assert bundle["text/plain"] == "<b>x</b> · offline · m · 3 ms"
    assert "&lt;b&gt;x&lt;/b&gt;" in bundle["text/html"]
    assert "var(--jp-ui-font-color2)" in bundle["text/html"]


def test_persona_table_text_html_and_dataframe() -> None:
    table = PersonaTable(
        [
            {"name": "a<b", "archetype": "mentor", "temperament": "calm", "communication_style": "socratic"}
            | dict.fromkeys(("verbosity", "formality", "humor", "empathy", "creativity", "directness"), 0.5),
            {"name": "simple"},  # the seed's simple form has no traits or parameters
        ]
    )
    text = repr(table).splitlines()
    assert text[0].split()[:4] == ["name", "archetype", "temperament", "style"]
    assert text[1].split() == ["a<b", "mentor", "calm", "socratic"] + ["0.50"] * 6
    assert text[2].split() == ["simple"] + ["-"] * 9
    html = table._repr_html_()
    assert "<table" in html and "a&lt;b" in html and '<th scope="col"' in html
    assert not re.search(r"#[0-9a-fA-F]{3,6}\b", html), "fixed colours; use JupyterLab variables"
    frame = table.to_dataframe()
    assert list(frame.columns)[:4] == ["name", "archetype", "temperament", "communication_style"]
    assert frame.shape == (2, 10)


# -- an in-process IPython shell ------------------------------------------------------------


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    had_display = hasattr(builtins, "display")
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ip = InteractiveShell.instance(config=config)
    ip.run_cell("%load_ext luminora_nb")
    ip.run_cell("%luminora_config --log none")
    try:
        yield ip
    finally:
        ip.run_cell("%unload_ext luminora_nb")
        InteractiveShell.clear_instance()
        if not had_display and hasattr(builtins, "display"):
            del builtins.display  # IPython leaves it in builtins; later tests see a clean process


def _run(shell: InteractiveShell, code: str) -> Any:
    return shell.run_cell(code)


def test_chat_continues_the_session(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    first = _run(shell, "%%luminora aurora\nHello! My name is Sam.")
    assert first.success, first.error_in_exec
    second = _run(shell, "%%luminora aurora\nHello again!")
    assert second.success
    out = capsys.readouterr().out
    assert out.count("Sam") >= 2  # greeted by name in the first reply and again in the second
    assert re.search(r"aurora · offline · \S+ · \d+ tokens \(\d+ in, \d+ out\) · \d+ ms", out)
    magics = luminora_magics(shell)
    assert list(magics.sessions) == ["aurora"]
    conversation = magics.facade.get_conversation(magics.sessions["aurora"])
    assert conversation is not None and len(conversation.messages) == 4


def test_named_sessions_and_new(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(shell, "%%luminora vex --session lab --user sam\nHello! My name is Sam.").success
    mismatch = _run(shell, "%%luminora aurora --session lab\nhi")
    assert isinstance(mismatch.error_in_exec, UsageError)
    assert "session 'lab' was started with persona 'vex'" in str(mismatch.error_in_exec)
    assert _run(shell, "%%luminora aurora --session lab --new\nHello!").success
    magics = luminora_magics(shell)
    assert list(magics.sessions) == ["lab"]
    conversation = magics.facade.get_conversation(magics.sessions["lab"])
    assert conversation is not None and len(conversation.messages) == 2


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("%%luminora zed\nhi", "unknown persona 'zed'; known personas: aurora, "),
        ("%%luminora aurora --provider nope\nhi", "unknown provider 'nope'; available: anthropic, "),
        ("%%luminora aurora\n   \n", "the cell is empty: write the message for aurora under %%luminora"),
        ("%%luminora\nhi", "the following arguments are required: persona"),
        ("%luminora_personas now", "%luminora_personas takes no arguments"),
        ("%luminora_config --provider nope", "unknown provider 'nope'"),
    ],
)
def test_usage_errors_are_one_line(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str], cell: str, message: str
) -> None:
    result = _run(shell, cell)
    assert isinstance(result.error_in_exec, UsageError)
    captured = capsys.readouterr()
    assert captured.err.startswith(f"UsageError: {message}") or message in captured.err
    assert captured.err.count("\n") == 1
    assert "Traceback" not in captured.out + captured.err


def test_missing_api_key_is_one_line(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    result = _run(shell, "%%luminora aurora --provider openai\nHello")
    assert isinstance(result.error_in_exec, ProviderAuthenticationError)
    out = capsys.readouterr().out
    assert "OPENAI_API_KEY" in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1
    assert luminora_magics(shell).sessions == {}  # nothing half-made is kept


def test_config_and_use_a_facade_of_your_own(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    magics = luminora_magics(shell)
    _run(shell, "%luminora_config --provider offline --user sam")
    _run(shell, "%luminora_config")
    assert "provider='offline'" in capsys.readouterr().out
    assert magics.settings == {"log": None, "provider": "offline", "model": None, "user": "sam"}
    assert _run(shell, "%%luminora pip\nHi!").success
    late = _run(shell, "%luminora_config --log other.duckdb")
    assert isinstance(late.error_in_exec, UsageError)  # the facade exists: its log is fixed

    mine = Luminora(log=None, provider=ProviderConfig(name="offline", extra={"chunk_delay": 0.0}))
    try:
        magics.use(mine)
        assert magics.sessions == {} and magics.facade is mine
        assert _run(shell, "%%luminora pip\nHi!").success
        assert len(mine.list_sessions()) == 1
    finally:
        mine.close()
    closed = _run(shell, "%%luminora pip\nHi!")
    assert isinstance(closed.error_in_exec, UsageError) and "closed" in str(closed.error_in_exec)


def test_personas_magic_returns_the_table(shell: InteractiveShell) -> None:
    table = shell.run_line_magic("luminora_personas", "")
    assert isinstance(table, PersonaTable)
    names = [row["name"] for row in table.rows]
    assert "aurora" in names and names == sorted(names)
    aurora = table.rows[names.index("aurora")]
    assert (aurora["archetype"], aurora["temperament"], aurora["communication_style"]) == (
        "mentor",
        "calm",
        "socratic",
    )
    assert 0.0 <= aurora["verbosity"] <= 1.0


def test_unload_removes_the_magics(shell: InteractiveShell) -> None:
    magics = luminora_magics(shell)
    assert _run(shell, "%%luminora pip\nHi!").success
    lum = magics.facade
    _run(shell, "%unload_ext luminora_nb")
    assert lum.closed
    gone = _run(shell, "%%luminora pip\nHi!")
    assert isinstance(gone.error_in_exec, UsageError)
    _run(shell, "%load_ext luminora_nb")
    assert isinstance(luminora_magics(shell), LuminoraMagics)


# -- real kernels ------------------------------------------------------------------------------

MAGIC_CELLS = [
    "%load_ext luminora_nb\n%luminora_config --log none",
    "%%luminora aurora\nHello! My name is Sam.",
    "%%luminora aurora\nHello again!",
    "%luminora_personas",
    "%%luminora zed\nhi",
    "%%luminora aurora --provider nope\nhi",
    "%%luminora aurora --provider openai --session work\nHello",
    "%%luminora aurora\n   \n",
    "%%luminora aurora --bogus\nhi",
    "%%luminora vex --session aurora\nhi",
    "from luminora_nb.magics import luminora_magics\nprint(sorted(luminora_magics().sessions))",
]


@pytest.mark.slow
@pytest.mark.integration  # a real Jupyter kernel
def test_magics_in_a_kernel(tmp_path: Path) -> None:
    cells = harness.run_notebook(MAGIC_CELLS, cwd=tmp_path)
    for i in (0, 1, 2, 3, 10):
        assert not harness.errors(cells[i]) and not harness.stream(cells[i], "stderr"), (i, cells[i].outputs)

    # The reply as Markdown (its final state: the whole reply, no caret), then the muted line.
    for i in (1, 2):
        replies = harness.data(cells[i], "text/markdown")
        assert len(replies) == 1 and replies[0] and "▍" not in replies[0]
        (footer,) = harness.data(cells[i], "text/html")
        assert "lnb-magic-footer" in footer
        assert re.match(r"aurora · offline · \S+ · \d+ tokens", harness.data(cells[i], "text/plain")[1])
    assert "Sam" in harness.data(cells[1], "text/markdown")[0]
    assert "Sam" in harness.data(cells[2], "text/markdown")[0]  # the session went on

    (table,) = harness.data(cells[3], "text/html")
    assert "<table" in table and "aurora" in table and "socratic" in table
    assert "mentor" in harness.data(cells[3], "text/plain")[0]

    def usage_line(i: int) -> str:
        assert not harness.errors(cells[i]), cells[i].outputs
        err = harness.stream(cells[i], "stderr")
        assert err.count("\n") == 1 and err.startswith("UsageError: "), err
        return err

    assert "unknown persona 'zed'; known personas: aurora, bastion" in usage_line(4)
    assert (
        "unknown provider 'nope'; available: anthropic, cohere, google, llama, mistral, offline"
        in usage_line(5)
    )
    assert "the cell is empty" in usage_line(7)
    assert "unrecognized arguments: --bogus" in usage_line(8)
    assert "session 'aurora' was started with persona 'aurora'" in usage_line(9)

    (key_error,) = harness.errors(cells[6])
    assert key_error.ename == "ProviderAuthenticationError"
    assert "OPENAI_API_KEY" in key_error.evalue
    assert len(key_error.traceback) == 1 and "OPENAI_API_KEY" in key_error.traceback[0]

    assert harness.text(cells[10]) == "['aurora']\n"


@pytest.mark.slow
@pytest.mark.integration  # a real Jupyter kernel
def test_streaming_updates_and_ctrl_c_in_a_kernel(tmp_path: Path) -> None:
    with harness.kernel(cwd=tmp_path) as k:
        setup = k.execute(
            "%load_ext luminora_nb\n"
            "from luminora_nb import Luminora, ProviderConfig\n"
            "from luminora_nb.magics import luminora_magics\n"
            "fast = ProviderConfig(name='offline', extra={'chunk_delay': 0.005})\n"
            "lum = Luminora(log=None, provider=fast)\n"
            "luminora_magics().use(lum)"
        )
        assert setup.status == "ok", setup.error

        reply = k.execute("%%luminora lyra\nTell me a long story about the sea and the stars.")
        assert reply.status == "ok", reply.error
        first = reply.of_type("display_data")
        updates = [m["data"]["text/markdown"] for m in reply.of_type("update_display_data")]
        final = updates[-1]
        words = len(final.split())
        assert first[0]["data"]["text/markdown"] == "▍"
        assert all(u.endswith("▍") for u in updates[:-1]) and not final.endswith("▍")
        # Throttled: far fewer updates than chunks, at most one per UPDATE_INTERVAL (+ final).
        assert len(updates) <= reply.seconds / UPDATE_INTERVAL + 2
        assert words > 20 and len(updates) < words / 2, (len(updates), words)
        assert "lnb-magic-footer" in first[-1]["data"]["text/html"]  # the footer after the reply

        slow = k.execute(  # a slow reply, through a second facade of the user's own
            "lum.close()\n"
            "lum = Luminora(log=None, provider=ProviderConfig(name='offline', extra={'chunk_delay': 0.05}))\n"
            "luminora_magics().use(lum)"
        )
        assert slow.status == "ok", slow.error
        stopped = k.execute(
            "%%luminora lyra --new --session slow\nTell me another long story.",
            interrupt_after=0.6,
            timeout=20,
        )
        assert stopped.status == "error" and stopped.error is not None
        assert stopped.error["ename"] == "KeyboardInterrupt"
        assert stopped.seconds < 4  # the whole reply takes about 5 s
        last = stopped.of_type("update_display_data")[-1]["data"]["text/markdown"]
        assert "interrupted" in last and "▍" not in last

        again = k.execute("%%luminora lyra --session slow\nHello again!")
        assert again.status == "ok", again.error
        count = k.execute("print(len(lum.get_conversation(luminora_magics().sessions['slow']).messages))")
        assert count.stdout == "2\n"  # the interrupted turn left nothing behind; the session went on
