#!/usr/bin/env bash
# Install adspipe with its dev tools into ./.venv (if needed) and run the checks and the tests.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m slow` for the real-daemon suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${ADSPIPE_VENV:-.venv}
if [ -z "${ADSPIPE_SKIP_SETUP:-}" ]; then
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[dev]'
  # Meta's official SDK for the contract tests: pinned by version and wheel checksum (its
  # dependencies come with the dev extra above).
  "$VENV/bin/python" -m pip install -q --no-deps --require-hashes -r requirements/contract.txt
  "$VENV/bin/ruff" check adspipe adspipe_tests bench
  "$VENV/bin/ruff" format --check adspipe adspipe_tests bench
  "$VENV/bin/mypy"
fi
# Two workers: each gets its own Postgres database (see adspipe_tests/conftest.py).
exec "$VENV/bin/pytest" -n 2 "$@"
