/* Test hook of the CPU attention (cpu_attention.c); the op itself is declared in cpu_ops.h. */
#ifndef RAD_CPU_ATTENTION_H
#define RAD_CPU_ATTENTION_H
/* Tests: caps the attention tile code at 0 portable, 1 AVX2+FMA, 2 AVX-512 (default: the best the CPU has). */
void rad_cpu_attention_isa_cap(int level);
#endif
