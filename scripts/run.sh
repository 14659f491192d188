#!/usr/bin/env bash
# Runs the whole line locally: embedded SQLite, a local Asterisk (built once under ./data if
# the host has none), the services supervised in the foreground. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec .venv/bin/nachtdienst up "$@"
