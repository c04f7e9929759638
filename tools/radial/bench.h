/* Targets of `radial bench <what>`; each in bench_<what>.c. argv[0] is the target name. */
#ifndef RAD_BENCH_H
#define RAD_BENCH_H
int bench_attention(int argc, char **argv);
int bench_dit(int argc, char **argv);
int bench_gemm(int argc, char **argv);
int bench_pipeline(int argc, char **argv);
int bench_vae(int argc, char **argv);
#endif
