/* t5_check OUT CASE: `hidden` of OUT against `hidden` of CASE (same shape, relative error < 1e-4). */
#include <string.h>

#include "base/mem.h"
#include "io/safetensors.h"
#include "test_util.h"

static float *load_hidden(const char *path, rad_st_file **f, int64_t *rows, int64_t *cols) {
    float *p = NULL;
    const rad_st_tensor *t;
    CHECK_OK(rad_st_open(path, f));
    if (*f) CHECK_OK(rad_st_read_f32(*f, "hidden", &t, &p));
    if (!p) return NULL;
    CHECK(t->ndim == 2);
    if (t->ndim != 2) {
        rad_free(p);
        return NULL;
    }
    *rows = t->shape[0], *cols = t->shape[1];
    return p;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: t5_check OUT CASE\n");
        return 2;
    }
    rad_st_file *fo = NULL, *fc = NULL;
    int64_t ro = 0, co = 0, rc = 0, cc = 0;
    float *out = load_hidden(argv[1], &fo, &ro, &co), *ref = load_hidden(argv[2], &fc, &rc, &cc);
    CHECK(out && ref && ro == rc && co == cc);
    if (out && ref && ro == rc && co == cc) {
        double e = rad_rel_err(out, ref, (size_t)(ro * co));
        printf("hidden [%lld, %lld]: rel err %.3g\n", (long long)ro, (long long)co, e);
        CHECK(e < 1e-4);
    }
    rad_free(out), rad_free(ref);
    if (fo) rad_st_close(fo);
    if (fc) rad_st_close(fc);
    TEST_MAIN_END();
}
