/* libFuzzer harness: arbitrary bytes through the Y4M reader (as a seekable stream: fmemopen), every frame read
 * to RGB. What it accepts must read back as many frames as it counted at open. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "video/y4m_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0; /* fmemopen needs a buffer */
    uint8_t *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    FILE *f = fmemopen(copy, size, "rb");
    if (!f) {
        free(copy);
        return 0;
    }
    rad_y4m_reader *r;
    if (rad_y4m_open_stream(f, "fuzz", &r) == RAD_OK) {
        const rad_y4m_info *in = rad_y4m_get_info(r);
        if (in->width < 1 || in->height < 1 || in->frames < 0) abort();
        if ((uint64_t)in->frames * in->frame_bytes > size) abort(); /* counted frames must be in the data */
        uint8_t *rgb = malloc((size_t)in->width * (size_t)in->height * 3);
        int64_t n = 0;
        for (bool got = true; rgb && got; n += got)
            if (rad_y4m_read(r, rgb, &got) != RAD_OK) abort(); /* every frame was checked at open */
        if (rgb && n != in->frames) abort();
        free(rgb);
        rad_y4m_close(r);
    }
    free(copy);
    return 0;
}
