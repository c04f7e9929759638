/* The processes of a multi-GPU radial generate (tools/radial/launch.c), on the CPU: this program starts copies of
 * itself as the ranks, as `radial generate --gpus N` does, with no GPU and no NCCL (the id is any 128 bytes).
 * 1. The rank environment (RADIAL_RANK, RADIAL_WORLD_SIZE, RADIAL_LOCAL_RANK) and its refusals; the id in hex;
 *    the id from RADIAL_NCCL_ID and RADIAL_NCCL_ID_FILE; no way to get one is an error naming the ways.
 * 2. Rank 0 starts 3 ranks: each finds its rank, the world size, its local rank and the id (from its pipe).
 * 3. A rank that exits with status 3 while the run is watched: rank 0 (a child process here, since it ends
 *    itself) reports that rank and exits 1, and the other ranks are gone.
 * 4. Rank 0 dies (SIGKILL): its ranks notice their pipe's end and exit 1 within seconds (this process is their
 *    subreaper, so it sees them end).
 * 5. Rank 0 gives up (launch_finish not ok): ranks that watch their pipe end at once; one that ignores SIGTERM
 *    and does not watch is killed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"
#include "test_util.h"

static char g_dir[512];

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------------ a rank (argv: child MODE DIR) */

static void on_term(int sig) { (void)sig; }

static int child_main(const char *mode, const char *dir) {
    launch_rank lr;
    if (!launch_read_env("test", 0, false, &lr)) return 20;
    unsigned char id[RAD_NCCL_ID_BYTES];
    if (launch_get_id(&lr, id) != RAD_OK) {
        fprintf(stderr, "rank %d: %s\n", lr.rank, rad_last_error());
        return 21;
    }
    /* as radial generate: SIGTERM only asks to stop at the next step (a flag), so the pipe's end is what ends a
     * rank that waits; the stubborn one ignores SIGTERM and does not watch its pipe */
    const bool stubborn = !strcmp(mode, "stubborn") && lr.rank == 1;
    signal(SIGTERM, stubborn ? SIG_IGN : on_term);
    if (!stubborn && strcmp(mode, "ok")) launch_watch_parent(&lr);
    char hex[2 * RAD_NCCL_ID_BYTES + 1], path[700];
    launch_id_to_hex(id, hex);
    snprintf(path, sizeof path, "%s/rank%d.txt", dir, lr.rank);
    FILE *f = fopen(path, "w");
    if (!f) return 22;
    fprintf(f, "%d %d %d %ld %s\n", lr.rank, lr.world, lr.local_rank, (long)getpid(), hex);
    fclose(f);
    if (!strcmp(mode, "ok")) return 0;
    if (!strcmp(mode, "fail") && lr.rank == 2) {
        /* fail only once every other rank has written its file: a rank stopped by rank 0 before it wrote one
         * would fail the test, not the launcher (seen in about 2 of 5 runs) */
        for (int r = 1; r < lr.world; r++) {
            snprintf(path, sizeof path, "%s/rank%d.txt", dir, r);
            for (int i = 0; i < 100 && access(path, F_OK) != 0; i++) sleep_ms(100);
        }
        return 3;
    }
    for (int i = 0; i < 300; i++) sleep_ms(100); /* until stopped; 30 s at most */
    return 0;
}

/* ------------------------------------------------------------------------------------------------ rank 0 */

static void fill_id(unsigned char *id) {
    for (int i = 0; i < RAD_NCCL_ID_BYTES; i++) id[i] = (unsigned char)(i * 37 + 11);
}

/* Waits up to 10 s for dir/rank<r>.txt of ranks 1 .. n and reads each one's pid (and checks its line). */
static bool wait_files(int n, int world, const unsigned char *id, long *pids) {
    char want[2 * RAD_NCCL_ID_BYTES + 1];
    launch_id_to_hex(id, want);
    for (int r = 1; r <= n; r++) {
        char path[700];
        snprintf(path, sizeof path, "%s/rank%d.txt", g_dir, r);
        FILE *f = NULL;
        for (int i = 0; i < 100 && !(f = fopen(path, "r")); i++) sleep_ms(100);
        if (!f) {
            fprintf(stderr, "rank %d wrote no %s\n", r, path);
            return false;
        }
        int rank = -1, w = -1, local = -1;
        char hex[2 * RAD_NCCL_ID_BYTES + 8] = {0};
        sleep_ms(20); /* the line is written at once; a rare partial read is retried below */
        int got = fscanf(f, "%d %d %d %ld %260s", &rank, &w, &local, &pids[r], hex);
        fclose(f);
        if (got != 5) {
            sleep_ms(200);
            f = fopen(path, "r");
            got = f ? fscanf(f, "%d %d %d %ld %260s", &rank, &w, &local, &pids[r], hex) : 0;
            if (f) fclose(f);
        }
        CHECK(got == 5 && rank == r && w == world && local == r && !strcmp(hex, want));
    }
    return true;
}

static void clear_files(void) {
    char path[700];
    for (int r = 0; r < 8; r++) snprintf(path, sizeof path, "%s/rank%d.txt", g_dir, r), unlink(path);
    snprintf(path, sizeof path, "%s/fail.txt", g_dir), unlink(path);
}

static bool gone(long pid) { return kill((pid_t)pid, 0) != 0 && errno == ESRCH; }

static void on_fail(const char *msg, void *user) {
    (void)user;
    char path[700];
    snprintf(path, sizeof path, "%s/fail.txt", g_dir);
    FILE *f = fopen(path, "w");
    if (f) fprintf(f, "%s\n", msg), fclose(f);
}

/* Waits for process p up to 30 s; its wait status, or -1. */
static int wait_for(pid_t p) {
    int st;
    for (int i = 0; i < 300; i++) {
        if (waitpid(p, &st, WNOHANG) == p) return st;
        sleep_ms(100);
    }
    kill(p, SIGKILL);
    waitpid(p, &st, 0);
    return -1;
}

static void check_env(void) {
    static const char *const vars[] = {"RADIAL_RANK", "RADIAL_WORLD_SIZE", "RADIAL_LOCAL_RANK", "RADIAL_NCCL_ID_FD",
                                       "RADIAL_NCCL_ID", "RADIAL_NCCL_ID_FILE", "NCCL_COMM_ID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
    launch_rank lr;
    CHECK(launch_read_env("test", 4, true, &lr) && lr.rank == 0 && lr.world == 4 && !lr.from_env && lr.ctl_fd == -1);
    setenv("RADIAL_RANK", "2", 1), setenv("RADIAL_WORLD_SIZE", "4", 1);
    CHECK(launch_read_env("test", 1, false, &lr) && lr.rank == 2 && lr.world == 4 && lr.local_rank == 2 && lr.from_env);
    setenv("RADIAL_LOCAL_RANK", "0", 1); /* another machine's first GPU */
    CHECK(launch_read_env("test", 4, true, &lr) && lr.rank == 2 && lr.local_rank == 0);
    CHECK(!launch_read_env("test", 3, true, &lr)); /* --gpus 3 against 4 */
    setenv("RADIAL_RANK", "4", 1);
    CHECK(!launch_read_env("test", 1, false, &lr)); /* rank outside the world */
    setenv("RADIAL_RANK", "x", 1);
    CHECK(!launch_read_env("test", 1, false, &lr));
    unsetenv("RADIAL_RANK");
    CHECK(!launch_read_env("test", 1, false, &lr)); /* a world without a rank */
    unsetenv("RADIAL_WORLD_SIZE");
    CHECK(!launch_read_env("test", 1, false, &lr)); /* a local rank alone */
    unsetenv("RADIAL_LOCAL_RANK");

    unsigned char id[RAD_NCCL_ID_BYTES], back[RAD_NCCL_ID_BYTES];
    char hex[2 * RAD_NCCL_ID_BYTES + 1];
    fill_id(id);
    launch_id_to_hex(id, hex);
    CHECK(strlen(hex) == 256 && launch_id_from_hex(hex, back) && !memcmp(id, back, sizeof id));
    CHECK(!launch_id_from_hex("00", back));
    hex[7] = 'g';
    CHECK(!launch_id_from_hex(hex, back));
    launch_id_to_hex(id, hex);

    launch_rank r1 = {1, 2, 1, true, -1};
    CHECK_FAILS(launch_get_id(&r1, back)); /* no way given */
    CHECK(strstr(rad_last_error(), "NCCL_COMM_ID") != NULL);
    setenv("RADIAL_NCCL_ID", hex, 1);
    memset(back, 0, sizeof back);
    CHECK_OK(launch_get_id(&r1, back));
    CHECK(!memcmp(id, back, sizeof id));
    setenv("RADIAL_NCCL_ID", "abc", 1);
    CHECK_FAILS(launch_get_id(&r1, back));
    unsetenv("RADIAL_NCCL_ID");
    char path[700];
    snprintf(path, sizeof path, "%s/nccl_id", g_dir);
    unlink(path);
    setenv("RADIAL_NCCL_ID_FILE", path, 1), setenv("RADIAL_NCCL_ID_TIMEOUT", "1", 1);
    CHECK_FAILS(launch_get_id(&r1, back)); /* no file within 1 s */
    rad_test_write_text(g_dir, "nccl_id", "not an id\n");
    CHECK_FAILS(launch_get_id(&r1, back));
    char line[2 * RAD_NCCL_ID_BYTES + 2];
    snprintf(line, sizeof line, "%s\n", hex);
    rad_test_write_text(g_dir, "nccl_id", line);
    memset(back, 0, sizeof back);
    CHECK_OK(launch_get_id(&r1, back));
    CHECK(!memcmp(id, back, sizeof id));
    unsetenv("RADIAL_NCCL_ID_FILE"), unsetenv("RADIAL_NCCL_ID_TIMEOUT");
    unlink(path);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "child")) return child_main(argv[2], argv[3]);
    CHECK(getcwd(g_dir, sizeof g_dir - 64) != NULL);
    check_env();
    unsigned char id[RAD_NCCL_ID_BYTES];
    fill_id(id);
    long pids[8] = {0};
    char msg[1024];

    /* 2. three ranks find who they are and the id */
    clear_files();
    char *ok_argv[] = {"test_launch", "child", "ok", g_dir, NULL};
    launch_children *lc = NULL;
    CHECK_OK(launch_spawn(ok_argv, 4, id, &lc));
    if (lc) {
        launch_arm(lc, on_fail, NULL);
        CHECK(wait_files(3, 4, id, pids));
        launch_disarm(lc);
        CHECK(launch_finish(lc, true, 10, msg, sizeof msg) == 0);
    }
    CHECK_FAILS(launch_spawn(ok_argv, 1, id, &lc));

    /* 3. rank 2 exits with status 3 while watched: rank 0 (process s) says so and exits 1; the others are gone */
    clear_files();
    fflush(stdout); /* the child processes below must not print this process's buffer again */
    pid_t s = fork();
    if (s == 0) {
        char *fail_argv[] = {"test_launch", "child", "fail", g_dir, NULL};
        launch_children *k = NULL;
        if (launch_spawn(fail_argv, 4, id, &k) != RAD_OK) _exit(10);
        launch_arm(k, on_fail, NULL);
        sleep_ms(20000);
        _exit(11); /* not reached: the watch ends this process */
    }
    int st = wait_for(s);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
    CHECK(wait_files(3, 4, id, pids));
    {
        char path[700], text[512] = {0};
        snprintf(path, sizeof path, "%s/fail.txt", g_dir);
        FILE *f = fopen(path, "r");
        CHECK(f != NULL);
        if (f) {
            CHECK(fgets(text, sizeof text, f) != NULL);
            fclose(f);
        }
        CHECK(strstr(text, "rank 2 (pid ") && strstr(text, "exited with status 3"));
        printf("  a failing rank: %s", text);
    }
    CHECK(gone(pids[1]) && gone(pids[3]));

    /* 4. rank 0 dies: its ranks end by themselves (this process adopts them as their subreaper) */
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    clear_files();
    fflush(stdout);
    s = fork();
    if (s == 0) {
        char *sleep_argv[] = {"test_launch", "child", "sleep", g_dir, NULL};
        launch_children *k = NULL;
        if (launch_spawn(sleep_argv, 3, id, &k) != RAD_OK) _exit(10);
        long p[8];
        if (!wait_files(2, 3, id, p)) _exit(12);
        raise(SIGKILL);
    }
    st = wait_for(s);
    CHECK(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    int ended = 0, ended_1 = 0;
    for (int i = 0; i < 100 && ended < 2; i++) { /* within 10 s */
        int cst;
        const pid_t c = waitpid(-1, &cst, WNOHANG);
        if (c > 0) ended++, ended_1 += WIFEXITED(cst) && WEXITSTATUS(cst) == 1;
        else sleep_ms(100);
    }
    CHECK(ended == 2 && ended_1 == 2);
    printf("  rank 0 killed: %d of 2 ranks ended by themselves with status 1\n", ended_1);

    /* 5. rank 0 gives up: a rank watching its pipe ends at once, one ignoring SIGTERM is killed */
    clear_files();
    char *stub_argv[] = {"test_launch", "child", "stubborn", g_dir, NULL};
    lc = NULL;
    CHECK_OK(launch_spawn(stub_argv, 3, id, &lc));
    if (lc) {
        CHECK(wait_files(2, 3, id, pids));
        CHECK(launch_finish(lc, false, 0, msg, sizeof msg) == 2);
        printf("  rank 0 gave up: %s\n", msg);
        CHECK(strstr(msg, "rank 1 (pid ") && strstr(msg, "killed by signal 9"));
        CHECK(strstr(msg, "rank 2 (pid ") && strstr(msg, "exited with status 1"));
    }
    clear_files();
    TEST_MAIN_END();
}
