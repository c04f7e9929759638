#include "base/mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* A header in front of each block remembers its size for the accounting. 64 bytes keep the payload aligned. */
#define RAD_HDR 64

static _Atomic size_t cur_bytes, peak_bytes;

rad_status rad_shape_bytes(const int64_t *shape, int ndim, size_t elem_size, size_t *out) {
    size_t n = elem_size;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return rad_err(RADIAL_ERR_INVALID_ARG, "negative dimension %lld", (long long)shape[i]);
        if (!rad_mul_size(n, (size_t)shape[i], &n)) return rad_err(RADIAL_ERR_NOMEM, "tensor size overflows");
    }
    *out = n;
    return RAD_OK;
}

rad_status rad_alloc(void **out, size_t bytes, const char *what) {
    size_t total;
    *out = NULL;
    if (!rad_add_size(bytes, RAD_HDR, &total) || total > ((size_t)1 << 46))
        return rad_err(RADIAL_ERR_NOMEM, "allocation of %zu bytes for %s is too large", bytes, what);
    total = (total + 63) & ~(size_t)63;
    unsigned char *p = aligned_alloc(64, total);
    if (!p) return rad_err(RADIAL_ERR_NOMEM, "out of memory allocating %zu bytes for %s", bytes, what);
    memcpy(p, &bytes, sizeof bytes);
    size_t now = atomic_fetch_add(&cur_bytes, bytes) + bytes;
    size_t pk = atomic_load(&peak_bytes);
    while (now > pk && !atomic_compare_exchange_weak(&peak_bytes, &pk, now)) {
    }
    *out = p + RAD_HDR;
    return RAD_OK;
}

rad_status rad_calloc(void **out, size_t count, size_t elem_size, const char *what) {
    size_t bytes;
    if (!rad_mul_size(count, elem_size, &bytes))
        return rad_err(RADIAL_ERR_NOMEM, "allocation size for %s overflows", what);
    RAD_TRY(rad_alloc(out, bytes, what));
    memset(*out, 0, bytes);
    return RAD_OK;
}

void rad_free(void *p) {
    if (!p) return;
    unsigned char *base = (unsigned char *)p - RAD_HDR;
    size_t bytes;
    memcpy(&bytes, base, sizeof bytes);
    atomic_fetch_sub(&cur_bytes, bytes);
    free(base);
}

size_t rad_mem_current(void) { return atomic_load(&cur_bytes); }
size_t rad_mem_peak(void) { return atomic_load(&peak_bytes); }
void rad_mem_reset_peak(void) { atomic_store(&peak_bytes, atomic_load(&cur_bytes)); }
