#!/bin/sh
# rad_compare must pass identical tensors and fail where it should: exit 1 on a failed comparison, 2 on a usage
# or file error. Two golden files stand in for "output" and "golden" (same shapes, different values).
set -u
a=$RAD_TEST_DATA/cases/unipc.safetensors
b=$RAD_TEST_DATA/cases/unipc_diffusers.safetensors
fail() { echo "rad_compare_selftest: $*"; exit 1; }
expect() { # expect CODE ARGS...
  want=$1; shift
  "$RAD_COMPARE" "$@" >/dev/null 2>&1
  rc=$?
  [ "$rc" = "$want" ] || fail "expected exit $want, got $rc: rad_compare $*"
}
expect 0 --mode rel --tol 0 "$a" "$a" 'x_*' sigmas
expect 0 --mode exact "$a" "$a" timesteps x_init
expect 0 --mode maxabs --tol 0 "$a" "$a" 'v_*'
expect 1 --mode rel --tol 1e-3 "$a" "$b" x_000          # different values
expect 1 --mode maxabs --tol 1e-3 "$a" "$b" x_init
expect 1 --mode exact "$a" "$b" x_000
expect 1 --mode exact "$a" "$b" timesteps              # different shapes ([8] vs [10])
expect 1 --mode rel --tol 1 "$a" "$b" v_000            # missing in the golden
expect 1 --mode rel --tol 1 "$b" "$a" v_000            # missing in the output
expect 1 --mode rel --tol 1 "$a" "$a" 'nope*'          # a prefix that matches nothing
expect 2 --mode rel "$a" "$a" x_000                    # no tolerance
expect 2 --mode exact "$a" /nonexistent x_000
expect 2 --mode fuzzy --tol 1 "$a" "$a" x_000
expect 2 "$a" "$a"
echo "rad_compare_selftest passed"
