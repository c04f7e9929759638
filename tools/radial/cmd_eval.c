/* radial eval <component> ...: runs one component on a reference case file (the format of tests/data/cases)
 * and writes a safetensors file with the tensor names the case uses. Each component's driver lives in
 * eval_<component>.c; the flags the model drivers share are parsed here. */
#include <string.h>

#include "base/threads.h"
#include "cli_args.h"
#include "commands.h"
#include "eval.h"
#include "radial.h"

static const cli_command evals[] = {
    {"dit", eval_dit, "--model PATH --in CASE --out FILE: reads x, t, context; writes v"},
    {"t5", eval_t5, "--model PATH --in CASE --out FILE: reads ids; writes hidden"},
    {"vae", eval_vae, "--model PATH --in CASE --out FILE: reads latent; writes video (before clamping)"},
    {"unipc", eval_unipc, "--in CASE --out FILE: reads x_init, v_000..; writes timesteps, sigmas, x_000.."},
    {"pipeline", eval_pipeline, "--model DIR --in CASE --out FILE: writes frames_u8 and video"},
    {"tokenize", eval_tokenize, "--model PATH --text STRING: prints the ids fed to the encoder"},
};

int cmd_eval(int argc, char **argv) { return cli_dispatch("radial eval", NULL, evals, CLI_N(evals), argc, argv); }

int eval_model_args_parse(const char *cmd, const cli_usage *usage, const char *model_help, int argc, char **argv,
                          eval_model_args *a) {
    *a = (eval_model_args){.backend = RADIAL_BACKEND_CPU};
    int threads = 0;
    const cli_flag flags[] = {
        {"--model", NULL, CLI_TEXT, .value = &a->model, .arg = "PATH", .help = model_help},
        {"--in", NULL, CLI_TEXT, .value = &a->in, .arg = "CASE", .help = "the case file (safetensors) to read"},
        {"--out", NULL, CLI_TEXT, .value = &a->out, .arg = "FILE", .help = "the safetensors file to write"},
        {"--backend", NULL, CLI_CHOICE, .value = &a->backend, .choices = cli_backend_names,
         .help = "auto: the GPU when there is one"},
        {"--threads", NULL, CLI_INT, .value = &threads, .min = 0, .max = 256, .help = "CPU threads, 0 = all cores"},
        {"--lora", NULL, CLI_LORA, .value = &a->loras, /* last: only the DiT takes it */
         .help = "a LoRA merged into the DiT at load at strength STRENGTH (1.0 when not given); repeatable, "
                 "stacked in order"},
    };
    const bool dit = !strcmp(cmd, "eval dit");
    const int rc = cli_parse(cmd, usage, flags, CLI_N(flags) - (dit ? 0 : 1), argc, argv);
    if (rc >= 0) return rc;
    if (!a->model || !a->in || !a->out) return cli_usage_error(cmd, "--model, --in and --out are required");
    rad_set_threads(threads);
    return -1;
}
