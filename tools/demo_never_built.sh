#!/usr/bin/env bash
# `make demo` as on a machine that has never built anything: a fresh clone of this checkout's HEAD with every
# cache (pip, uv, the judge's wheel cache through XDG_CACHE_HOME, VDC_CACHE_DIR) in an empty folder, timed.
# Usage: bash tools/demo_never_built.sh DIR    (DIR is emptied; the demo's timing.json ends up in DIR/repo/runs/demo/)
set -uo pipefail
dir=${1:?usage: demo_never_built.sh DIR}
src=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
rm -rf "$dir" && mkdir -p "$dir"
git clone -q "$src" "$dir/repo"
cd "$dir/repo"
export XDG_CACHE_HOME=$dir/xdg PIP_CACHE_DIR=$dir/pip UV_CACHE_DIR=$dir/uv VDC_CACHE_DIR=$dir/vdc
echo "start $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD)"
/usr/bin/time -f "make demo: %e s wall, %U s user, %S s system" make demo >"$dir/demo.log" 2>&1
rc=$?
echo "exit $rc, end $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
grep "^\[demo\] time\|^\[demo\] judge:.*requests\|^make demo:" "$dir/demo.log"
exit $rc
