#!/usr/bin/env bash
# Install adspipe into ./.venv (if needed) and run the demo: the simulator, the four jobs for the
# last 7 days on an embedded SQLite warehouse, and daily_summary printed. Extra args go to
# `adspipe demo` (e.g. --ui to keep the simulator and `dagster dev` running afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${ADSPIPE_VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e .
exec "$VENV/bin/adspipe" demo "$@"
