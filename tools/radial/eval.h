/* Drivers of `radial eval <component>`; each in eval_<component>.c. argv[0] is the component name. */
#ifndef RAD_EVAL_H
#define RAD_EVAL_H
int eval_dit(int argc, char **argv);
int eval_t5(int argc, char **argv);
int eval_vae(int argc, char **argv);
int eval_unipc(int argc, char **argv);
int eval_pipeline(int argc, char **argv);
int eval_tokenize(int argc, char **argv);
#endif
