#!/usr/bin/env python3
"""TeaCache's skip rule for Wan 2.1 T2V, transcribed from the reference, independently of radial's C code.

Reference: github.com/ali-vilab/TeaCache, TeaCache4Wan2.1/teacache_generate.py (the file at commit
7c10efc4702c6b619f47805f7abe4a7a08085aa0, last changed in 8ae350344216bc9b20fddba6a89ad0be03f6efd1):
generate() sets the class attributes (cnt, num_steps, teacache_thresh, coefficients, ret_steps, cutoff_steps,
use_ref_steps), teacache_forward() makes the decision per call. Below, each statement keeps the reference's
names and order; what the reference does with tensors is done on lists of Python floats (float64): torch's
`(a - b).abs().mean()` becomes a sum in call order divided by the count, np.poly1d(c)(x) numpy's polyval
(y = 0; y = y * x + c for each c). No numpy, no torch: python3 alone.

usage: teacache_ref.py INDICATORS.txt STEPS MODEL THRESH[,THRESH...] [--use_ret_steps]
  INDICATORS.txt: lines "cnt step branch e[dim] e0[6*dim]" (teacache_record's output; '#' lines ignored)
  MODEL: 1.3B or 14B (the reference picks the coefficients by '1.3B' / '14B' in the checkpoint folder's name)
Prints, for each threshold, "config MODEL THRESH USE_RET_STEPS STEPS", then one line per call
"cnt should_calc rel acc" (rel: the relative L1 distance computed at this call, nan when none), then "end".
"""
import sys


def poly1d(coefficients):
    def rescale_func(x):
        y = 0.0
        for pv in coefficients:
            y = y * x + pv
        return y
    return rescale_func


def abs_mean(v):
    s = 0.0
    for a in v:
        s += abs(a)
    return s / len(v)


def sub(a, b):
    return [x - y for x, y in zip(a, b)]


class TeaCacheWan:
    def __init__(self, model, sample_steps, teacache_thresh, use_ret_steps):
        # generate(), the t2v branch
        self.enable_teacache = True
        self.cnt = 0
        self.num_steps = sample_steps * 2
        self.teacache_thresh = teacache_thresh
        self.accumulated_rel_l1_distance_even = 0
        self.accumulated_rel_l1_distance_odd = 0
        self.previous_e0_even = None
        self.previous_e0_odd = None
        self.use_ref_steps = use_ret_steps
        if use_ret_steps:
            if model == '1.3B':
                self.coefficients = [-5.21862437e+04, 9.23041404e+03, -5.28275948e+02, 1.36987616e+01, -4.99875664e-02]
            if model == '14B':
                self.coefficients = [-3.03318725e+05, 4.90537029e+04, -2.65530556e+03, 5.87365115e+01, -3.15583525e-01]
            self.ret_steps = 5 * 2
            self.cutoff_steps = sample_steps * 2
        else:
            if model == '1.3B':
                self.coefficients = [2.39676752e+03, -1.31110545e+03, 2.01331979e+02, -8.29855975e+00, 1.37887774e-01]
            if model == '14B':
                self.coefficients = [-5784.54975374, 5449.50911966, -1811.16591783, 256.27178429, -13.02252404]
            self.ret_steps = 1 * 2
            self.cutoff_steps = sample_steps * 2 - 2

    def forward(self, e, e0):
        """teacache_forward() up to the blocks: returns (should_calc, rel, accumulated) for this call."""
        rel = float('nan')
        modulated_inp = e0 if self.use_ref_steps else e
        if self.cnt % 2 == 0:  # even -> conditon
            self.is_even = True
            if self.cnt < self.ret_steps or self.cnt >= self.cutoff_steps:
                should_calc_even = True
                self.accumulated_rel_l1_distance_even = 0
            else:
                rescale_func = poly1d(self.coefficients)
                rel = abs_mean(sub(modulated_inp, self.previous_e0_even)) / abs_mean(self.previous_e0_even)
                self.accumulated_rel_l1_distance_even += rescale_func(rel)
                if self.accumulated_rel_l1_distance_even < self.teacache_thresh:
                    should_calc_even = False
                else:
                    should_calc_even = True
                    self.accumulated_rel_l1_distance_even = 0
            self.previous_e0_even = list(modulated_inp)
            should_calc, acc = should_calc_even, self.accumulated_rel_l1_distance_even
        else:  # odd -> unconditon
            self.is_even = False
            if self.cnt < self.ret_steps or self.cnt >= self.cutoff_steps:
                should_calc_odd = True
                self.accumulated_rel_l1_distance_odd = 0
            else:
                rescale_func = poly1d(self.coefficients)
                rel = abs_mean(sub(modulated_inp, self.previous_e0_odd)) / abs_mean(self.previous_e0_odd)
                self.accumulated_rel_l1_distance_odd += rescale_func(rel)
                if self.accumulated_rel_l1_distance_odd < self.teacache_thresh:
                    should_calc_odd = False
                else:
                    should_calc_odd = True
                    self.accumulated_rel_l1_distance_odd = 0
            self.previous_e0_odd = list(modulated_inp)
            should_calc, acc = should_calc_odd, self.accumulated_rel_l1_distance_odd
        # (the blocks or the cached residual, the head, unpatchify)
        self.cnt += 1
        if self.cnt >= self.num_steps:
            self.cnt = 0
        return should_calc, rel, float(acc)


def read_indicators(path):
    calls = []
    with open(path) as f:
        for line in f:
            if line.startswith('#') or not line.strip():
                continue
            t = line.split()
            cnt = int(t[0])
            vals = [float.fromhex(x) for x in t[3:]]
            dim = len(vals) // 7
            assert dim * 7 == len(vals), 'a line of %d values is not dim + 6*dim' % len(vals)
            calls.append((cnt, vals[:dim], vals[dim:]))
    return calls


def main(argv):
    args = [a for a in argv[1:] if a != '--use_ret_steps']
    use_ret_steps = len(args) != len(argv) - 1
    if len(args) != 4 or args[2] not in ('1.3B', '14B'):
        sys.exit(__doc__)
    calls = read_indicators(args[0])
    steps = int(args[1])
    for thresh_text in args[3].split(','):
        thresh = float(thresh_text)
        m = TeaCacheWan(args[2], steps, thresh, use_ret_steps)
        print('config %s %s %d %d' % (args[2], thresh_text, int(use_ret_steps), steps))
        for cnt, e, e0 in calls:
            assert cnt == m.cnt, 'call %d out of order (the model expects %d)' % (cnt, m.cnt)
            should_calc, rel, acc = m.forward(e, e0)
            print('%d %d %r %r' % (cnt, int(should_calc), rel, acc))
        print('end')


if __name__ == '__main__':
    main(sys.argv)
