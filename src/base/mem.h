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

size_t rad_mem_current(void);
size_t rad_mem_peak(void);
void rad_mem_reset_peak(void);
#endif
