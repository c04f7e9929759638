#!/bin/sh
# radial compare from the command line: equal inputs print inf (text) and null (JSON) with SSIM 1; --json -
# writes JSON alone; a pair of tests/data/compare gives its reference PSNR; videos of different sizes and
# unreadable files exit 1 with a message naming both files and sizes; bad usage exits 2; eval outputs are read.
set -u
d=$RAD_TEST_DATA/compare
o=$RAD_TMP/compare_cli
mkdir -p "$o"
fail() { echo "compare_cli: $*"; exit 1; }
run() { # run CODE ARGS...: radial compare ARGS, stdout to $o/out, stderr to $o/err, exit code CODE
  want=$1; shift
  "$RADIAL" compare "$@" >"$o/out" 2>"$o/err"
  rc=$?
  [ "$rc" = "$want" ] || { cat "$o/err"; fail "expected exit $want, got $rc: radial compare $*"; }
}
has() { grep -q -- "$2" "$o/$1" || { cat "$o/$1"; fail "$1 lacks '$2'"; }; }

run 0 "$d/noise_a_%d.png" "$d/noise_a_%d.png"
has out '^0  *inf  *inf  *1\.000000  *1\.000000  *0  *0\.0000$'
has out '^all  *inf  *inf  *1\.000000  *1\.000000  *0  *0\.0000$'
run 0 "$d/noise_a_%d.png" "$d/noise_a_%d.png" --json "$o/same.json"
has out '^all  *inf'
has same.json '"psnr": null'
has same.json '"ssim_rgb": 1\.0,'
has same.json '"ssim_y": 1\.0,'
run 0 "$d/noise_a_%d.png" "$d/noise_b_%d.png" --json - --threads 1
head -c 1 "$o/out" | grep -q '{' || fail "--json - did not write JSON alone"
has out '"psnr": 26\.88472985'   # expected.txt: 26.884729850049148
has out '"frames": 2'
run 0 "$d/shift_a_%d.png" "$d/shift_b_%d.png" --summary
has out '^all  *14\.688  *17\.933  *0\.630760  *0\.627717  *240  *16\.8103$'
grep -q '^0 ' "$o/out" && fail "--summary printed a frame line"

run 1 "$d/noise_a_%d.png" "$d/smooth_a_%d.png"
has err "noise_a_%d.png is 40x32 (WxH), 2 frames, .*smooth_a_%d.png is 48x36 (WxH), 2 frames"
run 1 "$d/noise_a_%d.png" "$d/noise_a_0.png"
has err "noise_a_%d.png is 40x32 (WxH), 2 frames, .*noise_a_0.png is 40x32 (WxH), 1 frame$"
echo junk >"$o/junk.y4m"
run 1 "$o/junk.y4m" "$d/noise_a_0.png"
has err 'junk.y4m: not a YUV4MPEG2 file'
run 1 "$d/noise_a_0.png" "$o/missing.png"
has err 'missing.png: cannot open'
run 2 "$d/noise_a_0.png"
run 2 "$d/noise_a_0.png" "$d/noise_a_0.png" "$d/noise_a_0.png"
run 2 --bogus "$d/noise_a_0.png" "$d/noise_a_0.png"

p=$RAD_TEST_DATA/cases/pipeline.safetensors
run 0 "$p" "$p" --tensor-b frames_u8 --summary
has out "tensor 'video' F32 \[3, 9, 64, 96\]"
has out "tensor 'frames_u8' U8 \[9, 64, 96, 3\]"
run 0 "$p" "$p" --tensor frames_u8 --summary
has out '^all  *inf'
run 1 "$p" "$p" --tensor latent
run 0 --help
has out '^usage: radial compare A B'
rm -rf "$o"
echo "compare_cli: all checks passed"
