#!/usr/bin/env bash
# Installs the Debian packages the portal's browser test and the export's spreadsheet test
# need, when they are missing: Chromium (driven headless by Playwright through
# `executable_path`, never a browser of Playwright's own) and LibreOffice Calc without its
# GUI (opens the CSV exports as a spreadsheet would). Only Debian's own packages; a machine
# that already has them pays one `command -v` each. Run by `make test` and by the tests.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v soffice >/dev/null 2>&1 || missing+=(libreoffice-calc-nogui)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing ${missing[*]}: run as root, or: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
