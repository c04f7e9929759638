/* radial bench <what> ...: measures and records; never asserts. Each target lives in bench_<what>.c. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "commands.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *help;
} benches[] = {
    {"attention", bench_attention, "dense and radial attention kernels (CUDA) at Wan shapes"},
    {"dit", bench_dit, "DiT blocks at a model's width on the selected backend (random weights)"},
    {"pipeline", bench_pipeline, "a whole generation with a model folder"},
    {"vae", bench_vae, "one VAE decode at a video size (random weights at Wan shapes, or --model)"},
};

int cmd_bench(int argc, char **argv) {
    if (argc >= 2) {
        for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
            if (!strcmp(argv[1], benches[i].name)) return benches[i].run(argc - 1, argv + 1);
    }
    FILE *f = (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) ? stdout : stderr;
    fprintf(f, "usage: radial bench <what> [options]\n\n");
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        fprintf(f, "  %-10s %s\n", benches[i].name, benches[i].help);
    return f == stdout ? 0 : 2;
}
