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
  # The contract tests' vendor artefacts (Meta's SDK, the google-ads library): pinned by version and
  # wheel checksum, without dependencies (Meta's SDK's come with the dev extra above).
  "$VENV/bin/python" -m pip install -q --no-deps --require-hashes -r requirements/contract.txt
  "$VENV/bin/ruff" check adspipe adspipe_tests bench
  "$VENV/bin/ruff" format --check adspipe adspipe_tests bench
  "$VENV/bin/mypy"
fi
# ADSPIPE_FRESH_MACHINE=1 (CI sets it): every Python process the tests start sees time.monotonic()
# as on a machine booted 5 s ago (.ci/fresh-machine/sitecustomize.py), one base for all of them.
if [ -n "${ADSPIPE_FRESH_MACHINE:-}" ]; then
  export PYTHONPATH="$PWD/.ci/fresh-machine${PYTHONPATH:+:$PYTHONPATH}"
  ADSPIPE_MONOTONIC_BASE=$("$VENV/bin/python" -c 'import time; print(time.monotonic() - 5.0)')
  export ADSPIPE_MONOTONIC_BASE
fi
# Two workers: each gets its own Postgres database (see adspipe_tests/conftest.py).
exec "$VENV/bin/pytest" -n 2 "$@"
