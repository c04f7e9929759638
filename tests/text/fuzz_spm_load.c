/* libFuzzer: the spiece.model parser on arbitrary bytes; whatever loads must also encode. */
#include <stddef.h>
#include <stdint.h>

#include "base/mem.h"
#include "text/spm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rad_spm *spm;
    if (rad_spm_load_memory(data, size, "fuzz.model", &spm) != RAD_OK) return 0;
    int32_t *ids;
    size_t n;
    static const char text[] = "  A cat\twalks \xef\xbc\xa1\xe2\x91\xa0 \xf0\x9f\x90\xb1 on the grass \xff\xc3  ";
    if (rad_spm_encode_bytes(spm, text, sizeof text - 1, &ids, &n) == RAD_OK) rad_free(ids);
    rad_spm_free(spm);
    return 0;
}
