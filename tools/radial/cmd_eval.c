/* radial eval <component> ...: runs one component on a reference case file (the format of tests/data/cases)
 * and writes a safetensors file with the tensor names the case uses. Each component's driver lives in
 * eval_<component>.c. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "eval.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *help;
} evals[] = {
    {"dit", eval_dit, "--model PATH --in CASE --out FILE: reads x, t, context; writes v"},
    {"t5", eval_t5, "--model PATH --in CASE --out FILE: reads ids; writes hidden"},
    {"vae", eval_vae, "--model PATH --in CASE --out FILE: reads latent; writes video (before clamping)"},
    {"unipc", eval_unipc, "--in CASE --out FILE: reads x_init, v_000..; writes timesteps, sigmas, x_000.."},
    {"pipeline", eval_pipeline, "--model DIR --in CASE --out FILE: writes frames_u8 and video"},
    {"tokenize", eval_tokenize, "--model PATH --text STRING: prints the ids fed to the encoder"},
};

int cmd_eval(int argc, char **argv) {
    if (argc >= 2) {
        for (size_t i = 0; i < sizeof evals / sizeof evals[0]; i++)
            if (!strcmp(argv[1], evals[i].name)) return evals[i].run(argc - 1, argv + 1);
    }
    FILE *f = (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) ? stdout : stderr;
    fprintf(f, "usage: radial eval <component> [options]\n\n");
    for (size_t i = 0; i < sizeof evals / sizeof evals[0]; i++)
        fprintf(f, "  %-9s %s\n", evals[i].name, evals[i].help);
    return f == stdout ? 0 : 2;
}
