#!/usr/bin/env bash
# Install the peer tools that benchmarks compare allfocus against.
#  - enfuse (focus-stacking mode) and align_image_stack come from Debian.
#  - openfocus (PyPI, 1.72.x) goes into its own virtual environment,
#    benchmarks/_work/peers-venv: it installs top-level packages named `core`
#    and `utils` and depends on torch, so it must not share the project's venv.
#    torch 2.13.0 is installed first so that pip can take a CPU wheel from a
#    local wheel cache instead of downloading a CUDA build.
# Set SKIP_OPENFOCUS=1 to install only the Debian tools.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! command -v enfuse >/dev/null || ! command -v align_image_stack >/dev/null; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q enfuse hugin-tools
fi
enfuse --version | head -1

if [ "${SKIP_OPENFOCUS:-0}" = "1" ]; then exit 0; fi
VENV="${OPENFOCUS_VENV:-$HERE/_work/peers-venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/openfocus" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q "torch==2.13.0" \
    || echo "torch 2.13.0 not found locally: openfocus will pull its own torch"
  "$VENV/bin/pip" install -q "openfocus>=1.72,<1.73"
fi
"$VENV/bin/python" -c \
  "import importlib.metadata as m; print('openfocus', m.version('openfocus'), '(torch', m.version('torch') + ')')"
