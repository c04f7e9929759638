/* radial eval t5: the umT5 encoder on the ids of a reference case file; `usage` says what it reads and writes. */
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "base/mem.h"
#include "cli_args.h"
#include "eval.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "text/t5.h"

static const char *CMD = "eval t5";

static const cli_usage usage = {
    .synopsis = "radial eval t5 --model PATH --in CASE --out FILE [options]",
    .about = "Runs the umT5 encoder on the ids [n] of CASE and writes hidden [n, d_model].",
};

/* ids [n] (any integer dtype, 1 <= n <= 512) from the case file; range checks against the vocab happen in
 * rad_t5_encode. */
static rad_status read_ids(const char *path, int32_t **ids, int *n) {
    rad_st_file *f;
    RAD_TRY(rad_st_open(path, &f));
    rad_status s = RAD_OK;
    int64_t *tmp = NULL;
    const rad_st_tensor *t = rad_st_find(f, "ids");
    if (!t) {
        s = rad_err(RADIAL_ERR_FORMAT, "%s: no tensor 'ids'", path);
    } else if (t->ndim != 1 || t->numel < 1 || t->numel > RAD_T5_MAX_TOKENS) {
        s = rad_err(RADIAL_ERR_FORMAT, "%s: 'ids' must be 1-D with 1 to %d entries (found %d dims, %lld entries)", path,
                    RAD_T5_MAX_TOKENS, t->ndim, (long long)t->numel);
    } else {
        s = rad_alloc((void **)&tmp, (size_t)t->numel * sizeof *tmp, "ids");
        if (s == RAD_OK) s = rad_st_to_i64(t, tmp);
        if (s == RAD_OK) s = rad_alloc((void **)ids, (size_t)t->numel * sizeof **ids, "ids");
        for (int64_t i = 0; s == RAD_OK && i < t->numel; i++) {
            if (tmp[i] < INT32_MIN || tmp[i] > INT32_MAX)
                s = rad_err(RADIAL_ERR_FORMAT, "%s: ids[%lld] = %lld is out of range", path, (long long)i,
                            (long long)tmp[i]);
            else
                (*ids)[i] = (int32_t)tmp[i];
        }
        *n = (int)t->numel;
    }
    rad_free(tmp);
    rad_st_close(f);
    return s;
}

static rad_status run(const char *model, const char *in, const char *out, int backend) {
    int32_t *ids = NULL;
    int n = 0;
    rad_weights *w = NULL;
    rad_backend *be = NULL;
    rad_t5 *t5 = NULL;
    float *hidden = NULL;
    rad_status s = read_ids(in, &ids, &n);
    if (s == RAD_OK) s = rad_weights_open(model, RAD_COMP_T5, &w);
    if (s == RAD_OK) s = rad_backend_open(backend, 0, &be);
    if (s == RAD_OK) s = rad_t5_load(be, w, &t5);
    int64_t d = t5 ? rad_t5_config_of(t5)->d_model : 0;
    if (s == RAD_OK) s = rad_alloc((void **)&hidden, (size_t)n * (size_t)d * sizeof(float), "T5 hidden");
    if (s == RAD_OK) s = rad_t5_encode(t5, ids, n, hidden);
    if (s == RAD_OK) {
        rad_st_out t = {.name = "hidden", .dtype = RAD_DT_F32, .ndim = 2, .shape = {n, d}, .data = hidden};
        s = rad_st_write(out, &t, 1, NULL, 0);
    }
    rad_free(hidden);
    rad_t5_free(t5);
    if (be) be->destroy(be);
    if (w) rad_weights_close(w);
    rad_free(ids);
    return s;
}

int eval_t5(int argc, char **argv) {
    eval_model_args a;
    const int rc = eval_model_args_parse(
        CMD, &usage, "a text_encoder/ folder, a diffusers root or a single official-name .safetensors file", argc,
        argv, &a);
    if (rc >= 0) return rc;
    return run(a.model, a.in, a.out, a.backend) == RAD_OK ? 0 : cli_error(CMD);
}
