/* The checks on a video's output path that can run before the video exists: format from the extension, the
 * PNG frame pattern, the write parameters and metadata, the folder and the files already there. Used by
 * radial_video_check_path (before a generation) and by radial_video_write (before it creates anything). */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/utf8.h"
#include "video/atomic_file.h"
#include "video/output_path.h"

static bool eq_ci(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

/* A frame pattern holds exactly one conversion %[0][width]{d,i,u} (width <= 2 digits); "%%" is a literal %.
 * Anything else that printf would interpret (%s, %n, %*d, %ld, %.3d, ...) is rejected, so the pattern can be
 * handed to snprintf with one int. Only the file name is a pattern: a '%' in the folder is taken literally. */
static rad_status check_pattern(const char *path, const char *name) {
    int conversions = 0;
    for (const char *p = name; *p; p++) {
        if (*p != '%') continue;
        if (p[1] == '%') {
            p++;
            continue;
        }
        const char *q = p + 1;
        if (*q == '0') q++;
        int digits = 0;
        while (isdigit((unsigned char)*q)) q++, digits++;
        if (digits > 2 || (*q != 'd' && *q != 'i' && *q != 'u'))
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "%s: frame pattern: conversion at '%.8s' is not an integer conversion like %%03d", path,
                           p);
        conversions++;
        p = q;
    }
    if (conversions != 1)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: frame pattern must hold exactly one integer conversion like "
                                               "%%03d, found %d", path, conversions);
    return RAD_OK;
}

/* The first byte of s that does not start a valid UTF-8 character, or -1. */
static long bad_utf8_at(const char *s) {
    const uint8_t *u = (const uint8_t *)s;
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n;
        if (!rad_utf8_decode(u + i, len - i, &cp, &n)) return (long)i;
        i += n;
    }
    return -1;
}

rad_status rad_png_keyword(const char *dest, const char *key, char latin1[80]) {
    const uint8_t *u = (const uint8_t *)key;
    size_t len = strlen(key), out = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n;
        if (!rad_utf8_decode(u + i, len - i, &cp, &n) || !((cp >= 32 && cp <= 126) || (cp >= 161 && cp <= 255)))
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "%s: meta key '%.80s' cannot be a PNG text keyword: keywords are Latin-1 letters, digits, "
                           "punctuation and spaces (character %zu is not)", dest, key, out + 1);
        if (out == 79)
            return rad_err(RADIAL_ERR_INVALID_ARG, "%s: meta key '%.80s...' is longer than the 79 characters a PNG "
                                                   "text keyword may have", dest, key);
        latin1[out++] = (char)cp;
        i += n;
    }
    latin1[out] = 0;
    if (out == 0) return rad_err(RADIAL_ERR_INVALID_ARG, "%s: a meta key is empty", dest);
    if (latin1[0] == ' ' || latin1[out - 1] == ' ' || strstr(latin1, "  "))
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: meta key '%s' cannot be a PNG text keyword: no leading, trailing "
                                               "or double spaces allowed", dest, key);
    return RAD_OK;
}

static rad_status check_meta(const char *path, rad_out_kind kind, const radial_write_params *p) {
    if (p->n_meta < 0 || p->n_meta > RAD_VIDEO_MAX_META)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: meta pair count %d is outside [0, %d]", path, p->n_meta,
                       RAD_VIDEO_MAX_META);
    if (p->n_meta > 0 && !p->meta)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: %d meta pairs announced but meta is NULL", path, p->n_meta);
    for (int i = 0; i < p->n_meta; i++) {
        const char *key = p->meta[2 * i], *value = p->meta[2 * i + 1];
        if (!key || !value)
            return rad_err(RADIAL_ERR_INVALID_ARG, "%s: meta pair %d has a NULL %s", path, i, key ? "value" : "key");
        if (!*key) return rad_err(RADIAL_ERR_INVALID_ARG, "%s: meta pair %d has an empty key", path, i);
        long at = bad_utf8_at(key);
        if (at >= 0)
            return rad_err(RADIAL_ERR_INVALID_ARG, "%s: meta key %d is not valid UTF-8 (byte %ld)", path, i, at);
        for (const char *c = key; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                return rad_err(RADIAL_ERR_INVALID_ARG, "%s: meta key %d holds a control character (byte 0x%02x)", path,
                               i, (unsigned char)*c);
        at = bad_utf8_at(value);
        if (at >= 0)
            return rad_err(RADIAL_ERR_INVALID_ARG, "%s: meta value for key '%.80s' is not valid UTF-8 (byte %ld)",
                           path, key, at);
        for (int j = 0; j < i; j++)
            if (eq_ci(p->meta[2 * j], key))
                return rad_err(RADIAL_ERR_INVALID_ARG, "%s: meta key '%.80s' is given twice (keys are compared "
                                                       "ignoring case)", path, key);
        if (kind == RAD_OUT_PNG || kind == RAD_OUT_PNG_SEQ) {
            char latin1[80];
            RAD_TRY(rad_png_keyword(path, key, latin1));
        }
    }
    return RAD_OK;
}

static const char *const use_formats =
#ifdef RAD_HAVE_FFMPEG
    "use .mp4, .y4m or a PNG pattern like frames_%03d.png";
#else
    "use .y4m or a PNG pattern like frames_%03d.png (.mp4 needs a build with FFmpeg)";
#endif

rad_status rad_output_parse(const char *path, int frames, const radial_write_params *params, rad_output *o) {
    memset(o, 0, sizeof *o);
    if (!path || !*path) return rad_err(RADIAL_ERR_INVALID_ARG, "video output: empty path");
    if (strlen(path) >= PATH_MAX)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%.64s...: path is longer than %d bytes", path, PATH_MAX - 1);
    o->path = path;
    if (frames < 1 || frames > RAD_VIDEO_MAX_FRAMES)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: frame count %d is outside [1, %d]", path, frames,
                       RAD_VIDEO_MAX_FRAMES);
    radial_write_params defaults = radial_default_write_params();
    const radial_write_params *p = params ? params : &defaults;
    if (p->fps < 1 || p->fps > 240)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: fps %d is outside [1, 240]", path, p->fps);
    if (p->crf < 0 || p->crf > 51)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: crf %d is outside [0, 51]", path, p->crf);

    const char *name;
    RAD_TRY(rad_path_split(path, o->dir, sizeof o->dir, &name));
    o->name_at = (size_t)(name - path);
    const char *dot = strrchr(name, '.');
    const char *ext = dot ? dot : "";
    bool pattern = strchr(name, '%') != NULL;
    if (eq_ci(ext, ".png")) {
        if (pattern) {
            RAD_TRY(check_pattern(path, name));
            o->kind = RAD_OUT_PNG_SEQ;
        } else {
            if (frames != 1)
                return rad_err(RADIAL_ERR_INVALID_ARG,
                               "%s: a single PNG holds one frame, the video has %d; use a pattern like "
                               "frames_%%03d.png, or .mp4 / .y4m", path, frames);
            o->kind = RAD_OUT_PNG;
        }
    } else if (!dot) {
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: the file name has no extension to choose the format by; %s",
                       path, use_formats);
    } else if (pattern) {
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "%s: a frame pattern (with %%) is for PNG frames and must end in .png, like frames_%%03d.png",
                       path);
    } else if (eq_ci(ext, ".mp4")) {
#ifndef RAD_HAVE_FFMPEG
        return rad_err(RADIAL_ERR_UNSUPPORTED,
                       "%s: MP4 output needs FFmpeg, which this build lacks; install libavformat-dev libavcodec-dev "
                       "libavutil-dev libswscale-dev (Debian; `make deps` does it) and rebuild (CMake option "
                       "RADIAL_FFMPEG=ON, the default), or write .y4m or frames_%%03d.png instead", path);
#else
        o->kind = RAD_OUT_MP4;
#endif
    } else if (eq_ci(ext, ".y4m")) {
        o->kind = RAD_OUT_Y4M;
    } else {
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: unsupported output format '%.16s'; %s", path, ext, use_formats);
    }
    /* Every file name must fit the file system's limit (the longest is the last frame's). */
    char file[PATH_MAX];
    RAD_TRY(rad_output_file(o, frames - 1, file, sizeof file));
    if (strlen(file + o->name_at) > NAME_MAX)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: the file name is longer than %d bytes", file, NAME_MAX);
    return check_meta(path, o->kind, p);
}

rad_status rad_output_file(const rad_output *o, int t, char *buf, size_t size) {
    size_t n = strlen(o->path);
    if (o->kind != RAD_OUT_PNG_SEQ) {
        if (n + 1 > size) return rad_err(RADIAL_ERR_INVALID_ARG, "%s: path too long", o->path);
        memcpy(buf, o->path, n + 1);
        return RAD_OK;
    }
    if (o->name_at >= size) return rad_err(RADIAL_ERR_INVALID_ARG, "%s: path too long", o->path);
    memcpy(buf, o->path, o->name_at);
    /* The pattern was checked by check_pattern: one integer conversion, so it takes one int. */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#endif
    int k = snprintf(buf + o->name_at, size - o->name_at, o->path + o->name_at, t);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
    if (k < 0 || (size_t)k >= size - o->name_at)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: frame path for frame %d is too long", o->path, t);
    return RAD_OK;
}

/* One destination file: what is there now must be absent, or (without no_overwrite) a regular file, or a
 * link to one, that this user may replace. */
static rad_status check_existing(const char *file, const struct stat *dir_st, int no_overwrite) {
    struct stat st;
    if (lstat(file, &st) != 0) {
        if (errno == ENOENT) return RAD_OK;
        return rad_err(RADIAL_ERR_IO, "%s: cannot examine it: %s", file, strerror(errno));
    }
    if (no_overwrite)
        return rad_err(RADIAL_ERR_IO, "%s: already exists and overwriting is off (no_overwrite); choose another "
                                      "name or remove it", file);
    bool link = S_ISLNK(st.st_mode);
    if (link && stat(file, &st) != 0)
        return rad_err(RADIAL_ERR_IO, "%s: is a symbolic link that cannot be followed (%s); remove it or name "
                                      "another file", file, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return rad_err(RADIAL_ERR_IO, "%s: is a folder; name a file inside it, like %s/out.mp4", file, file);
    if (!S_ISREG(st.st_mode))
        return rad_err(RADIAL_ERR_IO, "%s: exists and is a special file, not a regular one; not replacing it", file);
    if (access(file, W_OK) != 0 && errno == EACCES)
        return rad_err(RADIAL_ERR_IO, "%s: exists and is read-only; not replacing it (make it writable or remove "
                                      "it)", file);
    /* A sticky folder (like /tmp) lets only a file's owner (or the folder's) rename over it. */
    uid_t me = geteuid();
    if (!link && (dir_st->st_mode & S_ISVTX) && me != 0 && st.st_uid != me && dir_st->st_uid != me)
        return rad_err(RADIAL_ERR_IO, "%s: exists and belongs to another user in a sticky folder; it cannot be "
                                      "replaced", file);
    return RAD_OK;
}

rad_status rad_output_check_files(const rad_output *o, int frames, int no_overwrite, int probe) {
    struct stat st;
    if (stat(o->dir, &st) != 0) {
        int e = errno;
        if (e == ENOENT) return rad_err(RADIAL_ERR_IO, "%s: folder '%s' does not exist", o->path, o->dir);
        if (e == ENOTDIR)
            return rad_err(RADIAL_ERR_IO, "%s: '%s' is not a folder (a part of it is a file)", o->path, o->dir);
        return rad_err(RADIAL_ERR_IO, "%s: cannot reach folder '%s': %s", o->path, o->dir, strerror(e));
    }
    if (!S_ISDIR(st.st_mode)) return rad_err(RADIAL_ERR_IO, "%s: '%s' is not a folder", o->path, o->dir);
    int n = o->kind == RAD_OUT_PNG_SEQ ? frames : 1;
    char file[PATH_MAX];
    for (int t = 0; t < n; t++) {
        RAD_TRY(rad_output_file(o, t, file, sizeof file));
        RAD_TRY(check_existing(file, &st, no_overwrite));
    }
    if (probe) {
        /* Writability: access(2) does not know about read-only mounts, ACLs or quotas; creating a file does. */
        RAD_TRY(rad_output_file(o, 0, file, sizeof file));
        rad_atomic a;
        RAD_TRY(rad_atomic_begin(&a, file));
        rad_atomic_discard(&a);
    }
    return RAD_OK;
}
