#!/bin/sh
# Development helper for the lent GPU machine (the device tool sends the main checkout plus the paths named in
# `carry`). Copies what bench/device/run.sh needs from this checkout's build-dev (configured with
# -DRADIAL_FFMPEG=OFF -DRADIAL_STATIC_DEPS=ON, since that machine lacks the -dev libraries) into
# <main checkout>/.devcarry/run (git-ignored): ctest's files of every folder, the GPU test programs, the CLI,
# rad_compare, the scripts, and the path of this checkout so that ctest's absolute paths can be recreated there.
# The folder is packed as .devcarry/run.tar.xz (the test programs share most of their bytes: 44 MB become about
# 2 MB, under the device's 64 MiB transfer limit), with the pruned diffusers source of .devcarry/py (when present)
# as .devcarry/py.tar.xz. Then call the device with carry [".devcarry/run.tar.xz", ".devcarry/py.tar.xz"] and
# `tar xJf .devcarry/run.tar.xz -C .devcarry && sh .devcarry/run/run.sh SECTIONS` (run.sh unpacks py.tar.xz).
set -eu
main=$(git worktree list --porcelain | awk '/^worktree /{w=$2} /^branch refs\/heads\/main$/{print w; exit}')
D=$main/.devcarry/run
rm -rf "$D"
mkdir -p "$D/build-dev"
(cd build-dev && find . -name CTestTestfile.cmake | while read -r f; do
  mkdir -p "$D/build-dev/$(dirname "$f")" && cp "$f" "$D/build-dev/$f"; done)
for f in radial tests/tools/rad_compare $(cd build-dev && ls tests/cuda/test_* tests/cuda/cuda_* 2>/dev/null | grep -v '\.'); do
  mkdir -p "$D/build-dev/$(dirname "$f")"
  cp "build-dev/$f" "$D/build-dev/$f" && strip "$D/build-dev/$f"
done
cp bench/device/run.sh bench/torch_peers.py bench/device/make_formats.py bench/device/make_pipeline.py \
  bench/device/peer_pipeline.py bench/device/peer_dit.py "$D/"
pwd > "$D/source_dir"
git describe --always --dirty > "$D/commit"
du -sh "$D"
tar cJf "$main/.devcarry/run.tar.xz" -C "$main/.devcarry" run
if [ -d "$main/.devcarry/py" ]; then tar cJf "$main/.devcarry/py.tar.xz" -C "$main/.devcarry" py; fi
ls -la "$main/.devcarry/"*.tar.xz
