/* libFuzzer harness: arbitrary bytes through the PNG reader (libpng with our transforms to 8-bit RGB). Images
 * over 4 Mpixel are skipped (their IHDR is read first), to keep the harness's memory small. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "video/png_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 24 && !memcmp(data + 12, "IHDR", 4) && (uint64_t)be32(data + 16) * be32(data + 20) > (1u << 22))
        return 0;
    rad_png_image img;
    if (rad_png_read_memory(data, size, "fuzz", &img) != RAD_OK) {
        if (img.rgb) abort(); /* nothing is handed out on failure */
        return 0;
    }
    if (img.width < 1 || img.height < 1 || !img.rgb) abort();
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)img.width * (size_t)img.height * 3; i++) sum += img.rgb[i]; /* all of it is there */
    if (sum == 0xFFFFFFFFu) abort(); /* uses the sum, so the reads stay */
    rad_png_image_free(&img);
    return 0;
}
