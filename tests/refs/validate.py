"""Checks the pure-Python reference (wan_ref.py) against the golden cases made by the official code:
tests/data/cases/{dit_forward,t5_forward,vae_decode}.safetensors. Prints ‖ref − golden‖/‖golden‖ and the
largest absolute difference for each, and exits 1 if any relative error is at or above 1e-5.
Run from anywhere: python3 tests/refs/validate.py [dit] [t5] [vae]"""
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
import wan_ref  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
ORIG = os.path.join(DATA, "tiny-wan-original")


def rel_err(out, ref):
    num = math.sqrt(sum((a - b) ** 2 for a, b in zip(out, ref)))
    den = math.sqrt(sum(b * b for b in ref))
    return num / den, max(abs(a - b) for a, b in zip(out, ref))


def case(name):
    t, _ = st.read(os.path.join(DATA, "cases", name + ".safetensors"))
    return t


def check_dit():
    c = case("dit_forward")
    _, (C, T, H, W), x = c["x"]
    _, (L, td), ctx = c["context"]
    v = wan_ref.Dit(ORIG).forward(x, T, H, W, float(c["t"][2][0]), [ctx[i * td : (i + 1) * td] for i in range(L)])
    return rel_err(v, c["v"][2])


def check_t5():
    c = case("t5_forward")
    rows = wan_ref.T5(os.path.join(ORIG, "models_t5_tiny_wan_names.safetensors")).forward(c["ids"][2])
    return rel_err([v for r in rows for v in r], c["hidden"][2])


def check_vae():
    c = case("vae_decode")
    _, (C, T, H, W), z = c["latent"]
    video, shape = wan_ref.VaeDecoder(os.path.join(ORIG, "wan_vae_tiny.safetensors")).decode(z, T, H, W)
    if shape != c["video"][1]:
        raise SystemExit("vae: shape %s, golden %s" % (shape, c["video"][1]))
    return rel_err(video, c["video"][2])


if __name__ == "__main__":
    which = sys.argv[1:] or ["dit", "t5", "vae"]
    ok = True
    for m in which:
        t0 = time.time()
        rel, mx = {"dit": check_dit, "t5": check_t5, "vae": check_vae}[m]()
        ok &= rel < 1e-5
        print("%-4s rel %.3e  max abs %.3e  (%.1f s)" % (m, rel, mx, time.time() - t0), flush=True)
    sys.exit(0 if ok else 1)
