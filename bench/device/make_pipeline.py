#!/usr/bin/env python3
"""A full-size Wan 2.1 T2V model folder in the diffusers layout, random weights at the real shapes, for
`bench/device/run.sh memory` and `memory14` (radial generate and diffusers' WanPipeline on the same files; the device
has torch, transformers and safetensors; the DiT and VAE classes come from the pruned diffusers on PYTHONPATH;
nothing here is radial's code).

The layout is that of the Hub repos Wan-AI/Wan2.1-T2V-1.3B-Diffusers and Wan-AI/Wan2.1-T2V-14B-Diffusers:

  model_index.json          WanPipeline; transformers UMT5EncoderModel / T5TokenizerFast, diffusers
                            WanTransformer3DModel / AutoencoderKLWan / UniPCMultistepScheduler (written last: a folder
                            without it is incomplete)
  scheduler/                scheduler_config.json: UniPC, flow_prediction, use_flow_sigmas, flow_shift 3.0, order 2
  text_encoder/             config.json of google/umt5-xxl's encoder (d_model 4096, 24 layers, 64 heads x 64, d_ff
                            10240, vocab 256384); model-0000N-of-0000M.safetensors + model.safetensors.index.json
                            (shared.weight only: encoder.embed_tokens.weight is tied to it), in --dtype
  tokenizer/                tests/data/tiny-wan's spiece.model (1,000 pieces, pad 0 / eos 1 / unk 3: every id is far
                            below 256384) + tokenizer_config.json, special_tokens_map.json and a tokenizer.json built
                            from it with the tokenizers library (the Hub repo has all four)
  transformer/              config.json as the Hub's (1.3B: 12 heads x 128, 30 layers, ffn 8960; 14B: 40 heads, 40
                            layers, ffn 13824); diffusers names, in --dtype; one file, or ~5 GB shards + index
  vae/                      AutoencoderKLWan config as the Hub's (base_dim 96, z_dim 16, latents_mean/std);
                            diffusion_pytorch_model.safetensors in float32

Names and shapes come from the model classes themselves, built on the meta device from those configs (the umT5
is cross-checked against a hand-written list). Every tensor is drawn on the GPU from one seeded torch generator per
component and copied out one at a time, so no model is ever built in host memory. Random weights are kept
well-conditioned so that forwards stay finite and realistic: matrices and convolutions uniform +-1/sqrt(fan_in),
norm weights / gammas 1 +- 0.1, biases and the scale_shift tables +-0.1; for the umT5 (no 1/sqrt(d) in its
attention) the q weights are scaled by a further 1/sqrt(d_kv), the relative attention bias tables are N(0, 0.1)
and the token embedding N(0, 1).

usage: make_pipeline.py OUTDIR [--size 1.3b|14b] [--dtype bf16|fp16|fp32] [--transformer-only]
                        [--link-rest DIR] [--spiece FILE] [--shard-gb 5] [--seed 1234]
  --transformer-only  write transformer/ (and model_index.json) only
  --link-rest DIR     also symlink text_encoder/, tokenizer/, vae/ and scheduler/ from DIR, another such folder
                      (the 14B uses the same umT5, VAE and scheduler as the 1.3B); implies --transformer-only
Sizes in --dtype bf16: 1.3B DiT 2.84 GB, 14B DiT 28.6 GB, umT5 11.4 GB, VAE (fp32) 0.51 GB.
"""
import argparse
import json
import math
import os
import shutil
import struct
import sys
import time

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SPIECE = os.path.join(HERE, "..", "..", "tests", "data", "tiny-wan", "tokenizer", "spiece.model")
HUB_DIFFUSERS_VERSION = "0.33.0.dev0"  # what the Hub's Wan2.1-T2V-*-Diffusers files record
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
DTYPE_NAMES = {torch.bfloat16: "bfloat16", torch.float16: "float16", torch.float32: "float32"}
COMPONENTS = ("scheduler", "tokenizer", "vae", "text_encoder", "transformer")
LINKED = ("text_encoder", "tokenizer", "vae", "scheduler")

MODEL_INDEX = {
    "_class_name": "WanPipeline",
    "_diffusers_version": HUB_DIFFUSERS_VERSION,
    "scheduler": ["diffusers", "UniPCMultistepScheduler"],
    "text_encoder": ["transformers", "UMT5EncoderModel"],
    "tokenizer": ["transformers", "T5TokenizerFast"],
    "transformer": ["diffusers", "WanTransformer3DModel"],
    "vae": ["diffusers", "AutoencoderKLWan"],
}

SCHEDULER = {
    "_class_name": "UniPCMultistepScheduler",
    "_diffusers_version": HUB_DIFFUSERS_VERSION,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "beta_start": 0.0001,
    "disable_corrector": [],
    "dynamic_thresholding_ratio": 0.995,
    "final_sigmas_type": "zero",
    "flow_shift": 3.0,
    "lower_order_final": True,
    "num_train_timesteps": 1000,
    "predict_x0": True,
    "prediction_type": "flow_prediction",
    "rescale_betas_zero_snr": False,
    "sample_max_value": 1.0,
    "solver_order": 2,
    "solver_p": None,
    "solver_type": "bh2",
    "steps_offset": 0,
    "thresholding": False,
    "timestep_spacing": "linspace",
    "trained_betas": None,
    "use_beta_sigmas": False,
    "use_exponential_sigmas": False,
    "use_flow_sigmas": True,
    "use_karras_sigmas": False,
}

SIZES = {
    "1.3b": {"num_attention_heads": 12, "num_layers": 30, "ffn_dim": 8960},
    "14b": {"num_attention_heads": 40, "num_layers": 40, "ffn_dim": 13824},
}


def transformer_config(size):
    c = {
        "_class_name": "WanTransformer3DModel",
        "_diffusers_version": HUB_DIFFUSERS_VERSION,
        "added_kv_proj_dim": None,
        "attention_head_dim": 128,
        "cross_attn_norm": True,
        "eps": 1e-06,
        "ffn_dim": None,
        "freq_dim": 256,
        "image_dim": None,
        "in_channels": 16,
        "num_attention_heads": None,
        "num_layers": None,
        "out_channels": 16,
        "patch_size": [1, 2, 2],
        "pos_embed_seq_len": None,
        "qk_norm": "rms_norm_across_heads",
        "rope_max_seq_len": 1024,
        "text_dim": 4096,
    }
    c.update(SIZES[size])
    return c


VAE = {
    "_class_name": "AutoencoderKLWan",
    "_diffusers_version": HUB_DIFFUSERS_VERSION,
    "attn_scales": [],
    "base_dim": 96,
    "dim_mult": [1, 2, 4, 4],
    "dropout": 0.0,
    "latents_mean": [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                     0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921],
    "latents_std": [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                    3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.916],
    "num_res_blocks": 2,
    "temperal_downsample": [False, True, True],
    "z_dim": 16,
}

# google/umt5-xxl's config.json, as the Hub's text_encoder/config.json holds it ("dtype" is set to --dtype)
UMT5 = {
    "architectures": ["UMT5EncoderModel"],
    "classifier_dropout": 0.0,
    "d_ff": 10240,
    "d_kv": 64,
    "d_model": 4096,
    "decoder_start_token_id": 0,
    "dense_act_fn": "gelu_new",
    "dropout_rate": 0.1,
    "eos_token_id": 1,
    "feed_forward_proj": "gated-gelu",
    "initializer_factor": 1.0,
    "is_encoder_decoder": True,
    "is_gated_act": True,
    "layer_norm_epsilon": 1e-06,
    "model_type": "umt5",
    "num_decoder_layers": 24,
    "num_heads": 64,
    "num_layers": 24,
    "output_past": True,
    "pad_token_id": 0,
    "relative_attention_max_distance": 128,
    "relative_attention_num_buckets": 32,
    "scalable_attention": True,
    "tie_word_embeddings": False,
    "tokenizer_class": "T5Tokenizer",
    "use_cache": True,
    "vocab_size": 256384,
}


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def empty_weights():
    """Parameters on the meta device while a model is built (buffers stay real: the DiT's RoPE tables are small)."""
    try:
        from accelerate import init_empty_weights

        return init_empty_weights()
    except ImportError:
        return torch.device("meta")


def init_kwargs(cfg):
    return {k: v for k, v in cfg.items() if not k.startswith("_")}


def diffusers_shapes(cls_name, cfg):
    try:
        import diffusers
    except Exception as e:  # noqa: BLE001 - any import failure of the pruned copy
        sys.exit(f"make_pipeline: cannot import diffusers ({type(e).__name__}: {e}); put the pruned copy on "
                 f"PYTHONPATH (.devcarry/py)")
    cls = getattr(diffusers, cls_name)
    with empty_weights():
        model = cls(**init_kwargs(cfg))
    return [(k, list(v.shape)) for k, v in model.state_dict().items()], f"diffusers {diffusers.__version__} {cls_name}"


def umt5_hand_shapes(c):
    d, inner, ff = c["d_model"], c["num_heads"] * c["d_kv"], c["d_ff"]
    s = [("shared.weight", [c["vocab_size"], d])]
    for i in range(c["num_layers"]):
        b = f"encoder.block.{i}.layer."
        for m in "qkv":
            s.append((f"{b}0.SelfAttention.{m}.weight", [inner, d]))
        s.append((f"{b}0.SelfAttention.o.weight", [d, inner]))
        s.append((f"{b}0.SelfAttention.relative_attention_bias.weight",
                  [c["relative_attention_num_buckets"], c["num_heads"]]))
        s.append((f"{b}0.layer_norm.weight", [d]))
        s.append((f"{b}1.DenseReluDense.wi_0.weight", [ff, d]))
        s.append((f"{b}1.DenseReluDense.wi_1.weight", [ff, d]))
        s.append((f"{b}1.DenseReluDense.wo.weight", [d, ff]))
        s.append((f"{b}1.layer_norm.weight", [d]))
    s.append(("encoder.final_layer_norm.weight", [d]))
    return s


def umt5_shapes(c):
    """UMT5EncoderModel's state dict without the tied encoder.embed_tokens.weight (the Hub stores shared.weight)."""
    hand = umt5_hand_shapes(c)
    try:
        from transformers import UMT5Config, UMT5EncoderModel

        conf = UMT5Config(**{k: v for k, v in c.items() if k not in ("model_type", "architectures", "dtype")})
        with empty_weights():
            model = UMT5EncoderModel(conf)
        items = [(k, list(v.shape)) for k, v in model.state_dict().items() if k != "encoder.embed_tokens.weight"]
        src = "transformers UMT5EncoderModel"
    except Exception as e:  # noqa: BLE001 - fall back to the hand-written list, which matches tiny-wan's names
        print(f"make_pipeline: note: UMT5EncoderModel on the meta device failed ({type(e).__name__}: {e}); "
              "using the hand-written umT5 list")
        return hand, "hand-written umT5 list"
    a, b = dict(items), dict(hand)
    if a != b:
        only_model = sorted(set(a) - set(b))[:5]
        only_hand = sorted(set(b) - set(a))[:5]
        diff = sorted(k for k in set(a) & set(b) if a[k] != b[k])[:5]
        print(f"make_pipeline: warning: the umT5 names differ from the hand-written list (model only {only_model}, "
              f"list only {only_hand}, shapes {diff}); writing the model's")
    return items, src


# --- initialisation rules: ("uniform", centre, half width) or ("normal", 0, std) ---------------------------------

def fan_in(shape):
    return numel(shape[1:]) if len(shape) > 1 else shape[0]


def dit_rule(name, shape, _cfg):
    if "scale_shift_table" in name or name.endswith(".bias"):
        return ("uniform", 0.0, 0.1)
    if "norm" in name or len(shape) == 1:  # norm_q / norm_k (RMS over heads), norm2 (cross-attention LayerNorm)
        return ("uniform", 1.0, 0.1)
    return ("uniform", 0.0, 1.0 / math.sqrt(fan_in(shape)))


def vae_rule(name, shape, _cfg):
    if name.endswith(".gamma"):
        return ("uniform", 1.0, 0.1)
    if name.endswith(".bias") or len(shape) == 1:
        return ("uniform", 0.0, 0.1)
    return ("uniform", 0.0, 1.0 / math.sqrt(fan_in(shape)))


def t5_rule(name, shape, cfg):
    if name == "shared.weight" or "embed_tokens" in name:
        return ("normal", 0.0, 1.0)
    if "relative_attention_bias" in name:
        return ("normal", 0.0, 0.1)
    if "layer_norm" in name or len(shape) == 1:
        return ("uniform", 1.0, 0.1)
    w = 1.0 / math.sqrt(fan_in(shape))
    if name.endswith("SelfAttention.q.weight"):  # T5 attention has no 1/sqrt(d_kv): keep the scores O(1)
        w /= math.sqrt(cfg["d_kv"])
    return ("uniform", 0.0, w)


def draw(rule, shape, gen, dtype):
    kind, centre, width = rule
    if kind == "normal":
        t = torch.randn(shape, generator=gen, device="cuda", dtype=torch.float32).mul_(width)
    else:  # uniform in [centre - width, centre + width)
        t = torch.rand(shape, generator=gen, device="cuda", dtype=torch.float32).mul_(2 * width).add_(centre - width)
    return t.to(dtype)


def write_weights(folder, base, items, rule, cfg, dtype, seed, shard_bytes):
    """items [(name, shape)] -> base.safetensors, or base-0000i-of-0000n.safetensors + base.safetensors.index.json
    (files of at most shard_bytes unless one tensor is larger), as save_pretrained lays them out."""
    esize = torch.empty(0, dtype=dtype).element_size()
    plan, size = [[]], 0
    for name, shape in items:
        nb = numel(shape) * esize
        if plan[-1] and size + nb > shard_bytes:
            plan.append([])
            size = 0
        plan[-1].append((name, shape))
        size += nb
    gen = torch.Generator(device="cuda").manual_seed(seed)
    n, total, weight_map = len(plan), 0, {}
    for i, shard in enumerate(plan, 1):
        fname = f"{base}.safetensors" if n == 1 else f"{base}-{i:05d}-of-{n:05d}.safetensors"
        tensors = {}
        for name, shape in shard:
            tensors[name] = draw(rule(name, shape, cfg), shape, gen, dtype).cpu()
            weight_map[name] = fname
            total += numel(shape) * esize
        save_file(tensors, os.path.join(folder, fname), metadata={"format": "pt"})
        del tensors
    if n > 1:
        with open(os.path.join(folder, f"{base}.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f,
                      indent=2)
    return total, n


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def tree_bytes(path):
    if os.path.islink(path) or not os.path.isdir(path):
        return 0
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs
               if not os.path.islink(os.path.join(d, f)))


def clear(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


# --- tokenizer ------------------------------------------------------------------------------------------------

def read_spm(path):
    """The parts of a sentencepiece ModelProto that a tokenizer.json needs, without protobuf: pieces (piece, score,
    type), the special ids of the trainer spec and the normalizer's precompiled charsmap."""
    data = open(path, "rb").read()

    def varint(b, i):
        r = s = 0
        while True:
            c = b[i]
            i += 1
            r |= (c & 0x7F) << s
            s += 7
            if c < 0x80:
                return r, i

    def fields(b):
        i = 0
        while i < len(b):
            key, i = varint(b, i)
            f, t = key >> 3, key & 7
            if t == 0:
                v, i = varint(b, i)
            elif t == 1:
                v, i = b[i:i + 8], i + 8
            elif t == 2:
                n, i = varint(b, i)
                v, i = b[i:i + n], i + n
            elif t == 5:
                v, i = b[i:i + 4], i + 4
            else:
                raise ValueError(f"{path}: wire type {t} not handled")
            yield f, t, v

    def int32(v):
        return v - (1 << 64) if v >= (1 << 63) else v

    spm = {"pieces": [], "unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1, "charsmap": b""}
    for f, t, v in fields(data):
        if f == 1 and t == 2:  # SentencePiece {1 piece, 2 score, 3 type (NORMAL 1, UNKNOWN 2, CONTROL 3, BYTE 6)}
            p = ["", 0.0, 1]
            for ff, tt, vv in fields(v):
                if ff == 1:
                    p[0] = vv.decode("utf-8")
                elif ff == 2 and tt == 5:
                    p[1] = struct.unpack("<f", vv)[0]
                elif ff == 3 and tt == 0:
                    p[2] = vv
            spm["pieces"].append(tuple(p))
        elif f == 2 and t == 2:  # TrainerSpec: unk_id 40, bos_id 41, eos_id 42, pad_id 43
            for ff, tt, vv in fields(v):
                if tt == 0 and ff in (40, 41, 42, 43):
                    spm[{40: "unk_id", 41: "bos_id", 42: "eos_id", 43: "pad_id"}[ff]] = int32(vv)
        elif f == 3 and t == 2:  # NormalizerSpec: 2 precompiled_charsmap
            for ff, tt, vv in fields(v):
                if ff == 2 and tt == 2:
                    spm["charsmap"] = bytes(vv)
    if not spm["pieces"]:
        raise ValueError(f"{path}: no pieces (not a sentencepiece model?)")
    return spm


def write_tokenizer(folder, spiece):
    shutil.copyfile(spiece, os.path.join(folder, "spiece.model"))
    spm = read_spm(spiece)
    pieces = spm["pieces"]

    def piece(i, fallback):
        return pieces[i][0] if 0 <= i < len(pieces) else fallback

    eos, unk = piece(spm["eos_id"], "</s>"), piece(spm["unk_id"], "<unk>")
    pad = piece(spm["pad_id"], pieces[0][0])
    pad_id = spm["pad_id"] if spm["pad_id"] >= 0 else 0
    specials = {"eos_token": eos, "pad_token": pad, "unk_token": unk}
    write_json(os.path.join(folder, "special_tokens_map.json"), specials)
    write_json(os.path.join(folder, "tokenizer_config.json"), dict(
        specials, tokenizer_class="T5Tokenizer", extra_ids=0, model_max_length=512,
        clean_up_tokenization_spaces=False))
    try:  # tokenizer.json as transformers' sentencepiece conversion lays it out for a T5 (Unigram, Metaspace)
        from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

        tok = Tokenizer(models.Unigram([(p, s) for p, s, _ in pieces], unk_id=spm["unk_id"],
                                       byte_fallback=any(t == 6 for _, _, t in pieces)))
        norms = [normalizers.Precompiled(spm["charsmap"])] if spm["charsmap"] else []
        tok.normalizer = normalizers.Sequence(norms + [normalizers.Replace(Regex(" {2,}"), " ")])
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
        tok.post_processor = processors.TemplateProcessing(single=["$A", eos], pair=["$A", eos, "$B", eos],
                                                           special_tokens=[(eos, spm["eos_id"])])
        tok.add_special_tokens([AddedToken(x, special=True, normalized=False) for x in (pad, eos, unk)])
        tok.save(os.path.join(folder, "tokenizer.json"))
    except Exception as e:  # noqa: BLE001 - transformers can still convert spiece.model itself
        print(f"make_pipeline: warning: no tokenizer.json ({type(e).__name__}: {e}); transformers will have to "
              "convert spiece.model")
    return len(pieces), pad_id


def check_tokenizer(folder):
    """Best effort: the tokenizer loads as transformers loads it and gives ids below the umT5 vocabulary."""
    try:
        from transformers import AutoTokenizer

        tk = AutoTokenizer.from_pretrained(folder)
        ids = tk("a red panda drinking tea in a bamboo forest", padding="max_length", max_length=512,
                 truncation=True, add_special_tokens=True).input_ids
        n = sum(1 for i in ids if i != tk.pad_token_id)
        print(f"tokenizer: {type(tk).__name__} loads; the prompt is {n} tokens {ids[:n]}, max id {max(ids)} "
              f"(< {UMT5['vocab_size']})")
    except Exception as e:  # noqa: BLE001
        print(f"make_pipeline: warning: the tokenizer does not load in transformers ({type(e).__name__}: {e})")


# --- main ---------------------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--size", choices=sorted(SIZES), default="1.3b")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="bf16", help="transformer and text encoder (VAE: fp32)")
    ap.add_argument("--transformer-only", action="store_true")
    ap.add_argument("--link-rest", metavar="DIR")
    ap.add_argument("--spiece", default=DEFAULT_SPIECE)
    ap.add_argument("--shard-gb", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("make_pipeline: no CUDA device (the weights are drawn on the GPU)")
    dtype = DTYPES[a.dtype]
    out = os.path.abspath(a.outdir)
    os.makedirs(out, exist_ok=True)
    if a.link_rest:
        src = os.path.abspath(a.link_rest)
        missing = [c for c in LINKED if not os.path.isdir(os.path.join(src, c))]
        if missing:
            sys.exit(f"make_pipeline: --link-rest {src}: no {', '.join(missing)} there (make that folder first)")
        if src == out:
            sys.exit("make_pipeline: --link-rest names the output folder itself")
    make = ("transformer",) if (a.transformer_only or a.link_rest) else COMPONENTS
    if not os.path.isfile(a.spiece) and "tokenizer" in make:
        sys.exit(f"make_pipeline: no spiece.model at {a.spiece} (--spiece)")
    clear(os.path.join(out, "model_index.json"))  # written last: its absence marks an unfinished folder
    shard = int(a.shard_gb * 1e9)
    t0 = time.perf_counter()

    # names and shapes first, so that the disk check sees the whole bill
    plans = {}
    if "transformer" in make:
        tcfg = transformer_config(a.size)
        items, src_t = diffusers_shapes("WanTransformer3DModel", tcfg)
        plans["transformer"] = (tcfg, items, src_t, dit_rule, dtype, "diffusion_pytorch_model", a.seed)
    if "vae" in make:
        items, src_v = diffusers_shapes("AutoencoderKLWan", VAE)
        plans["vae"] = (VAE, items, src_v, vae_rule, torch.float32, "diffusion_pytorch_model", a.seed + 2)
    if "text_encoder" in make:
        ecfg = dict(UMT5, dtype=DTYPE_NAMES[dtype])
        try:
            import transformers

            ecfg["transformers_version"] = transformers.__version__
        except ImportError:
            pass
        items, src_e = umt5_shapes(ecfg)
        plans["text_encoder"] = (ecfg, items, src_e, t5_rule, dtype, "model", a.seed + 1)
    need = sum(numel(s) * torch.empty(0, dtype=p[4]).element_size() for p in plans.values() for _, s in p[1])
    free = shutil.disk_usage(out).free
    free += sum(tree_bytes(os.path.join(out, c)) for c in make)  # the files of a former run are replaced
    if need > free - (1 << 30):
        sys.exit(f"make_pipeline: {need / 1e9:.1f} GB to write but {free / 1e9:.1f} GB free under {out}")
    print(f"make_pipeline: {out}: Wan2.1-T2V-{a.size.upper()} ({', '.join(make)}), {need / 1e9:.2f} GB to write, "
          f"{free / 1e9:.1f} GB free for it")

    total = 0
    for comp in COMPONENTS:
        path = os.path.join(out, comp)
        if comp in make:
            clear(path)
            os.makedirs(path)
        elif a.link_rest and comp in LINKED:
            clear(path)
            os.symlink(os.path.join(os.path.abspath(a.link_rest), comp), path)
            print(f"{comp}: -> {os.readlink(path)}")
            continue
        else:
            continue
        t = time.perf_counter()
        if comp == "scheduler":
            write_json(os.path.join(path, "scheduler_config.json"), SCHEDULER)
            print(f"scheduler: UniPCMultistepScheduler, flow_shift {SCHEDULER['flow_shift']}")
            continue
        if comp == "tokenizer":
            n, _ = write_tokenizer(path, a.spiece)
            print(f"tokenizer: {n} pieces from {a.spiece}")
            check_tokenizer(path)
            continue
        cfg, items, src, rule, dt, base, seed = plans[comp]
        write_json(os.path.join(path, "config.json"), cfg)
        nbytes, nfiles = write_weights(path, base, items, rule, cfg, dt, seed, shard)
        total += nbytes
        dt_s = time.perf_counter() - t
        print(f"{comp}: {len(items)} tensors, {sum(numel(s) for _, s in items) / 1e9:.3f} G params, "
              f"{DTYPE_NAMES[dt]}, {nbytes / 1e9:.2f} GB in {nfiles} file(s), {dt_s:.1f} s "
              f"({nbytes / 1e9 / max(dt_s, 1e-9):.2f} GB/s); names from {src}")
    write_json(os.path.join(out, "model_index.json"), MODEL_INDEX)
    el = time.perf_counter() - t0
    print(f"make_pipeline: wrote {total / 1e9:.2f} GB of weights in {el:.1f} s ({total / 1e9 / max(el, 1e-9):.2f} "
          f"GB/s) to {out}")


if __name__ == "__main__":
    main()
