/* A parallel for-loop over [0, n) split into contiguous ranges, one per thread.
 * The calling thread runs the first range; threads are created per call (work items are large: GEMM row
 * panels, conv output planes), which keeps this free of global state beyond the thread count. */
#ifndef RAD_THREADS_H
#define RAD_THREADS_H
#include <stdint.h>

typedef void (*rad_range_fn)(void *ctx, int64_t begin, int64_t end);

/* Sets the number of threads (0 = number of online cores), for the whole process (safe from any thread). */
void rad_set_threads(int n);
int rad_get_threads(void);

/* Calls fn(ctx, b, e) on disjoint ranges covering [0, n). Ranges hold at least min_chunk items, so small
 * loops stay on one thread. */
void rad_parallel_for(int64_t n, int64_t min_chunk, rad_range_fn fn, void *ctx);
#endif
