"""Pure-Python float64 reference of Wan 2.1: the DiT forward, the umT5 encoder and the VAE decoder.

Written from /work/shared/spec/wan21.md (sections 1, 2 and 3) and the structure of the official Wan code, with the
standard library only, so that it shares nothing with the engine (no C, no fp32 kernels). Every value is a Python
float (float64): it is a higher-precision reference of the fp32 official code. Tensors are flat lists in PyTorch
row-major order, or lists of rows where that reads better. Weights are read by their official names from
tests/data/tiny-wan-original/. Shapes are taken from the weights, so any model size works (slowly).
"""
import json
import math
import os
from operator import mul

import st


def _dot(a, b):
    return sum(map(mul, a, b))


def _rows(flat, n_rows):
    n = len(flat) // n_rows
    return [flat[r * n : (r + 1) * n] for r in range(n_rows)]


class Weights:
    """Tensors of one safetensors file by name: w[name] is the flat list, w.shape(name) its shape."""

    def __init__(self, path):
        self.t, _ = st.read(path)

    def __getitem__(self, name):
        return self.t[name][2]

    def __contains__(self, name):
        return name in self.t

    def shape(self, name):
        return self.t[name][1]

    def matrix(self, name):
        """A weight [out, in, ...] as a list of `out` rows."""
        return _rows(self[name], self.shape(name)[0])


def linear(xs, w, b=None):
    """y = x·Wᵀ + b for each row x of xs; w is a list of rows [out][in]."""
    if b is None:
        return [[_dot(row, x) for row in w] for x in xs]
    return [[bo + _dot(row, x) for bo, row in zip(b, w)] for x in xs]


def gelu_tanh(x):
    return 0.5 * x * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def silu(x):
    return x / (1.0 + math.exp(-x))


def layer_norm(x, eps, w=None, b=None):
    n = len(x)
    mean = sum(x) / n
    var = sum((v - mean) ** 2 for v in x) / n
    r = 1.0 / math.sqrt(var + eps)
    y = [(v - mean) * r for v in x]
    if w is not None:
        y = [yi * wi + bi for yi, wi, bi in zip(y, w, b)]
    return y


def rms_norm(x, w, eps):
    """w · x / sqrt(mean(x²) + eps): the DiT q/k norm and the T5 norm."""
    r = 1.0 / math.sqrt(sum(v * v for v in x) / len(x) + eps)
    return [v * r * wi for v, wi in zip(x, w)]


def softmax(logits):
    m = max(logits)
    e = [math.exp(v - m) for v in logits]
    s = sum(e)
    return [v / s for v in e]


def attention(q, k, v, scale, bias=None):
    """Single-head attention: q [Lq][d], k [Lk][d], v [Lk][dv]; bias(i) gives the additive row for query i."""
    out = []
    for i, qi in enumerate(q):
        logits = [scale * _dot(qi, kj) for kj in k]
        if bias is not None:
            logits = [a + b for a, b in zip(logits, bias(i))]
        p = softmax(logits)
        dv = len(v[0])
        o = [0.0] * dv
        for pj, vj in zip(p, v):
            o = [a + pj * b for a, b in zip(o, vj)]
        out.append(o)
    return out


def split_heads(xs, heads):
    d = len(xs[0]) // heads
    return [[x[h * d : (h + 1) * d] for x in xs] for h in range(heads)]


def merge_heads(per_head):
    return [sum((per_head[h][i] for h in range(len(per_head))), []) for i in range(len(per_head[0]))]


# ----------------------------------------------------------------------------------------------------------------
# DiT (spec section 1)


class Dit:
    def __init__(self, folder):
        with open(os.path.join(folder, "config.json")) as f:
            self.cfg = json.load(f)
        self.w = Weights(os.path.join(folder, "diffusion_pytorch_model.safetensors"))
        self.D = self.cfg["dim"]
        self.heads = self.cfg["num_heads"]
        self.eps = self.cfg["eps"]

    def _lin(self, xs, name):
        return linear(xs, self.w.matrix(name + ".weight"), self.w[name + ".bias"])

    def _rope(self, xs, pos):
        """3-D RoPE on [L][D] (per head, interleaved pairs): frame / height / width pairs of c−2(c//3), c//3, c//3."""
        hd = self.D // self.heads
        c = hd // 2
        split = [c - 2 * (c // 3), c // 3, c // 3]
        freqs = []  # (axis, omega) for each complex pair of one head
        for axis, n in enumerate(split):
            dim_axis = 2 * n
            freqs += [(axis, 1.0 / 10000.0 ** (2 * j / dim_axis)) for j in range(n)]
        out = []
        for x, p in zip(xs, pos):
            y = list(x)
            for h in range(self.heads):
                for m, (axis, om) in enumerate(freqs):
                    ang = p[axis] * om
                    cs, sn = math.cos(ang), math.sin(ang)
                    i = h * hd + 2 * m
                    a, b = x[i], x[i + 1]
                    y[i], y[i + 1] = a * cs - b * sn, a * sn + b * cs
            out.append(y)
        return out

    def _attn(self, pre, xq, xkv, pos=None):
        hd = self.D // self.heads
        wq, wk = self.w[pre + ".norm_q.weight"], self.w[pre + ".norm_k.weight"]
        q = [rms_norm(r, wq, self.eps) for r in self._lin(xq, pre + ".q")]
        k = [rms_norm(r, wk, self.eps) for r in self._lin(xkv, pre + ".k")]
        v = self._lin(xkv, pre + ".v")
        if pos is not None:
            q, k = self._rope(q, pos), self._rope(k, pos)
        qh, kh, vh = split_heads(q, self.heads), split_heads(k, self.heads), split_heads(v, self.heads)
        o = merge_heads([attention(qh[h], kh[h], vh[h], 1.0 / math.sqrt(hd)) for h in range(self.heads)])
        return self._lin(o, pre + ".o")

    def forward(self, x, T, H, W, t, ctx):
        """x: flat [in_dim, T, H, W]; t: timestep; ctx: rows [L][text_dim]. Returns flat v [out_dim, T, H, W]."""
        D, w, eps = self.D, self.w, self.eps
        cin, cout = self.cfg["in_dim"], self.cfg["out_dim"]
        Hp, Wp = H // 2, W // 2
        # 1. patch embedding (kernel = stride = (1,2,2)); tokens f-major, then i, then j
        pw, pb = w.matrix("patch_embedding.weight"), w["patch_embedding.bias"]
        tokens, pos = [], []
        for f in range(T):
            for i in range(Hp):
                for j in range(Wp):
                    patch = [x[((c * T + f) * H + 2 * i + q) * W + 2 * j + r]
                             for c in range(cin) for q in (0, 1) for r in (0, 1)]
                    tokens.append([b + _dot(row, patch) for b, row in zip(pb, pw)])
                    pos.append((f, i, j))
        # 2. time embedding: sinusoid in float64, cos first
        half = self.cfg["freq_dim"] // 2
        s = [t * 10000.0 ** (-k / half) for k in range(half)]
        sinus = [math.cos(v) for v in s] + [math.sin(v) for v in s]
        e = self._lin([[silu(v) for v in self._lin([sinus], "time_embedding.0")[0]]], "time_embedding.2")[0]
        e0 = self._lin([[silu(v) for v in e]], "time_projection.1")[0]
        e0 = _rows(e0, 6)
        # 3. text embedding of the context zero-padded to text_len rows (all rows used, none masked)
        def embed_text(rows):
            h = [[gelu_tanh(v) for v in r] for r in self._lin(rows, "text_embedding.0")]
            return self._lin(h, "text_embedding.2")
        text_len = self.cfg["text_len"]
        ctx_e = embed_text(ctx)
        if len(ctx) < text_len:  # every zero row embeds to the same vector: compute it once
            pad = embed_text([[0.0] * len(ctx[0])])[0]
            ctx_e += [pad] * (text_len - len(ctx))
        # 4. blocks
        for b in range(self.cfg["num_layers"]):
            pre = "blocks.%d" % b
            mod = [[m + e for m, e in zip(mr, er)] for mr, er in zip(_rows(w[pre + ".modulation"], 6), e0)]
            sh_sa, sc_sa, g_sa, sh_ff, sc_ff, g_ff = mod
            h = [[v * (1 + sc) + sh for v, sc, sh in zip(layer_norm(tk, eps), sc_sa, sh_sa)] for tk in tokens]
            y = self._attn(pre + ".self_attn", h, h, pos)
            tokens = [[a + yv * g for a, yv, g in zip(tk, yr, g_sa)] for tk, yr in zip(tokens, y)]
            n3w, n3b = w[pre + ".norm3.weight"], w[pre + ".norm3.bias"]
            h = [layer_norm(tk, eps, n3w, n3b) for tk in tokens]
            y = self._attn(pre + ".cross_attn", h, ctx_e)
            tokens = [[a + yv for a, yv in zip(tk, yr)] for tk, yr in zip(tokens, y)]
            h = [[v * (1 + sc) + sh for v, sc, sh in zip(layer_norm(tk, eps), sc_ff, sh_ff)] for tk in tokens]
            y = self._lin([[gelu_tanh(v) for v in r] for r in self._lin(h, pre + ".ffn.0")], pre + ".ffn.2")
            tokens = [[a + yv * g for a, yv, g in zip(tk, yr, g_ff)] for tk, yr in zip(tokens, y)]
        # 5. head: modulation + e (not e0)
        shift, scale = [[m + ev for m, ev in zip(mr, e)] for mr in _rows(w["head.modulation"], 2)]
        h = [[v * (1 + sc) + sh for v, sc, sh in zip(layer_norm(tk, eps), scale, shift)] for tk in tokens]
        y = self._lin(h, "head.head")
        # 6. unpatchify: output channel o = (q*2 + r)*out_dim + c
        v = [0.0] * (cout * T * H * W)
        for n, (f, i, j) in enumerate(pos):
            for q in (0, 1):
                for r in (0, 1):
                    for c in range(cout):
                        v[((c * T + f) * H + 2 * i + q) * W + 2 * j + r] = y[n][(q * 2 + r) * cout + c]
        return v


# ----------------------------------------------------------------------------------------------------------------
# umT5 encoder (spec section 2)


def t5_bucket(rel, num_buckets=32, max_distance=128):
    """Bidirectional relative-position bucket of rel = key − query (spec 2.2)."""
    nb = num_buckets // 2
    bucket = nb if rel > 0 else 0
    n = abs(rel)
    exact = nb // 2
    if n < exact:
        return bucket + n
    large = exact + int(math.log(n / exact) / math.log(max_distance / exact) * (nb - exact))
    return bucket + min(nb - 1, large)


class T5:
    def __init__(self, path, eps=1e-6):
        self.w = Weights(path)
        self.eps = eps
        self.layers = 0
        while "blocks.%d.norm1.weight" % self.layers in self.w:
            self.layers += 1

    def forward(self, ids):
        """ids: token ids (all real, eos included). Returns rows [len(ids)][d_model]."""
        w, eps = self.w, self.eps
        emb = w.matrix("token_embedding.weight")
        x = [list(emb[i]) for i in ids]
        L = len(ids)
        for b in range(self.layers):
            pre = "blocks.%d." % b
            rel = w.matrix(pre + "pos_embedding.embedding.weight")  # [buckets][heads]
            heads = len(rel[0])
            h = [rms_norm(r, w[pre + "norm1.weight"], eps) for r in x]
            q, k, v = (split_heads(linear(h, w.matrix(pre + "attn.%s.weight" % n)), heads) for n in "qkv")
            per_head = []
            for hh in range(heads):
                bias = lambda i, hh=hh: [rel[t5_bucket(j - i)][hh] for j in range(L)]
                per_head.append(attention(q[hh], k[hh], v[hh], 1.0, bias))  # T5: no 1/sqrt(d) scaling
            o = linear(merge_heads(per_head), w.matrix(pre + "attn.o.weight"))
            x = [[a + c for a, c in zip(xr, orow)] for xr, orow in zip(x, o)]
            h = [rms_norm(r, w[pre + "norm2.weight"], eps) for r in x]
            g = linear(h, w.matrix(pre + "ffn.gate.0.weight"))
            f = linear(h, w.matrix(pre + "ffn.fc1.weight"))
            y = linear([[fv * gelu_tanh(gv) for fv, gv in zip(fr, gr)] for fr, gr in zip(f, g)],
                       w.matrix(pre + "ffn.fc2.weight"))
            x = [[a + c for a, c in zip(xr, yr)] for xr, yr in zip(x, y)]
        return [rms_norm(r, w["norm.weight"], eps) for r in x]


# ----------------------------------------------------------------------------------------------------------------
# VAE decoder (spec section 3), as the official chunk-by-chunk loop with a per-conv feature cache.
# A video is a list over channels of a list over frames of flat planes (h*w floats): x[c][t][y*w + x].

VAE_MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
            0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]
VAE_STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
           3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160]
CACHE_T = 2


def _pad_plane(p, h, w):
    """Zero-pads a plane by one on each side plus one spare row, flattened with row width w+2."""
    wp = w + 2
    out = [0.0] * (wp * (h + 3))
    for y in range(h):
        out[(y + 1) * wp + 1 : (y + 1) * wp + 1 + w] = p[y * w : (y + 1) * w]
    return out


def conv(x, h, w, weight, shape, bias):
    """Valid convolution in time, 'same' (zero pad k//2) in space, kernel [cout, cin, kt, kh, kw] with kh = kw
    in {1, 3}; x has already been padded in time. Returns [cout][t_in − kt + 1][h*w]."""
    cout, cin, kt, kh, kw = shape
    wk = _rows(weight, cout)  # [cout][cin*kt*kh*kw]
    t_out = len(x[0]) - kt + 1
    out = [[None] * t_out for _ in range(cout)]
    n = h * (w + 2)
    if kh == 3:  # pad every input plane once
        x = [[_pad_plane(p, h, w) for p in ch] for ch in x]
    for t in range(t_out):
        acc = [[bias[co]] * (n if kh == 3 else h * w) for co in range(cout)]
        for ci in range(cin):
            for dt in range(kt):
                plane = x[ci][t + dt]
                base = (ci * kt + dt) * kh * kw
                if kh == 1:
                    for co in range(cout):
                        wv = wk[co][base]
                        acc[co] = [a + wv * s for a, s in zip(acc[co], plane)]
                    continue
                s = [plane[dy * (w + 2) + dx : dy * (w + 2) + dx + n] for dy in range(3) for dx in range(3)]
                for co in range(cout):
                    k0, k1, k2, k3, k4, k5, k6, k7, k8 = wk[co][base : base + 9]
                    acc[co] = [a + k0 * s0 + k1 * s1 + k2 * s2 + k3 * s3 + k4 * s4 + k5 * s5 + k6 * s6
                               + k7 * s7 + k8 * s8
                               for a, s0, s1, s2, s3, s4, s5, s6, s7, s8 in zip(acc[co], *s)]
        for co in range(cout):
            a = acc[co]
            if kh == 3:  # drop the two padding columns of each row
                a = [v for y in range(h) for v in a[y * (w + 2) : y * (w + 2) + w]]
            out[co][t] = a
    return out


def rms_norm_channels(x, gamma):
    """F.normalize over channels (‖·‖₂ clamped at 1e-12) · √C · gamma, per pixel."""
    C = len(x)
    out = [[None] * len(x[0]) for _ in range(C)]
    for t in range(len(x[0])):
        planes = [x[c][t] for c in range(C)]
        inv = [math.sqrt(C) / max(math.sqrt(s), 1e-12) for s in
               (sum(v * v for v in px) for px in zip(*planes))]
        for c in range(C):
            out[c][t] = [v * r * gamma[c] for v, r in zip(planes[c], inv)]
    return out


def silu_video(x):
    return [[[silu(v) for v in p] for p in ch] for ch in x]


def add_video(a, b):
    return [[[u + v for u, v in zip(pa, pb)] for pa, pb in zip(ca, cb)] for ca, cb in zip(a, b)]


def upsample_nearest2(x, h, w):
    out = []
    for ch in x:
        frames = []
        for p in ch:
            q = []
            for y in range(2 * h):
                row = p[(y // 2) * w : (y // 2 + 1) * w]
                q += [v for v in row for _ in (0, 1)]
            frames.append(q)
        out.append(frames)
    return out


class VaeDecoder:
    def __init__(self, path):
        self.w = Weights(path)

    def _causal(self, name, x, h, w, cache):
        """CausalConv3d with the official cache handling: returns (y, new cache entry). The cache holds the last
        CACHE_T input frames (the previous chunk's last frame prepended when this chunk has one frame)."""
        shape = self.w.shape(name + ".weight")
        kt = shape[2]
        new_cache = [ch[-CACHE_T:] for ch in x]
        if len(new_cache[0]) < 2 and cache is not None:
            new_cache = [[cc[-1]] + nc for cc, nc in zip(cache, new_cache)]
        pad_t = kt - 1  # 2·p_t front padding
        if cache is not None and pad_t > 0:
            x = [cc + ch for cc, ch in zip(cache, x)]
            pad_t -= len(cache[0])
        plane0 = [0.0] * (h * w)
        x = [[plane0] * pad_t + ch for ch in x]
        return conv(x, h, w, self.w[name + ".weight"], shape, self.w[name + ".bias"]), new_cache

    def _cached(self, name, x, h, w):
        idx = self.idx
        y, self.cache[idx] = self._causal(name, x, h, w, self.cache[idx])
        self.idx += 1
        return y

    def _resblock(self, pre, x, h, w):
        sc = self.w.shape(pre + ".shortcut.weight") if pre + ".shortcut.weight" in self.w else None
        if sc:
            short = conv(x, h, w, self.w[pre + ".shortcut.weight"], sc, self.w[pre + ".shortcut.bias"])
        else:
            short = x
        y = silu_video(rms_norm_channels(x, self.w[pre + ".residual.0.gamma"]))
        y = self._cached(pre + ".residual.2", y, h, w)
        y = silu_video(rms_norm_channels(y, self.w[pre + ".residual.3.gamma"]))
        y = self._cached(pre + ".residual.6", y, h, w)
        return add_video(y, short)

    def _attnblock(self, pre, x, h, w):
        C = len(x)
        n = rms_norm_channels(x, self.w[pre + ".norm.gamma"])
        qkv = conv(n, h, w, self.w[pre + ".to_qkv.weight"], [3 * C, C, 1, 1, 1], self.w[pre + ".to_qkv.bias"])
        out = []
        for t in range(len(x[0])):
            toks = [[qkv[c][t][p] for c in range(3 * C)] for p in range(h * w)]
            o = attention([r[:C] for r in toks], [r[C : 2 * C] for r in toks], [r[2 * C :] for r in toks],
                          1.0 / math.sqrt(C))
            out.append([[o[p][c] for p in range(h * w)] for c in range(C)])
        o = [[out[t][c] for t in range(len(x[0]))] for c in range(C)]
        o = conv(o, h, w, self.w[pre + ".proj.weight"], [C, C, 1, 1, 1], self.w[pre + ".proj.bias"])
        return add_video(o, x)

    def _resample(self, pre, x, h, w):
        C = len(x)
        if pre + ".time_conv.weight" in self.w:  # upsample3d
            idx = self.idx
            if self.cache[idx] is None:  # first chunk: mark 'Rep', no temporal upsampling
                self.cache[idx] = "Rep"
            else:
                new_cache = [ch[-CACHE_T:] for ch in x]
                if len(new_cache[0]) < 2 and self.cache[idx] != "Rep":
                    new_cache = [[cc[-1]] + nc for cc, nc in zip(self.cache[idx], new_cache)]
                if len(new_cache[0]) < 2 and self.cache[idx] == "Rep":
                    new_cache = [[[0.0] * (h * w)] + nc for nc in new_cache]
                y, _ = self._causal(pre + ".time_conv", x, h, w, None if self.cache[idx] == "Rep" else self.cache[idx])
                self.cache[idx] = new_cache
                # channels [0,C) are frame 2t, [C,2C) frame 2t+1
                x = [[y[(t % 2) * C + c][t // 2] for t in range(2 * len(y[0]))] for c in range(C)]
            self.idx += 1
        x = upsample_nearest2(x, h, w)
        shp = self.w.shape(pre + ".resample.1.weight")  # Conv2d [cout, cin, 3, 3]
        y = conv(x, 2 * h, 2 * w, self.w[pre + ".resample.1.weight"], [shp[0], shp[1], 1, 3, 3],
                 self.w[pre + ".resample.1.bias"])
        return y

    def _decoder(self, x, h, w):
        self.idx = 0
        x = self._cached("decoder.conv1", x, h, w)
        for i in range(3):
            pre = "decoder.middle.%d" % i
            x = self._attnblock(pre, x, h, w) if pre + ".to_qkv.weight" in self.w else self._resblock(pre, x, h, w)
        i = 0
        while "decoder.upsamples.%d.resample.1.weight" % i in self.w or \
                "decoder.upsamples.%d.residual.0.gamma" % i in self.w:
            pre = "decoder.upsamples.%d" % i
            if pre + ".resample.1.weight" in self.w:
                x = self._resample(pre, x, h, w)
                h, w = 2 * h, 2 * w
            else:
                x = self._resblock(pre, x, h, w)
            i += 1
        x = silu_video(rms_norm_channels(x, self.w["decoder.head.0.gamma"]))
        return self._cached("decoder.head.2", x, h, w), h, w

    def decode(self, latent, T, H, W):
        """latent: flat normalised [z_dim, T, H, W]. Returns (flat video [3, 1+4(T−1), 8H, 8W], shape)."""
        z = [[[latent[(c * T + t) * H * W + p] * VAE_STD[c] + VAE_MEAN[c] for p in range(H * W)]
              for t in range(T)] for c in range(len(VAE_MEAN))]
        x = conv(z, H, W, self.w["conv2.weight"], self.w.shape("conv2.weight"), self.w["conv2.bias"])
        self.cache = [None] * 64
        out = None
        for t in range(T):  # one latent frame per chunk
            y, h, w = self._decoder([ch[t : t + 1] for ch in x], H, W)
            out = y if out is None else [a + b for a, b in zip(out, y)]
        frames = len(out[0])
        flat = [v for ch in out for p in ch for v in p]
        return flat, [len(out), frames, h, w]
