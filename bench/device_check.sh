#!/bin/sh
# One device call: environment, SASS summary, GPU tests, kernel timings, PyTorch peers. Run from a folder
# holding radial, test_cuda_attention and torch_peers.py (the carried .devcarry/ of the device workflow);
# logs go to $OUT (or ./out). Sections: env test bench peers sanitize (default: env test bench peers).
# Environment: FRAMES (81,161,241), KERNELS (v3,v3pp), REPS (20), WARMUP (5).
set -u
OUT=${OUT:-./out}
mkdir -p "$OUT" masks
FRAMES=${FRAMES:-81,161,241}
KERNELS=${KERNELS:-v3,v3pp}
REPS=${REPS:-20}
WARMUP=${WARMUP:-5}
sections=${*:-env test bench peers}
for s in $sections; do
  echo "=== $s ($(date -u +%H:%M:%S))"
  case $s in
  env)
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit --format=csv
    nvcc --version | tail -2; uname -r; ldd --version | head -1
    cuobjdump --dump-sass ./radial > "$OUT/sass.txt" 2>&1
    awk '/Function :/{f=$3} /HGMMA/{g[f]++} /LDL|STL/{l[f]++} END{for(k in g) print "HGMMA", g[k], "local", l[k]+0, k}' "$OUT/sass.txt"
    ;;
  test)
    timeout 150 ./test_cuda_attention 2>&1 | tee "$OUT/test.log" | tail -40
    ;;
  sanitize)
    RAD_TEST_SMALL=1 timeout 100 compute-sanitizer --tool memcheck ./test_cuda_attention v3 v3pp 2>&1 | tail -15
    RAD_TEST_SMALL=1 timeout 100 compute-sanitizer --tool racecheck ./test_cuda_attention v3pp 2>&1 | tail -8
    ;;
  bench)
    timeout 300 ./radial bench attention --frames "$FRAMES" --kernel "$KERNELS" --reps "$REPS" --warmup "$WARMUP" \
      --json "$OUT/bench.json" --csv "$OUT/bench.csv" 2>&1 | tee "$OUT/bench.log"
    ;;
  v1)
    timeout 60 ./radial bench attention --frames 81 --kernel v1 --reps 3 --warmup 1 2>&1 | tee "$OUT/bench_v1.log"
    ;;
  peers)
    for f in $(echo "$FRAMES" | tr , ' '); do ./radial mask --width 832 --height 480 --video-frames "$f" -o "masks/f$f.pbm" >/dev/null; done
    PYTHONUNBUFFERED=1 timeout 240 python3 torch_peers.py --frames "$FRAMES" --masks masks --reps "$REPS" --warmup "$WARMUP" \
      --json "$OUT/peers.json" 2>&1 | grep -v Warning | tee "$OUT/peers.log"
    ;;
  esac
done
