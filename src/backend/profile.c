/* The profile of backend/profile.h: timed op entries in the backend's table, stages from its ranges, the table. */
#include "backend/profile.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "base/mem.h"
#include "base/timer.h"

/* Rows of the table (a stage at one place of the nesting) and the nesting depth it follows; ranges beyond either
 * still balance, they are just not rows of their own (the table says how many). */
enum { MAX_ROWS = 512, MAX_DEPTH = 64, NAME_LEN = 48 };

static const char *const family_names[RAD_OPF_N] = {
    "gemm", "attention dense", "attention radial", "attention cross", "norm",
    "rope", "elementwise",     "conv",             "transfer",        "collective",
};

const char *rad_op_family_name(int family) {
    return family >= 0 && family < RAD_OPF_N ? family_names[family] : NULL;
}

/* An interval waiting for its timestamps: one op (family >= 0) or one call of a stage (family -1). */
typedef struct {
    int a, b; /* timestamp slots */
    int row;  /* the innermost stage around the op; the stage itself */
    int family;
} interval;

typedef struct {
    int row;  /* -1: a stage that found no room in the table (not timed) */
    int slot; /* the timestamp it runs from */
} open_range;

struct rad_profile {
    rad_backend *be;   /* attached to; NULL while detached */
    rad_backend orig;  /* be's table at attach: the timed entries call the ops through it */
    bool device_clock; /* the backend's prof_mark timestamps (else the host clock) */
    char clock[96];
    int slots, next;   /* timestamps per batch; the next free slot */
    double *host_t;    /* [slots] the host clock's timestamps */
    interval *pend;    /* [slots + MAX_DEPTH] waiting to be resolved */
    int n_pend;
    rad_profile_stage rows[MAX_ROWS];
    char names[MAX_ROWS][NAME_LEN];
    int n_rows;
    open_range stack[MAX_DEPTH];
    int depth;         /* stack[0] is "all" while attached */
    int64_t deep;      /* open ranges beyond MAX_DEPTH */
    int64_t untimed;   /* ranges that found no row (MAX_ROWS) */
    int in_op;         /* > 0 while a timed op runs: what it calls through the table is not timed again */
    int64_t pushes, pops, stray_pops;
    rad_status err;    /* the first failed timestamp (range entries return void: detach reports it) */
    char err_msg[256];
};

/* ---------------------------------------------------------------------------------------------- timestamps */

static void note_failure(rad_profile *p, rad_status s) {
    if (s == RAD_OK || p->err != RAD_OK) return;
    p->err = s;
    snprintf(p->err_msg, sizeof p->err_msg, "%s", rad_last_error());
}

/* A timestamp into the next slot (the caller made room). */
static int take_mark(rad_profile *p) {
    const int s = p->next++;
    if (p->device_clock)
        note_failure(p, p->orig.prof_mark(p->be, s));
    else
        p->host_t[s] = rad_now();
    return s;
}

static double elapsed(rad_profile *p, int a, int b) {
    if (!p->device_clock) return p->host_t[b] - p->host_t[a];
    double s = 0;
    note_failure(p, p->orig.prof_elapsed(p->be, a, b, &s));
    return s;
}

/* The waiting intervals into the table: an op's time goes to its stage and every stage around it. */
static void resolve(rad_profile *p) {
    for (int i = 0; i < p->n_pend; i++) {
        const interval *iv = &p->pend[i];
        const double s = elapsed(p, iv->a, iv->b);
        if (iv->family < 0) {
            p->rows[iv->row].seconds += s;
            continue;
        }
        for (int r = iv->row; r >= 0; r = p->rows[r].parent) {
            p->rows[r].family_s[iv->family] += s;
            p->rows[r].family_ops[iv->family]++;
        }
    }
    p->n_pend = 0;
}

/* Room for n more timestamps. When the batch is full it is resolved against one last timestamp (the one wait
 * for the device), the open stages take their time so far, and the next batch starts with a timestamp every
 * open stage continues from; the last slot is kept for that closing timestamp. */
static void room(rad_profile *p, int n) {
    if (p->next + n <= p->slots - 1) return;
    const int end = take_mark(p);
    resolve(p);
    for (int i = 0; i < p->depth; i++)
        if (p->stack[i].row >= 0) p->rows[p->stack[i].row].seconds += elapsed(p, p->stack[i].slot, end);
    p->next = 0;
    const int start = take_mark(p);
    for (int i = 0; i < p->depth; i++) p->stack[i].slot = start;
}

/* The innermost open stage that has a row ("all" at least). */
static int top_row(const rad_profile *p) {
    for (int i = p->depth; i-- > 0;)
        if (p->stack[i].row >= 0) return p->stack[i].row;
    return 0;
}

/* ---------------------------------------------------------------------------------------------- stages */

/* The row of `name` under `parent`, made when new; -1 when the table is full. */
static int row_of(rad_profile *p, int parent, const char *name) {
    char key[NAME_LEN];
    snprintf(key, sizeof key, "%s", name ? name : "(unnamed)");
    for (int r = parent + 1; r < p->n_rows; r++)
        if (p->rows[r].parent == parent && !strcmp(p->names[r], key)) return r;
    if (p->n_rows == MAX_ROWS) return -1;
    const int r = p->n_rows++;
    memcpy(p->names[r], key, sizeof key);
    p->rows[r] = (rad_profile_stage){.name = p->names[r], .depth = p->rows[parent].depth + 1, .parent = parent};
    return r;
}

static void t_range_push(rad_backend *be, const char *name) {
    rad_profile *p = be->profile;
    p->pushes++;
    if (p->orig.range_push) p->orig.range_push(be, name);
    if (p->depth == MAX_DEPTH) {
        p->deep++;
        return;
    }
    const int row = row_of(p, top_row(p), name);
    if (row < 0) p->untimed++;
    room(p, 1);
    p->stack[p->depth++] = (open_range){row, take_mark(p)};
    if (row >= 0) p->rows[row].calls++;
}

static void t_range_pop(rad_backend *be) {
    rad_profile *p = be->profile;
    p->pops++;
    if (p->deep) {
        p->deep--;
    } else if (p->depth <= 1) { /* only "all" is open: nothing to pop */
        p->stray_pops++;
    } else {
        room(p, 1); /* may restart the open stages' timestamps: read the stack after it */
        const int b = take_mark(p);
        const open_range o = p->stack[--p->depth];
        if (o.row >= 0) p->pend[p->n_pend++] = (interval){o.slot, b, o.row, -1};
    }
    if (p->orig.range_pop) p->orig.range_pop(be);
}

/* ---------------------------------------------------------------------------------------------- timed ops */

/* Each timed entry is: a timestamp, the original op, a timestamp, recorded against the innermost stage. An op
 * that another op calls through the table runs untimed (slot -1): its time is its caller's. */
static int op_begin(rad_profile *p) {
    if (p->in_op++) return -1;
    room(p, 2);
    return take_mark(p);
}

static rad_status op_end(rad_profile *p, int a, rad_op_family family, rad_status s) {
    p->in_op--;
    if (a >= 0) {
        const int b = take_mark(p);
        p->pend[p->n_pend++] = (interval){a, b, top_row(p), (int)family};
    }
    return s;
}

static rad_status t_upload(rad_backend *be, void *dst, const void *src, size_t bytes) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_TRANSFER, p->orig.upload(be, dst, src, bytes));
}
static rad_status t_download(rad_backend *be, void *dst, const void *src, size_t bytes) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_TRANSFER, p->orig.download(be, dst, src, bytes));
}
static rad_status t_stage(rad_backend *be, rad_weight *const *ws, int n) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_TRANSFER, p->orig.stage(be, ws, n));
}
static rad_status t_linear(rad_backend *be, const float *x, int64_t m, int64_t k, const rad_weight *w,
                           const float *bias, float *y) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_GEMM, p->orig.linear(be, x, m, k, w, bias, y));
}
static rad_status t_ffn(rad_backend *be, const float *x, int64_t m, int64_t d, const rad_weight *w1, const float *b1,
                        const rad_weight *w2, const float *b2, float *hidden, size_t hidden_floats, float *y) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_GEMM, p->orig.ffn(be, x, m, d, w1, b1, w2, b2, hidden, hidden_floats, y));
}
static rad_status t_layernorm(rad_backend *be, const float *x, int64_t m, int64_t d, const float *w, const float *b,
                              float eps, float *y) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_NORM, p->orig.layernorm(be, x, m, d, w, b, eps, y));
}
static rad_status t_rmsnorm(rad_backend *be, const float *x, int64_t m, int64_t d, const float *w, float eps,
                            float *y) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_NORM, p->orig.rmsnorm(be, x, m, d, w, eps, y));
}
static rad_status t_add_norm_modulate(rad_backend *be, float *x, const float *r, const float *gate, int64_t m,
                                      int64_t d, const float *w, const float *b, float eps, const float *shift,
                                      const float *scale, float *y) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_NORM, p->orig.add_norm_modulate(be, x, r, gate, m, d, w, b, eps, shift, scale, y));
}
static rad_status t_gelu_tanh(rad_backend *be, float *x, int64_t n) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_ELEMENTWISE, p->orig.gelu_tanh(be, x, n));
}
static rad_status t_silu(rad_backend *be, float *x, int64_t n) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_ELEMENTWISE, p->orig.silu(be, x, n));
}
static rad_status t_mul_gelu(rad_backend *be, float *x, const float *g, int64_t n) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_ELEMENTWISE, p->orig.mul_gelu(be, x, g, n));
}
static rad_status t_modulate(rad_backend *be, const float *x, int64_t m, int64_t d, const float *shift,
                             const float *scale, float *y) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_ELEMENTWISE, p->orig.modulate(be, x, m, d, shift, scale, y));
}
static rad_status t_add_gated(rad_backend *be, float *x, const float *y, int64_t m, int64_t d, const float *gate) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_ELEMENTWISE, p->orig.add_gated(be, x, y, m, d, gate));
}
static rad_status t_rope3d(rad_backend *be, float *x, int64_t f, int64_t h, int64_t w, int64_t heads,
                           int64_t head_dim) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_ROPE, p->orig.rope3d(be, x, f, h, w, heads, head_dim));
}
static rad_status t_rmsnorm_rope3d(rad_backend *be, float *x, const float *nw, float eps, int64_t f, int64_t h,
                                   int64_t w, int64_t heads, int64_t head_dim) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_ROPE, p->orig.rmsnorm_rope3d(be, x, nw, eps, f, h, w, heads, head_dim));
}
static rad_status t_attention(rad_backend *be, const float *q, const float *k, const float *v, float *out,
                              int64_t lq, int64_t lk, int64_t heads, int64_t head_dim, float scale, const float *bias,
                              const rad_bsr *mask) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, rad_attention_family(lq, lk, mask),
                  p->orig.attention(be, q, k, v, out, lq, lk, heads, head_dim, scale, bias, mask));
}
static rad_status t_to_conv_dtype(rad_backend *be, const float *x, int64_t n, void *y) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_ELEMENTWISE, p->orig.to_conv_dtype(be, x, n, y));
}
static rad_status t_conv3d(rad_backend *be, const void *x, int64_t cin, int64_t t, int64_t h, int64_t w,
                           const void *prev, int64_t n_prev, const rad_weight *wt, const float *bias, int64_t cout,
                           int64_t kt, int64_t kh, int64_t kw, int64_t ph, int64_t pw, float *y) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_CONV,
                  p->orig.conv3d(be, x, cin, t, h, w, prev, n_prev, wt, bias, cout, kt, kh, kw, ph, pw, y));
}
static rad_status t_rmsnorm_channels(rad_backend *be, const float *x, int64_t c, int64_t s, const float *gamma,
                                     float *y) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_NORM, p->orig.rmsnorm_channels(be, x, c, s, gamma, y));
}
static rad_status t_rmsnorm_silu_channels(rad_backend *be, const float *x, int64_t c, int64_t s, const float *gamma,
                                          void *y) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_NORM, p->orig.rmsnorm_silu_channels(be, x, c, s, gamma, y));
}
static rad_status t_upsample2x(rad_backend *be, const void *x, int64_t c, int64_t h, int64_t w, void *y) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_ELEMENTWISE, p->orig.upsample2x(be, x, c, h, w, y));
}
static rad_status t_copy2d(rad_backend *be, void *dst, size_t dst_pitch, const void *src, size_t src_pitch,
                           size_t row_bytes, size_t rows) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_ELEMENTWISE, p->orig.copy2d(be, dst, dst_pitch, src, src_pitch, row_bytes, rows));
}
static rad_status t_transpose(rad_backend *be, const float *x, int64_t rows, int64_t cols, float *y) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_ELEMENTWISE, p->orig.transpose(be, x, rows, cols, y));
}
static rad_status t_all_to_all(rad_backend *be, rad_group *g, const float *src, float *dst, int64_t n_tokens,
                               int64_t heads, int64_t head_dim, int dir) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_COLLECTIVE, p->orig.all_to_all(be, g, src, dst, n_tokens, heads, head_dim, dir));
}
static rad_status t_all_gather(rad_backend *be, rad_group *g, const float *src, float *dst, int64_t n_rows,
                               int64_t row_elems) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_COLLECTIVE, p->orig.all_gather(be, g, src, dst, n_rows, row_elems));
}

static rad_status t_broadcast(rad_backend *be, rad_group *g, float *buf, int64_t n, int root) {
    rad_profile *p = be->profile;
    const int a = op_begin(p);
    return op_end(p, a, RAD_OPF_COLLECTIVE, p->orig.broadcast(be, g, buf, n, root));
}

/* The timed entries in be's table (on) or the originals o back (off). Entries the backend lacks stay NULL; the
 * memory, weight and lifetime entries are never replaced (the CUDA backend recognises its tables by them). */
static void install(rad_backend *be, const rad_backend *o, bool on) {
    be->upload = on && o->upload ? t_upload : o->upload;
    be->download = on && o->download ? t_download : o->download;
    be->stage = on && o->stage ? t_stage : o->stage;
    be->linear = on && o->linear ? t_linear : o->linear;
    be->ffn = on && o->ffn ? t_ffn : o->ffn;
    be->layernorm = on && o->layernorm ? t_layernorm : o->layernorm;
    be->rmsnorm = on && o->rmsnorm ? t_rmsnorm : o->rmsnorm;
    be->add_norm_modulate = on && o->add_norm_modulate ? t_add_norm_modulate : o->add_norm_modulate;
    be->gelu_tanh = on && o->gelu_tanh ? t_gelu_tanh : o->gelu_tanh;
    be->silu = on && o->silu ? t_silu : o->silu;
    be->mul_gelu = on && o->mul_gelu ? t_mul_gelu : o->mul_gelu;
    be->modulate = on && o->modulate ? t_modulate : o->modulate;
    be->add_gated = on && o->add_gated ? t_add_gated : o->add_gated;
    be->rope3d = on && o->rope3d ? t_rope3d : o->rope3d;
    be->rmsnorm_rope3d = on && o->rmsnorm_rope3d ? t_rmsnorm_rope3d : o->rmsnorm_rope3d;
    be->attention = on && o->attention ? t_attention : o->attention;
    be->to_conv_dtype = on && o->to_conv_dtype ? t_to_conv_dtype : o->to_conv_dtype;
    be->conv3d = on && o->conv3d ? t_conv3d : o->conv3d;
    be->rmsnorm_channels = on && o->rmsnorm_channels ? t_rmsnorm_channels : o->rmsnorm_channels;
    be->rmsnorm_silu_channels = on && o->rmsnorm_silu_channels ? t_rmsnorm_silu_channels : o->rmsnorm_silu_channels;
    be->upsample2x = on && o->upsample2x ? t_upsample2x : o->upsample2x;
    be->copy2d = on && o->copy2d ? t_copy2d : o->copy2d;
    be->transpose = on && o->transpose ? t_transpose : o->transpose;
    be->all_to_all = on && o->all_to_all ? t_all_to_all : o->all_to_all;
    be->all_gather = on && o->all_gather ? t_all_gather : o->all_gather;
    be->broadcast = on && o->broadcast ? t_broadcast : o->broadcast;
    /* ranges are always timed while attached: models call them through rad_range_push, which needs an entry */
    be->range_push = on ? t_range_push : o->range_push;
    be->range_pop = on ? t_range_pop : o->range_pop;
}

/* ---------------------------------------------------------------------------------------------- lifetime */

rad_status rad_profile_new(int slots, rad_profile **out) {
    *out = NULL;
    if (slots == 0) slots = RAD_PROF_SLOTS;
    if (slots < 4 || slots > RAD_PROF_SLOTS) /* an op's two timestamps, a batch's closing and opening ones */
        return rad_err(RADIAL_ERR_INVALID_ARG, "profile: %d timestamp slots; expected 4 to %d (0: %d)", slots,
                       RAD_PROF_SLOTS, RAD_PROF_SLOTS);
    rad_profile *p;
    RAD_TRY(rad_calloc((void **)&p, 1, sizeof *p, "profile"));
    p->slots = slots;
    rad_status s = rad_calloc((void **)&p->host_t, (size_t)slots, sizeof *p->host_t, "profile timestamps");
    if (s == RAD_OK) s = rad_calloc((void **)&p->pend, (size_t)(slots + MAX_DEPTH), sizeof *p->pend, "profile intervals");
    if (s != RAD_OK) {
        rad_profile_free(p);
        return s;
    }
    *out = p;
    return RAD_OK;
}

void rad_profile_free(rad_profile *p) {
    if (!p) return;
    if (p->be) (void)rad_profile_detach(p); /* never leave a backend calling into freed memory */
    rad_free(p->host_t);
    rad_free(p->pend);
    rad_free(p);
}

rad_status rad_profile_attach(rad_profile *p, rad_backend *be) {
    if (!p || !be) return rad_err(RADIAL_ERR_INVALID_ARG, "profile attach: NULL argument");
    if (p->be)
        return rad_err(RADIAL_ERR_INVALID_ARG, "profile attach: the profile is attached to backend '%s'; detach it first",
                       p->be->name);
    if (be->profile)
        return rad_err(RADIAL_ERR_INVALID_ARG, "profile attach: backend '%s' already has a profile attached", be->name);
    if (!be->prof_mark != !be->prof_elapsed)
        return rad_err(RADIAL_ERR_INVALID_ARG, "profile attach: backend '%s' has prof_mark or prof_elapsed without the "
                       "other", be->name);
    memset(p->rows, 0, sizeof p->rows);
    p->n_rows = 1;
    snprintf(p->names[0], NAME_LEN, "all");
    p->rows[0] = (rad_profile_stage){.name = p->names[0], .depth = 0, .parent = -1, .calls = 1};
    p->next = p->n_pend = p->depth = p->in_op = 0;
    p->deep = p->untimed = p->pushes = p->pops = p->stray_pops = 0;
    p->err = RAD_OK, p->err_msg[0] = '\0';
    p->device_clock = be->prof_mark != NULL;
    snprintf(p->clock, sizeof p->clock, p->device_clock ? "device timestamps of the %s backend" : "host clock",
             be->name ? be->name : "?");
    p->be = be, p->orig = *be;
    install(be, &p->orig, true);
    be->profile = p;
    p->stack[p->depth++] = (open_range){0, take_mark(p)};
    if (p->err != RAD_OK) {
        const rad_status s = p->err;
        install(be, &p->orig, false);
        be->profile = NULL, p->be = NULL;
        return rad_err(s, "profile attach on backend '%s': the first timestamp failed: %s", be->name, p->err_msg);
    }
    return RAD_OK;
}

rad_status rad_profile_detach(rad_profile *p) {
    if (!p || !p->be) return rad_err(RADIAL_ERR_INVALID_ARG, "profile detach: the profile is not attached");
    rad_backend *be = p->be;
    const int64_t open = p->depth - 1 + p->deep; /* "all" is not one of them */
    char innermost[NAME_LEN];
    snprintf(innermost, sizeof innermost, "%s", p->names[top_row(p)]);
    /* close what is open (a push without its pop: its time up to here), "all" last */
    room(p, 1);
    const int end = take_mark(p);
    for (int i = p->depth; i-- > 0;)
        if (p->stack[i].row >= 0) p->pend[p->n_pend++] = (interval){p->stack[i].slot, end, p->stack[i].row, -1};
    p->depth = 0, p->deep = 0;
    resolve(p);
    install(be, &p->orig, false);
    be->profile = NULL, p->be = NULL;
    if (p->err != RAD_OK)
        return rad_err(p->err, "profile on backend '%s': a timestamp failed: %s", be->name, p->err_msg);
    if (open > 0)
        return rad_err(RADIAL_ERR_INVALID_ARG, "profile on backend '%s': %lld range(s) still open at detach (the "
                       "innermost '%s'): a range_push without its range_pop", be->name, (long long)open, innermost);
    if (p->stray_pops)
        return rad_err(RADIAL_ERR_INVALID_ARG, "profile on backend '%s': %lld range_pop(s) without a range_push",
                       be->name, (long long)p->stray_pops);
    return RAD_OK;
}

/* ---------------------------------------------------------------------------------------------- results */

int rad_profile_n_stages(const rad_profile *p) { return p->n_rows; }

const rad_profile_stage *rad_profile_stage_at(const rad_profile *p, int i) {
    return i >= 0 && i < p->n_rows ? &p->rows[i] : NULL;
}

const rad_profile_stage *rad_profile_find(const rad_profile *p, const char *name) {
    for (int r = 0; r < p->n_rows; r++)
        if (!strcmp(p->names[r], name)) return &p->rows[r];
    return NULL;
}

void rad_profile_range_counts(const rad_profile *p, int64_t *pushes, int64_t *pops) {
    *pushes = p->pushes, *pops = p->pops;
}

const char *rad_profile_clock(const rad_profile *p) { return p->clock; }

/* The rows in table order: each after its parent, children in the order they first ran (depth first). */
static int tree_order(const rad_profile *p, int row, int *order, int n) {
    order[n++] = row;
    for (int r = row + 1; r < p->n_rows; r++)
        if (p->rows[r].parent == row) n = tree_order(p, r, order, n);
    return n;
}

static double ops_seconds(const rad_profile_stage *st) {
    double s = 0;
    for (int f = 0; f < RAD_OPF_N; f++) s += st->family_s[f];
    return s;
}

/* A growing text buffer; a failed allocation is remembered and reported once at the end. */
typedef struct {
    char *s;
    size_t n, cap;
    bool failed;
} text_buf;

static void tb_printf(text_buf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_printf(text_buf *t, const char *fmt, ...) {
    if (t->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const int k = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            t->failed = true;
            return;
        }
        if (t->s && t->n + (size_t)k < t->cap) {
            t->n += (size_t)k;
            return;
        }
        const size_t cap = (t->cap + (size_t)k + 1) * 2;
        char *s = NULL;
        if (rad_alloc((void **)&s, cap, "profile table") != RAD_OK) {
            t->failed = true;
            return;
        }
        if (t->s) memcpy(s, t->s, t->n + 1);
        rad_free(t->s);
        t->s = s, t->cap = cap;
    }
}

/* Milliseconds with about four significant digits; an empty cell for nothing. */
static void tb_ms(text_buf *t, double seconds, bool blank_if_zero) {
    const double ms = seconds > 0 ? seconds * 1e3 : 0;
    if (ms == 0 && blank_if_zero) tb_printf(t, " |");
    else tb_printf(t, ms >= 100 ? " %.1f |" : ms >= 1 ? " %.2f |" : " %.3f |", ms);
}

rad_status rad_profile_table(const rad_profile *p, char **text) {
    *text = NULL;
    if (p->be) return rad_err(RADIAL_ERR_INVALID_ARG, "profile table: detach the profile first");
    const rad_profile_stage *all = &p->rows[0];
    bool used[RAD_OPF_N];
    for (int f = 0; f < RAD_OPF_N; f++) used[f] = all->family_ops[f] > 0;
    int order[MAX_ROWS];
    const int n = tree_order(p, 0, order, 0);
    text_buf t = {0};
    tb_printf(&t, "Where the time went (%s; ms, summed over calls; a stage includes the stages and ops inside it; "
                  "other = its time outside ops: host work, waits, launch gaps)\n\n| stage | calls | total |",
              p->clock);
    for (int f = 0; f < RAD_OPF_N; f++)
        if (used[f]) tb_printf(&t, " %s |", family_names[f]);
    tb_printf(&t, " other |\n|---|---|---|");
    for (int f = 0; f < RAD_OPF_N; f++)
        if (used[f]) tb_printf(&t, "---|");
    tb_printf(&t, "---|\n");
    for (int i = 0; i < n; i++) {
        const rad_profile_stage *st = &p->rows[order[i]];
        tb_printf(&t, "| ");
        for (int d = 0; d < st->depth; d++) tb_printf(&t, "· ");
        tb_printf(&t, "%s | %lld |", st->name, (long long)st->calls);
        tb_ms(&t, st->seconds, false);
        for (int f = 0; f < RAD_OPF_N; f++)
            if (used[f]) tb_ms(&t, st->family_s[f], st->family_ops[f] == 0);
        tb_ms(&t, st->seconds - ops_seconds(st), false);
        tb_printf(&t, "\n");
    }
    tb_printf(&t, "\n| op family | ops | ms | %% of all | ms per op |\n|---|---|---|---|---|\n");
    const double total = all->seconds > 0 ? all->seconds : 1;
    for (int f = 0; f < RAD_OPF_N; f++)
        if (used[f])
            tb_printf(&t, "| %s | %lld | %.3f | %.1f | %.4f |\n", family_names[f], (long long)all->family_ops[f],
                      all->family_s[f] * 1e3, 100.0 * all->family_s[f] / total,
                      all->family_s[f] * 1e3 / (double)all->family_ops[f]);
    const double other = all->seconds - ops_seconds(all);
    tb_printf(&t, "| other (outside ops) | | %.3f | %.1f | |\n", (other > 0 ? other : 0) * 1e3,
              100.0 * (other > 0 ? other : 0) / total);
    const int64_t nd = all->family_ops[RAD_OPF_ATTN_DENSE], nr = all->family_ops[RAD_OPF_ATTN_RADIAL];
    if (nd && nr) {
        const double md = all->family_s[RAD_OPF_ATTN_DENSE] / (double)nd, mr = all->family_s[RAD_OPF_ATTN_RADIAL] / (double)nr;
        tb_printf(&t, "\nself-attention per call: dense %.4f ms (%lld calls), radial %.4f ms (%lld calls): radial "
                      "takes %.2f of dense's time (dense includes the text encoder's and the VAE's own "
                      "attention)\n", md * 1e3, (long long)nd, mr * 1e3, (long long)nr, md > 0 ? mr / md : 0.0);
    }
    if (p->untimed || p->stray_pops)
        tb_printf(&t, "\nnot in the table: %lld range(s) beyond its %d rows (their time is their parent's), %lld "
                      "unmatched pop(s)\n", (long long)p->untimed, MAX_ROWS, (long long)p->stray_pops);
    if (t.failed) {
        rad_free(t.s);
        return rad_err(RADIAL_ERR_NOMEM, "profile table: out of memory");
    }
    *text = t.s;
    return RAD_OK;
}

/* "all/generate/denoise" for a row. */
static void row_path(const rad_profile *p, int r, char *buf, size_t size) {
    if (p->rows[r].parent < 0) {
        snprintf(buf, size, "%s", p->names[r]);
        return;
    }
    row_path(p, p->rows[r].parent, buf, size);
    const size_t k = strlen(buf);
    snprintf(buf + k, size - k, "/%s", p->names[r]);
}

static json_t *families_json(const rad_profile_stage *st) {
    json_t *o = json_object();
    for (int f = 0; f < RAD_OPF_N; f++)
        if (st->family_ops[f])
            json_object_set_new(o, family_names[f], json_pack("{s:I, s:f}", "ops", (json_int_t)st->family_ops[f], "ms",
                                                              st->family_s[f] * 1e3));
    return o;
}

rad_status rad_profile_json(const rad_profile *p, void **json) {
    *json = NULL;
    if (p->be) return rad_err(RADIAL_ERR_INVALID_ARG, "profile JSON: detach the profile first");
    int order[MAX_ROWS];
    const int n = tree_order(p, 0, order, 0);
    json_t *root = json_object(), *stages = json_array();
    for (int i = 0; i < n; i++) {
        const rad_profile_stage *st = &p->rows[order[i]];
        char path[MAX_DEPTH * NAME_LEN];
        row_path(p, order[i], path, sizeof path);
        json_array_append_new(stages, json_pack("{s:s, s:s, s:i, s:I, s:f, s:f, s:o}", "name", st->name, "path", path,
                                                "depth", st->depth, "calls", (json_int_t)st->calls, "ms",
                                                st->seconds * 1e3, "other_ms", (st->seconds - ops_seconds(st)) * 1e3,
                                                "families", families_json(st)));
    }
    json_object_set_new(root, "clock", json_string(p->clock));
    json_object_set_new(root, "range_pushes", json_integer((json_int_t)p->pushes));
    json_object_set_new(root, "range_pops", json_integer((json_int_t)p->pops));
    json_object_set_new(root, "total_ms", json_real(p->rows[0].seconds * 1e3));
    json_object_set_new(root, "families", families_json(&p->rows[0]));
    json_object_set_new(root, "stages", stages);
    if (!root || !stages) {
        json_decref(root);
        return rad_err(RADIAL_ERR_NOMEM, "profile JSON: out of memory");
    }
    *json = root;
    return RAD_OK;
}
