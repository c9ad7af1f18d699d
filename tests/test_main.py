"""The command line and the README's example: what a newcomer runs first."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from luminora_nb.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_offline_and_blends_differ(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--first", "aurora", "--second", "bastion"]) == 0
    out = capsys.readouterr().out
    assert "offline persona simulator" in out
    assert "aurora70_bastion30" in out and "aurora30_bastion70" in out
    blocks = re.findall(r"\[aurora70_bastion30\]\n(.*?)\n  \[aurora30_bastion70\]\n(.*?)\n", out, re.S)
    assert len(blocks) == 4  # three prompts plus the streamed goodbye
    assert any(first.strip() != second.strip() for first, second in blocks)
    assert "8 turns completed, 16 messages stored in 2 sessions." in out


@pytest.mark.integration  # runs the command in another process
def test_demo_as_a_module_in_a_fresh_interpreter() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "luminora_nb", "demo"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert "turns completed" in done.stdout
    # deterministic: a second run prints the same
    again = subprocess.run(
        [sys.executable, "-m", "luminora_nb", "demo"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert again.stdout == done.stdout


def test_personas_command_lists_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["personas"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("name") and len(lines) >= 9


@pytest.mark.integration  # starts another process
def test_readme_example_runs_as_written() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Using the SDK", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    code = (
        "import asyncio\nasync def _example():\n"
        + textwrap.indent(block, "    ")
        + "\nasyncio.run(_example())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "aurora" in done.stdout


# -- user errors: one line on stderr, a non-zero exit, never a traceback -------------------


def _cli(
    *args: str, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    import os

    environment = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "luminora_nb", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        cwd=ROOT,
        env=environment,
        check=False,
    )


@pytest.mark.integration  # runs the command in another process
@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["chat", "nope"], b"", "unknown persona 'nope'; run `luminora-nb personas`"),
        (["chat", "aurora", "--provider", "nope"], b"", "unknown provider 'nope'; choose one of"),
        (["chat", "aurora", "--provider", "openai"], b"hi\n", "set the OPENAI_API_KEY environment variable"),
        (["demo", "--first", "nope"], b"", "unknown persona 'nope'"),
        (["demo", "--width", "0"], b"", "--width must be at least 20"),
        (["chat", "aurora"], b"\xff\xfe bad bytes\n", "input is not valid UTF-8"),
        (["frobnicate"], b"", "invalid choice"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args: list[str], stdin: bytes, expected: str) -> None:
    done = _cli(*args, stdin=stdin)
    err = done.stderr.decode()
    assert done.returncode != 0
    assert "Traceback" not in err
    assert expected in err, err
    assert len([line for line in err.splitlines() if line.strip()]) <= 2  # argparse adds its usage line


@pytest.mark.integration  # runs the command in another process
def test_a_closed_pipe_ends_quietly() -> None:
    done = subprocess.run(
        f"{sys.executable} -m luminora_nb personas | head -2",
        shell=True,
        capture_output=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.stdout.decode().count("\n") == 2
    assert "Traceback" not in done.stderr.decode() and "Exception ignored" not in done.stderr.decode()


@pytest.mark.integration  # runs the command in another process
def test_ctrl_c_in_chat_is_one_line() -> None:
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "luminora_nb", "chat", "aurora"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    time.sleep(2.0)  # let it start and wait for input
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err.decode() and "interrupted" in err.decode()
