#!/usr/bin/env bash
# The main job on the embedded defaults (offline provider, no API key): installs the
# package into .venv and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/python -m luminora_nb demo "$@"
