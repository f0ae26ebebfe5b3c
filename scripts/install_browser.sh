#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser test (tests/browser/), which drives
# it with Playwright. Playwright cannot download a browser of its own here, and the test fails
# rather than skips when Chromium is missing, so `make test` runs this first.
set -euo pipefail

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: Chromium is not at $CHROMIUM and apt-get is not available." >&2
  echo "Install Chromium and set CHROMIUM_PATH to its executable." >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "error: installing Chromium needs root (apt-get install chromium)." >&2
    exit 1
  fi
fi

echo "Installing Chromium (apt-get install chromium) ..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
if [ ! -x "$CHROMIUM" ]; then
  echo "error: apt-get installed chromium but $CHROMIUM is still missing." >&2
  exit 1
fi
echo "Chromium installed at $CHROMIUM."
