#!/bin/sh
# Copies what bench/device_gpuperf.sh needs into /work/main/.devcarry/gpuperf (git-ignored there; the device call
# carries it): this worktree's build-dev (ctest's files of every folder, the GPU test programs, cuda_conv_bench,
# the CLI, rad_compare) and the CLI of the base commit as radial_base (built by the caller in $BASE_BUILD), all
# stripped, and the device script. Run from the worktree root after building build-dev and the base.
set -eu
D=/work/main/.devcarry/gpuperf
BASE_BUILD=${BASE_BUILD:-/tmp/base-src/build}
rm -rf "$D"
mkdir -p "$D/wt"
(cd build-dev && find . -name CTestTestfile.cmake | while read -r f; do mkdir -p "$D/wt/build-dev/$(dirname "$f")"; cp "$f" "$D/wt/build-dev/$f"; done)
for f in radial tests/cuda/test_cuda_attention tests/cuda/test_cuda_backend tests/cuda/test_cuda_conv_fused \
         tests/cuda/cuda_has_gpu tests/cuda/cuda_conv_bench tests/tools/rad_compare; do
  cp build-dev/$f "$D/wt/build-dev/$f"
  strip "$D/wt/build-dev/$f"
done
cp "$BASE_BUILD/radial" "$D/radial_base"
strip "$D/radial_base"
cp bench/device_gpuperf.sh "$D/"
du -sh "$D"
