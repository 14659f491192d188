#!/usr/bin/env bash
# Runs every test: unit, integration (SQLite and PostgreSQL) and end-to-end against a real
# Asterisk with SIPp. Installs what it needs first. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --test
exec .venv/bin/python -m pytest -q "$@"
