#!/bin/sh
# One device call for the CUDA backend: environment, every GPU test (ctest -L gpu from the carried build),
# then the DiT forward benchmarks (1.3B config, 81 and 241 frames of 480x832, dense and radial), the per-op
# block breakdown and the tiny-model pipeline. Run from the repository root with the carried folder
# .devcarry/cudabe holding wt/build-dev (the trimmed build tree of /work/wt/cudabe, see bench/carry_backend.sh).
# Logs go to $OUT. Sections (default env test bench): env test bench verify (every GPU test verbosely, with the
# error of each op and golden), memcheck (compute-sanitizer on the op test), vae (bench vae at 480x832x81).
set -u
OUT=${OUT:-./out}
mkdir -p "$OUT"
R=$PWD
C=$R/.devcarry/cudabe
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}
# ctest's files name /work/wt/cudabe/{build-dev,tests}: recreate those paths here.
mkdir -p /work/wt && ln -sfn "$C/wt" /work/wt/cudabe && ln -sfn "$R/tests" "$C/wt/tests"
B=/work/wt/cudabe/build-dev
sections=${*:-env test bench}
for s in $sections; do
  echo "=== $s ($(date -u +%H:%M:%S))"
  case $s in
  env)
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
    ldd $B/radial | grep -i -E "cublas|not found"
    $B/tests/cuda/cuda_has_gpu
    ;;
  test)
    (cd $B && timeout 420 ctest -L gpu -j3 --output-on-failure) > "$OUT/gpu_tests.log" 2>&1
    grep -E "rel |maxabs|Test +#|tests passed|FAIL|SKIP|failed|error" "$OUT/gpu_tests.log" | grep -v "^ *ok " | tail -70
    ;;
  bench)
    {
      timeout 120 $B/radial bench dit --backend cuda --forward --frames 21 --height 30 --width 52 --attention dense,radial --reps 5
      timeout 60 $B/radial bench dit --backend cuda --frames 21 --height 30 --width 52 --reps 5
      timeout 150 $B/radial bench dit --backend cuda --forward --frames 61 --height 30 --width 52 --attention dense,radial --reps 3
      (cd $R && timeout 60 $B/radial bench pipeline --backend cuda --reps 3)
      (cd $R && timeout 60 $B/radial bench pipeline --backend cuda --attention radial --reps 3)
    } > "$OUT/bench.log" 2>&1
    cat "$OUT/bench.log"
    ;;
  verify)
    (cd $B && timeout 200 ctest -L gpu -j3 -V) > "$OUT/gpu_verbose.log" 2>&1
    grep -E " rel | maxabs |DiT forward|tests passed|Failed|FAIL" "$OUT/gpu_verbose.log" | sed 's/^[0-9]*: //' | tail -80
    ;;
  memcheck)
    timeout 110 compute-sanitizer --tool memcheck $B/tests/cuda/test_cuda_backend > "$OUT/memcheck.log" 2>&1
    tail -4 "$OUT/memcheck.log"
    ;;
  vae)
    timeout 100 $B/radial bench vae --backend cuda 2>&1 | tee "$OUT/bench_vae.log"
    ;;
  esac
done
echo "=== end ($(date -u +%H:%M:%S))"
