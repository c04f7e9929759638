"""Writes tests/data/cases_extra/*.safetensors: DiT, T5 and VAE cases at shapes other than the goldens', computed
by the pure-Python float64 reference wan_ref.py on the tiny models of tests/data/tiny-wan-original/. Same tensor
names as the goldens (dit: x, t, context -> v; t5: ids -> hidden; vae: latent -> video). Inputs are drawn from
Python's random with a fixed seed per case (CRC-32 of its name) and stored as F32; the reference computes on
those stored (rounded) values.
Run validate.py first: the cases are trustworthy because the same code reproduces the goldens.
Usage: python3 tests/refs/gen_cases.py [case-name-prefix ...]   (takes a few minutes; not run by ctest)"""
import array
import os
import random
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
import wan_ref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ORIG = os.path.join(HERE, "..", "data", "tiny-wan-original")
OUT = os.path.join(HERE, "..", "data", "cases_extra")
GENERATOR = "tests/refs/gen_cases.py (pure-Python float64 reference)"


def f32(vals):
    """Rounds to float32, as the values will be stored."""
    return array.array("f", vals).tolist()


def gauss(rng, n):
    return f32([rng.gauss(0.0, 1.0) for _ in range(n)])


# name: (T, H, W, context rows, timestep). Edge cases: T=1 with a single token and a single context row; t=1 and
# t=999 at the ends of the schedule; non-square grids; RoPE positions beyond the golden's 3x4x6 grid (f up to 8,
# w up to 19); a context of exactly text_len = 512 rows (no padding).
DIT_CASES = {
    "dit_t1_h2_w2_l1": (1, 2, 2, 1, 999),
    "dit_t2_h4_w6_l12": (2, 4, 6, 12, 1),
    "dit_t4_h2_w8_l5": (4, 2, 8, 5, 500),
    "dit_t9_h2_w2_l3": (9, 2, 2, 3, 250),
    "dit_t1_h2_w40_l30": (1, 2, 40, 30, 37),
    "dit_t1_h4_w2_l512": (1, 4, 2, 512, 820),
}
# name: number of ids (random text ids, then eos 1). 40 ids reach buckets 0..12 both ways; 140 ids reach every
# bucket, including distances beyond max_distance 128 (clamped to bucket 15/31).
T5_CASES = {"t5_ids1": 1, "t5_ids40": 40, "t5_ids140": 140}
# name: latent (T, H, W). T=1 decodes one frame (no temporal upsampling at all); T=4 runs the chunk cache over
# three later chunks; 1x1 and odd sizes check the spatial padding.
VAE_CASES = {
    "vae_t1_h2_w2": (1, 2, 2),
    "vae_t2_h2_w4": (2, 2, 4),
    "vae_t4_h1_w1": (4, 1, 1),
    "vae_t2_h3_w5": (2, 3, 5),
    "vae_t5_h2_w3": (5, 2, 3),
}


def meta(**kw):
    m = {"generator": GENERATOR, "model": "tiny-wan (tests/data/tiny-wan-original)"}
    m.update({k: str(v) for k, v in kw.items()})
    return m


def gen_dit(name, seed):
    T, H, W, L, t = DIT_CASES[name]
    rng = random.Random(seed)
    dit = wan_ref.Dit(ORIG)
    cin, td = dit.cfg["in_dim"], dit.cfg["text_dim"]
    x = gauss(rng, cin * T * H * W)
    ctx = gauss(rng, L * td)
    v = dit.forward(x, T, H, W, float(t), [ctx[i * td : (i + 1) * td] for i in range(L)])
    return [("x", "F32", [cin, T, H, W], x), ("t", "I32", [1], [t]), ("context", "F32", [L, td], ctx),
            ("v", "F32", [dit.cfg["out_dim"], T, H, W], v)], meta(seed=seed, t=t)


def gen_t5(name, seed):
    n = T5_CASES[name]
    rng = random.Random(seed)
    t5 = wan_ref.T5(os.path.join(ORIG, "models_t5_tiny_wan_names.safetensors"))
    vocab = t5.w.shape("token_embedding.weight")[0]
    ids = [rng.randrange(4, vocab) for _ in range(n - 1)] + [1]
    rows = t5.forward(ids)
    return [("ids", "I32", [n], ids), ("hidden", "F32", [n, len(rows[0])], [v for r in rows for v in r])], \
        meta(seed=seed)


def gen_vae(name, seed):
    T, H, W = VAE_CASES[name]
    rng = random.Random(seed)
    z = gauss(rng, 16 * T * H * W)
    video, shape = wan_ref.VaeDecoder(os.path.join(ORIG, "wan_vae_tiny.safetensors")).decode(z, T, H, W)
    return [("latent", "F32", [16, T, H, W], z), ("video", "F32", shape, video)], \
        meta(seed=seed, note="video before clamping; latent normalised, scale = [mean, std] of the spec")


def main():
    os.makedirs(OUT, exist_ok=True)
    jobs = [(n, gen_dit) for n in DIT_CASES] + [(n, gen_t5) for n in T5_CASES] + [(n, gen_vae) for n in VAE_CASES]
    for name, fn in jobs:
        if len(sys.argv) > 1 and not any(name.startswith(p) for p in sys.argv[1:]):
            continue
        seed = zlib.crc32(name.encode())  # fixed per case, independent of the order and number of cases
        t0 = time.time()
        tensors, m = fn(name, seed)
        st.write(os.path.join(OUT, name + ".safetensors"), tensors, m)
        print("%-20s %s  (%.1f s)" % (name, " ".join("%s%s" % (t[0], t[2]) for t in tensors), time.time() - t0),
              flush=True)


if __name__ == "__main__":
    main()
