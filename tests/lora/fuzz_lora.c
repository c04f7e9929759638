/* libFuzzer harness: arbitrary bytes as a LoRA file (safetensors reader, key parser, PEFT metadata), then every
 * module it accepted applied to a zero tensor of the shape it asks for (reads every tensor through the merge, so
 * a wrong size or offset shows up under ASan), then the all-used check. Only a non-finite value may make an
 * accepted module fail to apply. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/lora.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rad_lora *l;
    if (rad_lora_open_memory(data, size, "fuzz", 0.5f, &l) != RAD_OK) return 0;
    for (size_t i = 0; i < rad_lora_module_count(l); i++) {
        int64_t shape[RAD_LORA_MAX_DIMS], numel = 1;
        int nd = rad_lora_module_shape(l, i, shape);
        for (int d = 0; d < nd && numel <= (1 << 20); d++) numel *= shape[d];
        if (numel > (1 << 20)) continue;
        float *x = calloc((size_t)numel + 1, sizeof(float));
        const char *target;
        bool touched;
        rad_lora_module_at(l, i, &target, NULL, NULL);
        bool ok = rad_lora_apply(l, target, nd, shape, x, &touched) == RAD_OK;
        free(x);
        /* Its own shape always fits; only a NaN or infinity in the data may refuse it. */
        if (!ok && !strstr(rad_last_error(), "non-finite")) abort();
        if (!ok) {
            rad_lora_close(l);
            return 0;
        }
    }
    if (rad_lora_check_all_used(l) != RAD_OK) abort();
    rad_lora_close(l);
    return 0;
}
