#!/usr/bin/env python3
"""MagCache's skip rule for Wan 2.1 T2V, transcribed from the reference, independently of radial's C code.

Reference: github.com/Zehong-Ma/MagCache, MagCache4Wan2.1/magcache_generate.py (the file at commit
df81cb181776c2c61477c08e1d21f87fda1cd938, last changed in e1862e09110943638562513e0128c3c7f790540a):
generate() sets the class attributes (cnt, num_steps, magcache_thresh, K, accumulated_*, retention_ratio,
mag_ratios, nearest_interp to the step count), magcache_forward() decides per call. Each statement keeps the
reference's names and order; numpy is replaced by lists (np.round by round(): both round half to even).
The rule reads no model output: its inputs are the step count and the settings. python3 alone.

usage: magcache_ref.py STEPS MODEL THRESH K RETENTION_RATIO
  MODEL: T2V-1.3B or T2V-14B (the reference picks mag_ratios by that text in the checkpoint folder's name)
Prints "config MODEL THRESH K RETENTION_RATIO STEPS", one line per call "cnt should_calc accumulated_ratio
accumulated_err accumulated_steps" (the branch's values after the call), then "end".
"""
import sys


def nearest_interp(src_array, target_length):
    src_length = len(src_array)
    if target_length == 1:
        return [src_array[-1]]

    scale = (src_length - 1) / (target_length - 1)
    mapped_indices = [int(round(i * scale)) for i in range(target_length)]
    return [src_array[i] for i in mapped_indices]


class MagCacheWan:
    def __init__(self, model, sample_steps, magcache_thresh, magcache_K, retention_ratio):
        # generate(), the t2v branch
        self.cnt = 0
        self.num_steps = sample_steps*2
        self.magcache_thresh = magcache_thresh
        self.K = magcache_K
        self.accumulated_err = [0.0, 0.0]
        self.accumulated_steps = [0, 0]
        self.accumulated_ratio = [1.0, 1.0]
        self.retention_ratio = retention_ratio
        self.residual_cache = [None, None]
        if model == 'T2V-14B':
            self.mag_ratios = [1.0]*2+[1.02504, 1.03017, 1.00025, 1.00251, 0.9985, 0.99962, 0.99779, 0.99771, 0.9966, 0.99658, 0.99482, 0.99476, 0.99467, 0.99451, 0.99664, 0.99656, 0.99434, 0.99431, 0.99533, 0.99545, 0.99468, 0.99465, 0.99438, 0.99434, 0.99516, 0.99517, 0.99384, 0.9938, 0.99404, 0.99401, 0.99517, 0.99516, 0.99409, 0.99408, 0.99428, 0.99426, 0.99347, 0.99343, 0.99418, 0.99416, 0.99271, 0.99269, 0.99313, 0.99311, 0.99215, 0.99215, 0.99218, 0.99215, 0.99216, 0.99217, 0.99163, 0.99161, 0.99138, 0.99135, 0.98982, 0.9898, 0.98996, 0.98995, 0.9887, 0.98866, 0.98772, 0.9877, 0.98767, 0.98765, 0.98573, 0.9857, 0.98501, 0.98498, 0.9838, 0.98376, 0.98177, 0.98173, 0.98037, 0.98035, 0.97678, 0.97677, 0.97546, 0.97543, 0.97184, 0.97183, 0.96711, 0.96708, 0.96349, 0.96345, 0.95629, 0.95625, 0.94926, 0.94929, 0.93964, 0.93961, 0.92511, 0.92504, 0.90693, 0.90678, 0.8796, 0.87945, 0.86111, 0.86189]
        if model == 'T2V-1.3B':
            self.mag_ratios = [1.0]*2+[1.0124, 1.02213, 1.00166, 1.0041, 0.99791, 1.00061, 0.99682, 0.99762, 0.99634, 0.99685, 0.99567, 0.99586, 0.99416, 0.99422, 0.99578, 0.99575, 0.9957, 0.99563, 0.99511, 0.99506, 0.99535, 0.99531, 0.99552, 0.99549, 0.99541, 0.99539, 0.9954, 0.99536, 0.99489, 0.99485, 0.99518, 0.99514, 0.99484, 0.99478, 0.99481, 0.99479, 0.99415, 0.99413, 0.99419, 0.99416, 0.99396, 0.99393, 0.99388, 0.99386, 0.99349, 0.99349, 0.99309, 0.99304, 0.9927, 0.9927, 0.99228, 0.99226, 0.99171, 0.9917, 0.99137, 0.99135, 0.99068, 0.99063, 0.99005, 0.99003, 0.98944, 0.98942, 0.98849, 0.98849, 0.98758, 0.98757, 0.98644, 0.98643, 0.98504, 0.98503, 0.9836, 0.98359, 0.98202, 0.98201, 0.97977, 0.97978, 0.97717, 0.97718, 0.9741, 0.97411, 0.97003, 0.97002, 0.96538, 0.96541, 0.9593, 0.95933, 0.95086, 0.95089, 0.94013, 0.94019, 0.92402, 0.92414, 0.90241, 0.9026, 0.86821, 0.86868, 0.81838, 0.81939]

        # Nearest interpolation when the num_steps is different from the length of mag_ratios
        if len(self.mag_ratios) != sample_steps*2:
            mag_ratio_con = nearest_interp(self.mag_ratios[0::2], sample_steps)
            mag_ratio_ucon = nearest_interp(self.mag_ratios[1::2], sample_steps)
            interpolated_mag_ratios = [v for pair in zip(mag_ratio_con, mag_ratio_ucon) for v in pair]
            self.mag_ratios = interpolated_mag_ratios

    def forward(self):
        """magcache_forward() around the blocks: returns should_calc and the branch's accumulators."""
        b = self.cnt % 2
        skip_forward = False
        if self.cnt>=int(self.num_steps*self.retention_ratio):
            cur_mag_ratio = self.mag_ratios[self.cnt] # conditional and unconditional in one list
            self.accumulated_ratio[self.cnt%2] = self.accumulated_ratio[self.cnt%2]*cur_mag_ratio # magnitude ratio between current step and the cached step
            self.accumulated_steps[self.cnt%2] += 1 # skip steps plus 1
            cur_skip_err = abs(1-self.accumulated_ratio[self.cnt%2]) # skip error of current steps
            self.accumulated_err[self.cnt%2] += cur_skip_err # accumulated error of multiple steps

            if self.accumulated_err[self.cnt%2]<self.magcache_thresh and self.accumulated_steps[self.cnt%2]<=self.K:
                skip_forward = True
            else:
                self.accumulated_err[self.cnt%2] = 0
                self.accumulated_steps[self.cnt%2] = 0
                self.accumulated_ratio[self.cnt%2] = 1.0
        out = (not skip_forward, self.accumulated_ratio[b], self.accumulated_err[b], self.accumulated_steps[b])
        # (the cached residual or the blocks, residual_cache, the head, unpatchify)
        self.cnt += 1
        if self.cnt >= self.num_steps: # clear the history of current video and prepare for generating the next video.
            self.cnt = 0
            self.accumulated_ratio = [1.0, 1.0]
            self.accumulated_err = [0.0, 0.0]
            self.accumulated_steps = [0, 0]
        return out


def main(argv):
    if len(argv) != 6 or argv[2] not in ('T2V-1.3B', 'T2V-14B'):
        sys.exit(__doc__)
    steps, model, thresh, k, retention = int(argv[1]), argv[2], float(argv[3]), int(argv[4]), float(argv[5])
    m = MagCacheWan(model, steps, thresh, k, retention)
    print('config %s %s %d %s %d' % (model, argv[3], k, argv[5], steps))
    for cnt in range(2 * steps):
        should_calc, ratio, err, n = m.forward()
        print('%d %d %r %r %d' % (cnt, int(should_calc), float(ratio), float(err), n))
    print('end')


if __name__ == '__main__':
    main(sys.argv)
