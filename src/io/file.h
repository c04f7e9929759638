/* Paths, and opening and reading model files safely: only regular files (a FIFO or device named like a model
 * must not hang or stream forever), with a size cap checked before anything is allocated. */
#ifndef RAD_FILE_H
#define RAD_FILE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

/* Opens a regular file read-only (close-on-exec): *fd and its *size. */
rad_status rad_file_open(const char *path, int *fd, size_t *size);

/* Maps a whole regular file read-only (private: pages load on first use, so opening a large model is cheap).
 * *base is the mapping (or an empty string for an empty file, *map then NULL); release with rad_file_unmap. */
rad_status rad_file_map(const char *path, void **map, const uint8_t **base, size_t *size);
void rad_file_unmap(void *map, size_t size);

/* Reads a whole regular file of at most max_bytes into a rad_alloc'ed buffer (*data, rad_free it). `what`
 * names the content in messages ("JSON config", "sentencepiece model"). */
rad_status rad_file_read(const char *path, size_t max_bytes, const char *what, uint8_t **data, size_t *size);

bool rad_is_file(const char *path);
bool rad_is_dir(const char *path);

/* dir + "/" + name as a new string (free() it). */
rad_status rad_path_join(const char *dir, const char *name, char **out);
/* Whether the name ends with suffix (a file extension such as ".json"); case-sensitive. */
bool rad_ends_with(const char *name, const char *suffix);
#endif
