/* Atomic output files: temporary name in the destination's folder, fsync, rename (see atomic_file.h for the
 * rules). */
#define _GNU_SOURCE /* renameat2 and RENAME_NOREPLACE (glibc 2.28+); without them link() + unlink() is used */
#include "video/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

enum { ST_NONE, ST_WRITING, ST_FINISHED, ST_PLACED };

rad_status rad_path_split(const char *path, char *dir, size_t dir_size, const char **name) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: names a folder, not a file; add a file name like out.mp4", path);
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (slash && n == 0) n = 1; /* "/name": the root */
    if (!slash) {
        if (dir_size < 2) return rad_err(RADIAL_ERR_INVALID_ARG, "%s: path too long", path);
        memcpy(dir, ".", 2);
    } else {
        if (n + 1 > dir_size) return rad_err(RADIAL_ERR_INVALID_ARG, "%s: path too long", path);
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    *name = base;
    return RAD_OK;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Six characters from [A-Za-z0-9]: a per-process counter, the pid and the clock through splitmix64. Uniqueness
 * comes from O_EXCL; this only makes a clash unlikely. */
static void random_tag(char out[7]) {
    static atomic_uint_fast64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = atomic_fetch_add(&counter, 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() << 32 ^
                 (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec * 1000003u;
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for (int i = 0; i < 6; i++, x /= 62) out[i] = alphabet[x % 62];
    out[6] = 0;
}

rad_status rad_atomic_begin(rad_atomic *a, const char *dest) {
    memset(a, 0, sizeof *a);
    a->fd = -1;
    a->dest = dup_str(dest);
    if (!a->dest) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", dest);

    struct stat st;
    int exists = lstat(dest, &st) == 0;
    if (exists && S_ISLNK(st.st_mode)) {
        a->target = realpath(dest, NULL);
        if (!a->target) {
            int e = errno;
            rad_atomic_discard(a);
            return rad_err(RADIAL_ERR_IO, "%s: is a symbolic link that cannot be followed (%s); remove it or name "
                                          "another file", dest, strerror(e));
        }
        exists = stat(a->target, &st) == 0;
    } else {
        a->target = dup_str(dest);
    }
    if (!a->target) {
        rad_atomic_discard(a);
        return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", dest);
    }
    if (exists && !S_ISREG(st.st_mode)) {
        rad_atomic_discard(a);
        return rad_err(RADIAL_ERR_IO, "%s: exists and is %s, not a regular file; not replacing it", dest,
                       S_ISDIR(st.st_mode) ? "a folder" : "a special file");
    }

    const char *name;
    char dir[PATH_MAX];
    rad_status s = rad_path_split(a->target, dir, sizeof dir, &name);
    if (s != RAD_OK) {
        rad_atomic_discard(a);
        return s;
    }
    a->dir = dup_str(dir);
    /* The name part of the temporary file: at most 200 bytes of the file name (cut at a UTF-8 character
     * boundary), so that ".<name>.XXXXXX.tmp" stays within NAME_MAX. */
    size_t keep = strlen(name);
    if (keep > 200) {
        keep = 200;
        while (keep > 0 && ((unsigned char)name[keep] & 0xc0) == 0x80) keep--;
    }
    size_t prefix = (size_t)(name - a->target);
    size_t len = prefix + 1 + keep + 1 + 6 + 4 + 1;
    a->tmp = malloc(len);
    if (!a->dir || !a->tmp) {
        rad_atomic_discard(a);
        return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", dest);
    }
    int err = EEXIST;
    for (int attempt = 0; attempt < 100 && err == EEXIST; attempt++) {
        char tag[7];
        random_tag(tag);
        snprintf(a->tmp, len, "%.*s.%.*s.%s.tmp", (int)prefix, a->target, (int)keep, name, tag);
        a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        err = a->fd < 0 ? errno : 0;
    }
    if (a->fd < 0) {
        rad_status r = rad_err(RADIAL_ERR_IO, "%s: cannot create a file in folder '%s': %s", dest, a->dir,
                               strerror(err));
        rad_atomic_discard(a);
        return r;
    }
    a->state = ST_WRITING;
    struct stat ts;
    if (fstat(a->fd, &ts) == 0) {
        a->dev = ts.st_dev;
        a->ino = ts.st_ino;
    }
    /* The replacement keeps the permission bits (not setuid/setgid) of the file it replaces, and its owner and
     * group where this process may set them (root; a group it belongs to); otherwise they are this user's. */
    if (exists) {
        if (fchown(a->fd, st.st_uid, st.st_gid) != 0 && fchown(a->fd, (uid_t)-1, st.st_gid) != 0)
            RAD_DEBUG("%s: the replacement is owned by this user, not by the previous file's owner", dest);
        if (fchmod(a->fd, st.st_mode & 0777) != 0)
            RAD_DEBUG("%s: could not copy the permissions of the previous file: %s", dest, strerror(errno));
    }
    return RAD_OK;
}

rad_status rad_atomic_stdio(rad_atomic *a, FILE **f) {
    if (!a->f) {
        a->f = fdopen(a->fd, "wb");
        if (!a->f) return rad_err(RADIAL_ERR_IO, "%s: cannot open the temporary file %s: %s", a->dest, a->tmp,
                                  strerror(errno));
    }
    *f = a->f;
    return RAD_OK;
}

rad_status rad_atomic_finish(rad_atomic *a) {
    if (a->state != ST_WRITING)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: internal: finishing a file that is not being written", a->dest);
    int err = 0;
    if (a->f && (fflush(a->f) != 0 || ferror(a->f))) err = errno ? errno : EIO;
    /* EINVAL: a file system without fsync (nothing to flush to). */
    if (!err && fsync(a->fd) != 0 && errno != EINVAL) err = errno;
    int closed = a->f ? fclose(a->f) : close(a->fd);
    if (closed != 0 && !err) err = errno;
    a->f = NULL;
    a->fd = -1;
    if (err)
        return rad_err(RADIAL_ERR_IO, "%s: writing the temporary file %s failed: %s", a->dest, a->tmp,
                       strerror(err));
    a->state = ST_FINISHED;
    return RAD_OK;
}

/* 0: placed without replacing anything; EEXIST: the destination exists (nothing done); -1: this file system
 * supports neither no-replace primitive; another errno: failed. */
static int place_noreplace(const char *tmp, const char *target) {
#ifdef RENAME_NOREPLACE
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, target, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP && errno != EOPNOTSUPP) return errno;
#endif
    if (link(tmp, target) == 0) {
        if (unlink(tmp) != 0) RAD_WARN("%s: could not remove the temporary name %s: %s", target, tmp, strerror(errno));
        return 0;
    }
    if (errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP || errno == ENOSYS || errno == EMLINK) return -1;
    return errno;
}

rad_status rad_atomic_place(rad_atomic *a, bool no_overwrite, bool *replaced) {
    if (a->state != ST_FINISHED)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: internal: placing a file that is not finished", a->dest);
    *replaced = false;
    int e = place_noreplace(a->tmp, a->target);
    if (e == -1) { /* no race-free primitive here: check, then rename */
        struct stat st;
        e = lstat(a->target, &st) == 0 ? EEXIST : 0;
        if (e == 0 && rename(a->tmp, a->target) != 0) e = errno;
    }
    if (e == EEXIST) {
        if (no_overwrite)
            return rad_err(RADIAL_ERR_IO, "%s: already exists (appeared while writing) and overwriting is off; it "
                                          "was left as it is", a->dest);
        struct stat st;
        if (lstat(a->target, &st) == 0 && !S_ISREG(st.st_mode))
            return rad_err(RADIAL_ERR_IO, "%s: exists and is %s, not a regular file; not replacing it", a->dest,
                           S_ISDIR(st.st_mode) ? "a folder" : "a special file");
        if (access(a->target, W_OK) != 0 && errno == EACCES)
            return rad_err(RADIAL_ERR_IO, "%s: exists and is read-only; not replacing it", a->dest);
        if (rename(a->tmp, a->target) != 0)
            return rad_err(RADIAL_ERR_IO, "%s: cannot rename the finished temporary file %s over it: %s", a->dest,
                           a->tmp, strerror(errno));
        *replaced = true;
    } else if (e != 0) {
        return rad_err(RADIAL_ERR_IO, "%s: cannot rename the finished temporary file %s to it: %s", a->dest,
                       a->tmp, strerror(e));
    }
    a->state = ST_PLACED;
    return RAD_OK;
}

void rad_atomic_unplace(rad_atomic *a) {
    if (a->state != ST_PLACED) return;
    struct stat st;
    if (lstat(a->target, &st) == 0 && st.st_dev == a->dev && st.st_ino == a->ino && unlink(a->target) != 0)
        RAD_WARN("%s: could not remove it after a failure: %s", a->dest, strerror(errno));
    a->state = ST_NONE;
}

void rad_atomic_discard(rad_atomic *a) {
    if (a->state == ST_WRITING) { /* only then is a file open (a zeroed rad_atomic has fd 0, which is not ours) */
        if (a->f)
            fclose(a->f);
        else if (a->fd >= 0)
            close(a->fd);
    }
    if ((a->state == ST_WRITING || a->state == ST_FINISHED) && unlink(a->tmp) != 0 && errno != ENOENT)
        RAD_WARN("%s: could not remove the temporary file %s: %s", a->dest, a->tmp, strerror(errno));
    free(a->dest);
    free(a->target);
    free(a->dir);
    free(a->tmp);
    memset(a, 0, sizeof *a);
    a->fd = -1;
}

void rad_fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        RAD_DEBUG("%s: cannot open the folder to flush it: %s", dir, strerror(errno));
        return;
    }
    if (fsync(fd) != 0 && errno != EINVAL && errno != EBADF)
        RAD_WARN("%s: flushing the folder (after renaming the output into it) failed: %s", dir, strerror(errno));
    close(fd);
}
