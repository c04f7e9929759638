/* radial_video_check_path: every case it accepts and rejects, each rejection's message naming the path and the
 * fault, each call well under a second, and no file left behind by its writability probe. The unwritable
 * folder and the read-only file are checked in a child process that drops root (a root process may write
 * anywhere). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

static char dir[256];

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *in_dir(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

/* check_path on path; timed; on failure the message must hold `want` (and the path, or its folder). */
static void expect(int line, const char *path, int frames, const radial_write_params *p, const char *want) {
    double t0 = now_s();
    radial_status s = radial_video_check_path(path, frames, p);
    double dt = now_s() - t0;
    if (dt >= 1.0) {
        fprintf(stderr, "line %d: check_path(%s) took %.3f s\n", line, path, dt);
        rad_test_failures++;
    }
    if (!want) {
        if (s != RADIAL_OK) {
            fprintf(stderr, "line %d: check_path(%s, %d) failed: %s\n", line, path, frames, radial_last_error());
            rad_test_failures++;
        }
        return;
    }
    const char *msg = radial_last_error();
    if (s == RADIAL_OK) {
        fprintf(stderr, "line %d: check_path(%s, %d) accepted; expected '%s'\n", line, path, frames, want);
        rad_test_failures++;
    } else if (!strstr(msg, want)) {
        fprintf(stderr, "line %d: check_path(%s): message '%s' lacks '%s'\n", line, path, msg, want);
        rad_test_failures++;
    } else {
        printf("  rejected as expected (%.1f ms): %s\n", dt * 1e3, msg);
    }
}
#define OK(path, frames, p) expect(__LINE__, path, frames, p, NULL)
#define FAILS(path, frames, p, want) expect(__LINE__, path, frames, p, want)

static int count_temp_files(const char *d) {
    DIR *dp = opendir(d);
    if (!dp) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' && len > 4 && !strcmp(e->d_name + len - 4, ".tmp")) n++;
    }
    closedir(dp);
    return n;
}

static void touch(const char *path) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("old\n", f);
        fclose(f);
    }
}

static void test_formats(void) {
    char p[1024];
    OK(in_dir(p, sizeof p, "v.y4m"), 81, NULL);
    OK(in_dir(p, sizeof p, "V.Y4M"), 81, NULL);
    OK(in_dir(p, sizeof p, "f_%03d.png"), 81, NULL);
    OK(in_dir(p, sizeof p, "F_%d.PNG"), 1, NULL);
    OK(in_dir(p, sizeof p, "p%%_%u.png"), 5, NULL);
    OK(in_dir(p, sizeof p, "one.png"), 1, NULL);
    OK(in_dir(p, sizeof p, "with:colon.y4m"), 3, NULL);
    OK("relative-in-cwd.y4m", 3, NULL); /* the folder is "." */
#ifdef RAD_HAVE_FFMPEG
    OK(in_dir(p, sizeof p, "v.mp4"), 81, NULL);
    OK(in_dir(p, sizeof p, "v.MP4"), 81, NULL);
#else
    FAILS(in_dir(p, sizeof p, "v.mp4"), 81, NULL, "RADIAL_FFMPEG=ON");
#endif
    FAILS(in_dir(p, sizeof p, "v.gif"), 81, NULL, "unsupported output format '.gif'; use ");
    FAILS(in_dir(p, sizeof p, "v.webm"), 81, NULL, "unsupported output format '.webm'");
    FAILS(in_dir(p, sizeof p, "v.avi"), 81, NULL, "frames_%03d.png");
    FAILS(in_dir(p, sizeof p, "noext"), 81, NULL, "no extension");
    FAILS(in_dir(p, sizeof p, "one.png"), 5, NULL, "a single PNG holds one frame, the video has 5");
    FAILS(in_dir(p, sizeof p, "f_%s.png"), 5, NULL, "not an integer conversion");
    FAILS(in_dir(p, sizeof p, "f_%d_%d.png"), 5, NULL, "exactly one integer conversion");
    FAILS(in_dir(p, sizeof p, "f_%%.png"), 5, NULL, "found 0");
    FAILS(in_dir(p, sizeof p, "f_%n.png"), 5, NULL, "not an integer conversion");
    FAILS(in_dir(p, sizeof p, "f_%*d.png"), 5, NULL, "not an integer conversion");
    FAILS(in_dir(p, sizeof p, "f_%0999d.png"), 5, NULL, "not an integer conversion");
    FAILS(in_dir(p, sizeof p, "f_%ld.png"), 5, NULL, "not an integer conversion");
    FAILS(in_dir(p, sizeof p, "f_%-3d.png"), 5, NULL, "not an integer conversion");
    FAILS(in_dir(p, sizeof p, "f_%"), 5, NULL, "no extension");
    FAILS(in_dir(p, sizeof p, "f_%03d.y4m"), 5, NULL, "must end in .png");
    FAILS(in_dir(p, sizeof p, "sub/"), 5, NULL, "names a folder");
    FAILS(in_dir(p, sizeof p, ".."), 5, NULL, "names a folder");
    FAILS("", 5, NULL, "empty path");
    FAILS(NULL, 5, NULL, "empty path");
    FAILS(in_dir(p, sizeof p, "v.y4m"), 0, NULL, "frame count 0");
    char longname[400];
    memset(longname, 'a', 300);
    strcpy(longname + 300, ".y4m");
    FAILS(in_dir(p, sizeof p, longname), 5, NULL, "longer than 255 bytes");
    /* A '%' in the folder is a literal character, not a pattern. */
    char pct[1024];
    CHECK(mkdir(in_dir(pct, sizeof pct, "100%d"), 0755) == 0);
    OK(in_dir(p, sizeof p, "100%d/v.y4m"), 5, NULL);
    OK(in_dir(p, sizeof p, "100%d/f_%02d.png"), 5, NULL);
    rmdir(pct);
}

static void test_params(void) {
    char p[1024];
    in_dir(p, sizeof p, "v.y4m");
    radial_write_params w = radial_default_write_params();
    CHECK(w.fps == 16 && w.crf == 18 && w.no_overwrite == 0 && w.meta == NULL && w.n_meta == 0 && w.cancel == NULL &&
          w.user_data == NULL);
    OK(p, 5, &w);
    w.fps = 0;
    FAILS(p, 5, &w, "fps 0 is outside [1, 240]");
    w.fps = 241;
    FAILS(p, 5, &w, "fps 241");
    w = radial_default_write_params();
    w.crf = 52;
    FAILS(p, 5, &w, "crf 52 is outside [0, 51]");
    w.crf = -1;
    FAILS(p, 5, &w, "crf -1");

    w = radial_default_write_params();
    const char *good[] = {"prompt", "一只猫在草地上走", "seed", "42", "Grüße", "café"};
    w.meta = good;
    w.n_meta = 3;
    OK(p, 5, &w);
    OK(in_dir(p, sizeof p, "f_%03d.png"), 5, &w); /* "Grüße" is a Latin-1 PNG keyword */
    in_dir(p, sizeof p, "v.y4m");
    w.n_meta = -1;
    FAILS(p, 5, &w, "meta pair count -1");
    w.meta = NULL;
    w.n_meta = 1;
    FAILS(p, 5, &w, "meta is NULL");
    const char *null_key[] = {NULL, "x"};
    w.meta = null_key;
    FAILS(p, 5, &w, "has a NULL key");
    const char *null_val[] = {"k", NULL};
    w.meta = null_val;
    FAILS(p, 5, &w, "has a NULL value");
    const char *empty_key[] = {"", "x"};
    w.meta = empty_key;
    FAILS(p, 5, &w, "empty key");
    const char *bad_utf8[] = {"prompt", "caf\xe9"};
    w.meta = bad_utf8;
    FAILS(p, 5, &w, "not valid UTF-8 (byte 3)");
    const char *ctrl_key[] = {"a\nb", "x"};
    w.meta = ctrl_key;
    FAILS(p, 5, &w, "control character");
    const char *dup[] = {"Seed", "1", "seed", "2"};
    w.meta = dup;
    w.n_meta = 2;
    FAILS(p, 5, &w, "'seed' is given twice");

    /* PNG keywords: Latin-1, 1-79 characters, no leading/trailing/double spaces. */
    const char *cjk_key[] = {"提示", "x"};
    w.meta = cjk_key;
    w.n_meta = 1;
    OK(p, 5, &w); /* fine for Y4M (not stored) */
#ifdef RAD_HAVE_FFMPEG
    OK(in_dir(p, sizeof p, "v.mp4"), 5, &w); /* fine as an MP4 tag */
#endif
    in_dir(p, sizeof p, "f_%03d.png");
    FAILS(p, 5, &w, "cannot be a PNG text keyword");
    char key80[81];
    memset(key80, 'k', 80);
    key80[80] = 0;
    const char *long_key[] = {key80, "x"};
    w.meta = long_key;
    FAILS(p, 5, &w, "longer than the 79 characters");
    key80[79] = 0;
    OK(p, 5, &w);
    const char *space_key[] = {" lead", "x"};
    w.meta = space_key;
    FAILS(p, 5, &w, "no leading, trailing or double spaces");
    const char *dspace_key[] = {"a  b", "x"};
    w.meta = dspace_key;
    FAILS(p, 5, &w, "double spaces");
}

static void test_files(void) {
    char p[1024], q[1024];
    radial_write_params w = radial_default_write_params();
    FAILS(in_dir(p, sizeof p, "nope/v.y4m"), 5, NULL, "folder '");
    FAILS(in_dir(p, sizeof p, "nope/v.y4m"), 5, NULL, "/nope' does not exist");
    FAILS("/nonexistent-dir/f%02d.png", 5, NULL,
          "/nonexistent-dir/f%02d.png: folder '/nonexistent-dir' does not exist");
    touch(in_dir(q, sizeof q, "afile"));
    FAILS(in_dir(p, sizeof p, "afile/v.y4m"), 5, NULL, "is not a folder");
    unlink(q);
    CHECK(mkdir(in_dir(q, sizeof q, "sub.y4m"), 0755) == 0);
    FAILS(q, 5, NULL, "sub.y4m: is a folder");
    rmdir(q);

    /* An existing file: replaced by default, refused with no_overwrite (and left as it was). */
    touch(in_dir(q, sizeof q, "exists.y4m"));
    OK(q, 5, &w);
    w.no_overwrite = 1;
    FAILS(q, 5, &w, "exists.y4m: already exists and overwriting is off");
    OK(in_dir(p, sizeof p, "fresh.y4m"), 5, &w);
    unlink(q);
    /* Patterns: the first frame file, and any other one of the video. */
    touch(in_dir(q, sizeof q, "f_000.png"));
    FAILS(in_dir(p, sizeof p, "f_%03d.png"), 5, &w, "f_000.png: already exists");
    unlink(q);
    touch(in_dir(q, sizeof q, "f_003.png"));
    FAILS(in_dir(p, sizeof p, "f_%03d.png"), 5, &w, "f_003.png: already exists");
    OK(in_dir(p, sizeof p, "f_%03d.png"), 3, &w); /* frames 0-2 only */
    unlink(q);
    /* A dangling symbolic link is not followed. */
    CHECK(symlink("/nonexistent-dir/x.y4m", in_dir(q, sizeof q, "dangling.y4m")) == 0);
    w.no_overwrite = 0;
    FAILS(q, 5, &w, "symbolic link that cannot be followed");
    unlink(q);
    /* /proc takes no new files, even from root. */
    FAILS("/proc/v.y4m", 5, NULL, "cannot create a file in folder '/proc'");
    CHECK(count_temp_files(dir) == 0);
}

/* As a user who cannot write there: an unwritable folder, a read-only file in a writable one. */
static void test_permissions(void) {
    char base[400];
    snprintf(base, sizeof base, "%s/perm", dir);
    CHECK(mkdir(base, 0777) == 0);
    CHECK(chmod(base, 0777) == 0); /* the unprivileged child makes its folders here */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
        if (geteuid() == 0) _exit(3);
        char ro[600], rw[600], p[800];
        snprintf(ro, sizeof ro, "%s/ro", base);
        snprintf(rw, sizeof rw, "%s/rw", base);
        int bad = 0;
        if (mkdir(ro, 0755) != 0 || mkdir(rw, 0755) != 0) _exit(4);
        snprintf(p, sizeof p, "%s/x.y4m", rw);
        FILE *f = fopen(p, "w");
        if (!f) _exit(4);
        fclose(f);
        chmod(p, 0444);
        if (chmod(ro, 0555) != 0) _exit(4);
        snprintf(p, sizeof p, "%s/v.y4m", ro);
        if (radial_video_check_path(p, 5, NULL) == RADIAL_OK || !strstr(radial_last_error(), "cannot create a file") ||
            !strstr(radial_last_error(), "Permission denied"))
            bad |= 1;
        else
            printf("  rejected as expected (unprivileged): %s\n", radial_last_error());
        snprintf(p, sizeof p, "%s/x.y4m", rw);
        if (radial_video_check_path(p, 5, NULL) == RADIAL_OK || !strstr(radial_last_error(), "read-only"))
            bad |= 2;
        else
            printf("  rejected as expected (unprivileged): %s\n", radial_last_error());
        /* radial_video_write refuses too and leaves it */
        uint8_t px[2 * 2 * 3] = {0};
        radial_video v = {.frames = 1, .height = 2, .width = 2, .data = px};
        if (radial_video_write(p, &v, NULL) == RADIAL_OK) bad |= 4;
        struct stat st;
        if (stat(p, &st) != 0 || st.st_size != 0) bad |= 8;
        chmod(ro, 0755);
        fflush(stdout);
        _exit(bad ? 10 + bad : 0);
    }
    CHECK(pid > 0);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
        printf("  SKIPPED the permission checks: cannot drop privileges here\n");
    } else {
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
            fprintf(stderr, "permission child: status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    char cmd[1000];
    snprintf(cmd, sizeof cmd, "chmod -R u+w '%s' && rm -rf '%s'", base, base);
    CHECK(system(cmd) == 0);
}

int main(void) {
    const char *tmpdir = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/rad_outcheck_XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    chmod(dir, 0755); /* the unprivileged child of test_permissions must reach its folder */
    test_formats();
    test_params();
    test_files();
    test_permissions();
    CHECK(count_temp_files(dir) == 0);
    CHECK(count_temp_files(".") == 0);
    rmdir(dir);
    TEST_MAIN_END();
}
