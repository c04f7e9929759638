/* Drivers of `radial eval <component>`; each in eval_<component>.c. argv[0] is the component name. */
#ifndef RAD_EVAL_H
#define RAD_EVAL_H
#include "cli_args.h"

int eval_dit(int argc, char **argv);
int eval_t5(int argc, char **argv);
int eval_vae(int argc, char **argv);
int eval_unipc(int argc, char **argv);
int eval_pipeline(int argc, char **argv);
int eval_tokenize(int argc, char **argv);

/* The flags of the model drivers (eval dit, t5, vae): --model PATH --in CASE --out FILE (all required),
 * --backend cpu|cuda, --threads N, and for the DiT --lora FILE[:STRENGTH] (repeatable). */
typedef struct eval_model_args {
    const char *model, *in, *out;
    int backend; /* a radial_backend */
    cli_loras loras;
} eval_model_args;
/* Parses them and sets the thread count; model_help is --model's line in --help (what PATH may be). Returns -1
 * to go on, otherwise the exit code (see cli_parse). */
int eval_model_args_parse(const char *cmd, const cli_usage *usage, const char *model_help, int argc, char **argv,
                          eval_model_args *a);
#endif
