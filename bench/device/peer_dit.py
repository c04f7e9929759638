#!/usr/bin/env python3
"""diffusers' WanTransformer3DModel forward on a transformer folder (one make_pipeline.py wrote, or the Hub's), bf16
as its model card loads it, with the time per forward and the peak device memory: the peer of `radial bench dit
--forward --model DIR` for `bench/device/run.sh dit14` (the issue's 14B 720p forward, same files, same run).

The inputs are random (a CPU torch.Generator seeded with --seed): latents [1, 16, F, H/8, W/8], a text context [1,
512, 4096], timestep 500; the forward is the dense one diffusers runs (SDPA, whichever backend torch picks). One
untimed warm-up, then --reps forwards timed with CUDA events after a synchronize; the median is reported. Memory as
peer_pipeline.py measures it (MemWatch: the device's total - free sampled every --sample-ms, and torch's max
allocated), load and forward phases apart.

usage: peer_dit.py TRANSFORMER_DIR [--width 1280 --height 720 --frames 81] [--reps 2] [--seed 1] [--json OUT.json]
exit status: 0 ok, 1 failed, 2 cannot import torch / diffusers / no GPU, 3 out of device memory
"""
import argparse
import json
import os
import statistics
import sys
import time
import traceback

from peer_pipeline import MIB, MemWatch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--frames", type=int, default=81)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json")
    ap.add_argument("--sample-ms", type=float, default=20.0)
    a = ap.parse_args()
    if (a.frames - 1) % 4 or a.width % 16 or a.height % 16 or a.reps < 1:
        print("peer_dit: frames must be 4k+1, width and height multiples of 16, reps >= 1", file=sys.stderr)
        return 1
    try:
        import torch
        from diffusers import WanTransformer3DModel
    except Exception as e:  # noqa: BLE001 - say what is missing and stop
        print(f"peer_dit: cannot import torch/diffusers: {e}", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("peer_dit: no CUDA device", file=sys.stderr)
        return 2
    mw = MemWatch(torch, 0, a.sample_ms / 1000.0)
    mw.start()
    out = {"tool": "peer_dit.py (diffusers WanTransformer3DModel)", "model": a.model_dir, "width": a.width,
           "height": a.height, "frames": a.frames, "reps": a.reps, "status": "failed"}
    try:
        mw.begin("load")
        t0 = time.perf_counter()
        model = WanTransformer3DModel.from_pretrained(a.model_dir, torch_dtype=torch.bfloat16).to("cuda").eval()
        load_s = time.perf_counter() - t0
        out["load"] = dict(mw.end(), s=load_s)
        cfg = model.config
        T, H, W = (a.frames - 1) // 4 + 1, a.height // 8, a.width // 8
        g = torch.Generator("cpu").manual_seed(a.seed)
        x = torch.randn(1, cfg.in_channels, T, H, W, generator=g).to("cuda", torch.bfloat16)
        ctx = torch.randn(1, 512, cfg.text_dim, generator=g).to("cuda", torch.bfloat16)
        t = torch.tensor([500.0], device="cuda")
        tokens = T * (H // cfg.patch_size[1]) * (W // cfg.patch_size[2])
        print(f"peer_dit: {torch.cuda.get_device_name(0)}, torch {torch.__version__}; {cfg.num_layers} layers, dim "
              f"{cfg.num_attention_heads * cfg.attention_head_dim}; {tokens} tokens; load {load_s:.2f} s, device "
              f"{out['load']['device_peak_bytes'] / MIB:.1f} MiB", flush=True)
        mw.begin("forward")
        ms = []
        with torch.inference_mode():
            model(hidden_states=x, timestep=t, encoder_hidden_states=ctx, return_dict=False)  # warm-up
            for _ in range(a.reps):
                torch.cuda.synchronize()
                e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                e0.record()
                y = model(hidden_states=x, timestep=t, encoder_hidden_states=ctx, return_dict=False)[0]
                e1.record()
                torch.cuda.synchronize()
                ms.append(e0.elapsed_time(e1))
        out["forward"] = dict(mw.end(), ms=ms, median_ms=statistics.median(ms))
        out["finite"] = bool(torch.isfinite(y).all().item())
        out["status"] = "ok"
        f = out["forward"]
        print(f"peer_dit forward: {f['median_ms']:.1f} ms median of {a.reps} ({', '.join(f'{v:.1f}' for v in ms)}) | "
              f"device peak {f['device_peak_bytes'] / MIB:.1f} MiB | torch max allocated "
              f"{f['torch_max_allocated_bytes'] / MIB:.1f} MiB | output finite: {out['finite']}", flush=True)
        rc = 0
    except torch.cuda.OutOfMemoryError as e:
        print(f"peer_dit: out of device memory: {e}", file=sys.stderr)
        out["status"], rc = "oom", 3
    except Exception:  # noqa: BLE001 - the record says it failed; the trace goes to stderr
        traceback.print_exc()
        rc = 1
    finally:
        mw.stop()
    if a.json:
        with open(a.json + ".tmp", "w") as fh:
            json.dump(out, fh, indent=2)
        os.replace(a.json + ".tmp", a.json)
    return rc


if __name__ == "__main__":
    sys.exit(main())
