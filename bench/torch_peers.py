#!/usr/bin/env python3
"""PyTorch attention peers at the shapes of `radial bench attention`, on the same card in the same run.

Times torch SDPA (cuDNN and flash backends) dense, and FlexAttention dense and with the SAME radial block mask
as the engine (a plain PBM written by `radial mask ... -o FILE.pbm`, 1 = computed 128x128 block). Inputs are
bf16 [1, heads, N, 128], random (q, k uniform(-1.7, 1.7), v uniform(-1, 1), as the engine's bench), scale
1/sqrt(128). Timing: warm-up, then CUDA events around each launch; median, min, max. TFLOP/s count the
query-key pairs computed (dense 4 N^2 128 heads; radial only the pairs inside mask blocks), as the engine's
bench does.

usage: torch_peers.py --frames 81,241 --masks DIR [--height 480 --width 832 --heads 12 --reps 20 --json F]
DIR holds f{video_frames}.pbm for each frames value (the radial mask of that length).
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def read_pbm(path):
    """Plain PBM (P1) -> list of rows of 0/1; comments (#...) skipped."""
    toks = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0]
            toks.extend(line.split())
    if not toks or toks[0] != "P1":
        raise ValueError(f"{path}: not a plain PBM (P1)")
    w, h = int(toks[1]), int(toks[2])
    bits = toks[3:]
    if len(bits) != w * h:
        raise ValueError(f"{path}: {len(bits)} bits for {w}x{h}")
    return [[int(bits[r * w + c]) for c in range(w)] for r in range(h)]


def time_fn(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ms = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ms.append(a.elapsed_time(b))
    ms.sort()
    med = ms[len(ms) // 2] if len(ms) % 2 else 0.5 * (ms[len(ms) // 2 - 1] + ms[len(ms) // 2])
    return med, ms[0], ms[-1]


def pairs_of(mask, n, block=128):
    nb = len(mask)
    size = [min(block, n - i * block) for i in range(nb)]
    return sum(size[r] * size[c] for r in range(nb) for c in range(nb) if mask[r][c])


def flex_block_mask(mask, n, device):
    """The block mask as FlexAttention 'full' blocks (no token-level mask_mod; flex bounds-checks the tail)."""
    from torch.nn.attention.flex_attention import BlockMask

    nb = len(mask)
    counts = torch.tensor([sum(row) for row in mask], dtype=torch.int32, device=device).view(1, 1, nb)
    idx = torch.zeros(1, 1, nb, nb, dtype=torch.int32, device=device)
    for r, row in enumerate(mask):
        cols = [c for c in range(nb) if row[c]]
        if cols:
            idx[0, 0, r, : len(cols)] = torch.tensor(cols, dtype=torch.int32, device=device)
    zeros = torch.zeros_like(counts)
    return BlockMask.from_kv_blocks(zeros, torch.zeros_like(idx), counts, idx, BLOCK_SIZE=128, seq_lengths=(n, n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", default="81,161,241")
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=832)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--masks", required=True)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--peers", default="cudnn,flash,flex_dense,flex_radial")
    ap.add_argument("--json")
    args = ap.parse_args()
    dev = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}  heads {args.heads} x 128, bf16")
    print(f"{'frames':>6} {'tokens':>7}  {'peer':<12} {'median ms':>9} {'min ms':>8} {'max ms':>8} {'TFLOP/s':>8}")
    from torch.nn.attention.flex_attention import flex_attention

    flex = torch.compile(flex_attention, dynamic=False)
    peers = args.peers.split(",")
    recs = []
    torch.manual_seed(0)
    for f in [int(x) for x in args.frames.split(",")]:
        latent = (f - 1) // 4 + 1
        n = latent * (args.height // 16) * (args.width // 16)
        shape = (1, args.heads, n, 128)
        q = (torch.rand(shape, device=dev) * 3.4 - 1.7).to(torch.bfloat16)
        k = (torch.rand(shape, device=dev) * 3.4 - 1.7).to(torch.bfloat16)
        v = (torch.rand(shape, device=dev) * 2 - 1).to(torch.bfloat16)
        mask = read_pbm(os.path.join(args.masks, f"f{f}.pbm"))
        nb = (n + 127) // 128
        if len(mask) != nb:
            sys.exit(f"mask f{f}.pbm has {len(mask)} block rows, expected {nb} for {n} tokens")
        dense_pairs, radial_pairs = n * n, pairs_of(mask, n)
        density = sum(map(sum, mask)) / (nb * nb)
        for peer in peers:
            try:
                pairs = dense_pairs
                if peer == "cudnn":
                    def fn():
                        with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                            return F.scaled_dot_product_attention(q, k, v)
                elif peer == "flash":
                    def fn():
                        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                            return F.scaled_dot_product_attention(q, k, v)
                elif peer == "flex_dense":
                    def fn():
                        return flex(q, k, v)
                elif peer == "flex_radial":
                    bm = flex_block_mask(mask, n, dev)
                    pairs = radial_pairs

                    def fn():
                        return flex(q, k, v, block_mask=bm)
                else:
                    raise ValueError(f"unknown peer {peer}")
                med, lo, hi = time_fn(fn, args.warmup, args.reps)
                tf = 4 * 128 * args.heads * pairs / (med * 1e-3) * 1e-12
                print(f"{f:>6} {n:>7}  {peer:<12} {med:>9.3f} {lo:>8.3f} {hi:>8.3f} {tf:>8.1f}", flush=True)
                recs.append(dict(frames=f, tokens=n, peer=peer, density=density if peer == "flex_radial" else 1.0,
                                 ms_median=med, ms_min=lo, ms_max=hi, tflops=tf))
            except Exception as e:  # one peer failing must not hide the others
                print(f"{f:>6} {n:>7}  {peer:<12} FAILED: {type(e).__name__}: {str(e)[:300]}", flush=True)
        del q, k, v
        torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(device=torch.cuda.get_device_name(), torch=torch.__version__, heads=args.heads,
                           records=recs), fh, indent=1)


if __name__ == "__main__":
    main()
