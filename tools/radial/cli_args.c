#include "cli_args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cli_int(const char *cmd, const char *flag, const char *val, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (errno || end == val || *end) {
        fprintf(stderr, "radial %s: %s: '%s' is not an integer\n", cmd, flag, val);
        return false;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "radial %s: %s: %lld is out of range [%lld, %lld]\n", cmd, flag, v, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_float(const char *cmd, const char *flag, const char *val, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end || !isfinite(v)) {
        fprintf(stderr, "radial %s: %s: '%s' is not a finite number\n", cmd, flag, val);
        return false;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "radial %s: %s: %g is out of range [%g, %g]\n", cmd, flag, v, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_int_list(const char *cmd, const char *flag, const char *val, long long lo, long long hi, long long *out,
                  int max, int *count) {
    char buf[1024];
    if (strlen(val) >= sizeof buf) {
        fprintf(stderr, "radial %s: %s: list too long\n", cmd, flag);
        return false;
    }
    strcpy(buf, val);
    int n = 0;
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == max) {
            fprintf(stderr, "radial %s: %s: more than %d values\n", cmd, flag, max);
            return false;
        }
        if (!cli_int(cmd, flag, tok, lo, hi, &out[n])) return false;
        n++;
    }
    if (n == 0) {
        fprintf(stderr, "radial %s: %s: empty list\n", cmd, flag);
        return false;
    }
    *count = n;
    return true;
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "radial %s: %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}
