#!/usr/bin/env python3
"""diffusers' WanPipeline on a Wan 2.1 T2V diffusers folder (one made by make_pipeline.py, or the Hub's), run as its
model card runs it, with the wall time and the peak memory of each phase: the peer of `radial generate` for
`bench/device/run.sh memory` / `memory14`.

As the model card: the VAE loaded alone in float32, WanPipeline.from_pretrained(dir, vae=vae,
torch_dtype=torch.bfloat16) (transformer and umT5 in bf16), pipe.to("cuda"): everything stays on the GPU for the
whole run, output_type "np". The phases are separated through the public API:
  load          AutoencoderKLWan.from_pretrained + WanPipeline.from_pretrained + pipe.to("cuda")
  text encoder  pipe.encode_prompt (prompt and negative prompt, max_sequence_length 512 as __call__ uses)
  denoising     pipe(prompt_embeds=..., negative_prompt_embeds=..., output_type="latent"): the step loop, with a
                callback_on_step_end that times every step after torch.cuda.synchronize()
  VAE           what WanPipeline.__call__ does after the loop: latents / (1 / latents_std) + latents_mean,
                vae.decode(...).sample, video_processor.postprocess_video(..., output_type="np")
Memory per phase: torch.cuda.max_memory_allocated / max_memory_reserved (reset at each phase start) and the
device's own count, torch.cuda.mem_get_info's total - free (what nvidia-smi shows, and what radial reports as
"device peak"), sampled at the phase boundaries and every --sample-ms by a background thread; the max per phase.

The negative prompt defaults to the one radial uses when none is given (Wan's shared_config.py sample_neg_prompt);
WanPipeline's own default is "" (the embeddings are padded to 512 rows either way: the same work). The noise is drawn
by a CPU torch.Generator seeded with --seed. No warm-up: one run as a user makes it (the first step includes the
kernels' first-use costs).

usage: peer_pipeline.py MODEL_DIR --steps N [--width 832 --height 480 --frames 81 --guidance 5 --seed 1]
                        [--prompt P] [--negative-prompt N] [--flow-shift S] [--json OUT.json] [--sample-ms 20]
exit status: 0 ok, 1 failed, 2 cannot import torch / diffusers / no GPU, 3 out of device memory
"""
import argparse
import json
import os
import sys
import threading
import time
import traceback

# a local folder only: never ask the Hub (the device reaches nothing outside)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROMPT = "a red panda drinking tea in a bamboo forest"
# radial's default_negative_prompt (src/pipeline/pipeline.c) = Wan's shared_config.py sample_neg_prompt
WAN_NEGATIVE = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的"
                "手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走")
MIB = 1048576.0
PHASES = ("load", "text_encoder", "dit", "vae")
LABEL = {"load": "load", "text_encoder": "text encoder", "dit": "denoising", "vae": "VAE"}


class MemWatch:
    """Device memory in use (total - free, the whole device) sampled by a thread; the max per phase."""

    def __init__(self, torch, index, period_s):
        self.torch, self.index, self.period = torch, index, period_s
        self.phase, self.peak, self.samples = None, {}, 0
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="memwatch", daemon=True)

    def sample(self):
        free, total = self.torch.cuda.mem_get_info(self.index)
        used = total - free
        with self.lock:
            self.samples += 1
            if self.phase is not None and used > self.peak.get(self.phase, 0):
                self.peak[self.phase] = used
        return used

    def _run(self):
        while not self.stop_event.wait(self.period):
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a failed sample (e.g. at teardown) is not worth a crash
                pass

    def start(self):
        self.thread.start()

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=2)

    def begin(self, phase):
        self.torch.cuda.synchronize(self.index)
        with self.lock:
            self.phase = phase
        self.torch.cuda.reset_peak_memory_stats(self.index)
        return self.sample()

    def end(self):
        self.torch.cuda.synchronize(self.index)
        used = self.sample()
        with self.lock:
            phase = self.phase
            self.phase = None
        return {
            "device_peak_bytes": int(self.peak.get(phase, used)),
            "device_end_bytes": int(used),
            "torch_max_allocated_bytes": int(self.torch.cuda.max_memory_allocated(self.index)),
            "torch_max_reserved_bytes": int(self.torch.cuda.max_memory_reserved(self.index)),
        }


def module_bytes(m):
    """Bytes of a module's parameters and buffers, and its dtypes by bytes, largest first ("bfloat16 + float32 1.2
    MiB": diffusers keeps some small tensors of a bf16 model in float32)."""
    if m is None:
        return 0, None
    per = {}
    for p in list(m.parameters()) + list(m.buffers()):
        dt = str(p.dtype).replace("torch.", "")
        per[dt] = per.get(dt, 0) + p.numel() * p.element_size()
    order = sorted(per.items(), key=lambda kv: -kv[1])
    desc = " + ".join([order[0][0]] + [f"{d} {b / MIB:.1f} MiB" for d, b in order[1:]])
    return int(sum(per.values())), desc


def phase_line(name, ph, extra=""):
    return (f"peer {LABEL[name]}: {ph['s']:.2f} s{extra} | device peak {ph['device_peak_bytes'] / MIB:.1f} MiB, "
            f"{ph['device_end_bytes'] / MIB:.1f} at the end | torch max allocated "
            f"{ph['torch_max_allocated_bytes'] / MIB:.1f}, reserved {ph['torch_max_reserved_bytes'] / MIB:.1f} MiB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--width", type=int, default=832)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--frames", type=int, default=81)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--prompt", default=PROMPT)
    ap.add_argument("--negative-prompt", default=WAN_NEGATIVE)
    ap.add_argument("--flow-shift", type=float, default=None,
                    help="replace the folder's scheduler flow_shift (the model card sets 5.0 for 720p, 3.0 for 480p)")
    ap.add_argument("--max-sequence-length", type=int, default=512)
    ap.add_argument("--json", metavar="OUT.json")
    ap.add_argument("--sample-ms", type=float, default=20.0)
    a = ap.parse_args()

    res = {"tool": "peer_pipeline.py (diffusers WanPipeline)", "model": os.path.abspath(a.model_dir),
           "width": a.width, "height": a.height, "frames": a.frames, "steps": a.steps, "guidance": a.guidance,
           "seed": a.seed, "prompt": a.prompt, "negative_prompt": a.negative_prompt, "status": "started",
           "phases": {}}

    def finish(status, code, error=None):
        res["status"] = status
        if error:
            res["error"] = error
        if a.json:
            try:
                with open(a.json, "w", encoding="utf-8") as f:
                    json.dump(res, f, indent=2, ensure_ascii=False)
                    f.write("\n")
            except OSError as e:
                print(f"peer_pipeline: could not write {a.json}: {e}", file=sys.stderr)
                code = code or 1
        return code

    if not os.path.isfile(os.path.join(a.model_dir, "model_index.json")):
        print(f"peer_pipeline: {a.model_dir} has no model_index.json (not a diffusers folder, or unfinished)",
              file=sys.stderr)
        return finish("failed", 1, "no model_index.json")
    try:
        import torch
    except ImportError as e:
        print(f"peer_pipeline: cannot import torch: {e}", file=sys.stderr)
        return finish("failed", 2, f"import torch: {e}")
    if not torch.cuda.is_available():
        print("peer_pipeline: no CUDA device", file=sys.stderr)
        return finish("failed", 2, "no CUDA device")
    dev = torch.device("cuda", torch.cuda.current_device())
    idx = dev.index
    torch.zeros(1, device=dev)  # the CUDA context, before anything is measured
    torch.cuda.synchronize(idx)
    free, total = torch.cuda.mem_get_info(idx)
    res.update(device=torch.cuda.get_device_name(idx), device_total_bytes=int(total),
               context_device_bytes=int(total - free), torch=torch.__version__)
    mem = MemWatch(torch, idx, a.sample_ms / 1000.0)
    mem.start()

    t = time.perf_counter()
    try:
        import transformers

        try:  # model_index.json names T5TokenizerFast, as the Hub's does; transformers 5 has one T5Tokenizer class
            transformers.T5TokenizerFast
        except Exception as e:  # noqa: BLE001 - AttributeError, or a failed lazy import of a removed module
            transformers.T5TokenizerFast = transformers.T5Tokenizer
            print(f"peer_pipeline: note: no transformers.T5TokenizerFast ({type(e).__name__}); T5Tokenizer stands in")
        import diffusers
        from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline
    except Exception as e:  # noqa: BLE001 - an import error of the pruned diffusers must say so plainly
        traceback.print_exc()
        print(f"peer_pipeline: cannot import diffusers' WanPipeline ({type(e).__name__}: {e}); PYTHONPATH="
              f"{os.environ.get('PYTHONPATH', '')!r} (run.sh puts .devcarry/py, the pruned diffusers, there)",
              file=sys.stderr)
        mem.stop()
        return finish("failed", 2, f"import: {type(e).__name__}: {e}")
    res.update(import_s=time.perf_counter() - t, diffusers=diffusers.__version__, transformers=transformers.__version__,
               diffusers_path=os.path.dirname(diffusers.__file__))
    print(f"peer: {res['device']}, torch {torch.__version__}, diffusers {diffusers.__version__} "
          f"({res['diffusers_path']}), transformers {transformers.__version__}; CUDA context "
          f"{res['context_device_bytes'] / MIB:.1f} MiB of {total / MIB:.0f}")

    phase = None
    try:
        # --- load
        phase = "load"
        mem.begin(phase)
        t = time.perf_counter()
        vae = AutoencoderKLWan.from_pretrained(a.model_dir, subfolder="vae", torch_dtype=torch.float32)
        pipe = WanPipeline.from_pretrained(a.model_dir, vae=vae, torch_dtype=torch.bfloat16)
        if a.flow_shift is not None:
            pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config, flow_shift=a.flow_shift)
        pipe.to("cuda")
        pipe.set_progress_bar_config(disable=True)
        ph = mem.end()
        ph["s"] = time.perf_counter() - t
        res["phases"][phase] = ph
        comps = {}
        for name in ("transformer", "text_encoder", "vae"):
            nb, dt = module_bytes(getattr(pipe, name, None))
            comps[name] = {"bytes": nb, "dtype": dt}
        te = pipe.text_encoder
        try:
            tied = te.encoder.embed_tokens.weight.data_ptr() == te.shared.weight.data_ptr()
        except AttributeError:
            tied = None
        res.update(components=comps, umt5_embedding_tied=tied, scheduler=type(pipe.scheduler).__name__,
                   flow_shift=pipe.scheduler.config.get("flow_shift"), tokenizer=type(pipe.tokenizer).__name__)
        print(phase_line(phase, ph, " (from_pretrained + to cuda)"))
        print("peer weights on the GPU: " + ", ".join(
            f"{k} {v['bytes'] / MIB:.1f} MiB {v['dtype']}" for k, v in comps.items())
            + f"; umT5 embed_tokens tied to shared: {tied}; {res['scheduler']} flow_shift {res['flow_shift']}")

        # --- text encoder
        phase = "text_encoder"
        cfg = a.guidance > 1.0
        mem.begin(phase)
        t = time.perf_counter()
        with torch.no_grad():
            pe, ne = pipe.encode_prompt(prompt=a.prompt, negative_prompt=a.negative_prompt if cfg else None,
                                        do_classifier_free_guidance=cfg, num_videos_per_prompt=1,
                                        max_sequence_length=a.max_sequence_length, device=dev)
        ph = mem.end()
        ph["s"] = time.perf_counter() - t
        res["phases"][phase] = ph
        res["prompt_embeds_finite"] = bool(torch.isfinite(pe).all().item()) and (
            ne is None or bool(torch.isfinite(ne).all().item()))
        print(phase_line(phase, ph, f" (encode_prompt, {'2 prompts' if cfg else '1 prompt'} x "
                                    f"{a.max_sequence_length} tokens)"))

        # --- denoising
        phase = "dit"
        stamps = []

        def on_step(_pipe, _i, _t, kwargs):
            torch.cuda.synchronize(idx)
            stamps.append(time.perf_counter())
            return kwargs

        gen = torch.Generator(device="cpu").manual_seed(a.seed)
        mem.begin(phase)
        t = time.perf_counter()
        out = pipe(prompt_embeds=pe, negative_prompt_embeds=ne, height=a.height, width=a.width,
                   num_frames=a.frames, num_inference_steps=a.steps, guidance_scale=a.guidance, generator=gen,
                   output_type="latent", callback_on_step_end=on_step, max_sequence_length=a.max_sequence_length,
                   return_dict=True)
        latents = out.frames
        ph = mem.end()
        ph["s"] = time.perf_counter() - t
        steps = [b - c for b, c in zip(stamps, [t] + stamps[:-1])]
        ph["step_s"] = steps
        ph["per_step_s"] = ph["s"] / max(len(steps), 1)
        res["phases"][phase] = ph
        res["latents_shape"] = list(latents.shape)
        res["latents_finite"] = bool(torch.isfinite(latents).all().item())
        lat_t, lat_h, lat_w = latents.shape[2], latents.shape[3], latents.shape[4]
        res["tokens"] = int(lat_t * (lat_h // 2) * (lat_w // 2))
        print(phase_line(phase, ph, f" ({len(steps)} steps, {ph['per_step_s']:.3f} s/step: "
                                    + " ".join(f"{s:.2f}" for s in steps) + f"; {res['tokens']} tokens"
                                    + (", CFG: 2 forwards a step" if cfg else "") + ")"))

        # --- VAE decode, as WanPipeline.__call__ ends
        phase = "vae"
        mem.begin(phase)
        t = time.perf_counter()
        with torch.no_grad():
            z = latents.to(pipe.vae.dtype)
            zc = pipe.vae.config.z_dim
            mean = torch.tensor(pipe.vae.config.latents_mean).view(1, zc, 1, 1, 1).to(z.device, z.dtype)
            inv_std = 1.0 / torch.tensor(pipe.vae.config.latents_std).view(1, zc, 1, 1, 1).to(z.device, z.dtype)
            z = z / inv_std + mean
            video = pipe.vae.decode(z, return_dict=False)[0]
            frames = pipe.video_processor.postprocess_video(video, output_type="np")
        ph = mem.end()
        ph["s"] = time.perf_counter() - t
        res["phases"][phase] = ph
        print(phase_line(phase, ph, " (decode + postprocess_video to numpy)"))
        phase = None
    except torch.cuda.OutOfMemoryError as e:
        used = mem.sample()
        mem.stop()
        print(f"peer_pipeline: out of device memory in phase {phase} (device {used / MIB:.1f} MiB in use of "
              f"{total / MIB:.0f}): {e}", file=sys.stderr)
        return finish("out of memory", 3, f"{phase}: {e}")
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        mem.stop()
        print(f"peer_pipeline: failed in phase {phase}: {type(e).__name__}: {e}", file=sys.stderr)
        return finish("failed", 1, f"{phase}: {type(e).__name__}: {e}")
    mem.stop()

    import numpy as np

    p = res["phases"]
    res.update(output_shape=list(frames.shape), output_finite=bool(np.isfinite(frames).all()),
               output_mean=float(frames.mean()), output_std=float(frames.std()),
               text_encoder_s=p["text_encoder"]["s"], denoise_s=p["dit"]["s"], denoise_per_step_s=p["dit"]["per_step_s"],
               vae_s=p["vae"]["s"], load_s=p["load"]["s"], memwatch_samples=mem.samples,
               device_peak_bytes=max(v["device_peak_bytes"] for v in p.values()),
               device_peak_after_load_bytes=max(p[k]["device_peak_bytes"] for k in ("text_encoder", "dit", "vae")))
    res["total_s"] = res["text_encoder_s"] + res["denoise_s"] + res["vae_s"]
    res["total_with_load_s"] = res["total_s"] + res["load_s"]
    print(f"peer time: text encoder {res['text_encoder_s']:.2f} s | denoising {res['denoise_s']:.2f} s "
          f"({res['denoise_per_step_s']:.3f} s/step) | VAE {res['vae_s']:.2f} s | total {res['total_s']:.2f} s "
          f"(+ load {res['load_s']:.2f} s = {res['total_with_load_s']:.2f} s)")
    print(f"peer memory: device peak {res['device_peak_bytes'] / MIB:.1f} MiB | text encoder "
          f"{p['text_encoder']['device_peak_bytes'] / MIB:.1f} | DiT {p['dit']['device_peak_bytes'] / MIB:.1f} | VAE "
          f"{p['vae']['device_peak_bytes'] / MIB:.1f} MiB (mem_get_info total - free: the whole device, CUDA context "
          f"included); torch max allocated {p['text_encoder']['torch_max_allocated_bytes'] / MIB:.1f} | "
          f"{p['dit']['torch_max_allocated_bytes'] / MIB:.1f} | {p['vae']['torch_max_allocated_bytes'] / MIB:.1f} MiB, "
          f"reserved {p['text_encoder']['torch_max_reserved_bytes'] / MIB:.1f} | "
          f"{p['dit']['torch_max_reserved_bytes'] / MIB:.1f} | {p['vae']['torch_max_reserved_bytes'] / MIB:.1f} MiB")
    ok = res["output_finite"] and res["latents_finite"] and res["prompt_embeds_finite"]
    print(f"peer output: frames {tuple(frames.shape)}, {'finite' if ok else 'NOT FINITE'}, mean "
          f"{res['output_mean']:.4f}, std {res['output_std']:.4f}")
    return finish("ok" if ok else "non-finite output", 0 if ok else 1)


if __name__ == "__main__":
    sys.exit(main())
