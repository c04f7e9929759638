/* Shared by the bench targets: the facts every recorded result carries (machine, date, commit, command) and
 * appending a result section to a Markdown file such as bench/RESULTS.md. */
#ifndef RAD_BENCH_RECORD_H
#define RAD_BENCH_RECORD_H
#include <stdio.h>

typedef struct bench_env {
    char date[32];     /* UTC, ISO 8601 */
    char commit[64];   /* git describe of the tree the binary was built from (cmake/RadialCommit.cmake), or "unknown" */
    char cpu[128];     /* /proc/cpuinfo model name */
    char command[1024];
} bench_env;

void bench_env_get(bench_env *e, int argc, char **argv);
/* Appends "### title" + env lines + body to path. Returns 0 on success (prints the error otherwise). */
int bench_record(const char *path, const char *title, const bench_env *e, const char *device, const char *body);
/* Median of n doubles (sorts in place). */
double bench_median(double *v, int n);
#endif
