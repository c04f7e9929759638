#!/usr/bin/env python3
"""Reference numbers for `radial compare` (tests/video/test_compare.c), computed independently of the engine.

Pure Python (no numpy, scipy or skimage: this machine has none), so each definition is written out here as the
libraries compute it:
  PSNR  skimage.metrics.peak_signal_noise_ratio(a, b, data_range=255) = 10 log10(255^2 / mean((a - b)^2)), the
        mean over every pixel and channel
  SSIM  skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, data_range=255[, channel_axis=-1]): scipy.ndimage.gaussian_filter
        (sigma 1.5, truncate 3.5 -> radius 5, mode 'reflect', one axis after the other) of x, y, x*x, y*y, x*y;
        population variances; C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2; the map cropped by 5 pixels at each
        border and averaged; RGB = the mean of the three channels' SSIM
  luma  Y = 0.299 R + 0.587 G + 0.114 B (float, unrounded)
Over a case's frames: mse = the mean of the frames' mse, psnr from it; SSIMs and mean_abs are means, max_abs the max.

Run once from this folder: python3 make_reference.py. It writes the frames as PNG files (<case>_a_<t>.png,
<case>_b_<t>.png) and expected.txt (one line per case and frame, then the case's 'all' line).
"""
import math
import struct
import zlib

SIGMA, TRUNCATE, K1, K2, L = 1.5, 3.5, 0.01, 0.03, 255.0
RADIUS = int(TRUNCATE * SIGMA + 0.5)


class Rng:  # xorshift64, so the images are reproducible without numpy
    def __init__(self, seed):
        self.s = seed

    def next(self):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFFFFFFFFFF
        s ^= s >> 7
        s ^= (s << 17) & 0xFFFFFFFFFFFFFFFF
        self.s = s
        return s

    def below(self, n):
        return (self.next() >> 11) % n


def write_png(path, img):
    h, w = len(img), len(img[0])
    raw = b"".join(b"\x00" + bytes(v for px in row for v in px) for row in img)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def gaussian_weights():
    phi = [math.exp(-0.5 / (SIGMA * SIGMA) * x * x) for x in range(-RADIUS, RADIUS + 1)]
    total = sum(phi)
    return [p / total for p in phi]


def reflect(i, n):  # scipy.ndimage mode 'reflect': d c b a | a b c d | d c b a
    while i < 0 or i >= n:
        i = -i - 1 if i < 0 else 2 * n - i - 1
    return i


def gaussian_filter(p):  # axis 0 (rows) first, then axis 1, as scipy.ndimage.gaussian_filter
    w = gaussian_weights()
    h, wd = len(p), len(p[0])
    t = [[sum(w[k] * p[reflect(y + k - RADIUS, h)][x] for k in range(len(w))) for x in range(wd)] for y in range(h)]
    return [[sum(w[k] * t[y][reflect(x + k - RADIUS, wd)] for k in range(len(w))) for x in range(wd)] for y in range(h)]


def ssim(x, y):
    h, w = len(x), len(x[0])
    prod = lambda a, b: [[a[i][j] * b[i][j] for j in range(w)] for i in range(h)]
    ux, uy = gaussian_filter(x), gaussian_filter(y)
    uxx, uyy, uxy = gaussian_filter(prod(x, x)), gaussian_filter(prod(y, y)), gaussian_filter(prod(x, y))
    c1, c2 = (K1 * L) ** 2, (K2 * L) ** 2
    vals = []
    for i in range(RADIUS, h - RADIUS):
        for j in range(RADIUS, w - RADIUS):
            mx, my = ux[i][j], uy[i][j]
            vx, vy, vxy = uxx[i][j] - mx * mx, uyy[i][j] - my * my, uxy[i][j] - mx * my
            vals.append((2 * mx * my + c1) * (2 * vxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    return math.fsum(vals) / len(vals)


def psnr(mse):
    return math.inf if mse == 0 else 10 * math.log10(L * L / mse)


def metrics(a, b):
    h, w = len(a), len(a[0])
    d = [a[i][j][c] - b[i][j][c] for i in range(h) for j in range(w) for c in range(3)]
    luma = lambda img: [[0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2] for px in row] for row in img]
    ya, yb = luma(a), luma(b)
    plane = lambda img, c: [[float(px[c]) for px in row] for row in img]
    s = [ssim(plane(a, c), plane(b, c)) for c in range(3)]
    m = {
        "mse": math.fsum(v * v for v in d) / len(d),
        "mse_y": math.fsum((ya[i][j] - yb[i][j]) ** 2 for i in range(h) for j in range(w)) / (h * w),
        "ssim_r": s[0], "ssim_g": s[1], "ssim_b": s[2], "ssim_rgb": (s[0] + s[1] + s[2]) / 3,
        "ssim_y": ssim(ya, yb),
        "max_abs": float(max(abs(v) for v in d)), "mean_abs": math.fsum(abs(v) for v in d) / len(d),
    }
    m["psnr"], m["psnr_y"] = psnr(m["mse"]), psnr(m["mse_y"])
    return m


def clip(v):
    return 0 if v < 0 else 255 if v > 255 else v


def case_noise(rng, t, w, h):  # random RGB, and it with bounded noise added
    a = [[tuple(rng.below(256) for _ in range(3)) for _ in range(w)] for _ in range(h)]
    b = [[tuple(clip(v + rng.below(41) - 20) for v in px) for px in row] for row in a]
    return a, b


def case_smooth(rng, t, w, h):  # gradients and waves, and a blurred, brightened copy
    a = [[(clip(int(128 + 100 * math.sin(0.3 * x + 0.2 * y + t))), clip(4 * x + 2 * y), clip(255 - 5 * y - t * 7))
          for x in range(w)] for y in range(h)]
    b = []
    for y in range(h):
        row = []
        for x in range(w):
            px = []
            for c in range(3):
                n = [a[yy][xx][c] for yy in range(max(0, y - 1), min(h, y + 2)) for xx in range(max(0, x - 1), min(w, x + 2))]
                px.append(clip(sum(n) // len(n) + 3 + rng.below(3)))
            row.append(tuple(px))
        b.append(row)
    return a, b


def case_unrelated(rng, t, w, h):  # two independent random images (odd sizes)
    a = [[tuple(rng.below(256) for _ in range(3)) for _ in range(w)] for _ in range(h)]
    b = [[tuple(rng.below(256) for _ in range(3)) for _ in range(w)] for _ in range(h)]
    return a, b


def case_shift(rng, t, w, h):  # blocks of colour, and the same blocks one pixel to the right
    cols = [tuple(rng.below(256) for _ in range(3)) for _ in range(64)]
    a = [[cols[(y // 6) * 8 + (x // 5) % 8] for x in range(w)] for y in range(h)]
    b = [[a[y][max(0, x - 1)] for x in range(w)] for y in range(h)]
    return a, b


CASES = [("noise", case_noise, 40, 32), ("smooth", case_smooth, 48, 36), ("unrelated", case_unrelated, 23, 17),
         ("shift", case_shift, 31, 29)]
KEYS = ["mse", "psnr", "mse_y", "psnr_y", "ssim_r", "ssim_g", "ssim_b", "ssim_rgb", "ssim_y", "max_abs", "mean_abs"]


def main():
    lines = ["# case frame " + " ".join(KEYS)]
    for seed, (name, make, w, h) in enumerate(CASES, start=1):
        rng = Rng(0x9E3779B97F4A7C15 ^ seed)
        frames = []
        for t in range(2):
            a, b = make(rng, t, w, h)
            write_png(f"{name}_a_{t}.png", a)
            write_png(f"{name}_b_{t}.png", b)
            m = metrics(a, b)
            frames.append(m)
            lines.append(f"{name} {t} " + " ".join(repr(m[k]) for k in KEYS))
        all_ = {k: sum(f[k] for f in frames) / len(frames) for k in KEYS}
        all_["max_abs"] = max(f["max_abs"] for f in frames)
        all_["psnr"], all_["psnr_y"] = psnr(all_["mse"]), psnr(all_["mse_y"])
        lines.append(f"{name} all " + " ".join(repr(all_[k]) for k in KEYS))
    with open("expected.txt", "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
