/* Atomic output files: a file is written under a temporary name in its destination's folder and renamed over
 * the destination only once it is complete and on disk, so that a reader (or the user, after a crash or a
 * failure) sees either the previous file or the new one, never a partial one.
 *
 * The rules (radial_video_write relies on them; tests/video/test_output_write.c checks them):
 *  - The temporary file is `.<name>.<6 random chars>.tmp` in the destination's folder (same file system, so the
 *    rename is atomic), created with O_CREAT|O_EXCL (two writers never share one) and mode 0666 less the umask,
 *    or the permission bits (and, where allowed, the owner and group) of the file it will replace.
 *  - A destination that is a symbolic link is resolved: the file the link points to is replaced (in its own
 *    folder) and the link stays.
 *  - rad_atomic_finish flushes (fflush + fsync) and closes it; rad_atomic_place renames it over the
 *    destination, and the caller then fsyncs the folder (rad_fsync_dir). Until rad_atomic_place succeeds the
 *    destination is untouched.
 *  - rad_atomic_discard removes the temporary file (whatever state it is in). Every failure path calls it, so
 *    only a process killed outright (SIGKILL, power loss) can leave a `.<name>.*.tmp` file behind.
 *  - No-overwrite placement is race-free: renameat2(RENAME_NOREPLACE) where the kernel and file system have it,
 *    else link() + unlink() (link fails if the name exists); only on a file system with neither (no hard links,
 *    e.g. some FUSE or FAT mounts) does it fall back to "lstat, then rename", which a file created in between
 *    could lose to. The same no-replace attempt tells whether a file was replaced (`*replaced`), race-free.
 *  - An existing destination that is read-only for this user, a folder or not a regular file is never
 *    replaced. */
#ifndef RAD_VIDEO_ATOMIC_FILE_H
#define RAD_VIDEO_ATOMIC_FILE_H
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "base/status.h"

typedef struct rad_atomic {
    char *dest;   /* the destination as the caller named it (for messages) */
    char *target; /* the file actually replaced: dest, or what a symbolic link at dest points to */
    char *dir;    /* target's folder (for rad_fsync_dir) */
    char *tmp;    /* the temporary file next to target */
    int fd;       /* open on tmp until rad_atomic_finish, else -1 */
    FILE *f;      /* fdopen(fd), once rad_atomic_stdio was called */
    int state;    /* internal: none, writing, finished, placed */
    dev_t dev;    /* identity of the temporary file, so that rad_atomic_unplace only removes our own file */
    ino_t ino;
} rad_atomic;

/* Splits path into its folder ("." when there is none; "/" for a file in the root) and the file name.
 * Fails when the folder part does not fit in dir_size or when there is no file name. */
rad_status rad_path_split(const char *path, char *dir, size_t dir_size, const char **name);

/* Creates the temporary file for dest. On failure nothing exists and *a needs no discard (a discard is
 * harmless). */
rad_status rad_atomic_begin(rad_atomic *a, const char *dest);
/* A stdio stream on the temporary file (owned by *a: do not fclose it). */
rad_status rad_atomic_stdio(rad_atomic *a, FILE **f);
/* Flushes to the disk and closes: afterwards the temporary file holds the whole output. */
rad_status rad_atomic_finish(rad_atomic *a);
/* Renames the finished temporary file over the destination. no_overwrite: fail when the destination exists.
 * *replaced: whether a previous file was replaced. Does not fsync the folder (rad_fsync_dir). */
rad_status rad_atomic_place(rad_atomic *a, bool no_overwrite, bool *replaced);
/* After rad_atomic_place: removes the placed file, if the destination still is the file this call wrote. */
void rad_atomic_unplace(rad_atomic *a);
/* Closes and removes the temporary file if it still exists, frees the names. Safe on any state, twice. */
void rad_atomic_discard(rad_atomic *a);
/* fsync of a folder, so that a rename in it is on disk; failures are logged, not returned (the file is
 * already complete and in place). */
void rad_fsync_dir(const char *dir);
#endif
