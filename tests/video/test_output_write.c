/* radial_video_write: atomic outputs and metadata.
 *  - A write that fails part-way (a file-size limit: a child process with RLIMIT_FSIZE and SIGXFSZ ignored, so
 *    write(2) fails with EFBIG) over a good file leaves that file byte-identical and no temporary file; for Y4M,
 *    a single PNG, a PNG pattern (failing at frame 3) and MP4.
 *  - A cancel after 2 frames of a PNG pattern (and of Y4M / MP4) leaves no new file, no temporary file, and the
 *    older files as they were; so does SIGTERM turned into a cancel by a handler, in a child process.
 *  - no_overwrite refuses an existing file before writing, and a file that appears while writing (race-free
 *    rename); when a PNG pattern fails while renaming, the frames this call placed are removed again, except
 *    those that replaced an older file.
 *  - Permissions of a replaced file are kept, a symbolic link is written through, two concurrent writers of one
 *    file never mix.
 *  - Metadata read back: PNG tEXt / iTXt with libpng (a Chinese value in iTXt, a Latin-1 key), MP4 tags with
 *    libavformat and, when installed, ffprobe. */
#include <dirent.h>
#include <errno.h>
#include <png.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"
#include "video/video_writer.h"

#ifdef RAD_HAVE_FFMPEG
#include <libavformat/avformat.h>
#endif

static char dir[256];

static const char *in_dir(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

/* Entries of dir, excluding . and ..; *temps gets the number of .*.tmp files among them. */
static int count_entries(int *temps) {
    DIR *dp = opendir(dir);
    if (!dp) return -1;
    int n = 0;
    *temps = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' && len > 4 && !strcmp(e->d_name + len - 4, ".tmp")) {
            (*temps)++;
            fprintf(stderr, "  temporary file left: %s\n", e->d_name);
        }
        n++;
    }
    closedir(dp);
    return n;
}
static int no_temps(void) {
    int t;
    return count_entries(&t) >= 0 && t == 0;
}

static void clean_dir(void) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/* '%s'/.[!.]*", dir, dir);
    CHECK(system(cmd) == 0);
}

typedef struct {
    size_t n;
    uint8_t *data;
} blob;

static blob read_all(const char *path) {
    blob b = {0, NULL};
    FILE *f = fopen(path, "rb");
    if (!f) return b;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.data = malloc(n > 0 ? (size_t)n : 1);
    if (b.data && fread(b.data, 1, (size_t)n, f) == (size_t)n) b.n = (size_t)n;
    fclose(f);
    return b;
}
static int same_file(const char *path, blob b) {
    blob c = read_all(path);
    int same = c.data && c.n == b.n && !memcmp(c.data, b.data, b.n);
    free(c.data);
    return same;
}

/* A video: flat (compresses to almost nothing) or noise (incompressible). */
static radial_video make_video(int T, int H, int W, int noise, uint32_t seed) {
    radial_video v = {.frames = T, .height = H, .width = W};
    size_t n = (size_t)T * H * W * 3;
    v.data = malloc(n);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        v.data[i] = noise ? (uint8_t)(x >> 24) : (uint8_t)(seed * 40 + i / ((size_t)H * W * 3) * 7);
    }
    return v;
}

/* Runs fn in a child process whose files may not exceed limit bytes (write(2) then fails with EFBIG; SIGXFSZ,
 * which would kill the process, is ignored). Returns the child's exit status. */
static int in_limited_child(rlim_t limit, int (*fn)(void *), void *arg) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit r = {limit, limit};
        if (setrlimit(RLIMIT_FSIZE, &r) != 0) _exit(90);
        int rc = fn(arg);
        fflush(stdout);
        _exit(rc);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

typedef struct {
    const char *path;
    radial_video v;
} write_job;

/* Child: the write must fail as an I/O error naming the path and the cause. */
static int write_expect_efbig(void *arg) {
    write_job *j = arg;
    radial_status s = radial_video_write(j->path, &j->v, NULL);
    if (s == RADIAL_OK) return 1;
    printf("  failed as expected under the size limit: %s\n", radial_last_error());
    if (s != RADIAL_ERR_IO) return 2;
    if (!strstr(radial_last_error(), "File too large")) return 3;
    return 0;
}

static void test_size_limit_single(const char *name, int T, int H, int W, rlim_t limit) {
    char path[1024];
    in_dir(path, sizeof path, name);
    radial_video good = make_video(T == 1 ? 1 : 2, 16, 16, 0, 1);
    CHECK_OK(radial_video_write(path, &good, NULL));
    blob before = read_all(path);
    CHECK(before.n > 0 && before.n < limit);
    write_job j = {path, make_video(T, H, W, 1, 2)};
    int rc = in_limited_child(limit, write_expect_efbig, &j);
    if (rc != 0) fprintf(stderr, "%s: child exit %d\n", name, rc);
    CHECK(rc == 0);
    CHECK(same_file(path, before)); /* the old file, byte for byte */
    CHECK(no_temps());
    free(before.data);
    free(good.data);
    free(j.v.data);
    unlink(path);
}

/* A PNG pattern over three good frames, failing at frame 3 (frames 0-2 flat and small, frame 3 noise). */
static void test_size_limit_sequence(void) {
    char pat[1024], f[1024];
    in_dir(pat, sizeof pat, "s_%03d.png");
    radial_video good = make_video(3, 16, 16, 0, 3);
    CHECK_OK(radial_video_write(pat, &good, NULL));
    blob before[3];
    for (int t = 0; t < 3; t++) {
        snprintf(f, sizeof f, "%s/s_%03d.png", dir, t);
        before[t] = read_all(f);
    }
    enum { T = 6, H = 128, W = 128 };
    write_job j = {pat, make_video(T, H, W, 0, 4)};
    radial_video noise = make_video(1, H, W, 1, 5);
    memcpy(j.v.data + 3 * (size_t)H * W * 3, noise.data, (size_t)H * W * 3);
    int rc = in_limited_child(16384, write_expect_efbig, &j);
    CHECK(rc == 0);
    for (int t = 0; t < 3; t++) {
        snprintf(f, sizeof f, "%s/s_%03d.png", dir, t);
        CHECK(same_file(f, before[t]));
        free(before[t].data);
        unlink(f);
    }
    for (int t = 3; t < T; t++) {
        snprintf(f, sizeof f, "%s/s_%03d.png", dir, t);
        CHECK(access(f, F_OK) != 0);
    }
    int temps, n = count_entries(&temps);
    CHECK(n == 0 && temps == 0);
    free(good.data);
    free(j.v.data);
    free(noise.data);
}

typedef struct {
    int calls, fire_at; /* cancel returns 1 from call number fire_at on (1-based; 0: never) */
    void (*hook)(void *); /* run on call number hook_at (0: the first) */
    void *hook_arg;
    int hook_at;
} cancel_state;
static int cancel_cb(void *u) {
    cancel_state *c = u;
    c->calls++;
    if (c->hook && c->calls == (c->hook_at ? c->hook_at : 1)) c->hook(c->hook_arg);
    return c->fire_at > 0 && c->calls >= c->fire_at;
}

static void test_cancel(void) {
    char pat[1024], old[1024], path[1024];
    /* An older frame 1 of the same pattern: must stay as it is. */
    radial_video one = make_video(1, 8, 8, 0, 7);
    CHECK_OK(radial_video_write(in_dir(old, sizeof old, "c_001.png"), &one, NULL));
    blob older = read_all(old);
    radial_video v = make_video(5, 16, 16, 0, 8);
    cancel_state c = {.fire_at = 3}; /* polled before frames 0, 1, 2: fires after 2 frames */
    radial_write_params w = radial_default_write_params();
    w.cancel = cancel_cb;
    w.user_data = &c;
    radial_status s = radial_video_write(in_dir(pat, sizeof pat, "c_%03d.png"), &v, &w);
    CHECK(s == RADIAL_ERR_CANCELLED);
    printf("  cancelled: %s\n", radial_last_error());
    CHECK(c.calls == 3);
    CHECK(same_file(old, older));
    int temps, n = count_entries(&temps);
    CHECK(n == 1 && temps == 0); /* only the older c_001.png */
    unlink(old);
    free(older.data);

    /* Y4M and MP4 over an existing file: cancelled after 2 frames, the old file untouched. */
    const char *names[] = {"c.y4m",
#ifdef RAD_HAVE_FFMPEG
                           "c.mp4"
#endif
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        in_dir(path, sizeof path, names[i]);
        CHECK_OK(radial_video_write(path, &one, NULL));
        blob b = read_all(path);
        c = (cancel_state){.fire_at = 3};
        CHECK(radial_video_write(path, &v, &w) == RADIAL_ERR_CANCELLED);
        CHECK(c.calls == 3);
        CHECK(same_file(path, b));
        CHECK(no_temps());
        /* a cancel after the last frame still leaves the old file */
        c = (cancel_state){.fire_at = 6};
        CHECK(radial_video_write(path, &v, &w) == RADIAL_ERR_CANCELLED);
        CHECK(same_file(path, b));
        CHECK(no_temps());
        free(b.data);
        unlink(path);
    }
    free(one.data);
    free(v.data);
}

static void make_file(void *path) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("someone else's file\n", f);
        fclose(f);
    }
}
static void make_folder(void *path) { mkdir(path, 0755); }

static void test_no_overwrite(void) {
    char path[1024], f[1024];
    radial_video v = make_video(3, 16, 16, 0, 9);
    radial_write_params w = radial_default_write_params();
    w.no_overwrite = 1;
    /* An existing file: refused before writing, left as it is. */
    in_dir(path, sizeof path, "n.y4m");
    make_file(path);
    blob b = read_all(path);
    CHECK(radial_video_write(path, &v, &w) == RADIAL_ERR_IO);
    CHECK(strstr(radial_last_error(), "already exists") != NULL);
    CHECK(same_file(path, b));
    CHECK(no_temps());
    unlink(path);
    /* Absent: written. */
    CHECK_OK(radial_video_write(path, &v, &w));
    CHECK(access(path, F_OK) == 0);
    unlink(path);
    /* A file that appears while writing (made by the first cancel poll): the rename refuses to replace it. */
    cancel_state c = {.hook = make_file, .hook_arg = path};
    w.cancel = cancel_cb;
    w.user_data = &c;
    CHECK(radial_video_write(path, &v, &w) == RADIAL_ERR_IO);
    printf("  refused as expected: %s\n", radial_last_error());
    CHECK(strstr(radial_last_error(), "appeared while writing") != NULL);
    CHECK(same_file(path, b));
    CHECK(no_temps());
    unlink(path);
    /* The same for frame 1 of a pattern, made by the last poll (after every frame, before the renames): frame 0,
     * already renamed into place, is removed again. */
    in_dir(f, sizeof f, "n_001.png");
    c = (cancel_state){.hook = make_file, .hook_arg = f, .hook_at = 4};
    CHECK(radial_video_write(in_dir(path, sizeof path, "n_%03d.png"), &v, &w) == RADIAL_ERR_IO);
    printf("  refused as expected: %s\n", radial_last_error());
    CHECK(same_file(f, b));
    int temps, n = count_entries(&temps);
    CHECK(n == 1 && temps == 0); /* n_001.png alone */
    unlink(f);
    free(b.data);

    /* Without no_overwrite, a pattern whose frame 3 name is taken by a folder (made by the last poll, before the
     * renames): the frames already placed are removed if they were new (0, 2) and kept if they replaced an
     * older file (1). */
    radial_video v5 = make_video(5, 16, 16, 0, 10);
    radial_video one = make_video(1, 16, 16, 0, 11);
    char f1[1024], f3[1024];
    CHECK_OK(radial_video_write(in_dir(f1, sizeof f1, "r_001.png"), &one, NULL));
    blob older = read_all(f1);
    in_dir(f3, sizeof f3, "r_003.png");
    w = radial_default_write_params();
    c = (cancel_state){.hook = make_folder, .hook_arg = f3, .hook_at = 6};
    w.cancel = cancel_cb;
    w.user_data = &c;
    CHECK(radial_video_write(in_dir(path, sizeof path, "r_%03d.png"), &v5, &w) == RADIAL_ERR_IO);
    printf("  failed as expected: %s\n", radial_last_error());
    in_dir(f, sizeof f, "r_000.png");
    CHECK(access(f, F_OK) != 0);
    in_dir(f, sizeof f, "r_002.png");
    CHECK(access(f, F_OK) != 0);
    in_dir(f, sizeof f, "r_004.png");
    CHECK(access(f, F_OK) != 0);
    struct stat st;
    CHECK(stat(f3, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(access(f1, F_OK) == 0 && !same_file(f1, older)); /* replaced before the failure: the new frame 1 */
    n = count_entries(&temps);
    CHECK(n == 2 && temps == 0);
    rmdir(f3);
    unlink(f1);
    free(older.data);
    free(v5.data);
    free(one.data);
    free(v.data);
}

static void test_replace_rules(void) {
    char path[1024], real[1024];
    radial_video a = make_video(2, 16, 16, 0, 12), b = make_video(2, 16, 16, 0, 13);
    /* Permission bits of the replaced file are kept. */
    in_dir(path, sizeof path, "perm.y4m");
    CHECK_OK(radial_video_write(path, &a, NULL));
    chmod(path, 0640);
    CHECK_OK(radial_video_write(path, &b, NULL));
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640);
    unlink(path);
    /* A new file gets 0666 less the umask, not mkstemp's 0600. */
    mode_t um = umask(022);
    CHECK_OK(radial_video_write(path, &b, NULL));
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644);
    umask(um);
    unlink(path);
    /* A symbolic link is written through: the link stays, its target gets the new video. */
    in_dir(real, sizeof real, "real.y4m");
    CHECK_OK(radial_video_write(real, &a, NULL));
    blob ba = read_all(real);
    CHECK(symlink("real.y4m", in_dir(path, sizeof path, "link.y4m")) == 0);
    CHECK_OK(radial_video_write(path, &b, NULL));
    CHECK(lstat(path, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(!same_file(real, ba));
    CHECK(no_temps());
    unlink(path);
    unlink(real);
    free(ba.data);
    free(a.data);
    free(b.data);
}

/* Two processes writing the same file 20 times each: the file is always one of the two videos, whole. */
static void test_concurrent(void) {
    char path[1024];
    in_dir(path, sizeof path, "race.y4m");
    radial_video v[2] = {make_video(4, 32, 32, 1, 14), make_video(4, 32, 32, 1, 15)};
    blob want[2];
    for (int i = 0; i < 2; i++) {
        CHECK_OK(radial_video_write(path, &v[i], NULL));
        want[i] = read_all(path);
    }
    fflush(stdout);
    pid_t pid[2];
    for (int i = 0; i < 2; i++) {
        pid[i] = fork();
        if (pid[i] == 0) {
            for (int k = 0; k < 20; k++)
                if (radial_video_write(path, &v[i], NULL) != RADIAL_OK) _exit(1);
            _exit(0);
        }
    }
    int bad_reads = 0;
    for (int k = 0; k < 50; k++) {
        blob got = read_all(path);
        int ok = got.data && ((got.n == want[0].n && !memcmp(got.data, want[0].data, got.n)) ||
                              (got.n == want[1].n && !memcmp(got.data, want[1].data, got.n)));
        if (!ok) {
            fprintf(stderr, "  read %d: %zu bytes (want %zu), %s\n", k, got.n, want[0].n, got.data ? "read" : "no file");
            bad_reads++;
        }
        free(got.data);
    }
    for (int i = 0; i < 2; i++) {
        int status = 0;
        CHECK(waitpid(pid[i], &status, 0) == pid[i] && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK(bad_reads == 0);
    CHECK(same_file(path, want[0]) || same_file(path, want[1]));
    CHECK(no_temps());
    unlink(path);
    for (int i = 0; i < 2; i++) free(want[i].data), free(v[i].data);
}

/* SIGTERM while writing a long PNG sequence: the handler sets a flag, the cancel callback returns it. */
static volatile sig_atomic_t got_signal;
static void on_term(int sig) {
    (void)sig;
    got_signal = 1;
}
typedef struct {
    int ready_fd, polls;
} sig_state;
static int signal_cancel(void *u) {
    sig_state *s = u;
    if (++s->polls == 3 && write(s->ready_fd, "r", 1) != 1) return 1; /* 2 frames written: tell the parent */
    return got_signal;
}

static void test_signal(void) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    char old[1024], pat[1024];
    radial_video one = make_video(1, 8, 8, 0, 16);
    CHECK_OK(radial_video_write(in_dir(old, sizeof old, "sig_002.png"), &one, NULL));
    blob older = read_all(old);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_term;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        radial_video v = make_video(400, 96, 96, 1, 17); /* about 2 s to write: cancelled long before */
        sig_state s = {fds[1], 0};
        radial_write_params w = radial_default_write_params();
        w.cancel = signal_cancel;
        w.user_data = &s;
        radial_status st = radial_video_write(in_dir(pat, sizeof pat, "sig_%03d.png"), &v, &w);
        printf("  child after SIGTERM (%d polls): %s\n", s.polls, st == RADIAL_OK ? "completed" : radial_last_error());
        fflush(stdout);
        _exit(st == RADIAL_ERR_CANCELLED && s.polls < 400 ? 0 : 1);
    }
    close(fds[1]);
    char c;
    CHECK(read(fds[0], &c, 1) == 1);
    CHECK(kill(pid, SIGTERM) == 0);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(fds[0]);
    CHECK(same_file(old, older));
    int temps, n = count_entries(&temps);
    CHECK(n == 1 && temps == 0); /* sig_002.png, the older file, alone */
    unlink(old);
    free(older.data);
    free(one.data);
}

/* PNG text chunks read back with libpng: key (Latin-1 bytes), text, and the chunk type. */
typedef struct {
    const char *key_latin1, *text;
    int compression;
} want_text;

static void check_png_text(const char *path, const want_text *want, int n_want) {
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) return;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        CHECK(!"libpng failed reading the text chunks");
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        return;
    }
    png_init_io(png, f);
    png_read_info(png, info);
    png_textp text;
    int n = 0;
    png_get_text(png, info, &text, &n);
    CHECK(n == n_want);
    for (int i = 0; i < n_want; i++) {
        int found = 0;
        for (int k = 0; k < n; k++) {
            if (strcmp(text[k].key, want[i].key_latin1)) continue;
            found = 1;
            CHECK(strcmp(text[k].text, want[i].text) == 0);
            CHECK(text[k].compression == want[i].compression);
        }
        if (!found) fprintf(stderr, "%s: no text chunk '%s'\n", path, want[i].key_latin1);
        CHECK(found);
    }
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
}

static const char *meta[] = {"prompt",   "一只猫在草地上走，写实风格", "seed", "42", "Software", "radial 0.1.0",
                             "Grüße", "café au lait"};
enum { N_META = 4 };

static void test_png_meta(void) {
    char path[1024];
    const want_text want[N_META] = {{"prompt", meta[1], PNG_ITXT_COMPRESSION_NONE},
                                    {"seed", "42", PNG_TEXT_COMPRESSION_NONE},
                                    {"Software", "radial 0.1.0", PNG_TEXT_COMPRESSION_NONE},
                                    {"Gr\xfc\xdf" "e", "café au lait", PNG_ITXT_COMPRESSION_NONE}};
    radial_write_params w = radial_default_write_params();
    w.meta = meta;
    w.n_meta = N_META;
    radial_video one = make_video(1, 16, 16, 0, 18), three = make_video(3, 16, 16, 0, 19);
    CHECK_OK(radial_video_write(in_dir(path, sizeof path, "meta.png"), &one, &w));
    check_png_text(path, want, N_META);
    unlink(path);
    CHECK_OK(radial_video_write(in_dir(path, sizeof path, "meta_%02d.png"), &three, &w));
    for (int t = 0; t < 3; t++) {
        snprintf(path, sizeof path, "%s/meta_%02d.png", dir, t);
        check_png_text(path, want, N_META);
        unlink(path);
    }
    /* An invalid keyword is refused before any file exists. */
    const char *bad[] = {"提示", "x"};
    w.meta = bad;
    w.n_meta = 1;
    CHECK(radial_video_write(in_dir(path, sizeof path, "bad.png"), &one, &w) == RADIAL_ERR_INVALID_ARG);
    CHECK(strstr(radial_last_error(), "PNG text keyword") != NULL);
    CHECK(access(path, F_OK) != 0);
    /* Y4M: meta accepted and not stored (the header is the usual one). */
    w.meta = meta;
    w.n_meta = N_META;
    CHECK_OK(radial_video_write(in_dir(path, sizeof path, "meta.y4m"), &three, &w));
    blob b = read_all(path);
    const char *header = "YUV4MPEG2 W16 H16 F16:1 Ip A1:1 C444 XCOLORRANGE=FULL\nFRAME\n";
    CHECK(b.n > strlen(header) && !memcmp(b.data, header, strlen(header)));
    free(b.data);
    unlink(path);
    free(one.data);
    free(three.data);
}

static void test_mp4_meta(void) {
#ifndef RAD_HAVE_FFMPEG
    printf("  SKIPPED the MP4 metadata checks: built without FFmpeg\n");
#else
    char path[1024];
    in_dir(path, sizeof path, "meta.mp4");
    radial_write_params w = radial_default_write_params();
    w.meta = meta;
    w.n_meta = N_META;
    radial_video v = make_video(3, 16, 16, 0, 20);
    CHECK_OK(radial_video_write(path, &v, &w));
    AVFormatContext *ic = NULL;
    CHECK(avformat_open_input(&ic, path, NULL, NULL) == 0);
    if (ic) {
        for (int i = 0; i < N_META; i++) {
            const AVDictionaryEntry *e = av_dict_get(ic->metadata, meta[2 * i], NULL, AV_DICT_MATCH_CASE);
            if (!e) fprintf(stderr, "mp4: no tag '%s'\n", meta[2 * i]);
            CHECK(e && !strcmp(e->value, meta[2 * i + 1]));
        }
        const AVDictionaryEntry *e = av_dict_get(ic->metadata, "comment", NULL, 0);
        CHECK(e && strstr(e->value, "seed=42") && strstr(e->value, meta[1]));
        if (e) printf("  mp4 comment tag: %s\n", e->value);
        avformat_close_input(&ic);
    }
    if (system("command -v ffprobe >/dev/null 2>&1") == 0) {
        char cmd[1400], out[1024] = {0};
        snprintf(cmd, sizeof cmd,
                 "ffprobe -v error -show_entries format_tags=prompt -of default=noprint_wrappers=1:nokey=1 '%s'", path);
        FILE *p = popen(cmd, "r");
        CHECK(p && fgets(out, sizeof out, p));
        if (p) CHECK(pclose(p) == 0);
        out[strcspn(out, "\n")] = 0;
        printf("  ffprobe format_tags prompt: %s\n", out);
        CHECK(!strcmp(out, meta[1]));
    } else {
        printf("  ffprobe not installed: MP4 tags read back with libavformat only\n");
    }
    unlink(path);
    /* A relative path with a ':' (FFmpeg would take "a:" for a protocol without the "file:" prefix). */
    char cwd[1024];
    CHECK(getcwd(cwd, sizeof cwd) != NULL && chdir(dir) == 0);
    CHECK_OK(radial_video_write("a:b.mp4", &v, NULL));
    CHECK(access("a:b.mp4", F_OK) == 0);
    unlink("a:b.mp4");
    CHECK(chdir(cwd) == 0);
    free(v.data);
#endif
}

int main(void) {
    const char *tmpdir = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/rad_outwrite_XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_size_limit_single("big.y4m", 8, 128, 128, 65536);
    test_size_limit_single("big.png", 1, 256, 256, 65536);
#ifdef RAD_HAVE_FFMPEG
    test_size_limit_single("big.mp4", 8, 256, 256, 16384);
#endif
    test_size_limit_sequence();
    test_cancel();
    test_no_overwrite();
    test_replace_rules();
    test_concurrent();
    test_signal();
    test_png_meta();
    test_mp4_meta();
    int temps;
    CHECK(count_entries(&temps) == 0);
    clean_dir();
    rmdir(dir);
    TEST_MAIN_END();
}
