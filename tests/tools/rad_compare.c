/* rad_compare: compares tensors of an output safetensors file with a golden one; the checker the CLI golden
 * tests share.
 *   rad_compare [--mode rel|maxabs|exact] [--tol X] OUT GOLDEN NAME...
 * NAME is a tensor name, or a prefix ending in '*' that stands for every golden tensor starting with it
 * (x_* = x_000, x_001, ...). Modes:
 *   rel     ‖out − ref‖₂ / ‖ref‖₂ (in double; ‖out − ref‖₂ when ref is all zeros) <= tol
 *   maxabs  max |out − ref| <= tol
 *   exact   every value equal (integers compared as int64, floats as values; tol is ignored)
 * Shapes must match exactly; a NaN or Inf in the output fails. Prints one line per tensor.
 * Exit status: 0 all pass, 1 some comparison failed, 2 usage error or unreadable file. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "io/safetensors.h"

typedef enum { MODE_REL, MODE_MAXABS, MODE_EXACT } cmp_mode;

static bool is_integer(rad_dtype d) {
    return d == RAD_DT_BOOL || d == RAD_DT_U8 || d == RAD_DT_I8 || d == RAD_DT_I16 || d == RAD_DT_U16 ||
           d == RAD_DT_I32 || d == RAD_DT_U32 || d == RAD_DT_I64 || d == RAD_DT_U64;
}

/* Reads a tensor as doubles (exact for every int up to 2^53 and every float type). */
static rad_status load(const rad_st_tensor *t, double **out) {
    size_t n = (size_t)t->numel, bytes;
    *out = NULL;
    if (!rad_mul_size(n ? n : 1, 8, &bytes)) return rad_err(RADIAL_ERR_NOMEM, "tensor '%s' too large", t->name);
    double *d;
    RAD_TRY(rad_alloc((void **)&d, bytes, t->name));
    rad_status st;
    if (is_integer(t->dtype)) {
        int64_t *tmp = (int64_t *)d; /* same size, converted in place */
        st = rad_st_to_i64(t, tmp);
        for (size_t i = 0; st == RAD_OK && i < n; i++) d[i] = (double)tmp[i];
    } else {
        float *tmp;
        st = rad_alloc((void **)&tmp, n ? n * sizeof(float) : 1, t->name);
        if (st == RAD_OK) st = rad_st_to_f32(t, tmp);
        for (size_t i = 0; st == RAD_OK && i < n; i++) d[i] = tmp[i];
        if (tmp) rad_free(tmp);
    }
    if (st != RAD_OK) {
        rad_free(d);
        return st;
    }
    *out = d;
    return RAD_OK;
}

/* Returns 1 on pass, 0 on fail, -1 on a read error. */
static int compare_one(const rad_st_file *out, const rad_st_file *ref, const char *name, cmp_mode mode, double tol) {
    const rad_st_tensor *a = rad_st_find(out, name), *b = rad_st_find(ref, name);
    if (!b) {
        printf("FAIL %-16s missing in golden %s\n", name, rad_st_path(ref));
        return 0;
    }
    if (!a) {
        printf("FAIL %-16s missing in output %s\n", name, rad_st_path(out));
        return 0;
    }
    char sa[160], sb[160];
    rad_shape_str(a->shape, a->ndim, sa, sizeof sa);
    rad_shape_str(b->shape, b->ndim, sb, sizeof sb);
    if (a->ndim != b->ndim || memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0])) {
        printf("FAIL %-16s shape %s, golden %s\n", name, sa, sb);
        return 0;
    }
    if (mode == MODE_EXACT && is_integer(a->dtype) != is_integer(b->dtype)) {
        printf("FAIL %-16s dtype %s, golden %s (exact mode compares like with like)\n", name, a->dtype_name,
               b->dtype_name);
        return 0;
    }
    double *x, *y;
    if (load(a, &x) != RAD_OK) return -1;
    if (load(b, &y) != RAD_OK) {
        rad_free(x);
        return -1;
    }
    size_t n = (size_t)a->numel, worst_i = 0, mismatches = 0;
    double num = 0, den = 0, worst = 0;
    bool finite = true;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) && isfinite(y[i])) finite = false;
        double d = fabs(x[i] - y[i]);
        if (x[i] != y[i]) mismatches++;
        if (d > worst || (isnan(d) && !isnan(worst))) {
            worst = d;
            worst_i = i;
        }
        num += d * d;
        den += y[i] * y[i];
    }
    double value = mode == MODE_REL ? (den > 0 ? sqrt(num / den) : sqrt(num)) : mode == MODE_MAXABS ? worst
                                                                                               : (double)mismatches;
    bool pass = finite && (mode == MODE_EXACT ? mismatches == 0 : value <= tol);
    const char *what = mode == MODE_REL ? "rel" : mode == MODE_MAXABS ? "maxabs" : "mismatches";
    printf("%s %-16s %s %s %.3g", pass ? "ok  " : "FAIL", name, sa, what, value);
    if (mode != MODE_EXACT) printf(" (tol %.3g)", tol);
    if (n) printf("; worst at %zu: %.9g vs %.9g", worst_i, x[worst_i], y[worst_i]);
    if (!finite) printf("; output has NaN/Inf");
    printf("\n");
    rad_free(x);
    rad_free(y);
    return pass;
}

static int usage(void) {
    fprintf(stderr, "usage: rad_compare [--mode rel|maxabs|exact] [--tol X] OUT GOLDEN NAME...\n"
                    "  NAME may end in '*' to match every golden tensor with that prefix\n");
    return 2;
}

int main(int argc, char **argv) {
    cmp_mode mode = MODE_REL;
    double tol = NAN;
    int i = 1;
    for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
        if (i + 1 >= argc) return usage();
        if (!strcmp(argv[i], "--mode")) {
            const char *m = argv[++i];
            if (!strcmp(m, "rel")) mode = MODE_REL;
            else if (!strcmp(m, "maxabs")) mode = MODE_MAXABS;
            else if (!strcmp(m, "exact")) mode = MODE_EXACT;
            else return usage();
        } else if (!strcmp(argv[i], "--tol")) {
            char *end;
            tol = strtod(argv[++i], &end);
            if (*end || !(tol >= 0)) return usage();
        } else {
            return usage();
        }
    }
    if (argc - i < 3) return usage();
    if (mode != MODE_EXACT && isnan(tol)) {
        fprintf(stderr, "rad_compare: --tol is required with --mode rel or maxabs\n");
        return 2;
    }
    rad_st_file *out = NULL, *ref = NULL;
    if (rad_st_open(argv[i], &out) != RAD_OK || rad_st_open(argv[i + 1], &ref) != RAD_OK) {
        fprintf(stderr, "rad_compare: %s\n", rad_last_error());
        rad_st_close(out);
        return 2;
    }
    int compared = 0, failed = 0, errors = 0;
    for (int k = i + 2; k < argc; k++) {
        const char *name = argv[k];
        size_t len = strlen(name);
        if (len && name[len - 1] == '*') {
            int matched = 0;
            for (size_t t = 0; t < rad_st_count(ref); t++) {
                const char *tn = rad_st_at(ref, t)->name;
                if (strncmp(tn, name, len - 1)) continue;
                int r = compare_one(out, ref, tn, mode, tol);
                matched++, compared++;
                failed += r == 0, errors += r < 0;
            }
            if (!matched) {
                printf("FAIL %-16s matches no tensor of the golden file\n", name);
                failed++;
            }
        } else {
            int r = compare_one(out, ref, name, mode, tol);
            compared++;
            failed += r == 0, errors += r < 0;
        }
    }
    if (errors) fprintf(stderr, "rad_compare: %s\n", rad_last_error());
    printf("%s: %d tensor(s) compared, %d failed\n", failed || errors ? "FAIL" : "PASS", compared, failed + errors);
    rad_st_close(out);
    rad_st_close(ref);
    return errors ? 2 : failed ? 1 : 0;
}
