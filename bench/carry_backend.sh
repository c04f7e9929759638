#!/bin/sh
# Copies what bench/device_backend.sh needs from this worktree's build-dev into /work/main/.devcarry/cudabe
# (git-ignored there; the device call carries it): ctest's files of every folder, the GPU test programs, the
# CLI, rad_compare and the device script. Run from the worktree root after building build-dev.
set -eu
D=/work/main/.devcarry/cudabe
rm -rf "$D"
mkdir -p "$D/wt"
(cd build-dev && find . -name CTestTestfile.cmake | while read -r f; do mkdir -p "$D/wt/build-dev/$(dirname "$f")"; cp "$f" "$D/wt/build-dev/$f"; done)
for f in radial tests/cuda/test_cuda_attention tests/cuda/test_cuda_backend tests/cuda/cuda_has_gpu tests/tools/rad_compare; do
  cp build-dev/$f "$D/wt/build-dev/$f"
done
cp bench/device_backend.sh "$D/"
du -sh "$D"
