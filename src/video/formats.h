/* The per-format writers behind radial_video_write (video_writer.c). The caller has checked the path, the sizes
 * (T, H, W >= 1, bounded, no overflow), fps, crf and the metadata, and owns the temporary file the writers
 * write into (atomic_file.h): a writer never creates, renames or removes a file, and its errors name dest, the
 * path the user gave. Writers of several frames poll p->cancel before each frame. */
#ifndef RAD_VIDEO_FORMATS_H
#define RAD_VIDEO_FORMATS_H
#include <stdint.h>
#include <stdio.h>

#include "base/status.h"

/* RADIAL_ERR_CANCELLED (naming dest and how far it got) when p->cancel asks to stop before frame t of T. */
rad_status rad_write_poll_cancel(const radial_write_params *p, const char *dest, int t, int T);

/* The PNG text chunks of a write, built once from the meta pairs (keys already checked as PNG keywords):
 * tEXt when the value is ASCII, else iTXt (UTF-8, uncompressed). */
typedef struct rad_png_texts rad_png_texts;
rad_status rad_png_texts_make(const char *dest, const char *const *meta, int n_meta, rad_png_texts **out);
void rad_png_texts_free(rad_png_texts *t);
/* One 8-bit RGB PNG to f; texts may be NULL. */
rad_status rad_write_png(FILE *f, const char *dest, const uint8_t *rgb, int H, int W, const rad_png_texts *texts);

/* YUV4MPEG2 to f. Y4M has no metadata field: p->meta is not stored (logged at info level). */
rad_status rad_write_y4m(FILE *f, const char *dest, const uint8_t *frames, int T, int H, int W,
                         const radial_write_params *p);

/* MP4 to file (the temporary file, opened by FFmpeg; the container is chosen by name, not by the file's
 * extension), p->meta as container metadata tags. H and W are even. */
rad_status rad_write_mp4(const char *file, const char *dest, const uint8_t *frames, int T, int H, int W,
                         const radial_write_params *p);
#endif
