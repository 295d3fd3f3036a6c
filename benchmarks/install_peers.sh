#!/usr/bin/env bash
# Install the peer tools that benchmarks compare allfocus against.
# enfuse (focus-stacking mode) and align_image_stack come from Debian.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! command -v enfuse >/dev/null || ! command -v align_image_stack >/dev/null; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q enfuse hugin-tools
fi
enfuse --version | head -1
