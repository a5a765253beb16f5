#!/usr/bin/env bash
# GPU speed runs on one card of a bare GPU box (torch + transformers installed; run from the checkout root).
#   bash tools/gpu_box/speed_runs.sh main OUT    16 frames, rho 0.4, fp16: both baselines (fresh processes),
#                                               realistic lengths static vs continuous
#   bash tools/gpu_box/speed_runs.sh rest OUT    a tiny-geometry smoke run, 16 frames x rho 0.2/1.0/0.1 fp16
#                                               without baselines, then fp32 token identity (16 frames, rho 0.4,
#                                               dynamic baseline)
#   bash tools/gpu_box/speed_runs.sh e2e OUT     lmms-eval end to end at VDC-like caption lengths (16 frames, rho 0.4,
#                                               batch 16): 32 synthetic videos, then 16 of 1280x720, 30 s; needs
#                                               lmms-eval importable (the carried wheels of dp_wheels.txt)
#   bash tools/gpu_box/speed_runs.sh e2e18 OUT   the same at batch 18, without the warm-up run
#   bash tools/gpu_box/speed_runs.sh rest16 OUT  16 frames x rho 1.0 with realistic lengths, batch 1 at rho 0.2
#   bash tools/gpu_box/speed_runs.sh restb OUT   realistic lengths: 16 frames x rho 0.1, 8 frames x rho 0.4/0.1/1.0
#   bash tools/gpu_box/speed_runs.sh rest8b OUT  8 frames x rho 0.1 realistic lengths at batch 64
#   bash tools/gpu_box/speed_runs.sh final OUT   start-up timings, lmms-eval e2e (160 captions, batch 16), bench 16 frames
#                                               rho 0.4 with the compiled static-cache baseline (batch 1 and 8)
#   bash tools/gpu_box/speed_runs.sh final2 OUT  a longer e2e (320 captions, batch 16),
#                                               bench 16 frames rho 0.1 at batch 1 only
#   bash tools/gpu_box/speed_runs.sh targets OUT the bench figures the speed targets name (~8 min): 16 frames rho 0.4
#                                               with both baselines and static vs continuous, rho 0.1 at batch 1,
#                                               fp32 token identity
#   bash tools/gpu_box/speed_runs.sh e2e320 OUT  then, on the same machine: lmms-eval e2e (320 captions, batch 16; a fresh
#                                               machine first writes the 7B checkpoint); needs lmms-eval importable
#   bash tools/gpu_box/speed_runs.sh grid OUT    then: 16 frames rho 0.2/1.0, 8 frames x rho 0.1/0.2/0.4/1.0
#   bash tools/gpu_box/speed_runs.sh ab OUT      batch 1 at rho 0.4 and 0.1, this code against the code in .device/base
#                                               (each in a fresh process, alternating), lmms-eval e2e (320 captions,
#                                               batch 16), fp32 token identity
#   bash tools/gpu_box/speed_runs.sh ab2 OUT     16 frames: rho 0.4 with both baselines and static vs continuous
#                                               batching, rho 0.1/0.2/1.0 without baselines
#   bash tools/gpu_box/speed_runs.sh fused OUT   the fused batch-1 kernels (decode_batch1=fused): launch settings swept
#                                               per kernel, then batch 1 at rho 0.4 through the torch layers and through
#                                               the kernels at the best settings (fresh processes); then
#                                               fused32 OUT (same OUT, next call): fp32 token identity through them
#   bash tools/gpu_box/speed_runs.sh b1 OUT      batch 1 only (~6 min): rho 0.4 through the torch layers and the default
#                                               (fused on CUDA), rho 0.1 through the default, fp32 token identity
#   bash tools/gpu_box/speed_runs.sh profile OUT where a decode step's time goes, SDPA vs the split-K kernel (and the
#                                               kernel checked against SDPA), what a fresh process spends before its
#                                               first step (cold, then warm compile caches), lmms-eval e2e with SDPA
set -uo pipefail
mode=$1 out=$2
for sub in models lmms_tasks; do  # what installing the package would map
    [ -e vdc_bench/$sub ] || ln -sfn "$PWD/$sub" vdc_bench/$sub
done
mkdir -p "$out"
export PYTHONPATH="$PWD/tools${PYTHONPATH:+:$PYTHONPATH}"  # gpu_box.* beside vdc_bench
# batch 1 in a fresh process; fp32 token identity against the dynamic-cache baseline (both at 16 frames)
batch1="--frames 16 --max-batch 1 --repeats 3 --no-baseline"
fp32_identity="--dtype float32 --frames 16 --ratios 0.4 --max-batch 1 --repeats 1 --baseline-kinds dynamic --baseline-batch 1"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
bench() {  # name, seconds, options...
    run_bench vdc_bench.gpu_bench "$@"
}
launched() {  # name, seconds, options...: the bench at the launch settings of the fused sweep in this OUT
    run_bench "gpu_box.with_launch $out/gemv/gemv_shapes.json" "$@"
}
run_bench() {  # module (and its leading arguments), name, seconds, options...
    local module=$1 name=$2 limit=$3
    shift 3
    timeout "$limit" python3 -m $module --output "$out/$name" "$@" \
        >"$out/$name.log" 2>&1
    echo "[$name] exit $?"
    grep -v "^\[bench\] {" "$out/$name.log" | tail -40
}
profile() {  # name, seconds, options...
    local name=$1 limit=$2
    shift 2
    timeout "$limit" python3 -m gpu_box.decode_profile --out "$out" "$@" \
        >"$out/$name.log" 2>&1
    echo "[$name] exit $?"
    grep "^\[step\]\|rel_err\|_ms\|_s\"" "$out/$name.log" | tail -40
}
e2e() {  # name, seconds, options...
    local name=$1 limit=$2
    shift 2
    timeout "$limit" python3 -m gpu_box.e2e_lengths --out "$out" \
        --name "$name" "$@" >"$out/$name.driver.log" 2>&1
    echo "[$name] exit $?"
    tail -12 "$out/$name.driver.log"
}
base() {  # name, seconds, options...: the bench of the code in .device/base (a copy of an earlier commit)
    local name=$1 limit=$2
    shift 2
    (cd .device/base && for sub in models lmms_tasks; do ln -sfn "$PWD/$sub" vdc_bench/$sub; done &&
        timeout "$limit" python3 -m vdc_bench.gpu_bench --output "$out/$name" "$@" >"$out/$name.log" 2>&1)
    echo "[$name] exit $?"
    grep -v "^\[bench\] {" "$out/$name.log" | tail -4
}
case $mode in
targets)  # the bench figures the speed targets name, on one machine in one call: 16 frames, rho 0.4 with both
         # baselines and static vs continuous batching, rho 0.1 at batch 1, fp32 token identity
    bench rho04 300 --frames 16 --ratios 0.4 --max-batch 16 --baseline-batch 8 --stream-requests 64
    bench rho01 60 --frames 16 --ratios 0.1 --max-batch 1 --no-baseline
    bench fp32 130 $fp32_identity ;;
e2e320)  # a call of its own: on a fresh machine the driver first writes the 7B checkpoint, then a warm-up run,
         # then the timed run; 230 s beside the bench cut it before it wrote its result
    e2e b16_320 420 --batch-size 16 --videos 64 ;;
grid)  # the rest of the grid, on the same (still warm) machine
    bench rest16 150 --frames 16 --ratios 0.2,1.0 --max-batch 16 --stream-requests 48 --no-baseline
    bench rest8 200 --frames 8 --ratios 0.1,0.2,0.4,1.0 --max-batch 64 --stream-requests 64 --no-baseline ;;
fused)  # launch settings of the fused batch-1 kernels, then batch 1 through the torch layers and through the kernels
    timeout 150 python3 -m gpu_box.gemv_shapes --out "$out/gemv" \
        --batches 1 --fused >"$out/gemv.log" 2>&1
    echo "[gemv] exit $?"
    grep "best launch\|Error" "$out/gemv.log"
    bench torch04 90 --ratios 0.4 $batch1 --decode-batch1 torch
    launched fused04 90 --ratios 0.4 $batch1 --decode-batch1 fused ;;
b1)  # the batch-1 targets at the default layers (fused on CUDA) when little device time is left: rho 0.4 through the
    # torch layers and through the default, rho 0.1 through the default (fresh processes), fp32 token identity
    bench torch04 90 --ratios 0.4 $batch1 --decode-batch1 torch
    bench auto04 90 --ratios 0.4 $batch1
    bench auto01 70 --ratios 0.1 $batch1
    bench fp32 130 $fp32_identity ;;
fused32)  # then fp32 token identity through the fused kernels at the same launch settings
    launched fp32 130 $fp32_identity --decode-batch1 fused ;;
ab)  # the code before against this one, batch 1, fresh processes alternating; then lmms-eval e2e and fp32 identity
    base base04 90 --ratios 0.4 $batch1
    bench new04 90 --ratios 0.4 $batch1
    base base01 70 --ratios 0.1 $batch1
    bench new01 70 --ratios 0.1 $batch1
    e2e b16_320 300 --batch-size 16 --videos 64
    bench fp32 130 $fp32_identity ;;
ab2)  # the bench at 16 frames: rho 0.4 with both baselines (fresh processes) and static vs continuous batching at
      # realistic lengths; rho 0.1/0.2/1.0 without baselines
    bench rho04 300 --frames 16 --ratios 0.4 --max-batch 16 --baseline-batch 8 --stream-requests 64
    bench rest16 170 --frames 16 --ratios 0.1,0.2,1.0 --max-batch 16 --stream-requests 48 --no-baseline ;;
main) bench main 570 --frames 16 --ratios 0.4 --stream-requests 64 ;;
again)  # after the cache-reallocation fix: ours again (the baselines are unchanged), fp32 identity, rho 0.2
    bench ours 200 --frames 16 --ratios 0.4 --stream-requests 64 --no-baseline
    bench fp32 200 $fp32_identity
    bench rho02 150 --frames 16 --ratios 0.2 --stream-requests 64 --no-baseline ;;
rest)
    bench smoke 100 --size tiny-geometry --frames 2 --ratios 0.4 --new-tokens 8 --repeats 1 --max-batch 2 \
        --no-baseline --stream-requests 3 || exit 1
    grep -q "continuous" "$out/smoke/gpu_bench.md" || exit 1
    rm -rf "$out/smoke" "$out/smoke.log"  # the box returns at most 8 files
    bench rest 270 --frames 16 --ratios 0.2,1.0,0.1 --stream-requests 48 --no-baseline
    bench fp32 200 $fp32_identity ;;
e2e)
    e2e b16 330 --batch-size 16
    e2e clip720p_b16 230 --batch-size 16 --videos 16 --clip 1280x720@30 --no-warmup ;;
e2e18)  # does batch 18 (the bench's, whose cache is sized for 300 tokens) fit with the cache sized for 1024?
    e2e b18 260 --batch-size 18 --no-warmup ;;
rest16)
    bench r16 300 --frames 16 --ratios 1.0 --stream-requests 96 --no-baseline
    bench b1rho02 60 --frames 16 --ratios 0.2 --max-batch 1 --no-baseline ;;
restb)
    bench r16b 130 --frames 16 --ratios 0.1 --stream-requests 96 --no-baseline
    bench r8a 130 --frames 8 --ratios 0.4 --stream-requests 96 --no-baseline
    bench r8b 130 --frames 8 --ratios 0.1 --stream-requests 96 --max-batch 96 --no-baseline
    bench r8c 170 --frames 8 --ratios 1.0 --stream-requests 48 --no-baseline ;;
rest8b)  # 8 frames, rho 0.1: realistic lengths ran out of memory at the searched batch 80, so cap the search at 64
    bench r8b64 200 --frames 8 --ratios 0.1 --stream-requests 128 --max-batch 64 --no-baseline ;;
final)
    profile startup 90 --startup
    e2e b16 260 --batch-size 16
    bench rho04 280 --frames 16 --ratios 0.4 --max-batch 16 --baseline-kinds static-compiled --baseline-batch 8 ;;
final2)
    e2e b16_320 300 --batch-size 16 --videos 64
    bench rho01 120 --frames 16 --ratios 0.1 --max-batch 1 --no-baseline ;;
profile)
    profile decode_profile 240
    profile startup_warm 100 --startup
    profile startup_nocudnn 100 --startup --sdpa-backends flash,efficient,math
    profile startup_profiled 100 --startup --profile-first
    e2e sdpa_b16 300 --batch-size 16 --model-arg decode_attention=sdpa ;;
esac
