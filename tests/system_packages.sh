#!/usr/bin/env bash
# Installs the Debian packages the portal's browser test, the export's spreadsheet test,
# the deployment's monitoring tests and the API benchmark need, when they are missing:
# Chromium (driven headless by Playwright through `executable_path`, never a browser of
# Playwright's own), LibreOffice Calc without its GUI (opens the CSV exports as a spreadsheet
# would), Prometheus with promtool (tests/deploy: alert rule tests, a real scrape) and wrk
# (bench.api's load generator). Only Debian's own packages; a machine that already has them
# pays one `command -v` each. Run by `make test`, by the tests and by `python -m bench.api`.
# With arguments (commands: chromium, soffice, prometheus, promtool, wrk), only the packages
# of those.
set -euo pipefail

wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(chromium soffice prometheus wrk)
missing=()
for cmd in "${wanted[@]}"; do
  case "$cmd" in
    chromium) package=chromium ;;
    soffice) package=libreoffice-calc-nogui ;;
    prometheus | promtool) package=prometheus ;;
    wrk) package=wrk ;;
    *) echo "unknown command $cmd" >&2; exit 2 ;;
  esac
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$package")
done
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
