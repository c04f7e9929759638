#!/bin/sh
# One device call on the lent GPU machine, from the repository root with .devcarry/run carried (see carry.sh).
# Logs go to $OUT. Sections, in the order given (default: env test):
#   env        card, driver, that the binary finds cuBLAS
#   test       every GPU test (ctest -L gpu) of the carried build
#   memcheck   compute-sanitizer memcheck over the CUDA backend's op test
#   attention  radial bench attention at 81,161,241 frames, then the PyTorch peers with the same masks
#   portable   issue 13's record: the portable attention kernel forced beside v3 and SDPA flash, forwards with each,
#              the GPU tests with the portable path forced
#   attnfp8    the fp8 attention kernel beside the bf16 one at 81,161,241 frames, 2-4 stages
#   dit        whole 1.3B forwards at 81 and 241 frames (dense, radial) and one block per op family
#   conv       cuda_conv_bench: the VAE's conv3d layers at 480x832, implicit GEMM and im2col, per layer
#   vae        the VAE decode at 480x832x81 (random weights at the real shapes), then a profiled one (its table)
#   base       this build against radial_base (another commit's CLI put in .devcarry/run by hand): one DiT block
#              per op family and the VAE decode, one after the other on the same card
#   pipeline   the tiny model end to end, dense and radial
#   ux         radial generate as a user types it (no --backend: it must take the GPU and say so), --rng torch-cuda
#   formats    full-size 1.3B DiT files made here (bf16, scaled fp8, GGUF Q4_0; make_formats.py): load time, device
#              memory after load, forward time, and each output's error against the bf16 file's
#   memory     a full-size 1.3B diffusers folder made here (/tmp/wan13, make_pipeline.py), radial generate at
#              480x832x81 dense and x241 radial, and diffusers' WanPipeline at x81 (peer_pipeline.py): time and
#              peak device memory per phase
#   fewstep    radial bench pipeline --preset fewstep (the lightx2v 4-step recipe) on /tmp/wan13 (made when missing)
#   fastmodes  whole 1.3B forwards in bf16, fp8 GEMMs, fp8 attention and both: time and error against bf16
#   dit14      one whole 14B forward at 1280x720x81, dense and radial, beside diffusers' WanTransformer3DModel
#              on the same files (/tmp/wan14/transformer; peer_dit.py)
#   memory14   the 14B DiT beside it (/tmp/wan14, the rest linked from /tmp/wan13: run memory first), radial generate
#              at 1280x720x81 resident and --offload, and diffusers' WanPipeline there
#   profile    bench/PROFILE.md: Nsight Compute SM cycles of one dense and one radial self-attention call at 241 frames
#              (the seed's measurement), an Nsight Systems capture of the tiny model's pipeline (stages and op
#              families by name), and the built-in profile table (radial bench pipeline --profile); without ncu or
#              nsys their parts say so and are skipped
#   kprof      Nsight Compute's detailed sections (speed of light, warp stalls, pipes, memory) of the VAE's conv
#              kernel (3x3 taps, BN 96: a 192-channel layer), and of the portable attention kernel at 81 frames dense:
#              what limits them; $OUT/ncu_conv.txt, $OUT/ncu_fa2.txt
#   profilefull  the built-in profile table of full-size generations (/tmp/wan13: run memory first) at 480x832, 81
#              frames dense and radial and 241 frames radial
#   preset     radial bench pipeline --preset standard|long (PRESET=, default standard) on /tmp/wan13 (run memory
#              first), dense and radial, then diffusers' WanPipeline on the same folder; JSON records and the
#              RESULTS.md section in $OUT (see the section for ATTN=, WARMUP=, PEER=, PROFILE=)
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
if [ -f "$R/.devcarry/py.tar.xz" ] && [ ! -d "$R/.devcarry/py" ]; then tar xJf "$R/.devcarry/py.tar.xz" -C "$R/.devcarry"; fi
export PYTHONPATH=$R/.devcarry/py${PYTHONPATH:+:$PYTHONPATH}
PROMPT="a red panda drinking tea in a bamboo forest"
# show LOG RC PATTERN: the lines of LOG that match PATTERN; after a failure also the exit status and the log's end
show() { grep -E "$3" "$1"; [ "$2" = 0 ] || { echo "exit $2"; tail -6 "$1"; }; }
# find_tool NAME: the path of an Nsight tool (PATH, the CUDA toolkit, the standalone installs), or nothing
find_tool() {
  command -v "$1" 2>/dev/null && return
  for f in /usr/local/cuda/bin/$1 /opt/nvidia/nsight-compute/*/$1 /opt/nvidia/nsight-systems/*/bin/$1; do
    [ -x "$f" ] && { echo "$f"; return; }
  done
}
# make13: the full-size 1.3B diffusers folder /tmp/wan13 (random weights, ~1-2 min), unless an earlier call on this
# warm machine made it
make13() {
  if [ -f /tmp/wan13/model_index.json ]; then echo "/tmp/wan13: made by an earlier call"; return; fi
  PYTHONUNBUFFERED=1 timeout 210 python3 "$C/make_pipeline.py" /tmp/wan13 --size 1.3b \
    --spiece "$R/tests/data/tiny-wan/tokenizer/spiece.model" > "$OUT/make13.log" 2>&1
  show "$OUT/make13.log" $? "^(make_pipeline|tokenizer|transformer|text_encoder|vae):"
}
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
  portable)
    # Issue 13's record in one call: the portable (FlashAttention-2-style, sm_80+) kernel forced on this Hopper card
    # beside the Hopper kernel and PyTorch's SDPA flash (FA2) on the same shapes, then whole 1.3B forwards with each
    # path, and the GPU tests with the portable path forced. About 3 min.
    mkdir -p "$OUT/masks"
    timeout 150 "$B/radial" bench attention --frames 81,161,241 --kernel v3,portable --mode dense,radial --reps 10 \
      --warmup 3 --seed 7 --json "$OUT/attn_portable.json"
    for f in 81 161 241; do "$B/radial" mask --width 832 --height 480 --video-frames $f -o "$OUT/masks/f$f.pbm" >/dev/null; done
    timeout 120 python3 "$C/torch_peers.py" --frames 81,161,241 --masks "$OUT/masks" --reps 10 --warmup 3 --peers flash
    for k in "" portable; do
      echo "--- forward, attention kernel ${k:-auto}"
      RADIAL_ATTN_KERNEL=$k timeout 90 "$B/radial" bench dit --backend cuda --forward --latent-frames 21 --token-rows 30 \
        --token-cols 52 --attention dense,radial --reps 3 | grep -E "^forward"
    done
    (cd "$B" && RADIAL_ATTN_KERNEL=portable timeout 300 ctest -L gpu -j3 --output-on-failure) > "$OUT/gpu_tests_portable.log" 2>&1
    grep -E "tests passed|tests failed|\*\*\*" "$OUT/gpu_tests_portable.log"
    ;;
  attnfp8)
    # issue 10 scope 3: the fp8 kernel beside the bf16 one, 2-4 stages
    timeout 200 "$B/radial" bench attention --frames 81,161,241 --attention-precision fp8 \
      --fp8-stages 2,3,4 --reps 20 --warmup 3 --seed 7 --json "$OUT/attn_fp8.json"
    ;;
  dit)
    timeout 120 "$B/radial" bench dit --backend cuda --forward --latent-frames 21 --token-rows 30 --token-cols 52 --attention dense,radial --reps 5
    timeout 150 "$B/radial" bench dit --backend cuda --forward --latent-frames 61 --token-rows 30 --token-cols 52 --attention dense,radial --reps 3
    timeout 60 "$B/radial" bench dit --backend cuda --latent-frames 21 --token-rows 30 --token-cols 52 --reps 5
    ;;
  vae)
    timeout 100 "$B/radial" bench vae --backend cuda --profile
    ;;
  base)
    # This build against radial_base (another commit's CLI placed in .devcarry/run by hand, same flags) on the same
    # card: one DiT block per op family at 32,760 tokens, the VAE decode at 480x832x81, a whole dense forward; then
    # the two forwards' outputs compared (relative L2, the bf16-noise bound 2e-3).
    if [ ! -x "$C/radial_base" ]; then echo "no radial_base carried"; continue; fi
    for bin in "$B/radial" "$C/radial_base"; do
      echo "--- $bin"
      timeout 60 "$bin" bench dit --backend cuda --latent-frames 21 --token-rows 30 --token-cols 52 --reps 5 | grep -E "block|linear|attention|other"
      timeout 100 "$bin" bench vae --backend cuda | tail -3
      timeout 60 "$bin" bench dit --backend cuda --forward --latent-frames 21 --token-rows 30 --token-cols 52 --reps 1 \
        --attention dense --out "$OUT/base_v_$(basename "$bin").safetensors" | grep -E "forward"
    done
    # the same outputs (issue 9): the two builds' whole 30-block forwards on the same random weights and input
    "$B/tests/tools/rad_compare" --mode rel --tol 2e-3 "$OUT/base_v_radial.safetensors" "$OUT/base_v_radial_base.safetensors" v
    rm -f "$OUT"/base_v_*.safetensors
    ;;
  conv)
    # the VAE's conv3d layers at 480x832 (one decode chunk each), implicit GEMM against im2col; needs no model
    timeout 120 "$B/tests/cuda/cuda_conv_bench" 5
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
  memory)
    # Expected about 5 min: the folder ~1-2 min (14.7 GB drawn on the GPU and written; kept for later calls on the same
    # warm machine), radial ~0.5 min at 81 frames and ~1 min at 241 (4 steps; radial's dense_steps default is
    # min(12, 4/4) = 1), diffusers ~1.5 min (its load included). The videos of random weights go to a temporary
    # folder; the JSON summaries and logs to $OUT.
    M=/tmp/wan13 d=$(mktemp -d) rg="^(time|memory|load):|^wrote "
    make13
    echo "--- radial 480x832x81 dense"
    timeout 75 "$B/radial" generate --model "$M" -W 832 -H 480 --frames 81 --steps 4 --seed 1 -p "$PROMPT" \
      -o "$d/r81.y4m" --json "$OUT/r81.json" > "$OUT/r81.log" 2>&1
    show "$OUT/r81.log" $? "$rg"
    echo "--- radial 480x832x241 radial"
    timeout 120 "$B/radial" generate --model "$M" -W 832 -H 480 --frames 241 --steps 4 --seed 1 -p "$PROMPT" \
      --attention radial -o "$d/r241.y4m" --json "$OUT/r241.json" > "$OUT/r241.log" 2>&1
    show "$OUT/r241.log" $? "$rg"
    echo "--- diffusers WanPipeline 480x832x81"
    PYTHONUNBUFFERED=1 timeout 165 python3 "$C/peer_pipeline.py" "$M" --width 832 --height 480 --frames 81 --steps 4 \
      --seed 1 --json "$OUT/d81.json" > "$OUT/d81.log" 2>&1
    show "$OUT/d81.log" $? "^peer"
    rm -rf "$d"
    nvidia-smi --query-gpu=memory.used --format=csv
    ;;
  memory14)
    # Expected about 8 min in all, inside one 10-minute call: the 14B DiT ~1-2 min (28.6 GB of bf16 shards drawn on the
    # GPU; the umT5, tokenizer, VAE and scheduler are symlinks to /tmp/wan13's, the same models as on the Hub), each
    # radial run ~1.5 min at 1280x720x81 (75,600 tokens; 2 steps = 4 forwards of ~10 s, the VAE ~30 s, 40 GB
    # loaded), diffusers ~2.5 min (its load of 40 GB included). /tmp/wan13 comes from the memory section (an
    # earlier call on the same warm machine).
    if [ ! -f /tmp/wan13/model_index.json ]; then echo "no /tmp/wan13: run the memory section first"; continue; fi
    M=/tmp/wan14 d=$(mktemp -d) rg="^(time|memory|load):|^wrote "
    if [ -f "$M/model_index.json" ]; then echo "$M: made by an earlier call"; else
      PYTHONUNBUFFERED=1 timeout 150 python3 "$C/make_pipeline.py" "$M" --size 14b --transformer-only \
        --link-rest /tmp/wan13 > "$OUT/make14.log" 2>&1
      show "$OUT/make14.log" $? "^(make_pipeline|transformer|text_encoder|tokenizer|vae|scheduler):"
    fi
    echo "--- radial 14B 720x1280x81, resident"
    timeout 120 "$B/radial" generate --model "$M" -W 1280 -H 720 --frames 81 --steps 2 --seed 1 -p "$PROMPT" \
      -o "$d/r14.y4m" --json "$OUT/r14.json" > "$OUT/r14.log" 2>&1
    show "$OUT/r14.log" $? "$rg"
    echo "--- radial 14B 720x1280x81, --offload"
    timeout 130 "$B/radial" generate --model "$M" -W 1280 -H 720 --frames 81 --steps 2 --seed 1 -p "$PROMPT" \
      --offload -o "$d/r14o.y4m" --json "$OUT/r14o.json" > "$OUT/r14o.log" 2>&1
    show "$OUT/r14o.log" $? "$rg"
    echo "--- diffusers WanPipeline 14B 720x1280x81"
    PYTHONUNBUFFERED=1 timeout 180 python3 "$C/peer_pipeline.py" "$M" --width 1280 --height 720 --frames 81 --steps 2 \
      --seed 1 --json "$OUT/d14.json" > "$OUT/d14.log" 2>&1
    show "$OUT/d14.log" $? "^peer"
    rm -rf "$d"
    nvidia-smi --query-gpu=memory.used --format=csv
    ;;
  profile)
    # Expected about 2 min. Nsight Compute: each mode in its own process (radial bench attention, one warm-up launch
    # outside any range, then one launch inside the NVTX range "attention dense" or "attention radial"); the range
    # picks that launch, and when no kernel matches it (an ncu whose NVTX filter differs) the kernel name does
    # (regex attn_, the second launch). The counters need profiling permission (root, or the driver's
    # NVreg_RestrictProfilingToAdminUsers=0): ncu says ERR_NVGPUCTRPERM otherwise, shown below.
    NCU=$(find_tool ncu) NSYS=$(find_tool nsys)
    MET=sm__cycles_elapsed.max,sm__cycles_elapsed.avg,sm__cycles_active.avg,gpu__time_duration.sum,launch__grid_size
    if [ -z "$NCU" ]; then
      echo "ncu: not found (PATH, /usr/local/cuda/bin, /opt/nvidia/nsight-compute/*): the SM-cycle measurement is skipped"
    else
      echo "ncu: $NCU ($("$NCU" --version 2>&1 | tail -1))"
      for m in dense radial; do
        L=$OUT/ncu_attention_$m
        timeout 240 "$NCU" --nvtx --nvtx-include "attention $m/" --metrics $MET --csv --page raw --log-file "$L.csv" \
          "$B/radial" bench attention --frames 241 --mode $m --warmup 1 --reps 1 --seed 1 > "$L.out" 2>&1
        rc=$?
        if ! grep -q '^"ID"' "$L.csv" "$L.out" 2>/dev/null; then
          echo "ncu $m: no kernel in the NVTX range 'attention $m' (exit $rc); picking it by kernel name"
          timeout 240 "$NCU" -k regex:attn_ --launch-skip 1 --launch-count 1 --metrics $MET --csv --page raw \
            --log-file "$L.csv" "$B/radial" bench attention --frames 241 --mode $m --warmup 1 --reps 1 --seed 1 \
            > "$L.out" 2>&1
          rc=$?
        fi
        grep -q '^"ID"' "$L.csv" "$L.out" 2>/dev/null || { echo "ncu $m: nothing measured (exit $rc):"; tail -5 "$L.csv" "$L.out"; }
        grep -E "^ +241 " "$L.out"
      done
      # the two rows side by side, and $OUT/ncu_attention.json for the record (the CSV is in the log file, or on
      # stdout with the benchmark's own lines for an ncu that prints it there)
      python3 - "$OUT" <<'PY'
import csv, json, sys
out, res = sys.argv[1], {}
for mode in ("dense", "radial"):
    lines = []
    for ext in ("csv", "out"):
        try:
            lines += open(f"{out}/ncu_attention_{mode}.{ext}", errors="replace").read().splitlines()
        except OSError:
            pass
    start = next((i for i, l in enumerate(lines) if l.startswith('"ID"')), None)
    if start is None:
        continue
    rows = list(csv.reader(lines[start:]))
    head, data = rows[0], [r for r in rows[2:] if len(r) == len(rows[0])]  # rows[1]: the units
    if not data:
        continue
    r = dict(zip(head, data[0]))
    num = lambda k: float(r[k].replace(",", "")) if r.get(k, "").replace(",", "").replace(".", "").isdigit() else None
    res[mode] = {"kernel": r.get("Kernel Name", "?"), **{k: num(k) for k in head if k.startswith(("sm__", "gpu__", "launch__"))}}
    m = res[mode]
    print(f"ncu {mode:6s}: sm__cycles_elapsed.max {m.get('sm__cycles_elapsed.max')}, sm__cycles_active.avg "
          f"{m.get('sm__cycles_active.avg')}, {m.get('gpu__time_duration.sum')} ns ({m['kernel'][:60]})")
if len(res) == 2 and res["dense"].get("sm__cycles_elapsed.max") and res["radial"].get("sm__cycles_elapsed.max"):
    d, q = res["dense"]["sm__cycles_elapsed.max"], res["radial"]["sm__cycles_elapsed.max"]
    res["radial_over_dense_cycles"] = q / d
    print(f"ncu radial / dense SM cycles (elapsed.max): {q / d:.3f} ({q / 1e6:.1f}M vs {d / 1e6:.1f}M; the seed: ~9M vs ~30M)")
json.dump(res, open(f"{out}/ncu_attention.json", "w"), indent=2)
PY
    fi
    # Nsight Systems: the tiny model's pipeline on the GPU (4 steps; the bench's warm-up, timed and profiled runs),
    # NVTX ranges of every stage and op family on the timeline; the summaries by range and by kernel
    if [ -z "$NSYS" ]; then
      echo "nsys: not found (PATH, /usr/local/cuda/bin, /opt/nvidia/nsight-systems/*/bin): the timeline capture is skipped"
    else
      echo "nsys: $NSYS ($("$NSYS" --version 2>&1 | tail -1))"
      timeout 180 "$NSYS" profile --trace=cuda,nvtx --sample=none --cpuctxsw=none --force-overwrite=true \
        -o "$OUT/nsys_pipeline" "$B/radial" bench pipeline --backend cuda --reps 1 --steps 4 > "$OUT/nsys_pipeline.log" 2>&1
      show "$OUT/nsys_pipeline.log" $? "^\| (model|/)"
      { "$NSYS" stats --report nvtx_sum --report cuda_gpu_kern_sum "$OUT/nsys_pipeline.nsys-rep" ||
        "$NSYS" stats --report nvtxsum --report gpukernsum "$OUT/nsys_pipeline.nsys-rep"; } > "$OUT/nsys_stats.txt" 2>&1
      grep -E "dit\.block|dit\.forward|vae\.decode|text_encoder|attention (dense|radial|cross)|gemm" "$OUT/nsys_stats.txt" | head -12
      rm -f "$OUT/nsys_pipeline.sqlite"
    fi
    # the built-in table (no tool needed): CUDA events around every op, tiny model, dense and radial
    timeout 60 "$B/radial" bench pipeline --backend cuda --reps 3 --profile --json "$OUT/profile_tiny_dense.json"
    timeout 60 "$B/radial" bench pipeline --backend cuda --reps 3 --attention radial --profile \
      --json "$OUT/profile_tiny_radial.json" | grep -E "^\| (attention|op family|other)|self-attention per call"
    ;;
  kprof)
    NCU=$(find_tool ncu)
    if [ -z "$NCU" ]; then echo "ncu: not found: kprof skipped"; continue; fi
    SEC="--section SpeedOfLight --section WarpStateStats --section SchedulerStats --section ComputeWorkloadAnalysis \
      --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats --section InstructionStats"
    # shellcheck disable=SC2086
    timeout 200 "$NCU" $SEC --kernel-name-base demangled -k "regex:conv_halo_kernel<\\(int\\)6, \\(int\\)3>" --launch-skip 1 --launch-count 3 \
      "$B/tests/cuda/cuda_conv_bench" 1 > "$OUT/ncu_conv.txt" 2>&1
    echo "ncu conv: exit $?"; grep -E "conv_halo|Duration|Compute \(SM\) Throughput|Memory Throughput|Stall|Issue Slots Busy|Registers|Achieved Occupancy" "$OUT/ncu_conv.txt" | head -40
    # shellcheck disable=SC2086
    timeout 200 "$NCU" $SEC -k regex:attn_fa2 --launch-skip 1 --launch-count 1 \
      "$B/radial" bench attention --frames 81 --kernel portable --mode dense --warmup 1 --reps 1 --seed 1 > "$OUT/ncu_fa2.txt" 2>&1
    echo "ncu fa2: exit $?"; grep -E "attn_fa2|Duration|Compute \(SM\) Throughput|Stall|Issue Slots Busy|Achieved Occupancy" "$OUT/ncu_fa2.txt" | head -30
    ;;
  profilefull)
    # Expected about 4 min: radial bench pipeline --profile on the full-size 1.3B folder of the memory section, 4 steps
    # (radial: the first step dense, the first block of every step dense), one warm-up, one timed and one
    # profiled run each; the tables and JSON records go to $OUT.
    M=/tmp/wan13
    if [ ! -f "$M/model_index.json" ]; then echo "no $M: run the memory section first"; continue; fi
    for run in 81:dense 81:radial 241:radial; do
      f=${run%:*} a=${run#*:}
      echo "--- 480x832x$f $a"
      timeout 200 "$B/radial" bench pipeline --model "$M" --backend cuda --width 832 --height 480 --frames $f --steps 4 --reps 1 \
        --attention $a --profile --json "$OUT/profile_${f}_$a.json" > "$OUT/profile_${f}_$a.md" 2>&1
      show "$OUT/profile_${f}_$a.md" $? \
        "^(\| (/|all|· (generate|· (text_encoder|denoise|decode))|op family|gemm|attention|norm|rope|elementwise|conv|transfer|other)|self-attention)"
    done
    ;;
  preset)
    # The seed project's two measurements as commands (issue 9): 480x832, 81 (standard) or 241 (long) frames, 50
    # steps, CFG 5, dense and radial (radial: the first 12 steps and the first block dense), from the bench's own
    # warm-up (its total is the "first run (loads)" column), then diffusers' WanPipeline, dense, on the same files.
    # ATTN=dense|radial|dense,radial (dense,radial), WARMUP=0|1 (1; 0: the first timed run loads the models),
    # PEER=0 skips diffusers, PROFILE=1 adds the profiled run. Expected at 81 frames ~4 min (2 x 68 s dense, 2 x 55 s
    # radial) + ~1.5 min diffusers; at 241 frames one dense generation alone is ~6 min: PRESET=long ATTN=radial
    # WARMUP=0 (~3.5 min) and the dense one in another call.
    M=/tmp/wan13 P=${PRESET:-standard}
    if [ ! -f "$M/model_index.json" ]; then echo "no $M: run the memory section first"; continue; fi
    case $P in standard) F=81 ;; long) F=241 ;; *) echo "PRESET=$P: expected standard or long"; continue ;; esac
    timeout 560 "$B/radial" bench pipeline --model "$M" --backend cuda --preset "$P" --attention "${ATTN:-dense,radial}" \
      --warmup "${WARMUP:-1}" ${PROFILE:+--profile} --record "$OUT/RESULTS-$P.md" --json "$OUT/preset_$P.json" \
      > "$OUT/preset_$P.log" 2>&1
    show "$OUT/preset_$P.log" $? "^(\| (model|/)|radial.s speed-up|\(medians)"
    if [ "${PEER:-1}" != 0 ]; then
      echo "--- diffusers WanPipeline 480x832x$F, 50 steps"
      PYTHONUNBUFFERED=1 timeout 400 python3 "$C/peer_pipeline.py" "$M" --width 832 --height 480 --frames $F --steps 50 \
        --seed 42 --prompt "A cat walks on the grass, realistic" --json "$OUT/peer_$P.json" > "$OUT/peer_$P.log" 2>&1
      show "$OUT/peer_$P.log" $? "^peer"
    fi
    ;;
  fewstep)
    # Issue 7: the lightx2v 4-step recipe (Euler, timesteps 1000,750,500,250, shift 5, guidance 1) on the full-size
    # 1.3B folder at 480x832x81, dense and radial (radial: the first step dense), 3 timed runs after a warm-up that
    # loads; about 2 min with the folder made here
    make13
    timeout 240 "$B/radial" bench pipeline --model /tmp/wan13 --backend cuda --preset fewstep \
      --record "$OUT/RESULTS-fewstep.md" --json "$OUT/fewstep.json" > "$OUT/fewstep.log" 2>&1
    show "$OUT/fewstep.log" $? "^(\| (model|/)|schedule|radial.s speed-up|\(medians)"
    ;;
  fastmodes)
    # Issue 10 scope 5: the fast modes alone and combined on whole 1.3B forwards (random weights, 30 blocks): time
    # and the output's relative L2 error against the bf16 path with the same attention, at 81 frames dense and
    # radial and 241 frames radial. About 2 min.
    for grid in "21 30 52 dense" "21 30 52 radial" "61 30 52 radial"; do
      set -- $grid
      for m in bf16 gemm8 attn8 both; do
        case $m in bf16) fl= ;; gemm8) fl="--gemm fp8" ;; attn8) fl="--attention-precision fp8" ;;
          both) fl="--gemm fp8 --attention-precision fp8" ;; esac
        echo "--- $1 latent frames, $4, $m"
        timeout 90 "$B/radial" bench dit --backend cuda --forward --latent-frames $1 --token-rows $2 --token-cols $3 \
          --attention $4 --reps 3 $fl --out "$OUT/fm_$m.safetensors" | grep -E "^forward"
        [ $m = bf16 ] || "$B/tests/tools/rad_compare" --mode rel --tol 1 "$OUT/fm_$m.safetensors" \
          "$OUT/fm_bf16.safetensors" v | grep -E "^ok|FAIL"
      done
      rm -f "$OUT"/fm_*.safetensors
    done
    ;;
  dit14)
    # Issue 7's 14B forward: one whole 40-layer 1280x720x81 forward (75,600 tokens), dense and radial, on the 14B
    # transformer in the diffusers layout (/tmp/wan14 or /tmp/wan14t, made here when missing, ~1 min), then diffusers'
    # WanTransformer3DModel on the same files (peer_dit.py). About 4 min: two forwards each mode after a warm-up
    # (~11 s dense, ~7 s radial), the peer's load and 3 forwards (~12 s each).
    M=/tmp/wan14 # memory14's folder when an earlier call made it, else a transformer-only one of its own
    [ -f "$M/transformer/config.json" ] || M=/tmp/wan14t
    if [ -f "$M/transformer/config.json" ]; then echo "$M: made by an earlier call"; else
      PYTHONUNBUFFERED=1 timeout 150 python3 "$C/make_pipeline.py" "$M" --size 14b --transformer-only > "$OUT/make14.log" 2>&1
      show "$OUT/make14.log" $? "^(make_pipeline|transformer):"
    fi
    timeout 150 "$B/radial" bench dit --backend cuda --forward --model "$M/transformer" --latent-frames 21 --token-rows 45 \
      --token-cols 80 --attention dense,radial --reps 2 > "$OUT/dit14.log" 2>&1
    show "$OUT/dit14.log" $? "forward|peak|load|device"
    PYTHONUNBUFFERED=1 timeout 120 python3 "$C/peer_dit.py" "$M/transformer" --width 1280 --height 720 --frames 81 \
      --reps 2 --json "$OUT/peer_dit14.json" > "$OUT/peer_dit14.log" 2>&1
    show "$OUT/peer_dit14.log" $? "^peer_dit"
    ;;
  *) echo "unknown section $s" ;;
  esac
done
echo "=== end ($(date -u +%H:%M:%S))"
