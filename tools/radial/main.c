/* radial: the command-line front end. */
#include "cli_args.h"
#include "commands.h"
#include "radial.h"

static const cli_command commands[] = {
    {"generate", cmd_generate, "text to video (MP4, PNG frames, Y4M)"},
    {"bench", cmd_bench, "measure attention kernels and the pipeline; record results"},
    {"mask", cmd_mask, "build a radial attention block mask, print its density, write PBM/PNG"},
    {"inspect", cmd_inspect, "list a model file's tensors and the detected configuration"},
    {"eval", cmd_eval, "run one component on a reference case file and write its outputs"},
    {"compare", cmd_compare, "PSNR, SSIM and differences of two videos (MP4, Y4M, PNG frames, eval outputs)"},
};

int main(int argc, char **argv) {
    return cli_dispatch("radial", "radial " RADIAL_VERSION ": Wan 2.1 text-to-video with Radial Attention", commands,
                        CLI_N(commands), argc, argv);
}
