/* Checked sizes and tracked allocations.
 * rad_mul_size()/rad_add_size() detect overflow before anything is allocated; rad_alloc() counts the bytes
 * it hands out so that the engine can report its own peak memory. */
#ifndef RAD_MEM_H
#define RAD_MEM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

/* *out = a*b; false on overflow. */
static inline bool rad_mul_size(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool rad_add_size(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }

/* Product of n dims times elem_size, with overflow and negative-dim checks. */
rad_status rad_shape_bytes(const int64_t *shape, int ndim, size_t elem_size, size_t *out);

/* Tracked, 64-byte aligned allocation. `what` names the buffer in the error message. */
rad_status rad_alloc(void **out, size_t bytes, const char *what);
rad_status rad_calloc(void **out, size_t count, size_t elem_size, const char *what);
void rad_free(void *p);

/* The process's host bytes held by rad_alloc and their peak. */
size_t rad_mem_current(void);
size_t rad_mem_peak(void);
void rad_mem_reset_peak(void);

/* A context's share of them (issue 12: per-context state): while a thread works for a context (rad_mem_enter,
 * as radial_init and radial_generate do, and the workers of its rad_parallel_for), its allocations count to the
 * context's account too, and each block is taken off the account it was counted to when it is freed, on any
 * thread, even after the context is gone: an account lives until its owner has released it and its last block
 * is freed. */
typedef struct rad_mem_account rad_mem_account;
rad_status rad_mem_account_new(rad_mem_account **out);
void rad_mem_account_release(rad_mem_account *a); /* the owner's reference; NULL is a no-op */
/* The calling thread counts to a (NULL: to no account) until rad_mem_restore(the returned previous one). */
rad_mem_account *rad_mem_enter(rad_mem_account *a);
void rad_mem_restore(rad_mem_account *prev);
rad_mem_account *rad_mem_entered(void);
/* a counts `add` more bytes and `sub` fewer, its peak raised: for a counter of its own (a backend's buffers) */
void rad_mem_account_count(rad_mem_account *a, size_t add, size_t sub);
size_t rad_mem_account_current(const rad_mem_account *a);
size_t rad_mem_account_peak(const rad_mem_account *a);
void rad_mem_account_reset_peak(rad_mem_account *a);
#endif
