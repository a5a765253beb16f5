#!/usr/bin/env bash
# Install a headless Java runtime (Debian package `default-jre-headless`): pycocoevalcap's PTB tokenizer
# and METEOR scorer, which lmms-eval's captioning metrics (BLEU, METEOR, ROUGE-L, CIDEr) call, are Java.
# Idempotent: does nothing when a `java` binary is already on PATH.
set -euo pipefail

if command -v java >/dev/null 2>&1; then
    echo "[bootstrap_java] java present: $(java -version 2>&1 | head -n 1)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
else
    SUDO=""
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# Debian's JRE post-install scripts expect this man-page folder, which slim images delete.
$SUDO mkdir -p /usr/share/man/man1
$SUDO apt-get install -y --no-install-recommends default-jre-headless
echo "[bootstrap_java] installed: $(java -version 2>&1 | head -n 1)"
