#!/usr/bin/env bash
# Install a system tool from Debian's packages unless it is already on PATH (idempotent).
# Usage: bootstrap_apt.sh COMMAND PACKAGE...
#   chromium: headless Chromium for the report rendering tests;
#   java: a headless JRE for pycocoevalcap's PTB tokenizer and METEOR scorer (lmms-eval's captioning metrics).
set -euo pipefail
tool=$1; shift

if command -v "$tool" >/dev/null 2>&1; then
    echo "[bootstrap] $tool present: $("$tool" --version 2>&1 | head -n 1 || echo unknown version)"
    exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# Debian's JRE post-install scripts expect this man-page folder, which slim images delete.
$SUDO mkdir -p /usr/share/man/man1
$SUDO apt-get install -y --no-install-recommends "$@"
echo "[bootstrap] installed $tool: $("$tool" --version 2>&1 | head -n 1)"
