#include "bench_record.h"

#include "rad_commit.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void bench_env_get(bench_env *e, int argc, char **argv) {
    time_t now = time(NULL);
    strftime(e->date, sizeof e->date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    snprintf(e->commit, sizeof e->commit, "%s", RAD_BUILD_COMMIT); /* the binary's, from the build */
    strcpy(e->cpu, "unknown");
    FILE *c = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (c && fgets(line, sizeof line, c)) {
        if (!strncmp(line, "model name", 10)) {
            char *v = strchr(line, ':');
            if (v) {
                snprintf(e->cpu, sizeof e->cpu, "%s", v + 2);
                e->cpu[strcspn(e->cpu, "\n")] = '\0';
            }
            break;
        }
    }
    if (c) fclose(c);
    size_t n = 0;
    e->command[0] = '\0';
    for (int i = -1; i < argc && n + 2 < sizeof e->command; i++) {
        const char *a = i < 0 ? "radial bench" : argv[i];
        int w = snprintf(e->command + n, sizeof e->command - n, "%s%s", i < 0 ? "" : " ", a);
        if (w < 0) break;
        n += (size_t)w;
    }
}

int bench_record(const char *path, const char *title, const bench_env *e, const char *device, const char *body) {
    FILE *f = fopen(path, "a");
    if (!f) {
        perror(path);
        return 1;
    }
    fprintf(f, "\n### %s\n\n- date: %s\n- commit: %s\n- device: %s\n- command: `%s`\n\n%s\n", title, e->date, e->commit,
            device, e->command, body);
    int bad = ferror(f);
    if (fclose(f) || bad) {
        perror(path);
        return 1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n) {
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
