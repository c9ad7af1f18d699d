"""The tutorial notebooks (``notebooks/``), Binder and the JupyterLab demo.

Fast checks (no kernel) read the saved notebooks: each is a document people read on
GitHub before running anything, so it must carry its outputs, its kernelspec, no errors,
no progress bars, no machine paths and no secrets. Running the notebooks and comparing
their outputs with the stored ones is nbval's job (``--nbval`` in ``pyproject.toml``;
those items are marked ``integration`` in the root ``conftest.py``).

The integration tests build the Binder environment from scratch (a fresh virtual
environment, ``binder/requirements.txt``, ``binder/postBuild``) and run the quickstart
in it, and start JupyterLab through ``scripts/demo.sh --check``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BINDER = ROOT / "binder"

REQUIRED = [
    "01-quickstart.ipynb",
    "02-blend-studio.ipynb",
    "03-compare-blends.ipynb",
    "04-session-log.ipynb",
    "05-memory-and-affinity.ipynb",
    "06-snapshots-and-analytics.ipynb",
    "07-character-cards.ipynb",
    "09-real-providers.ipynb",
]
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

ALL = sorted(NOTEBOOKS.glob("*.ipynb"))

# A tqdm bar as text ("compare:  40%|████      | 8/20 [00:01<00:02, 5.1cell/s]").
PROGRESS_TEXT = re.compile(r"\d+%\|.*\|\s*\d+/\d+|\d+(\.\d+)?(it|cell)/s\]")
PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel"}
# Paths of a machine (the notebooks use relative paths only); URLs such as
# http://127.0.0.1:8000/v1 are not paths.
ABSOLUTE_PATH = re.compile(
    r"(?<![\w:/.-])(/(home|root|Users|tmp|work|var|private|opt|srv|mnt|usr)/[\w.-]+|[A-Za-z]:\\[\w.-]+)"
)
SECRETS = [
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),  # OpenAI / Anthropic (sk-ant-...)
    re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"),  # Google
    re.compile(r"Bearer\s+[A-Za-z0-9._-]{16,}"),
]
KEY_VARIABLES = [
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "MISTRAL_API_KEY",
    "CO_API_KEY",
    "COHERE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
]


def _read(path: Path) -> Any:
    return nbformat.read(path, as_version=4)


def _code_cells(nb: Any) -> list[Any]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _output_text(output: Any) -> str:
    if output.output_type == "stream":
        return str(output.text)
    if output.output_type == "error":
        return "\n".join(output.traceback)
    return "\n".join(str(v) for k, v in output.get("data", {}).items() if k.startswith("text/"))


def _python_of(source: str) -> str:
    """The cell as plain Python (IPython magics become ``get_ipython().run_*_magic`` calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _shows_something(source: str) -> bool:
    """Whether a cell must have an output: a last expression (not ``x.close()``-like), a
    magic, or an unconditional ``print``/``display`` at the top level or in a top-level loop."""
    try:
        tree = ast.parse(_python_of(source))
    except SyntaxError:
        return False
    if not tree.body:
        return False

    def is_show(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id in ("print", "display")
        )

    for statement in tree.body:
        if is_show(statement):
            return True
        if isinstance(statement, ast.For) and any(is_show(s) for s in statement.body):
            return True
    last = tree.body[-1]
    if not isinstance(last, ast.Expr):
        return False
    value = last.value
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        if value.func.attr in ("run_line_magic", "run_cell_magic"):
            magic = value.args[0].value if value.args and isinstance(value.args[0], ast.Constant) else ""
            return magic not in ("load_ext", "matplotlib", "config")
        # Calls made for their effect return None and show nothing.
        return value.func.attr not in ("close", "wait", "save", "send", "rate", "annotate", "show", "stop")
    return not isinstance(value, ast.Await)


# --------------------------------------------------------------------------- fast: the files


def test_the_required_notebooks_exist() -> None:
    missing = [name for name in REQUIRED if not (NOTEBOOKS / name).is_file()]
    assert not missing, f"missing notebooks: {missing}"


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
class TestSavedNotebook:
    def test_is_valid_and_has_the_kernelspec(self, path: Path) -> None:
        nb = _read(path)
        nbformat.validate(nb)
        # Without it JupyterLab asks for a kernel instead of starting one (and nbval, Binder
        # and the demo start the wrong one or none).
        assert dict(nb.metadata.get("kernelspec", {})) == KERNELSPEC

    def test_opens_with_a_markdown_intro(self, path: Path) -> None:
        first = _read(path).cells[0]
        assert first.cell_type == "markdown"
        assert first.source.lstrip().startswith("# "), "the first cell starts with the notebook's title"
        assert "what you will do here" in first.source.lower()
        assert len(first.source.split()) >= 40, "the intro is a paragraph, not a title"

    def test_was_run_top_to_bottom_with_outputs_saved(self, path: Path) -> None:
        cells = _code_cells(_read(path))
        counts = [cell.execution_count for cell in cells]
        assert counts == list(range(1, len(cells) + 1)), "run all cells in order in a fresh kernel, then save"
        with_output = sum(1 for cell in cells if cell.outputs)
        assert with_output * 2 >= len(cells), f"only {with_output} of {len(cells)} code cells have outputs"
        silent = [
            cell.source.splitlines()[0]
            for cell in cells
            if _shows_something(cell.source) and not cell.outputs
        ]
        assert not silent, f"cells that should show something have no stored output: {silent}"

    def test_has_no_errors_or_warnings_stored(self, path: Path) -> None:
        for cell in _code_cells(_read(path)):
            for output in cell.outputs:
                assert output.output_type != "error", f"error stored in {cell.source.splitlines()[0]!r}"
                if output.output_type == "stream":
                    assert output.name == "stdout", (
                        f"stderr stored in {cell.source.splitlines()[0]!r}: {output.text[:200]}"
                    )

    def test_has_no_progress_bars_stored(self, path: Path) -> None:
        nb = _read(path)
        state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
        models = {key: value.get("model_name") for key, value in state.get("state", {}).items()}
        for cell in _code_cells(nb):
            for output in cell.outputs:
                assert not PROGRESS_TEXT.search(_output_text(output)), (
                    f"a progress bar in {cell.source[:60]!r}"
                )
                view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
                if view:
                    assert models.get(view.get("model_id")) not in PROGRESS_MODELS

    def test_has_no_absolute_paths_or_secrets(self, path: Path) -> None:
        nb = _read(path)
        texts = [cell.source for cell in nb.cells]
        texts += [_output_text(o) for cell in _code_cells(nb) for o in cell.outputs]
        texts.append(json.dumps(nb.metadata))
        blob = "\n".join(texts)
        assert not ABSOLUTE_PATH.search(blob), f"absolute path: {ABSOLUTE_PATH.search(blob).group(0)!r}"
        raw = path.read_text(encoding="utf-8")
        for pattern in SECRETS:
            assert not pattern.search(raw), f"something like a secret: {pattern.search(raw).group(0)[:12]}..."
        for variable in KEY_VARIABLES:
            value = os.environ.get(variable, "").strip()
            if len(value) >= 8:
                assert value not in raw, f"the value of {variable} is stored in the notebook"


def test_files_the_notebooks_write_are_ignored_by_git() -> None:
    """Running the notebooks leaves the working tree clean: their logs are git-ignored."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    written = {"luminora.duckdb"}  # Luminora() without log= (01, and the magics)
    for path in ALL:
        for cell in _code_cells(_read(path)):
            written.update(re.findall(r"[\"']([\w.-]+\.duckdb)[\"']", cell.source))
    paths = [f"notebooks/{name}" for name in sorted(written)] + [
        f"notebooks/{n}.wal" for n in sorted(written)
    ]
    result = subprocess.run(
        ["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True, check=False
    )
    ignored = set(result.stdout.split())
    assert set(paths) <= ignored, f"not git-ignored: {sorted(set(paths) - ignored)}"


# --------------------------------------------------------------------------- fast: Binder pins


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (BINDER / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep and version.strip(), f"binder/requirements.txt must pin exact versions: {line!r}"
        pins[canonicalize_name(Requirement(name.strip()).name)] = version.strip()
    return pins


def test_binder_pins_every_runtime_dependency() -> None:
    """Every dependency of the core and of the ``notebook`` extra is pinned, to a version it accepts."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    needed = [*project["dependencies"], *extras["notebook"]]
    pins = _pins()
    problems = []
    for spec in needed:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        if name == canonicalize_name(project["name"]):
            # a self-reference such as luminora_nb[embeddings]: its extras are needed too
            needed.extend(dep for extra in requirement.extras for dep in extras[extra])
            continue
        if name not in pins:
            problems.append(f"{requirement.name} is not pinned")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{requirement.name}=={pins[name]} does not satisfy {requirement.specifier}")
    assert not problems, "binder/requirements.txt: " + "; ".join(problems)
    assert (BINDER / "postBuild").is_file()
    assert (BINDER / "runtime.txt").read_text(encoding="utf-8").strip().startswith("python-3.")


# --------------------------------------------------------------------------- integration


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would steer another Python or Jupyter."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV", "__PYVENV_LAUNCHER__")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("JUPYTER")}
    env.update(extra)
    return env


def _run(
    cmd: list[str], *, env: dict[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(cmd)} exited with {result.returncode}\n--- stdout\n{result.stdout[-4000:]}"
        f"\n--- stderr\n{result.stderr[-4000:]}"
    )
    return result


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_binder_environment_runs_the_quickstart(tmp_path: Path) -> None:
    """What mybinder.org does: a fresh environment from binder/, then the quickstart in it."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    env = _clean_env(
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        # A user-level "python3" kernelspec must not shadow the environment's own.
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
        MPLCONFIGDIR=str(tmp_path / "mpl"),
        TQDM_DISABLE="1",
    )
    _run(
        [str(python), "-m", "pip", "install", "-q", "-r", str(BINDER / "requirements.txt")],
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    # repo2docker runs postBuild from the repository root with the environment's python first on PATH.
    _run(["bash", str(BINDER / "postBuild")], env=env, cwd=ROOT, timeout=600)

    # The package came from the repository, not from this checkout's editable install.
    where = _run(
        [str(python), "-c", "import luminora_nb, sys; print(luminora_nb.__file__); print(sys.prefix)"],
        env=env,
        cwd=tmp_path,
        timeout=60,
    ).stdout.split()
    assert Path(where[0]).is_relative_to(venv), where
    # The widgets' browser code ships inside the wheel and is found there, not in this checkout.
    assets = _run(
        [
            str(python),
            "-c",
            "from luminora_nb.widgets._base import _asset_dirs, asset_text; "
            "print(_asset_dirs()[0]); print(len(asset_text('chat.js')), len(asset_text('base.css')))",
        ],
        env=env,
        cwd=tmp_path,
        timeout=60,
    ).stdout.split()
    assert Path(assets[0]).is_relative_to(venv) and Path(assets[0]).name == "_static", assets
    assert int(assets[1]) > 1000 and int(assets[2]) > 100, assets
    specs = json.loads(
        _run(
            [str(python), "-m", "jupyter", "kernelspec", "list", "--json"], env=env, cwd=tmp_path, timeout=60
        ).stdout
    )["kernelspecs"]
    assert Path(specs["python3"]["resource_dir"]).resolve().is_relative_to(venv.resolve()), specs["python3"]

    # Run a copy, so the session log the quickstart writes lands in tmp, not in the checkout.
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(NOTEBOOKS / "01-quickstart.ipynb", work)
    out = tmp_path / "executed.ipynb"
    _run(
        [
            str(python),
            "-m",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.kernel_name=python3",
            "--ExecutePreprocessor.timeout=300",
            "--output",
            str(out),
            str(work / "01-quickstart.ipynb"),
        ],
        env=env,
        cwd=work,
        timeout=600,
    )
    executed = _read(out)
    errors = [
        f"{cell.source.splitlines()[0]!r}: {o.ename}: {o.evalue}"
        for cell in _code_cells(executed)
        for o in cell.outputs
        if o.output_type == "error"
    ]
    assert not errors, errors
    cells = _code_cells(executed)
    assert all(cell.execution_count is not None for cell in cells)
    printed = "".join(o.get("text", "") for cell in cells for o in cell.outputs)
    assert "Affinity: 5 points" in printed  # the reference's asyncio.run example ran


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_serves_the_quickstart_in_jupyterlab() -> None:
    """``bash scripts/demo.sh --check`` installs into .venv, starts Lab on the quickstart and stops."""
    env = _clean_env(LUMINORA_PORT=str(_free_port()))
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    result = _run(["bash", str(ROOT / "scripts" / "demo.sh"), "--check"], env=env, cwd=ROOT, timeout=540)
    assert "ok: JupyterLab serves notebooks/01-quickstart.ipynb" in result.stdout
