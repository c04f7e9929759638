/* A parallel for-loop over [0, n) split into contiguous ranges, one per thread.
 * The calling thread runs the first range; threads are created per call (work items are large: GEMM row
 * panels, conv output planes), which keeps this free of global state beyond the thread count (the process's, and
 * the calling thread's own while it works for a context). */
#ifndef RAD_THREADS_H
#define RAD_THREADS_H
#include <stdint.h>

typedef void (*rad_range_fn)(void *ctx, int64_t begin, int64_t end);

/* Sets the number of threads (0 = number of online cores), for the whole process (safe from any thread). */
void rad_set_threads(int n);
/* The count for the calling thread: its own while it works for a context (rad_threads_enter), else the process's. */
int rad_get_threads(void);
/* The calling thread works for a context that asked for n threads (0 = every core) until rad_threads_restore(the
 * returned value): two contexts on two threads (the CPU loopback ranks, a library user's) keep their own counts.
 * Loops this thread starts use it; their worker threads only run ranges. */
int rad_threads_enter(int n);
void rad_threads_restore(int prev);

/* Calls fn(ctx, b, e) on disjoint ranges covering [0, n). Ranges hold at least min_chunk items, so small
 * loops stay on one thread. */
void rad_parallel_for(int64_t n, int64_t min_chunk, rad_range_fn fn, void *ctx);
#endif
