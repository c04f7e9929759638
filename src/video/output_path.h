/* The output path of a video: its format (from the extension), its folder and file name, the frame file names
 * of a PNG pattern, and the checks that can run before any frame exists (radial_video_check_path) and again
 * before radial_video_write creates a file. Implemented in output_check.c. */
#ifndef RAD_VIDEO_OUTPUT_PATH_H
#define RAD_VIDEO_OUTPUT_PATH_H
#include <limits.h>
#include <stddef.h>

#include "base/status.h"

#define RAD_VIDEO_MAX_SIDE 16384
#define RAD_VIDEO_MAX_FRAMES 100000
#define RAD_VIDEO_MAX_META 1024 /* key/value pairs */

typedef enum rad_out_kind { RAD_OUT_MP4, RAD_OUT_Y4M, RAD_OUT_PNG, RAD_OUT_PNG_SEQ } rad_out_kind;

typedef struct rad_output {
    const char *path; /* as given */
    rad_out_kind kind;
    char dir[PATH_MAX]; /* the folder ("." when the path names none) */
    size_t name_at;     /* offset of the file name (or pattern) in path */
} rad_output;

/* Everything that needs no file system: path shape, format, pattern, frame count, params (fps, crf, meta:
 * non-NULL, valid UTF-8, non-empty keys without control characters, no key twice ignoring ASCII case; PNG
 * keys must be PNG keywords). params may be NULL (the defaults). */
rad_status rad_output_parse(const char *path, int frames, const radial_write_params *params, rad_output *out);
/* The file written for frame t: the path itself, or the pattern's name for t (the folder taken literally). */
rad_status rad_output_file(const rad_output *o, int t, char *buf, size_t size);
/* The file system checks: the folder exists and is a folder; each destination that exists is a regular file
 * (or a link to one) this user may replace (not read-only), and with no_overwrite does not exist at all.
 * probe: also create and remove a temporary file in the folder (the only real test of writability). */
rad_status rad_output_check_files(const rad_output *o, int frames, int no_overwrite, int probe);

/* A PNG keyword (PNG 11.3.4.2: 1-79 Latin-1 characters from 32-126 and 161-255, no leading, trailing or
 * double spaces) from a UTF-8 key: *latin1 gets the keyword's Latin-1 bytes. The message names dest and key. */
rad_status rad_png_keyword(const char *dest, const char *key, char latin1[80]);
#endif
