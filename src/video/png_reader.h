/* PNG input through libpng: one picture as 8-bit RGB, whatever the file's colour type. Palette and grey images
 * are expanded to RGB, 16-bit samples scaled to 8 bits (rounded, png_set_scale_16), an alpha channel (or tRNS
 * transparency) is dropped without compositing; interlaced files are de-interlaced. No gamma or colour profile
 * is applied: the stored values are the values. Width and height above 16384 are rejected (libpng's user
 * limits), as is any file libpng rejects; the message names the file. */
#ifndef RAD_VIDEO_PNG_READER_H
#define RAD_VIDEO_PNG_READER_H
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

typedef struct rad_png_image {
    int width, height;
    uint8_t *rgb; /* [height][width][3], rad_alloc'ed */
} rad_png_image;

rad_status rad_png_read(const char *path, rad_png_image *out);
/* The same from memory (the fuzzer); label names it in messages. */
rad_status rad_png_read_memory(const void *data, size_t size, const char *label, rad_png_image *out);
void rad_png_image_free(rad_png_image *img);
#endif
