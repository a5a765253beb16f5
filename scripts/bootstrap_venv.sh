#!/usr/bin/env bash
# Create or refresh the project's virtual environment (.venv) idempotently.
#
# Why these steps (see EVAL.md "Install"): on CPU machines the registry's default torch is a
# multi-GB CUDA build, torchvision wheels are CUDA-only and break `import transformers`, filelock>=4.3
# breaks lmms-eval 0.7.3, and installing our package with dependency resolution would pull CUDA
# torch back. So: torch first (CPU build where no CUDA is present), lmms-eval under constraints,
# drop torchvision on CPU, then our package with --no-deps.
# The installs go through uv (a PyPI wheel, put into the venv first): it resolves the same versions as
# pip (compared package by package) but downloads and unpacks in parallel: 44 s from an empty uv cache
# instead of pip's 163 s with a warm one, for this venv on 2 cores (the bytecode step below comes on top).
# uv does not read pip's configuration, so scripts/pip_config_for_uv.py hands pip's index, extra indexes,
# find-links, constraints, certificate and timeout to it as UV_* variables.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VDC_BENCH_VENV:-.venv}
PY=${PYTHON:-python3}
STAMP="$VENV/.vdc-bench-stamp"
want=$(cat pyproject.toml setup.py scripts/bootstrap_venv.sh scripts/pip_config_for_uv.py scripts/constraints-cpu.txt scripts/requirements-extra.txt | sha256sum | cut -c1-16)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && "$VENV/bin/python" -c "import vdc_bench, lmms_eval" 2>/dev/null; then
  exit 0
fi

echo "[bootstrap] creating/refreshing $VENV" >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -U pip wheel setuptools "uv==0.13.9"
eval "$("$VENV/bin/python" scripts/pip_config_for_uv.py)"
UV="$VENV/bin/uv pip"
INSTALL="$UV install -q -p $VENV/bin/python"
# A -c on the command line replaces UV_CONSTRAINT, so pip's own constraints go on every command line too.
for constraint in ${UV_CONSTRAINT:-}; do INSTALL+=" -c $constraint"; done

gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then gpu=1; fi

if [ "$gpu" = 1 ]; then
  # GPU box: the registry's default torch (CUDA) is what we want; keep torchvision consistent.
  $INSTALL "lmms-eval==0.7.3" "filelock<4.3"
else
  $INSTALL "torch==2.13.0"
  $INSTALL -c scripts/constraints-cpu.txt "lmms-eval==0.7.3"
  # CUDA-only torchvision breaks `import transformers` next to CPU torch.
  $UV uninstall -q -p "$VENV/bin/python" torchvision || true
fi
# Our own runtime/test extras that lmms-eval does not already bring (no torch in this list).
$INSTALL -c scripts/constraints-cpu.txt -r scripts/requirements-extra.txt
# Our package without dependency resolution (it would re-pull torchvision -> CUDA torch).
$INSTALL --no-deps --no-build-isolation -e .
# Bytecode for the whole venv, as pip writes while installing and uv does not: where PYTHONDONTWRITEBYTECODE
# is set (CI, the development machines) nothing would ever write .pyc files, and every process would compile
# torch, transformers and lmms-eval from source again (measured: their import 25 s instead of 10 s).
# compileall exits 1 when a shipped file is not valid for this Python (torch's py312_intrinsics.py on 3.11);
# pip skips such files too.
"$VENV/bin/python" -m compileall -q -j 0 "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null || true
"$VENV/bin/python" -c "import vdc_bench, lmms_eval, transformers, torch; print('[bootstrap] ok: torch', torch.__version__)" >&2
echo "$want" > "$STAMP"
