#!/usr/bin/env bash
# Runs every test: unit, integration (SQLite and PostgreSQL) and end-to-end against a real
# Asterisk with SIPp. Installs what it needs first. Extra arguments go to pytest (one run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --test
if [ $# -gt 0 ]; then
    exec .venv/bin/python -m pytest -q "$@"
fi
# Unit and integration tests on every core (each worker has its own PostgreSQL, files and
# ports); the end-to-end tests share one Asterisk and its fixed ports, so they run after, in
# one process. Both always run; the exit status is the first failure's.
status=0
.venv/bin/python -m pytest -q -m "not e2e" -n auto || status=$?
.venv/bin/python -m pytest -q -m e2e || status=$((status ? status : $?))
exit "$status"
