#!/usr/bin/env python3
"""Full-size Wan2.1-T2V-1.3B DiT files, random weights at the real shapes, in the formats users download, for
`bench/device/run.sh formats` (the device has torch and safetensors; nothing here is radial's code):

  dit_bf16.safetensors        official names, BF16 (the reference every other file is compared with)
  dit_fp8_scaled.safetensors  ComfyUI's scaled fp8: each 2-D block weight W stored as W8 = W / s in float8_e4m3fn
                              with s = max|W| / 448 in NAME.scale_weight (F32 [1]); marker `scaled_fp8`; rest BF16
  dit-Q4_0.gguf               GGUF v3, architecture "wan", 2-D block weights in Q4_0 as ggml's
                              quantize_row_q4_0_ref does (the rest F32), the 5-D patch embedding stored flattened
                              with a comfy.gguf.orig_shape array (ComfyUI-GGUF's convert.py convention)
  config.json                 the official WanModel config

Random weights are kept well-conditioned (uniform +-1/sqrt(fan_in), norms near 1, small biases and modulation),
as radial's own random DiT is, so forwards through 30 blocks stay in a realistic range.
usage: make_formats.py OUTDIR [--layers 30]
"""
import json
import os
import struct
import sys

import torch
from safetensors.torch import save_file

DIM, FFN, HEADS, LAYERS, TEXT_DIM, FREQ = 1536, 8960, 12, 30, 4096, 256


def shapes(layers):
    s = {
        "patch_embedding.weight": [DIM, 16, 1, 2, 2], "patch_embedding.bias": [DIM],
        "text_embedding.0.weight": [DIM, TEXT_DIM], "text_embedding.0.bias": [DIM],
        "text_embedding.2.weight": [DIM, DIM], "text_embedding.2.bias": [DIM],
        "time_embedding.0.weight": [DIM, FREQ], "time_embedding.0.bias": [DIM],
        "time_embedding.2.weight": [DIM, DIM], "time_embedding.2.bias": [DIM],
        "time_projection.1.weight": [6 * DIM, DIM], "time_projection.1.bias": [6 * DIM],
        "head.head.weight": [64, DIM], "head.head.bias": [64], "head.modulation": [1, 2, DIM],
    }
    for i in range(layers):
        b = f"blocks.{i}."
        s[b + "modulation"] = [1, 6, DIM]
        for a in ("self_attn", "cross_attn"):
            for m in "qkvo":
                s[f"{b}{a}.{m}.weight"] = [DIM, DIM]
                s[f"{b}{a}.{m}.bias"] = [DIM]
            s[f"{b}{a}.norm_q.weight"] = [DIM]
            s[f"{b}{a}.norm_k.weight"] = [DIM]
        s[b + "norm3.weight"] = [DIM]
        s[b + "norm3.bias"] = [DIM]
        s[b + "ffn.0.weight"] = [FFN, DIM]
        s[b + "ffn.0.bias"] = [FFN]
        s[b + "ffn.2.weight"] = [DIM, FFN]
        s[b + "ffn.2.bias"] = [DIM]
    return s


def random_tensor(name, shape, gen):
    n = 1
    for d in shape[1:]:
        n *= d
    u = torch.rand(shape, generator=gen, device="cuda") * 2 - 1
    if "norm" in name and name.endswith("weight"):
        return 1 + 0.1 * u
    if "modulation" in name or name.endswith(".bias") or "norm" in name:
        return 0.1 * u
    return u / (n ** 0.5)


def block_weight(name, shape):
    return name.startswith("blocks.") and name.endswith(".weight") and len(shape) == 2


def quantize_q4_0(x):
    """ggml quantize_row_q4_0_ref on rows of x (float32, cols % 32 == 0): bytes of the blocks, row-major."""
    b = x.reshape(-1, 32)
    idx = b.abs().argmax(dim=1, keepdim=True)
    mx = b.gather(1, idx)  # the value of largest magnitude, with its sign
    d = mx / -8
    idl = torch.where(d != 0, 1.0 / d, torch.zeros_like(d))
    q = torch.clamp((b * idl + 8.5).to(torch.int32), max=15).to(torch.uint8)  # (int8_t)(x*id + 8.5f), MIN(15, .)
    qs = q[:, :16] | (q[:, 16:] << 4)
    dh = d.to(torch.float16).view(torch.uint8).reshape(-1, 2)
    return torch.cat([dh, qs], dim=1).contiguous().cpu().numpy().tobytes()


def gguf_write(path, tensors, meta):
    """GGUF v3 writer: tensors = [(name, ggml_type, ne (innermost first), bytes)], meta = [(key, type, value)]."""
    align = 32

    def s(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b

    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta))
    for k, t, v in meta:
        head += s(k) + struct.pack("<I", t)
        if t == 8:
            head += s(v)
        elif t == 4:
            head += struct.pack("<I", v)
        elif t == 9:  # array of int64
            head += struct.pack("<IQ", 11, len(v)) + b"".join(struct.pack("<q", e) for e in v)
    off = 0
    offs = []
    for name, ty, ne, data in tensors:
        offs.append(off)
        head += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", e) for e in ne)
        head += struct.pack("<IQ", ty, off)
        off += (len(data) + align - 1) // align * align
    with open(path, "wb") as f:
        f.write(head)
        f.write(b"\0" * ((-len(head)) % align))
        for (name, ty, ne, data), o in zip(tensors, offs):
            f.write(data)
            f.write(b"\0" * ((-len(data)) % align))


def main():
    out = sys.argv[1]
    layers = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--layers" else LAYERS
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator(device="cuda").manual_seed(1234)
    bf16, fp8, gg = {}, {"scaled_fp8": torch.zeros(0, dtype=torch.float8_e4m3fn)}, []
    for name, shape in shapes(layers).items():
        w = random_tensor(name, shape, gen).float()
        wb = w.to(torch.bfloat16)
        bf16[name] = wb.cpu()
        # the scaled-fp8 and GGUF files quantise the bf16 checkpoint, as converters do
        w = wb.float()
        if block_weight(name, shape):
            sc = w.abs().max() / 448.0
            fp8[name] = (w / sc).to(torch.float8_e4m3fn).cpu()
            fp8[name[: -len("weight")] + "scale_weight"] = sc.reshape(1).cpu()
            gg.append((name, 2, shape[::-1], quantize_q4_0(w)))
        else:
            fp8[name] = wb.cpu()
            ne = shape[::-1] if len(shape) <= 4 else [w.numel()]
            gg.append((name, 0, ne, w.contiguous().cpu().numpy().tobytes()))
    save_file(bf16, os.path.join(out, "dit_bf16.safetensors"))
    save_file(fp8, os.path.join(out, "dit_fp8_scaled.safetensors"))
    meta = [("general.architecture", 8, "wan"), ("general.quantization_version", 4, 2), ("general.alignment", 4, 32),
            ("comfy.gguf.orig_shape.patch_embedding.weight", 9, [DIM, 16, 1, 2, 2])]
    gguf_write(os.path.join(out, "dit-Q4_0.gguf"), gg, meta)
    cfg = {"_class_name": "WanModel", "model_type": "t2v", "dim": DIM, "ffn_dim": FFN, "freq_dim": FREQ,
           "in_dim": 16, "out_dim": 16, "num_heads": HEADS, "num_layers": layers, "text_dim": TEXT_DIM,
           "text_len": 512, "eps": 1e-6}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f)
    for n in sorted(os.listdir(out)):
        print(f"{n}: {os.path.getsize(os.path.join(out, n)) / 1e9:.3f} GB")


if __name__ == "__main__":
    main()
