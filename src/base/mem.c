#include "base/mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* A header in front of each block remembers its size and the account it counted to. 64 bytes keep the payload
 * aligned. */
#define RAD_HDR 64

struct rad_mem_account {
    _Atomic size_t cur, peak;
    _Atomic size_t refs; /* the owner's (until released) and one per live block counted here */
};

static _Atomic size_t cur_bytes, peak_bytes;
static _Thread_local rad_mem_account *entered;

static void raise_peak(_Atomic size_t *peak, size_t now) {
    size_t pk = atomic_load(peak);
    while (now > pk && !atomic_compare_exchange_weak(peak, &pk, now)) {
    }
}

static void account_unref(rad_mem_account *a) {
    if (a && atomic_fetch_sub(&a->refs, 1) == 1) free(a);
}

rad_status rad_mem_account_new(rad_mem_account **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return rad_err(RADIAL_ERR_NOMEM, "out of memory for a memory account");
    atomic_store(&(*out)->refs, 1);
    return RAD_OK;
}
void rad_mem_account_release(rad_mem_account *a) { account_unref(a); }
rad_mem_account *rad_mem_enter(rad_mem_account *a) {
    rad_mem_account *prev = entered;
    entered = a;
    return prev;
}
void rad_mem_restore(rad_mem_account *prev) { entered = prev; }
rad_mem_account *rad_mem_entered(void) { return entered; }
void rad_mem_account_count(rad_mem_account *a, size_t add, size_t sub) {
    if (!a) return;
    raise_peak(&a->peak, atomic_fetch_add(&a->cur, add) + add - sub);
    atomic_fetch_sub(&a->cur, sub);
}
size_t rad_mem_account_current(const rad_mem_account *a) { return a ? atomic_load(&a->cur) : 0; }
size_t rad_mem_account_peak(const rad_mem_account *a) { return a ? atomic_load(&a->peak) : 0; }
void rad_mem_account_reset_peak(rad_mem_account *a) {
    if (a) atomic_store(&a->peak, atomic_load(&a->cur));
}

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
    rad_mem_account *a = entered;
    memcpy(p, &bytes, sizeof bytes);
    memcpy(p + sizeof bytes, &a, sizeof a);
    raise_peak(&peak_bytes, atomic_fetch_add(&cur_bytes, bytes) + bytes);
    if (a) {
        atomic_fetch_add(&a->refs, 1);
        rad_mem_account_count(a, bytes, 0);
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
    rad_mem_account *a;
    memcpy(&bytes, base, sizeof bytes);
    memcpy(&a, base + sizeof bytes, sizeof a);
    atomic_fetch_sub(&cur_bytes, bytes);
    if (a) {
        rad_mem_account_count(a, 0, bytes);
        account_unref(a);
    }
    free(base);
}

size_t rad_mem_current(void) { return atomic_load(&cur_bytes); }
size_t rad_mem_peak(void) { return atomic_load(&peak_bytes); }
void rad_mem_reset_peak(void) { atomic_store(&peak_bytes, atomic_load(&cur_bytes)); }
