#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need, then runs
# ruff, mypy and pytest. Extra arguments go to pytest (e.g. `bash scripts/test.sh -k blend`).
set -euo pipefail
cd "$(dirname "$0")/.."

# Real servers for the integration tests (Redis, PostgreSQL) and Chromium for the
# browser test come from Debian packages; as root we install whatever is missing.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing system packages: ${missing[*]}"
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  fi
  # The servers are installed now: their tests must run, not skip.
  export LUMINORA_REQUIRE_SERVERS="${LUMINORA_REQUIRE_SERVERS:-1}"
fi
# Where Chromium is installed the browser test (tests/test_browser.py) must run, not skip:
# a browser that will not start fails the suite. Playwright drives this Chromium; never
# `playwright install`.
if command -v chromium >/dev/null 2>&1; then
  export LUMINORA_REQUIRE_BROWSER="${LUMINORA_REQUIRE_BROWSER:-1}"
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
# llama-cpp-python compiles once (about 200 s); pip caches the wheel afterwards.
CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev,llm-server]'

echo "== ruff"; .venv/bin/ruff check conftest.py luminora_nb luminoracore luminoracore_sdk tests benchmarks
.venv/bin/ruff format --check conftest.py luminora_nb luminoracore luminoracore_sdk tests benchmarks
echo "== mypy"; .venv/bin/mypy
echo "== pytest"
# The real llama.cpp test must run here, not skip: a broken install fails the suite.
export LUMINORA_REQUIRE_LLAMA="${LUMINORA_REQUIRE_LLAMA:-1}"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure of the suite, not a pass" >&2
  exit 1
fi
exit "$rc"
