#!/usr/bin/env python3
"""Writes indicators_smooth.txt: a synthetic TeaCache input sequence in teacache_record's format whose step-to-step
relative L1 changes lie where the published polynomials were fitted (e: about 0.015 to 0.35, high at the start
and the end as along a flow-matching schedule; e0 a third of that), unlike the tiny model's random time embedding
(changes near 1). Not a model: e[i+1] = e[i] + r[i] * mean|e[i]| * d[i] with a fixed pattern r and pseudo-random
directions d of mean |d| = 1. Deterministic, python3 alone.

usage: make_smooth.py OUT.txt   (20 steps, dim 48)
"""
import struct
import sys

STEPS, DIM = 20, 48
PATTERN = [0.3, 0.2, 0.15, 0.1, 0.06, 0.04, 0.03, 0.02, 0.015, 0.02, 0.03, 0.05, 0.08, 0.12, 0.16, 0.2, 0.25,
           0.3, 0.35]


def f32(x):
    return struct.unpack('f', struct.pack('f', x))[0]


class Lcg:
    def __init__(self, seed):
        self.s = seed

    def uniform(self):  # in [-1, 1)
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return (self.s >> 11) / float(1 << 52) - 1.0


def walk(n, scale, seed):
    rng = Lcg(seed)
    v = [f32(0.5 + rng.uniform()) for _ in range(n)]
    seq = [v]
    for r in PATTERN:
        d = [rng.uniform() for _ in range(n)]
        md = sum(abs(x) for x in d) / n
        mv = sum(abs(x) for x in v) / n
        v = [f32(a + r * scale * mv * b / md) for a, b in zip(v, d)]
        seq.append(v)
    return seq


def main():
    out = sys.argv[1]
    es, e0s = walk(DIM, 1.0, 1), walk(6 * DIM, 1.0 / 3.0, 2)
    with open(out, 'w') as f:
        f.write('# Synthetic TeaCache inputs written by tests/data/teacache/make_smooth.py (not a model): %d steps,\n'
                '# relative L1 changes of e about 0.015-0.35, of e0 a third of that.\n'
                '# One line per DiT forward in call order: cnt (2*step + branch), step, branch, then e [dim] and\n'
                '# e0 [6*dim] as C99 hex floats (exact float32 values).\n' % STEPS)
        for i in range(STEPS):
            for branch in (0, 1):
                f.write('%d %d %d %s\n' % (2 * i + branch, i, branch, ' '.join(float.hex(x) for x in es[i] + e0s[i])))


if __name__ == '__main__':
    main()
