#include "io/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"

rad_status rad_file_open(const char *path, int *fd, size_t *size) {
    *fd = -1;
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* O_NONBLOCK: a FIFO must not hang the open */
    if (f < 0) return rad_err(RADIAL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(f);
        return rad_err(RADIAL_ERR_IO, "%s: not a regular file", path);
    }
    *fd = f;
    *size = (size_t)sb.st_size;
    return RAD_OK;
}

rad_status rad_file_map(const char *path, void **map, const uint8_t **base, size_t *size) {
    *map = NULL, *base = (const uint8_t *)"", *size = 0;
    int fd;
    size_t n;
    RAD_TRY(rad_file_open(path, &fd, &n));
    if (n > 0) {
        void *m = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            const int e = errno;
            close(fd);
            return rad_err(RADIAL_ERR_IO, "%s: cannot map %zu bytes: %s", path, n, strerror(e));
        }
        *map = m, *base = m;
    }
    close(fd);
    *size = n;
    return RAD_OK;
}

void rad_file_unmap(void *map, size_t size) {
    if (map) munmap(map, size);
}

rad_status rad_file_read(const char *path, size_t max_bytes, const char *what, uint8_t **data, size_t *size) {
    int fd;
    size_t n;
    *data = NULL;
    RAD_TRY(rad_file_open(path, &fd, &n));
    if (n > max_bytes) {
        close(fd);
        return rad_err(RADIAL_ERR_FORMAT, "%s: %zu bytes is too large for a %s (limit %zu)", path, n, what, max_bytes);
    }
    rad_status s = rad_alloc((void **)data, n ? n : 1, what);
    for (size_t got = 0; s == RAD_OK && got < n;) {
        ssize_t r = read(fd, *data + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) s = rad_err(RADIAL_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, n);
        else got += (size_t)r;
    }
    close(fd);
    if (s != RAD_OK) {
        rad_free(*data);
        *data = NULL;
        return s;
    }
    *size = n;
    return RAD_OK;
}

bool rad_is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool rad_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

rad_status rad_path_join(const char *dir, const char *name, char **out) {
    size_t n = strlen(dir) + strlen(name) + 2;
    *out = malloc(n);
    if (!*out) return rad_err(RADIAL_ERR_NOMEM, "out of memory joining the path %s/%s", dir, name);
    snprintf(*out, n, "%s/%s", dir, name);
    return RAD_OK;
}

bool rad_ends_with(const char *name, const char *suffix) {
    size_t a = strlen(name), b = strlen(suffix);
    return a >= b && !strcmp(name + a - b, suffix);
}
