#include "base/threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"

#define RAD_MAX_THREADS 256

/* The process's count (atomic: the tools set it while contexts on other threads may read it), and the calling
 * thread's own while it works for a context (-1: none, the process's applies). */
static atomic_int n_threads;
static _Thread_local int thread_threads = -1;

static int clamp_threads(int n) { return n > RAD_MAX_THREADS ? RAD_MAX_THREADS : (n < 0 ? 0 : n); }

void rad_set_threads(int n) { atomic_store_explicit(&n_threads, clamp_threads(n), memory_order_relaxed); }

int rad_threads_enter(int n) {
    const int prev = thread_threads;
    thread_threads = clamp_threads(n);
    return prev;
}

void rad_threads_restore(int prev) { thread_threads = prev; }

int rad_get_threads(void) {
    const int n = thread_threads >= 0 ? thread_threads : atomic_load_explicit(&n_threads, memory_order_relaxed);
    if (n > 0) return n;
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c < 1 ? 1 : (c > RAD_MAX_THREADS ? RAD_MAX_THREADS : (int)c);
}

typedef struct {
    rad_range_fn fn;
    void *ctx;
    int64_t begin, end;
    rad_mem_account *mem;     /* the caller's: a worker's allocations count to the context it works for */
    const rad_log_sink *log; /* and its messages go to that context's sink */
} range_job;

static void *run_job(void *arg) {
    range_job *j = arg;
    rad_mem_account *prev = rad_mem_enter(j->mem);
    const rad_log_sink *prev_log = rad_log_enter(j->log);
    j->fn(j->ctx, j->begin, j->end);
    rad_log_restore(prev_log);
    rad_mem_restore(prev);
    return NULL;
}

void rad_parallel_for(int64_t n, int64_t min_chunk, rad_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (min_chunk < 1) min_chunk = 1;
    int64_t t = rad_get_threads();
    if (t > n / min_chunk) t = n / min_chunk;
    if (t <= 1) {
        fn(ctx, 0, n);
        return;
    }
    range_job jobs[RAD_MAX_THREADS];
    pthread_t tids[RAD_MAX_THREADS];
    int started[RAD_MAX_THREADS] = {0};
    for (int64_t i = 0; i < t; i++) {
        jobs[i] = (range_job){fn, ctx, n * i / t, n * (i + 1) / t, rad_mem_entered(), rad_log_entered()};
    }
    for (int64_t i = 1; i < t; i++) started[i] = pthread_create(&tids[i], NULL, run_job, &jobs[i]) == 0;
    fn(ctx, jobs[0].begin, jobs[0].end);
    for (int64_t i = 1; i < t; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
        else
            fn(ctx, jobs[i].begin, jobs[i].end); /* could not start a thread: do the range here */
    }
}
