/* The processes of a multi-GPU `radial generate` (issue 12): which rank this process is, how it gets the NCCL
 * unique id, and, for `--gpus N` on one machine, rank 0 starting the other ranks as copies of itself, watching
 * them and stopping them. docs/multi-gpu.md is the user's side of this.
 *
 * A rank is told who it is by the environment: RADIAL_RANK, RADIAL_WORLD_SIZE and RADIAL_LOCAL_RANK (the GPU
 * index on its machine; default RADIAL_RANK). `--gpus N` without them makes this process rank 0 of N, which
 * starts ranks 1..N-1 with /proc/self/exe and the same arguments, those variables set, and the NCCL id on a pipe
 * (fd 3, RADIAL_NCCL_ID_FD=3: no file, nothing another user can read). The pipe stays open for the run: a rank
 * whose pipe reaches its end (rank 0 died or gave up) stops at once; rank 0 reaps its ranks from a thread and
 * stops the run when one of them fails (launch_arm). An external launcher (torchrun, mpirun, srun) sets the
 * variables itself and passes the id one of three ways (launch_get_id). */
#ifndef RAD_CLI_LAUNCH_H
#define RAD_CLI_LAUNCH_H
#include <stdbool.h>
#include <stddef.h>

#include "backend/group.h"
#include "base/status.h"

typedef struct launch_rank {
    int rank, world, local_rank;
    bool from_env; /* RADIAL_RANK was set: a rank started by a launcher (ours or another) */
    int ctl_fd;    /* a rank started by our --gpus: the pipe from rank 0 (RADIAL_NCCL_ID_FD); -1 otherwise */
} launch_rank;

/* Who this process is: from RADIAL_RANK, RADIAL_WORLD_SIZE, RADIAL_LOCAL_RANK and RADIAL_NCCL_ID_FD when set
 * (gpus_given: --gpus was on the command line and must then equal the world size), else rank 0 of `gpus`.
 * false after printing what is wrong ("radial <cmd>: ..."; the caller exits 2). */
bool launch_read_env(const char *cmd, int gpus, bool gpus_given, launch_rank *out);

/* The NCCL unique id of this run, for rank lr (not rank 0 of our own --gpus, which makes it: rad_group_nccl_id):
 * 1. our --gpus: read from the pipe (RADIAL_NCCL_ID_FD), with a timeout;
 * 2. RADIAL_NCCL_ID: the id as 256 hexadecimal digits (for a driver that made it and stays alive while the
 *    ranks join: NCCL's bootstrap root runs in the process that called ncclGetUniqueId);
 * 3. RADIAL_NCCL_ID_FILE: rank 0 makes the id and writes it there (mode 0600, atomically); the others wait for
 *    the file (RADIAL_NCCL_ID_TIMEOUT seconds, default 300) and read it: a path on a shared filesystem that is
 *    unique to the run (a file left by an earlier run would be read as this run's);
 * 4. NCCL_COMM_ID=<rank 0's host>:<port>: NCCL's own way; every rank calls ncclGetUniqueId, which derives the id
 *    from the address, and rank 0 hosts the bootstrap root during its ncclCommInitRank.
 * Otherwise an error that says these. */
rad_status launch_get_id(const launch_rank *lr, unsigned char id[RAD_NCCL_ID_BYTES]);

/* The id as 256 lowercase hexadecimal digits and a NUL (buf of 2 * RAD_NCCL_ID_BYTES + 1), and back (false when
 * text is not exactly that many digits). */
void launch_id_to_hex(const unsigned char id[RAD_NCCL_ID_BYTES], char *buf);
bool launch_id_from_hex(const char *text, unsigned char id[RAD_NCCL_ID_BYTES]);

typedef struct launch_children launch_children;

/* Rank 0 of `world`: starts ranks 1 .. world-1 as /proc/self/exe with argv (NULL-terminated; argv[0] is only a
 * name), the environment of this process plus RADIAL_RANK, RADIAL_WORLD_SIZE, RADIAL_LOCAL_RANK (= the rank) and
 * RADIAL_NCCL_ID_FD=3, and the id written on that pipe. SIGPIPE is ignored from here on (a rank that died must
 * not kill rank 0 through its pipe). On failure the ranks started so far are stopped. */
rad_status launch_spawn(char *const *argv, int world, const unsigned char id[RAD_NCCL_ID_BYTES], launch_children **out);

/* From now on a rank that exits with a nonzero status or by a signal stops the run: a thread reaps the ranks;
 * on such an exit it calls on_fail(message, user) (message: "rank 1 (pid 123) exited with status 1"), stops the
 * other ranks and ends this process with _exit(1), since rank 0 may be waiting for the dead rank inside NCCL. */
void launch_arm(launch_children *lc, void (*on_fail)(const char *msg, void *user), void *user);
/* Ends that watch (joins its thread); the ranks keep running. */
void launch_disarm(launch_children *lc);

/* After launch_disarm: ok, the ranks are given wait_s seconds to finish by themselves; !ok (rank 0 failed), they
 * are told to stop at once (their pipes closed, SIGTERM). Either way any left after that get SIGKILL. Returns the
 * number of ranks that did not exit with status 0, and in msg (may be NULL) how each ended. Frees lc. */
int launch_finish(launch_children *lc, bool ok, double wait_s, char *msg, size_t msg_size);

/* A rank started by our --gpus (lr->ctl_fd >= 0; no-op otherwise): a thread waits on the pipe from rank 0, and
 * when it ends (rank 0 died, or stopped the run) says so on stderr and ends this process with _exit(1). */
void launch_watch_parent(const launch_rank *lr);
#endif
