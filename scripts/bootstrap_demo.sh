#!/usr/bin/env bash
# Set up everything `make demo` needs, timed. The judge runtime (llama.cpp: seconds from this machine's wheel
# cache, minutes of compiling on a fresh machine) is built beside the project venv and then the judge
# model (the demo needs only qwen2.5-coder-1.5b; the smoke-test model is left to `make judge`), which are
# mostly downloads and unpacking.
# Usage: bash scripts/bootstrap_demo.sh TIMES_JSON   (seconds per step, read by `vdc-bench demo --setup-times`)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bootstrap_demo.sh TIMES_JSON}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
mkdir -p "$(dirname "$out")"
rm -f "$out"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(now)
runtime_done=$(mktemp)
( bash scripts/bootstrap_judge.sh --no-models && now > "$runtime_done" ) &
runtime_pid=$!
trap 'kill "$runtime_pid" 2>/dev/null || true; rm -f "$runtime_done"' EXIT
bash scripts/bootstrap_venv.sh
t_venv=$(now)
"${VDC_BENCH_VENV:-.venv}/bin/python" -m vdc_bench.judge.assets qwen2.5-coder-1.5b >/dev/null
t_model=$(now)
wait "$runtime_pid"
trap 'rm -f "$runtime_done"' EXIT
t_runtime=$(cat "$runtime_done")
t_end=$(now)
cat > "$out" <<JSON
{
 "started_utc": "$(date -u -d "@${t0%.*}" +%Y-%m-%dT%H:%M:%SZ)",
 "wall_s": $(secs "$t0" "$t_end"),
 "steps_s": {"venv": $(secs "$t0" "$t_venv"), "judge model": $(secs "$t_venv" "$t_model"), "judge runtime": $(secs "$t0" "$t_runtime")},
 "side_by_side": ["venv, then judge model", "judge runtime"],
 "load_average_start": "$load_start",
 "load_average_end": "$(cut -d' ' -f1-3 /proc/loadavg)"
}
JSON
echo "[bootstrap_demo] setup $(secs "$t0" "$t_end") s (venv $(secs "$t0" "$t_venv") s then judge model $(secs "$t_venv" "$t_model") s, beside judge runtime $(secs "$t0" "$t_runtime") s)" >&2
