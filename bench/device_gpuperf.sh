#!/bin/sh
# One device call for the implicit-GEMM conv3d and the fused DiT chains: every GPU test (ctest -L gpu from the
# carried build, verbose log), conv3d per VAE layer on both conv paths, the VAE decode at 480x832x81, the 1.3B
# DiT forward at 81 frames (dense, radial) and one block per op family, each new build vs the base build
# (radial_base, the commit before) in the same run, and the VAE decode on the im2col path. Every step has a
# time limit inside one overall deadline (DEADLINE seconds, default 220), most important first. Run from the
# repository root with the carried folder .devcarry/gpuperf (bench/carry_gpuperf.sh). Logs go to $OUT.
set -u
OUT=${OUT:-./out}
mkdir -p "$OUT"
R=$PWD
C=$R/.devcarry/gpuperf
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}
# ctest's files name /work/wt/gpuperf/{build-dev,tests}: recreate those paths here.
mkdir -p /work/wt && ln -sfn "$C/wt" /work/wt/gpuperf && ln -sfn "$R/tests" "$C/wt/tests"
B=/work/wt/gpuperf/build-dev
T0=$(date +%s)
DEADLINE=${DEADLINE:-220}
DIT="bench dit --backend cuda --frames 21 --height 30 --width 52"

# step NAME LIMIT COMMAND...: runs COMMAND with at most LIMIT seconds (less when the deadline is nearer).
step() {
  name=$1 lim=$2
  shift 2
  left=$((DEADLINE - ($(date +%s) - T0)))
  [ "$left" -lt "$lim" ] && lim=$left
  if [ "$lim" -lt 5 ]; then echo "=== $name: skipped (deadline)"; return; fi
  echo "=== $name (limit ${lim}s, t=$(($(date +%s) - T0))s)"
  timeout "$lim" "$@"
  echo "--- $name: rc $? at t=$(($(date +%s) - T0))s"
}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader
step "GPU tests" 110 sh -c "cd $B && ctest -L gpu -j4 -V > $OUT/gpu_tests.log 2>&1; rc=\$?; grep -E 'seed:| over |CHECK failed|check.s. failed|Test +#|tests passed|tests failed|SKIP' $OUT/gpu_tests.log | sed 's/^[0-9]*: //' | tail -40; exit \$rc"
step "conv3d per layer" 35 sh -c "$B/tests/cuda/cuda_conv_bench 5 2>&1 | tee $OUT/conv_bench.log"
step "VAE decode (implicit GEMM)" 40 sh -c "$B/radial bench vae --backend cuda 2>&1 | tee $OUT/vae_new.log"
step "DiT forward (new)" 45 sh -c "$B/radial $DIT --forward --attention dense,radial --reps 3 2>&1 | tee $OUT/dit_new.log"
step "DiT forward (base)" 45 sh -c "$C/radial_base $DIT --forward --attention dense,radial --reps 3 2>&1 | tee $OUT/dit_base.log"
step "DiT block (new)" 20 sh -c "$B/radial $DIT --reps 5 2>&1 | tee $OUT/block_new.log"
step "DiT block (base)" 20 sh -c "$C/radial_base $DIT --reps 5 2>&1 | tee $OUT/block_base.log"
step "VAE decode (im2col)" 40 sh -c "RADIAL_CUDA_CONV=im2col $B/radial bench vae --backend cuda 2>&1 | tee $OUT/vae_im2col.log"
echo "=== end at t=$(($(date +%s) - T0))s"
