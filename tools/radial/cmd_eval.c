/* radial eval <component> ...: runs one component on a reference case file (the format of tests/data/cases)
 * and writes a safetensors file with the tensor names the case uses. Each component's driver lives in
 * eval_<component>.c. */
#include "cli_args.h"
#include "commands.h"
#include "eval.h"

static const cli_command evals[] = {
    {"dit", eval_dit, "--model PATH --in CASE --out FILE: reads x, t, context; writes v"},
    {"t5", eval_t5, "--model PATH --in CASE --out FILE: reads ids; writes hidden"},
    {"vae", eval_vae, "--model PATH --in CASE --out FILE: reads latent; writes video (before clamping)"},
    {"unipc", eval_unipc, "--in CASE --out FILE: reads x_init, v_000..; writes timesteps, sigmas, x_000.."},
    {"pipeline", eval_pipeline, "--model DIR --in CASE --out FILE: writes frames_u8 and video"},
    {"tokenize", eval_tokenize, "--model PATH --text STRING: prints the ids fed to the encoder"},
};

int cmd_eval(int argc, char **argv) { return cli_dispatch("radial eval", NULL, evals, CLI_N(evals), argc, argv); }
