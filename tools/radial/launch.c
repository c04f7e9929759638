/* The processes of a multi-GPU radial generate (launch.h). */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define ID_HEX (2 * RAD_NCCL_ID_BYTES)
#define CHILD_FD 3         /* where a started rank finds its pipe */
#define MAX_WORLD 64       /* RAD_MAX_RANKS (pipeline/parallel.h) */
#define PIPE_ID_WAIT_S 120 /* a started rank waits this long for the id on its pipe */
#define STOP_GRACE_S 5.0   /* after being told to stop, a rank has this long before SIGKILL */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------------------------ who am I */

/* An environment variable that must be an integer in [lo, hi] when set: false after saying what is wrong. */
static bool env_int(const char *cmd, const char *name, int lo, int hi, int *out, bool *set) {
    const char *v = getenv(name);
    *set = v && *v;
    if (!*set) return true;
    char *end;
    errno = 0;
    const long x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi) {
        fprintf(stderr, "radial %s: %s='%s': expected an integer from %d to %d\n", cmd, name, v, lo, hi);
        return false;
    }
    *out = (int)x;
    return true;
}

bool launch_read_env(const char *cmd, int gpus, bool gpus_given, launch_rank *out) {
    *out = (launch_rank){.rank = 0, .world = gpus, .local_rank = 0, .from_env = false, .ctl_fd = -1};
    bool has_rank, has_world, has_local, has_fd;
    int rank = 0, world = 0, local = 0, fd = -1;
    if (!env_int(cmd, "RADIAL_RANK", 0, MAX_WORLD - 1, &rank, &has_rank) ||
        !env_int(cmd, "RADIAL_WORLD_SIZE", 1, MAX_WORLD, &world, &has_world) ||
        !env_int(cmd, "RADIAL_LOCAL_RANK", 0, 1023, &local, &has_local) ||
        !env_int(cmd, "RADIAL_NCCL_ID_FD", 0, 1 << 20, &fd, &has_fd))
        return false;
    if (!has_rank && !has_world) {
        if (has_local || has_fd) {
            fprintf(stderr, "radial %s: RADIAL_LOCAL_RANK or RADIAL_NCCL_ID_FD is set without RADIAL_RANK and "
                            "RADIAL_WORLD_SIZE\n", cmd);
            return false;
        }
        return true;
    }
    if (!has_rank || !has_world || rank >= world) {
        fprintf(stderr, "radial %s: a rank needs both RADIAL_RANK and RADIAL_WORLD_SIZE, RADIAL_RANK below it (found %s "
                        "and %s)\n", cmd, has_rank ? getenv("RADIAL_RANK") : "none",
                has_world ? getenv("RADIAL_WORLD_SIZE") : "none");
        return false;
    }
    if (gpus_given && gpus != world) {
        fprintf(stderr, "radial %s: --gpus %d, but RADIAL_WORLD_SIZE is %d: a launcher's rank takes its count from "
                        "the environment (leave --gpus out)\n", cmd, gpus, world);
        return false;
    }
    *out = (launch_rank){rank, world, has_local ? local : rank, true, has_fd ? fd : -1};
    return true;
}

/* -------------------------------------------------------------------------------------------- the id */

void launch_id_to_hex(const unsigned char id[RAD_NCCL_ID_BYTES], char *buf) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < RAD_NCCL_ID_BYTES; i++) buf[2 * i] = digits[id[i] >> 4], buf[2 * i + 1] = digits[id[i] & 15];
    buf[ID_HEX] = '\0';
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

bool launch_id_from_hex(const char *text, unsigned char id[RAD_NCCL_ID_BYTES]) {
    if (strlen(text) != ID_HEX) return false;
    for (int i = 0; i < RAD_NCCL_ID_BYTES; i++) {
        const int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        id[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* Reads the id line (256 digits and '\n') from our rank 0's pipe, waiting at most PIPE_ID_WAIT_S. */
static rad_status id_from_pipe(const launch_rank *lr, unsigned char *id) {
    char line[ID_HEX + 2];
    size_t got = 0;
    const double end = now_s() + PIPE_ID_WAIT_S;
    while (got < ID_HEX + 1) {
        struct pollfd p = {lr->ctl_fd, POLLIN, 0};
        const int left_ms = (int)((end - now_s()) * 1000);
        const int r = left_ms > 0 ? poll(&p, 1, left_ms) : 0;
        if (r < 0 && errno == EINTR) continue;
        if (r == 0)
            return rad_err(RADIAL_ERR_BACKEND, "no NCCL id from rank 0 on fd %d (RADIAL_NCCL_ID_FD) within %d s",
                           lr->ctl_fd, PIPE_ID_WAIT_S);
        const ssize_t n = r > 0 ? read(lr->ctl_fd, line + got, ID_HEX + 1 - got) : -1;
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return rad_err(RADIAL_ERR_BACKEND, "the pipe from rank 0 (fd %d, RADIAL_NCCL_ID_FD) %s before the NCCL id",
                           lr->ctl_fd, n == 0 ? "ended" : strerror(errno));
        got += (size_t)n;
    }
    line[ID_HEX] = '\0'; /* was the '\n' */
    if (!launch_id_from_hex(line, id))
        return rad_err(RADIAL_ERR_BACKEND, "what rank 0 sent on fd %d (RADIAL_NCCL_ID_FD) is not an NCCL id", lr->ctl_fd);
    return RAD_OK;
}

/* Rank 0 of RADIAL_NCCL_ID_FILE: a new id, written to a temporary file beside path and renamed over it (the
 * others never read a partial one), readable by this user alone. */
static rad_status id_file_write(const char *path, unsigned char *id) {
    RAD_TRY(rad_group_nccl_id(id));
    char hex[ID_HEX + 2], tmp[4200];
    launch_id_to_hex(id, hex);
    strcat(hex, "\n");
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return rad_err(RADIAL_ERR_INVALID_ARG, "RADIAL_NCCL_ID_FILE: the path is too long");
    const int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return rad_err(RADIAL_ERR_IO, "RADIAL_NCCL_ID_FILE %s: cannot create %s: %s", path, tmp, strerror(errno));
    const bool ok = write(fd, hex, ID_HEX + 1) == ID_HEX + 1 && fsync(fd) == 0;
    const int e = errno;
    if (close(fd) != 0 || !ok || rename(tmp, path) != 0) {
        const int e2 = ok ? errno : e;
        unlink(tmp);
        return rad_err(RADIAL_ERR_IO, "RADIAL_NCCL_ID_FILE %s: cannot write it: %s", path, strerror(e2));
    }
    return RAD_OK;
}

/* The other ranks of RADIAL_NCCL_ID_FILE: wait for the file, read it. */
static rad_status id_file_read(const char *path, unsigned char *id) {
    int wait_s = 300;
    bool set;
    if (!env_int("generate", "RADIAL_NCCL_ID_TIMEOUT", 1, 86400, &wait_s, &set))
        return rad_err(RADIAL_ERR_INVALID_ARG, "RADIAL_NCCL_ID_TIMEOUT: expected seconds from 1 to 86400");
    const double end = now_s() + wait_s;
    for (;;) {
        FILE *f = fopen(path, "rb");
        if (f) {
            char line[ID_HEX + 8] = {0};
            const size_t n = fread(line, 1, sizeof line - 1, f);
            fclose(f);
            if (n == ID_HEX + 1 && line[ID_HEX] == '\n') {
                line[ID_HEX] = '\0';
                if (launch_id_from_hex(line, id)) return RAD_OK;
            }
            return rad_err(RADIAL_ERR_FORMAT, "RADIAL_NCCL_ID_FILE %s does not hold an NCCL id (256 hexadecimal digits "
                           "and a newline)", path);
        }
        if (errno != ENOENT)
            return rad_err(RADIAL_ERR_IO, "RADIAL_NCCL_ID_FILE %s: %s", path, strerror(errno));
        if (now_s() > end)
            return rad_err(RADIAL_ERR_IO, "RADIAL_NCCL_ID_FILE %s did not appear within %d s (RADIAL_NCCL_ID_TIMEOUT): "
                           "has rank 0 started?", path, wait_s);
        sleep_ms(100);
    }
}

rad_status launch_get_id(const launch_rank *lr, unsigned char id[RAD_NCCL_ID_BYTES]) {
    if (lr->ctl_fd >= 0) return id_from_pipe(lr, id);
    const char *hex = getenv("RADIAL_NCCL_ID"), *file = getenv("RADIAL_NCCL_ID_FILE"), *comm = getenv("NCCL_COMM_ID");
    if (hex && *hex) {
        if (!launch_id_from_hex(hex, id))
            return rad_err(RADIAL_ERR_INVALID_ARG, "RADIAL_NCCL_ID: expected %d hexadecimal digits (an NCCL unique id), "
                           "found %zu characters", ID_HEX, strlen(hex));
        return RAD_OK;
    }
    if (file && *file) return lr->rank == 0 ? id_file_write(file, id) : id_file_read(file, id);
    if (comm && *comm) return rad_group_nccl_id(id); /* NCCL derives it from the address: the same on every rank */
    return rad_err(RADIAL_ERR_INVALID_ARG,
                   "no way to reach the other ranks (RADIAL_RANK %d, RADIAL_WORLD_SIZE %d): set NCCL_COMM_ID=<rank 0's "
                   "host>:<free port> for every rank (or RADIAL_NCCL_ID_FILE=<a path on a shared filesystem, unique to "
                   "the run>, or RADIAL_NCCL_ID=<the id in hexadecimal>)",
                   lr->rank, lr->world);
}

/* ------------------------------------------------------------------------------------- rank 0's ranks */

struct launch_children {
    int n; /* ranks 1 .. n */
    pid_t pid[MAX_WORLD];
    int fd[MAX_WORLD];     /* the write end of each rank's pipe; -1 once closed */
    int status[MAX_WORLD]; /* waitpid status, valid when reaped */
    bool reaped[MAX_WORLD];
    pthread_mutex_t mu;
    bool armed, stop, thread;
    pthread_t mon;
    void (*on_fail)(const char *msg, void *user);
    void *user;
};

/* How rank r ended, in words. */
static void describe(const launch_children *lc, int r, char *buf, size_t size) {
    const int st = lc->status[r];
    if (!lc->reaped[r])
        snprintf(buf, size, "rank %d (pid %ld) did not end", r, (long)lc->pid[r]);
    else if (WIFEXITED(st))
        snprintf(buf, size, "rank %d (pid %ld) exited with status %d", r, (long)lc->pid[r], WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, size, "rank %d (pid %ld) was killed by signal %d (%s)", r, (long)lc->pid[r], WTERMSIG(st),
                 strsignal(WTERMSIG(st)));
    else
        snprintf(buf, size, "rank %d (pid %ld) ended with wait status %d", r, (long)lc->pid[r], st);
}

static bool failed(const launch_children *lc, int r) {
    return lc->reaped[r] && !(WIFEXITED(lc->status[r]) && WEXITSTATUS(lc->status[r]) == 0);
}

/* Reaps what has ended (no waiting). Only one thread reaps at a time: the watch, or launch_finish after it. */
static void reap(launch_children *lc) {
    for (int r = 1; r <= lc->n; r++) {
        if (lc->reaped[r]) continue;
        int st;
        const pid_t p = waitpid(lc->pid[r], &st, WNOHANG);
        if (p == lc->pid[r] || (p < 0 && errno == ECHILD)) lc->reaped[r] = true, lc->status[r] = p < 0 ? 0 : st;
    }
}

static bool all_reaped(const launch_children *lc) {
    for (int r = 1; r <= lc->n; r++)
        if (!lc->reaped[r]) return false;
    return true;
}

/* Tells every rank still running to stop (pipe closed: its watch thread ends it; SIGTERM for one not yet
 * watching), waits up to grace_s, then SIGKILLs and reaps the rest. */
static void stop_all(launch_children *lc, double grace_s) {
    for (int r = 1; r <= lc->n; r++) {
        if (lc->fd[r] >= 0) close(lc->fd[r]), lc->fd[r] = -1;
        if (!lc->reaped[r]) kill(lc->pid[r], SIGTERM);
    }
    const double end = now_s() + grace_s;
    for (reap(lc); !all_reaped(lc) && now_s() < end; reap(lc)) sleep_ms(20);
    for (int r = 1; r <= lc->n; r++)
        if (!lc->reaped[r]) kill(lc->pid[r], SIGKILL);
    for (int r = 1; r <= lc->n; r++)
        if (!lc->reaped[r] && waitpid(lc->pid[r], &lc->status[r], 0) == lc->pid[r]) lc->reaped[r] = true;
}

static void *watch(void *arg) {
    launch_children *lc = arg;
    for (;;) {
        pthread_mutex_lock(&lc->mu);
        const bool stop = lc->stop;
        pthread_mutex_unlock(&lc->mu);
        if (stop) return NULL;
        reap(lc);
        for (int r = 1; r <= lc->n; r++) {
            if (!failed(lc, r)) continue;
            pthread_mutex_lock(&lc->mu);
            const bool armed = lc->armed; /* once decided here, launch_disarm waits for the end of the process */
            pthread_mutex_unlock(&lc->mu);
            if (!armed) return NULL;
            char msg[256];
            describe(lc, r, msg, sizeof msg);
            if (lc->on_fail) lc->on_fail(msg, lc->user);
            stop_all(lc, STOP_GRACE_S);
            _exit(1); /* rank 0 may be inside NCCL, waiting for the dead rank: nothing else would end it */
        }
        sleep_ms(50);
    }
}

void launch_arm(launch_children *lc, void (*on_fail)(const char *msg, void *user), void *user) {
    lc->on_fail = on_fail, lc->user = user;
    lc->armed = true, lc->stop = false;
    lc->thread = pthread_create(&lc->mon, NULL, watch, lc) == 0;
    if (!lc->thread) fprintf(stderr, "radial generate: warning: cannot watch the other ranks (no thread)\n");
}

void launch_disarm(launch_children *lc) {
    pthread_mutex_lock(&lc->mu);
    lc->armed = false, lc->stop = true;
    pthread_mutex_unlock(&lc->mu);
    if (lc->thread) pthread_join(lc->mon, NULL);
    lc->thread = false;
}

int launch_finish(launch_children *lc, bool ok, double wait_s, char *msg, size_t msg_size) {
    if (ok) {
        const double end = now_s() + wait_s;
        for (reap(lc); !all_reaped(lc) && now_s() < end; reap(lc)) sleep_ms(20);
    }
    stop_all(lc, STOP_GRACE_S); /* what is left: told to stop, then killed */
    int bad = 0;
    size_t k = 0;
    if (msg && msg_size) msg[0] = '\0';
    for (int r = 1; r <= lc->n; r++) {
        if (!failed(lc, r) && lc->reaped[r]) continue;
        bad++;
        if (msg && k + 2 < msg_size) {
            char one[256];
            describe(lc, r, one, sizeof one);
            k += (size_t)snprintf(msg + k, msg_size - k, "%s%s", k ? "; " : "", one);
        }
    }
    pthread_mutex_destroy(&lc->mu);
    free(lc);
    return bad;
}

/* The environment of rank r: this process's without our variables, then them. The strings are malloc'ed. */
static char **child_env(int r, int world) {
    static const char *const ours[] = {"RADIAL_RANK=", "RADIAL_WORLD_SIZE=", "RADIAL_LOCAL_RANK=", "RADIAL_NCCL_ID_FD=",
                                       "RADIAL_NCCL_ID=", "RADIAL_NCCL_ID_FILE="};
    size_t n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + 5, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool skip = false;
        for (size_t j = 0; j < sizeof ours / sizeof ours[0] && !skip; j++) skip = !strncmp(environ[i], ours[j], strlen(ours[j]));
        if (!skip) env[k++] = environ[i];
    }
    char *mine[4];
    mine[0] = malloc(32), mine[1] = malloc(32), mine[2] = malloc(32), mine[3] = malloc(32);
    for (int i = 0; i < 4; i++)
        if (!mine[i]) {
            for (int j = 0; j < 4; j++) free(mine[j]);
            free(env);
            return NULL;
        }
    snprintf(mine[0], 32, "RADIAL_RANK=%d", r);
    snprintf(mine[1], 32, "RADIAL_WORLD_SIZE=%d", world);
    snprintf(mine[2], 32, "RADIAL_LOCAL_RANK=%d", r);
    snprintf(mine[3], 32, "RADIAL_NCCL_ID_FD=%d", CHILD_FD);
    for (int i = 0; i < 4; i++) env[k++] = mine[i];
    env[k] = NULL;
    return env;
}

static void free_env(char **env) {
    if (!env) return;
    size_t n = 0;
    while (env[n]) n++;
    for (size_t i = n - 4; i < n; i++) free(env[i]); /* ours are the last four */
    free(env);
}

rad_status launch_spawn(char *const *argv, int world, const unsigned char id[RAD_NCCL_ID_BYTES], launch_children **out) {
    *out = NULL;
    if (world < 2 || world > MAX_WORLD) return rad_err(RADIAL_ERR_INVALID_ARG, "launch: %d ranks (2 to %d)", world, MAX_WORLD);
    launch_children *lc = calloc(1, sizeof *lc);
    if (!lc) return rad_err(RADIAL_ERR_NOMEM, "launch: out of memory");
    pthread_mutex_init(&lc->mu, NULL);
    for (int r = 0; r < MAX_WORLD; r++) lc->fd[r] = -1;
    signal(SIGPIPE, SIG_IGN);
    char line[ID_HEX + 2];
    launch_id_to_hex(id, line);
    strcat(line, "\n");
    rad_status s = RAD_OK;
    for (int r = 1; r < world && s == RAD_OK; r++) {
        int p[2];
        char **env = child_env(r, world);
        if (!env) {
            s = rad_err(RADIAL_ERR_NOMEM, "launch: out of memory");
            break;
        }
        /* close-on-exec: no rank inherits another's pipe, so each sees its end when rank 0 goes */
        if (pipe(p) != 0 || fcntl(p[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(p[1], F_SETFD, FD_CLOEXEC) != 0) {
            s = rad_err(RADIAL_ERR_IO, "launch: cannot make a pipe for rank %d: %s", r, strerror(errno));
            free_env(env);
            break;
        }
        fflush(NULL); /* nothing buffered is written twice */
        const pid_t pid = fork();
        if (pid == 0) { /* the child: only async-signal-safe calls until exec */
            if (p[0] == CHILD_FD ? fcntl(CHILD_FD, F_SETFD, 0) != 0 : dup2(p[0], CHILD_FD) != CHILD_FD) _exit(127);
            execve("/proc/self/exe", argv, env);
            static const char m[] = "radial generate: cannot start a rank: execve(/proc/self/exe) failed\n";
            if (write(2, m, sizeof m - 1) < 0) _exit(127);
            _exit(127);
        }
        const int e = errno;
        close(p[0]);
        free_env(env);
        if (pid < 0) {
            close(p[1]);
            s = rad_err(RADIAL_ERR_IO, "launch: cannot start rank %d: fork failed: %s", r, strerror(e));
            break;
        }
        lc->n = r, lc->pid[r] = pid, lc->fd[r] = p[1];
        if (write(p[1], line, ID_HEX + 1) != ID_HEX + 1) /* 257 bytes: one atomic write into an empty pipe */
            s = rad_err(RADIAL_ERR_IO, "launch: cannot send the NCCL id to rank %d (pid %ld): %s", r, (long)pid,
                        strerror(errno));
    }
    if (s != RAD_OK) {
        if (lc->n) launch_finish(lc, false, 0, NULL, 0);
        else pthread_mutex_destroy(&lc->mu), free(lc);
        return s;
    }
    *out = lc;
    return RAD_OK;
}

/* ---------------------------------------------------------------------------------- a started rank */

static void *watch_parent(void *arg) {
    const launch_rank *lr = arg;
    char buf[64];
    for (;;) {
        const ssize_t n = read(lr->ctl_fd, buf, sizeof buf);
        if (n > 0 || (n < 0 && errno == EINTR)) continue;
        char m[160];
        const int k = snprintf(m, sizeof m, "radial generate: rank %d: rank 0 has ended or stopped the run; stopping\n",
                               lr->rank);
        if (write(2, m, (size_t)k) < 0) _exit(1);
        _exit(1); /* this rank may be inside NCCL, waiting for rank 0: nothing else would end it */
    }
}

void launch_watch_parent(const launch_rank *lr) {
    static launch_rank copy; /* the thread outlives the caller's frame */
    if (lr->ctl_fd < 0) return;
    copy = *lr;
    pthread_t t;
    if (pthread_create(&t, NULL, watch_parent, &copy) == 0) pthread_detach(t);
    else fprintf(stderr, "radial generate: rank %d: warning: cannot watch rank 0 (no thread)\n", lr->rank);
}
