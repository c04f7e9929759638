#!/bin/sh
# One device call on the lent GPU machine, from the repository root with .devcarry/run carried (see carry.sh).
# Logs go to $OUT. Sections, in the order given (default: env test):
#   env        card, driver, that the binary finds cuBLAS
#   test       every GPU test (ctest -L gpu) of the carried build
#   memcheck   compute-sanitizer memcheck over the CUDA backend's op test
#   attention  radial bench attention at 81,161,241 frames, then the PyTorch peers with the same masks
#   dit        whole 1.3B forwards at 81 and 241 frames (dense, radial) and one block per op family
#   vae        the VAE decode at 480x832x81 (random weights at the real shapes)
#   pipeline   the tiny model end to end, dense and radial
#   ux         radial generate as a user types it (no --backend: it must take the GPU and say so), --rng torch-cuda
#   formats    full-size 1.3B DiT files made here (bf16, scaled fp8, GGUF Q4_0; make_formats.py): load time, device
#              memory after load, forward time, and each output's error against the bf16 file's
set -u
OUT=${OUT:-./out}
mkdir -p "$OUT"
R=$PWD
C=$R/.devcarry/run
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}
# ctest's files name <source_dir>/{build-dev,tests}: recreate those paths here.
S=$(cat "$C/source_dir")
mkdir -p "$S" && ln -sfn "$C/build-dev" "$S/build-dev" && ln -sfn "$R/tests" "$S/tests"
B=$S/build-dev
echo "commit $(cat "$C/commit")"
for s in ${*:-env test}; do
  echo "=== $s ($(date -u +%H:%M:%S))"
  case $s in
  env)
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader
    ldd "$B/radial" | grep -i -E "cublas|not found"
    ;;
  test)
    (cd "$B" && timeout 300 ctest -L gpu -j3 --output-on-failure) > "$OUT/gpu_tests.log" 2>&1
    grep -E "Test +#|tests passed|tests failed|FAIL|SKIP|seed" "$OUT/gpu_tests.log" | tail -40
    ;;
  memcheck)
    timeout 120 compute-sanitizer --tool memcheck "$B/tests/cuda/test_cuda_backend" > "$OUT/memcheck.log" 2>&1
    tail -4 "$OUT/memcheck.log"
    ;;
  attention)
    mkdir -p "$OUT/masks"
    timeout 120 "$B/radial" bench attention --frames 81,161,241 --reps 20 --json "$OUT/attn.json" --csv "$OUT/attn.csv"
    for f in 81 161 241; do "$B/radial" mask --width 832 --height 480 --video-frames $f -o "$OUT/masks/f$f.pbm" >/dev/null; done
    timeout 150 python3 "$C/torch_peers.py" --frames 81,161,241 --masks "$OUT/masks" --reps 20 --warmup 5
    ;;
  dit)
    timeout 120 "$B/radial" bench dit --backend cuda --forward --latent-frames 21 --token-rows 30 --token-cols 52 --attention dense,radial --reps 5
    timeout 150 "$B/radial" bench dit --backend cuda --forward --latent-frames 61 --token-rows 30 --token-cols 52 --attention dense,radial --reps 3
    timeout 60 "$B/radial" bench dit --backend cuda --latent-frames 21 --token-rows 30 --token-cols 52 --reps 5
    ;;
  vae)
    timeout 100 "$B/radial" bench vae --backend cuda
    ;;
  pipeline)
    timeout 60 "$B/radial" bench pipeline --backend cuda --reps 3
    timeout 60 "$B/radial" bench pipeline --backend cuda --attention radial --reps 3
    ;;
  ux)
    d=$(mktemp -d)
    "$B/radial" generate --model "$R/tests/data/tiny-wan" -W 96 -H 64 --frames 9 --steps 4 --seed 1 -p "a boat" \
      -o "$d/x.y4m" --progress lines 2>&1 | grep -E "backend|denoising|wrote|step 4/4"
    "$B/radial" generate --model "$R/tests/data/tiny-wan" -W 96 -H 64 --frames 9 --steps 4 --seed 1 -p "a boat" \
      --rng torch-cuda -o "$d/y.y4m" -q && echo "torch-cuda noise: ok"
    rm -rf "$d"
    ;;
  formats)
    M=/tmp/radial_formats
    timeout 300 python3 "$C/make_formats.py" "$M"
    for m in dit_bf16.safetensors dit_fp8_scaled.safetensors dit-Q4_0.gguf; do
      echo "--- $m"
      timeout 120 "$B/radial" bench dit --backend cuda --forward --model "$M/$m" --latent-frames 21 --token-rows 30 --token-cols 52 \
        --attention dense,radial --reps 5 --out "$OUT/v_$m.safetensors"
    done
    for m in dit_fp8_scaled.safetensors dit-Q4_0.gguf; do
      "$B/tests/tools/rad_compare" --mode rel --tol 1 "$OUT/v_$m.safetensors" "$OUT/v_dit_bf16.safetensors.safetensors" v
    done
    rm -f "$OUT"/v_*.safetensors
    ;;
  *) echo "unknown section $s" ;;
  esac
done
echo "=== end ($(date -u +%H:%M:%S))"
