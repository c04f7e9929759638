/* radial: the command-line front end. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "radial.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *help;
} commands[] = {
    {"generate", cmd_generate, "text to video (MP4, PNG frames, Y4M)"},
    {"bench", cmd_bench, "measure attention kernels and the pipeline; record results"},
    {"mask", cmd_mask, "build a radial attention block mask, print its density, write PBM/PNG"},
    {"inspect", cmd_inspect, "list a model file's tensors and the detected configuration"},
    {"eval", cmd_eval, "run one component on a reference case file and write its outputs"},
};

static void usage(FILE *f) {
    fprintf(f, "radial %s: Wan 2.1 text-to-video with Radial Attention\n\nusage: radial <command> [options]\n\n",
            RADIAL_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'radial <command> --help' describes a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("radial %s\n", RADIAL_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "radial: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
