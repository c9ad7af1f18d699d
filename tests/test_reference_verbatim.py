"""The API reference's code blocks, run verbatim, in document order, as a user pastes them.

Reads ``../shared/seed/API_REFERENCE.md`` beside the repository (where the project keeps
the seed; CI has it), extracts every ``python`` block and runs them one after another in
ONE namespace: blocks with top-level ``await`` on one event loop that lives for the whole
document, the others as plain code (a block calling ``asyncio.run`` on its own runs its
own loop). Each block must either run, or be reported as not runnable for a reason that is
about the document, not the library:

* it holds a prose placeholder (``...``);
* it uses a name that no earlier block defines (``NameError``);
* it raises the library's own error about data that does not exist (``"session123"``).

Any other exception fails the test. The outcome of every block is printed.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from luminora_nb.errors import LuminoraError

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = [
    Path(os.environ["LUMINORA_API_REFERENCE"]) if os.environ.get("LUMINORA_API_REFERENCE") else None,
    ROOT.parent / "shared" / "seed" / "API_REFERENCE.md",
    Path("/work/shared/seed/API_REFERENCE.md"),
]
REFERENCE = next((p for p in CANDIDATES if p is not None and p.is_file()), None)

_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
# data the reference's examples name without creating it first
_MISSING_DATA = re.compile(r"unknown session|no such|not found|unknown personality|is not stored", re.I)


@dataclass
class Outcome:
    index: int
    line: int
    status: str  # "ran", "placeholder", "undefined name", "missing data"
    detail: str = ""


def blocks(text: str) -> list[tuple[int, str]]:
    """Every python block with the line it starts on."""
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in _BLOCK.finditer(text)]


def _has_placeholder(source: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return "..." in source
    return any(isinstance(node, ast.Constant) and node.value is Ellipsis for node in ast.walk(tree))


def run_document(text: str, *, bridge_base_client: bool = False) -> list[Outcome]:
    """Run the blocks in order; ``bridge_base_client`` names the v1.0 blocks' ``client``
    ``base_client`` too, as the reference's v1.1 section calls it without defining it."""
    namespace: dict[str, object] = {"__name__": "__reference__"}
    outcomes: list[Outcome] = []
    with asyncio.Runner() as runner:
        for index, (line, source) in enumerate(blocks(text)):
            if bridge_base_client and "base_client" not in namespace and "client" in namespace:
                namespace["base_client"] = namespace["client"]
            if _has_placeholder(source):
                outcomes.append(Outcome(index, line, "placeholder"))
                continue
            code = compile(source, f"API_REFERENCE.md:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    result = eval(code, namespace)  # a coroutine when the block awaits at top level
                    if asyncio.iscoroutine(result):
                        runner.run(result)
            except NameError as exc:
                outcomes.append(Outcome(index, line, "undefined name", str(exc)))
            except LuminoraError as exc:
                if not _MISSING_DATA.search(str(exc)):
                    raise AssertionError(f"block at line {line} failed: {type(exc).__name__}: {exc}") from exc
                outcomes.append(Outcome(index, line, "missing data", f"{type(exc).__name__}: {exc}"))
            except Exception as exc:
                raise AssertionError(
                    f"block at line {line} failed with {type(exc).__name__}: {exc}\n{source}"
                ) from exc
            else:
                outcomes.append(Outcome(index, line, "ran"))
    return outcomes


@pytest.mark.skipif(REFERENCE is None, reason="../shared/seed/API_REFERENCE.md is not beside the repository")
def test_every_block_of_the_reference_runs_or_says_why_not(capsys: pytest.CaptureFixture[str]) -> None:
    assert REFERENCE is not None
    outcomes = run_document(REFERENCE.read_text(encoding="utf-8"))
    with capsys.disabled():
        print(f"\n{len(outcomes)} python blocks of {REFERENCE.name}:")
        for outcome in outcomes:
            detail = f" ({outcome.detail[:90]})" if outcome.detail else ""
            print(f"  block {outcome.index:>2} (line {outcome.line:>3}): {outcome.status}{detail}")
    ran = [o for o in outcomes if o.status == "ran"]
    assert len(ran) >= len(outcomes) // 2, "most blocks must run as written"


@pytest.mark.skipif(REFERENCE is None, reason="../shared/seed/API_REFERENCE.md is not beside the repository")
def test_with_base_client_bridged_every_v11_block_runs(capsys: pytest.CaptureFixture[str]) -> None:
    # The v1.1 section starts from `base_client`, which no block defines; bound to the
    # v1.0 blocks' client, every v1.1 block must run, or name the data that does not exist
    # (the literal "session123" of the snapshot and analytics examples).
    assert REFERENCE is not None
    text = REFERENCE.read_text(encoding="utf-8")
    plain = run_document(text)
    bridged = run_document(text, bridge_base_client=True)
    with capsys.disabled():
        print("\nwith base_client bound to the v1.0 client:")
        for outcome in bridged:
            detail = f" ({outcome.detail[:90]})" if outcome.detail else ""
            print(f"  block {outcome.index:>2} (line {outcome.line:>3}): {outcome.status}{detail}")
    v11 = [
        o
        for o, before in zip(bridged, plain, strict=True)
        if "base_client" in before.detail or "client_v11" in before.detail
    ]
    assert len(v11) >= 8, "the v1.1 blocks were found by the names they lack"
    sources = dict(blocks(text))
    # A name an earlier block would have defined had its data existed (export_snapshot of
    # "session123" -> `snapshot` for import_snapshot) is that block's outcome, not a new one.
    unset = {
        target.id
        for o in bridged
        if o.status == "missing data"
        for node in ast.walk(ast.parse(sources[o.line]))
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }

    def accepted(o: Outcome) -> bool:
        if o.status in ("ran", "missing data"):
            return True
        return o.status == "undefined name" and any(f"'{name}'" in o.detail for name in unset)

    assert all(accepted(o) for o in v11), [(o.line, o.status, o.detail) for o in v11]
    assert sum(o.status == "ran" for o in v11) >= 6
