/* libFuzzer: encoding arbitrary text with the fixed models of tests/data (the first byte picks the model):
 * sentencepiece encoding of the raw bytes, and the Wan path (prompt cleaning, truncation, eos). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "text/spm.h"
#include "text/t5_tokenize.h"

static rad_spm *models[4];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    static const char *const rel[] = {"tiny-wan/tokenizer/spiece.model", "spm/ident.model", "spm/suffix.model",
                                      "spm/unused.model"};
    for (int i = 0; i < 4; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", RAD_TEST_DATA_DIR, rel[i]);
        if (rad_spm_load(path, &models[i]) != RAD_OK) {
            fprintf(stderr, "fuzz_spm_encode: %s\n", rad_last_error());
            abort();
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const rad_spm *spm = models[data[0] % 4];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t *ids;
    size_t n;
    if (rad_spm_encode_bytes(spm, text, len, &ids, &n) == RAD_OK) {
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || (size_t)ids[i] >= rad_spm_size(spm)) abort();
        rad_free(ids);
    }
    char *prompt = malloc(len + 1); /* the Wan path takes a C string */
    if (!prompt) return 0;
    memcpy(prompt, text, len);
    prompt[len] = '\0';
    if (rad_t5_tokenize(spm, prompt, 1 + data[0] % 64, &ids, &n) == RAD_OK) {
        if (n < 1 || n > 1u + data[0] % 64 || ids[n - 1] != rad_spm_eos_id(spm)) abort();
        rad_free(ids);
    }
    free(prompt);
    return 0;
}
