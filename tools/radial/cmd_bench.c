/* radial bench <what> ...: measures and records; never asserts. Each target lives in bench_<what>.c. */
#include "bench.h"
#include "cli_args.h"
#include "commands.h"

static const cli_command benches[] = {
    {"attention", bench_attention, "dense and radial attention kernels (CUDA) at Wan shapes"},
    {"dit", bench_dit, "DiT blocks at a model's width on the selected backend (random weights)"},
    {"gemm", bench_gemm, "bf16 vs fp8 linear (CUDA) at the Wan DiT's GEMM shapes: TFLOP/s, speedup, error vs fp32"},
    {"pipeline", bench_pipeline, "a whole generation with a model folder"},
    {"vae", bench_vae, "one VAE decode at a video size (random weights at Wan shapes, or --model)"},
};

int cmd_bench(int argc, char **argv) { return cli_dispatch("radial bench", NULL, benches, CLI_N(benches), argc, argv); }
