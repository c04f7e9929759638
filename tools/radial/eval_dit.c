/* radial eval dit: one DiT forward on a reference case file; `usage` says what it reads and writes. */
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "base/mem.h"
#include "cli_args.h"
#include "dit/dit.h"
#include "eval.h"
#include "io/safetensors.h"
#include "io/lora.h"
#include "io/weights.h"

static const char *CMD = "eval dit";

static const cli_usage usage = {
    .synopsis = "radial eval dit --model PATH --in CASE --out FILE [--lora FILE[:STRENGTH]]... [options]",
    .about = "Runs one DiT forward on a reference case: reads x [16, T, H, W], t [1] and context [L, text_dim] from "
             "CASE and writes v [16, T, H, W]. LoRAs are merged at load, stacked in order.",
};

static rad_status run(const char *model, const char *in, const char *outp, int backend, const cli_loras *ls) {
    rad_st_file *cf = NULL;
    rad_weights *w = NULL;
    rad_backend *be = NULL;
    rad_dit *dit = NULL;
    rad_lora *loras[CLI_MAX_LORAS] = {NULL};
    float *x = NULL, *t = NULL, *ctx = NULL, *v = NULL;
    const rad_st_tensor *tx, *tt, *tc;
    rad_status s = rad_st_open(in, &cf);
    if (s == RAD_OK) s = rad_st_read_f32(cf, "x", &tx, &x);
    if (s == RAD_OK) s = rad_st_read_f32(cf, "t", &tt, &t);
    if (s == RAD_OK) s = rad_st_read_f32(cf, "context", &tc, &ctx);
    if (s == RAD_OK && (tx->ndim != 4 || tt->ndim != 1 || tt->numel != 1 || tc->ndim != 2))
        s = rad_err(RADIAL_ERR_FORMAT,
                    "%s: expected x [16, T, H, W], t [1] and context [L, text_dim], found x with %d dims, t with %d "
                    "dims and %lld values, context with %d dims",
                    in, tx->ndim, tt->ndim, (long long)tt->numel, tc->ndim);
    for (int i = 0; s == RAD_OK && i < ls->n; i++) s = rad_lora_open(ls->items[i].path, ls->items[i].strength, &loras[i]);
    if (s == RAD_OK) s = rad_weights_open(model, RAD_COMP_DIT, &w);
    if (s == RAD_OK) s = rad_backend_open(backend, 0, &be);
    if (s == RAD_OK) s = rad_dit_load(be, w, loras, (size_t)ls->n, -1, &dit);
    for (int i = 0; s == RAD_OK && i < ls->n; i++)
        fprintf(stderr, "LoRA %s (%s, strength %g): %zu of %zu modules merged\n", rad_lora_path(loras[i]),
                rad_lora_style(loras[i]), (double)rad_lora_strength(loras[i]), rad_lora_applied_count(loras[i]),
                rad_lora_module_count(loras[i]));
    if (w) rad_weights_close(w);
    if (s == RAD_OK) {
        const rad_dit_config *c = rad_dit_config_of(dit);
        if (tx->shape[0] != c->in_dim || tc->shape[1] != c->text_dim || tx->shape[1] > 1 << 20 ||
            tx->shape[2] > 1 << 20 || tx->shape[3] > 1 << 20 || tc->shape[0] > 1 << 20)
            s = rad_err(RADIAL_ERR_INVALID_ARG, "%s: x is [%lld, ...] and context [.., %lld]; the model wants %d and %d",
                        in, (long long)tx->shape[0], (long long)tc->shape[1], c->in_dim, c->text_dim);
    }
    if (s == RAD_OK) {
        int64_t vshape[4] = {rad_dit_config_of(dit)->out_dim, tx->shape[1], tx->shape[2], tx->shape[3]};
        size_t bytes;
        s = rad_shape_bytes(vshape, 4, sizeof(float), &bytes);
        if (s == RAD_OK) s = rad_alloc((void **)&v, bytes, "v");
        if (s == RAD_OK)
            s = rad_dit_forward(dit, x, (int)tx->shape[1], (int)tx->shape[2], (int)tx->shape[3], t[0], ctx,
                                (int)tc->shape[0], NULL, v);
        if (s == RAD_OK) {
            rad_st_out o = {.name = "v", .dtype = RAD_DT_F32, .ndim = 4, .data = v};
            memcpy(o.shape, vshape, sizeof vshape);
            s = rad_st_write(outp, &o, 1, NULL, 0);
        }
    }
    rad_dit_free(dit);
    for (int i = 0; i < ls->n; i++) rad_lora_close(loras[i]);
    if (be) be->destroy(be);
    rad_free(x), rad_free(t), rad_free(ctx), rad_free(v);
    if (cf) rad_st_close(cf);
    return s;
}

int eval_dit(int argc, char **argv) {
    eval_model_args a;
    const int rc = eval_model_args_parse(CMD, &usage, "a DiT folder or file (safetensors, fp8, GGUF)", argc, argv, &a);
    if (rc >= 0) return rc;
    return run(a.model, a.in, a.out, a.backend, &a.loras) == RAD_OK ? 0 : cli_error(CMD);
}
