#!/usr/bin/env python3
# Reference noise from torch for radial's torch-compatible generators (src/base/rng.h, tests/base/test_rng_torch.c).
#
# Draws torch.randn(n, dtype=float32) from a CPU generator (what diffusers' randn_tensor does with a CPU
# generator) and from a CUDA generator (what Wan's generate.py does), for a few seeds and sizes, and writes
#   OUT/torch_randn.safetensors  small sizes in full; the latent size (16*21*60*104) as its first and last 4096
#                                values plus checksums (float64 sum, sum of squares, an integer sum of the bits)
#   OUT/full_*.safetensors       with --full: whole latent-size draws of seed 42 (not committed: 8 MB each)
#   OUT/mufu.safetensors         with --full: sin.approx.f32 / cos.approx.f32 (what curand's __sincosf runs) and
#                                torch.log on the GPU for sampled inputs, to study the CUDA transform
#   OUT/headers.tar.gz           the installed torch/curand headers that define these draws
# The CPU draw is made once per ATen CPU capability (ATEN_CPU_CAPABILITY=default/avx2/avx512) in a child
# process, since the capability picks the Box-Muller code (scalar libm calls, or avx_mathfun.h under AVX2).
# Needs only torch (no numpy, no safetensors package): the file writer is below.
# Run: python3 make_ref.py OUTDIR [--full]
import ctypes, json, os, platform, struct, subprocess, sys, tarfile

import torch

SEEDS = [0, 42, 2**32 + 7, 0x6F4A_93C2_1D7B_5E81]   # the last: a large 63-bit seed
SIZES = [1, 15, 16, 17, 100, 16 * 21 * 60 * 104]     # the last: the 480x832x81 Wan latent
BIG = SIZES[-1]
KEEP = 4096


def raw(t):
    t = t.contiguous().cpu()
    return ctypes.string_at(t.data_ptr(), t.numel() * t.element_size())


def save(path, tensors, meta):
    names = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.int32: "I32"}
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        b = raw(t)
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def summarize(prefix, x, out):
    """Small draws in full; the big one as head, tail and checksums (computed here, by torch)."""
    x = x.cpu()
    if x.numel() < BIG:
        out[prefix] = x
        return
    out[prefix + "/head"] = x[:KEEP].clone()
    out[prefix + "/tail"] = x[-KEEP:].clone()
    d = x.double()
    out[prefix + "/sum"] = d.sum().reshape(1)
    out[prefix + "/sumsq"] = (d * d).sum().reshape(1)
    bits = x.view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    w = torch.arange(x.numel(), dtype=torch.int64) % 509 + 1   # keeps the int64 sum below 2^63
    out[prefix + "/bitsum"] = (bits * w).sum().reshape(1)


def cpu_draws(path, full_path):
    out = {}
    for s in SEEDS:
        for n in SIZES:
            x = torch.randn(n, generator=torch.Generator().manual_seed(s), dtype=torch.float32)
            summarize(f"{s}/{n}", x, out)
            if full_path and s == 42 and n == BIG:
                save(full_path, {"x": x}, {})
    cap = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "?")()
    save(path, out, {"capability": cap})


def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    kinds = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32}
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=kinds[h["dtype"]]).reshape(h["shape"])
    return out, meta


try:  # triton ships with torch's CUDA wheels; only the --full study dump needs it
    import triton
    import triton.language as tl
except Exception:
    triton = None

if triton is not None:
    @triton.jit
    def _sincos_f(x_ptr, s_ptr, c_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        x = tl.load(x_ptr + offs, mask=m)
        s = tl.inline_asm_elementwise("sin.approx.f32 $0, $1;", "=f,f", [x], dtype=tl.float32, is_pure=True, pack=1)
        c = tl.inline_asm_elementwise("cos.approx.f32 $0, $1;", "=f,f", [x], dtype=tl.float32, is_pure=True, pack=1)
        tl.store(s_ptr + offs, s, mask=m)
        tl.store(c_ptr + offs, c, mask=m)

    @triton.jit
    def _sincos_r(x_ptr, s_ptr, c_ptr, n, BLOCK: tl.constexpr):  # the same on 32-bit integer registers
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        x = tl.load(x_ptr + offs, mask=m)
        s = tl.inline_asm_elementwise("sin.approx.f32 $0, $1;", "=r,r", [x], dtype=tl.int32, is_pure=True, pack=1)
        c = tl.inline_asm_elementwise("cos.approx.f32 $0, $1;", "=r,r", [x], dtype=tl.int32, is_pure=True, pack=1)
        tl.store(s_ptr + offs, s, mask=m)
        tl.store(c_ptr + offs, c, mask=m)


def mufu_dump(path):
    """sin.approx.f32/cos.approx.f32 (curand's __sincosf on the device) and torch.log (libdevice logf)."""
    def sincos(x):
        x = x.cuda()
        s, c = torch.empty_like(x), torch.empty_like(x)
        grid = (triton.cdiv(x.numel(), 1024),)
        try:
            _sincos_f[grid](x, s, c, x.numel(), BLOCK=1024)
        except Exception as e:
            print("f32 inline asm failed, using b32 registers:", repr(e))
            xi, si, ci = x.view(torch.int32), s.view(torch.int32), c.view(torch.int32)
            _sincos_r[grid](xi, si, ci, x.numel(), BLOCK=1024)
        return s.cpu(), c.cpu()

    # every float in [1, 1.0625), and every 127th float in [2^-3, 2*pi)
    dense = (torch.arange(1 << 19, dtype=torch.int64) + 0x3F800000).to(torch.int32).view(torch.float32)
    lo, hi = 0x3E000000, 0x40C90FDB
    sample = torch.arange(lo, hi, 127, dtype=torch.int64).to(torch.int32).view(torch.float32)
    ds, dc = sincos(dense)
    ss, sc = sincos(sample)
    # logf on every 997th float in [2^-33, 1]
    ulog = torch.arange(0x2F000000, 0x3F800001, 997, dtype=torch.int64).to(torch.int32).view(torch.float32)
    lg = torch.log(ulog.cuda()).cpu()
    save(path, {"dense_x": dense, "dense_sin": ds, "dense_cos": dc, "sample_x": sample, "sample_sin": ss,
                "sample_cos": sc, "log_x": ulog, "log_y": lg}, {"triton": triton.__version__})


def headers(path):
    inc = os.path.join(os.path.dirname(torch.__file__), "include")
    names = ["ATen/native/cpu/DistributionTemplates.h", "ATen/native/cpu/avx_mathfun.h",
             "ATen/core/DistributionsHelper.h", "ATen/core/TransformationHelper.h", "ATen/core/MT19937RNGEngine.h",
             "ATen/CPUGeneratorImpl.h", "ATen/native/cuda/DistributionTemplates.h", "ATen/native/DistributionTemplates.h",
             "ATen/cuda/CUDAGeneratorImpl.h", "ATen/cuda/detail/UnpackRaw.cuh", "ATen/cuda/PhiloxUtils.cuh"]
    with tarfile.open(path, "w:gz") as tar:
        for n in names:
            p = os.path.join(inc, n)
            if os.path.exists(p):
                tar.add(p, arcname="torch/" + n)
        roots = [os.path.join(p, "nvidia", "curand", "include") for p in sys.path] + ["/usr/local/cuda/include"]
        for r in roots:
            if os.path.exists(os.path.join(r, "curand_normal.h")):
                for n in ["curand_normal.h", "curand_kernel.h", "curand_philox4x32_x.h", "curand_globals.h",
                          "curand_uniform.h"]:
                    tar.add(os.path.join(r, n), arcname="curand/" + n)
                break


def main():
    if sys.argv[1] == "--child":
        cpu_draws(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
        return
    import time
    t0 = time.time()
    outdir, full = sys.argv[1], "--full" in sys.argv
    os.makedirs(outdir, exist_ok=True)
    out, caps = {}, {}
    for cap in [None, "default", "avx2", "avx512"]:
        env = dict(os.environ)
        env.pop("ATEN_CPU_CAPABILITY", None)
        if cap:
            env["ATEN_CPU_CAPABILITY"] = cap
        tmp = os.path.join(outdir, "tmp_cpu.st")
        fp = os.path.join(outdir, f"full_cpu_{cap or 'native'}_42.safetensors") if full and cap in (None, "avx2") else None
        args = [sys.executable, __file__, "--child", tmp] + ([fp] if fp else [])
        subprocess.run(args, env=env, check=True)
        t, m = read(tmp)
        os.remove(tmp)
        caps[cap or "native"] = m["capability"]
        for name, v in t.items():
            out[f"cpu_{cap or 'native'}/{name}"] = v
    gen_props = torch.cuda.get_device_properties(0)
    for s in SEEDS:
        for n in SIZES:
            x = torch.randn(n, dtype=torch.float32, device="cuda", generator=torch.Generator("cuda").manual_seed(s))
            summarize(f"cuda/{s}/{n}", x, out)
            if full and s == 42 and n == BIG:
                save(os.path.join(outdir, "full_cuda_42.safetensors"), {"x": x.cpu()}, {})
    cpu_model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    meta = {"torch": torch.__version__, "torch_cuda": str(torch.version.cuda), "gpu": gen_props.name,
            "sm_count": str(gen_props.multi_processor_count),
            "max_threads_per_sm": str(getattr(gen_props, "max_threads_per_multi_processor", "?")),
            "cpu": cpu_model, "capabilities": json.dumps(caps), "libc": " ".join(platform.libc_ver()),
            "python": platform.python_version(), "seeds": json.dumps(SEEDS), "sizes": json.dumps(SIZES)}
    save(os.path.join(outdir, "torch_randn.safetensors"), out, meta)
    print(json.dumps(meta, indent=1))
    print(torch.__config__.show())
    print(f"draws done in {time.time() - t0:.1f} s")
    if full:
        try:
            mufu_dump(os.path.join(outdir, "mufu.safetensors"))
        except Exception as e:  # the dump is a study aid; the reference above stands without it
            print("mufu dump failed:", repr(e))
        try:
            headers(os.path.join(outdir, "headers.tar.gz"))
        except Exception as e:
            print("headers failed:", repr(e))
    print(f"all done in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
