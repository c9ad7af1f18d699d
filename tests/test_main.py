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
