#!/usr/bin/env bash
# The main job on the embedded defaults (offline provider, no API key): installs the
# package with its notebook extra into .venv and opens the quickstart notebook in
# JupyterLab. `--check` starts Lab, checks the notebook is served, and stops (used by
# the test suite). The terminal demo is `.venv/bin/python -m luminora_nb demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[lab]'

PORT="${LUMINORA_PORT:-8888}"
TOKEN="${LUMINORA_TOKEN:-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(16))')}"
NOTEBOOK="notebooks/01-quickstart.ipynb"
URL="http://127.0.0.1:${PORT}/lab/tree/${NOTEBOOK}?token=${TOKEN}"
ARGS=(--ip=127.0.0.1 --port="$PORT" --ServerApp.port_retries=0 --IdentityProvider.token="$TOKEN"
      --LabApp.news_url=None --ServerApp.root_dir="$PWD")
if [ "$(id -u)" = 0 ]; then ARGS+=(--allow-root); fi
# No display (a server, a container, CI): don't try to open a browser.
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ "$(uname)" != Darwin ]; then ARGS+=(--no-browser); fi

if [ "${1:-}" = "--check" ]; then
  # Throwaway Jupyter state, so the check never touches the user's settings or servers.
  tmp="$(mktemp -d)"
  trap 'kill "$lab" 2>/dev/null || true; wait "$lab" 2>/dev/null || true; rm -rf "$tmp"' EXIT
  JUPYTER_CONFIG_DIR="$tmp/config" JUPYTER_RUNTIME_DIR="$tmp/runtime" \
    .venv/bin/jupyter lab --no-browser "${ARGS[@]}" >"$tmp/lab.log" 2>&1 &
  lab=$!
  for _ in $(seq 1 120); do
    if .venv/bin/python - "$URL" <<'PY' 2>/dev/null; then
import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)
PY
      echo "ok: JupyterLab serves $NOTEBOOK"
      exit 0
    fi
    kill -0 "$lab" 2>/dev/null || { cat "$tmp/lab.log" >&2; exit 1; }
    sleep 0.5
  done
  cat "$tmp/lab.log" >&2
  echo "JupyterLab did not serve $NOTEBOOK within 60 s" >&2
  exit 1
fi

echo "Opening the quickstart in JupyterLab (offline provider, no API key needed):"
echo "    $URL"
echo "Stop with Ctrl-C. The terminal demo: .venv/bin/python -m luminora_nb demo"
exec .venv/bin/jupyter lab "${ARGS[@]}"
