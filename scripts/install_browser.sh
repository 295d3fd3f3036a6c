#!/usr/bin/env bash
# Install Debian's chromium for the browser tests (tests/web, marker "browser").
#
# Playwright drives this system browser through executable_path=/usr/bin/chromium;
# `playwright install` (which downloads its own browsers) is not used.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
else
    echo "error: installing chromium needs root or sudo" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# fonts-dejavu-core: without recommends the page would render without any font
$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version
