#!/bin/sh
# Debian's Chromium for the dashboard's browser test (tests/browser.py drives it through
# Playwright's driver; Playwright's own browser download is never used). Installs only if missing.
set -eu
BROWSER=/usr/bin/chromium
[ -x "$BROWSER" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
