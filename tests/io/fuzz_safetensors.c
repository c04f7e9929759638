/* libFuzzer harness: arbitrary bytes through the safetensors reader, then every accessor and conversion of
 * what it accepted (conversions read the tensor data, so a wrong offset or size shows up under ASan). */
#include <stdint.h>
#include <stdlib.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rad_st_file *f;
    if (rad_st_open_memory(data, size, "fuzz", &f) != RAD_OK) return 0;
    for (size_t i = 0; i < rad_st_count(f); i++) {
        const rad_st_tensor *t = rad_st_at(f, i);
        if (rad_st_find(f, t->name) == NULL) abort(); /* every tensor must be found by its name */
        if (t->numel > (1 << 20)) continue;
        float *x = malloc((size_t)t->numel * sizeof(float) + 1);
        int64_t *y = malloc((size_t)t->numel * sizeof(int64_t) + 1);
        (void)rad_st_to_f32(t, x);
        (void)rad_st_to_i64(t, y);
        free(x);
        free(y);
    }
    for (size_t i = 0; i < rad_st_meta_count(f); i++) {
        const char *k, *v;
        rad_st_meta_at(f, i, &k, &v);
        if (rad_st_meta(f, k) == NULL) abort();
    }
    rad_st_close(f);
    return 0;
}
