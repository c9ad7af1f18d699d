"""The vendor SDKs are test tools, never part of the package.

They are pinned in the ``contracts`` extra, which only ``dev`` pulls in (so the CI
install, ``pip install -e '.[dev,...]'``, brings them), and no module of the package
imports them: the adapters speak HTTP through httpx alone.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
#: Distribution name -> the top-level module it installs.
SDKS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "mistralai": "mistralai",
    "cohere": "cohere",
    "google-genai": "google.genai",
    "ollama": "ollama",
}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower()


def test_the_sdks_are_pinned_in_the_contracts_extra_and_reach_only_dev():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    pinned = {_name(r): r for r in extras["contracts"]}
    assert set(pinned) == set(SDKS)
    assert all(re.fullmatch(r"[\w.-]+==[\w.]+", r) for r in pinned.values()), pinned
    # Runtime dependencies and every user-facing extra stay free of them.
    assert not {_name(r) for r in project["dependencies"]} & set(SDKS)
    for extra, requirements in extras.items():
        if extra not in ("contracts", "dev"):
            names = {_name(r) for r in requirements}
            assert not names & set(SDKS), extra
            assert "luminora_nb[contracts]" not in requirements, extra
    assert "luminora_nb[contracts]" in extras["dev"]


def test_no_module_of_the_package_imports_a_vendor_sdk():
    modules = set(SDKS.values())
    for path in (ROOT / "luminora_nb").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            hits = {n for n in names for m in modules if n == m or n.startswith(m + ".")}
            assert not hits, f"{path.relative_to(ROOT)} imports {sorted(hits)}"
