/* libFuzzer harness: arbitrary bytes through the GGUF reader, then every accessor and conversion of what it
 * accepted (the conversions read the tensor data, so a wrong offset or size shows up under ASan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rad_gguf *g;
    if (rad_gguf_open_memory(data, size, "fuzz", &g) != RAD_OK) return 0;
    for (size_t i = 0; i < rad_gguf_count(g); i++) {
        const rad_st_tensor *t = rad_gguf_at(g, i);
        if (rad_gguf_find(g, t->name) != t) abort(); /* every tensor must be found by its (unique) name */
        if ((const uint8_t *)t->data < data || (const uint8_t *)t->data + t->nbytes > data + size) abort();
        if (t->numel > (1 << 20)) continue;
        float *x = malloc((size_t)t->numel * sizeof(float) + 1);
        if (rad_st_to_f32(t, x) != RAD_OK) abort(); /* every accepted dtype converts */
        free(x);
    }
    for (size_t i = 0; i < rad_gguf_meta_count(g); i++) {
        const char *k, *v;
        rad_gguf_meta_at(g, i, &k, &v);
        if (!k || !v || strlen(v) > 200) abort();
        (void)rad_gguf_meta_str(g, k);
    }
    if (!rad_gguf_meta_str(g, "general.architecture")) abort(); /* required to accept */
    rad_gguf_close(g);
    return 0;
}
