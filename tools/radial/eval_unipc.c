/* radial eval unipc: runs a sampler on a reference case (tests/data/cases/unipc*.safetensors) and writes
 * timesteps (I32 on a grid, F32 on explicit timesteps), sigmas (F32) and x_000.. (the sample after each step).
 * From the case's __metadata__: steps; `shift` selects the official Wan grid, `flow_shift` the diffusers grid
 * (unless --sampler says otherwise); guidance. Explicit timesteps (--timesteps, else the metadata's `timesteps`,
 * as tests/data/golden2/case_distilled.safetensors has) replace the grid by diffusers' FlowMatchEuler schedule
 * with that shift, sampled with Euler. The initial sample is x_init, or a pipeline case's `noise` (the latent at
 * σ_0) when there is no x_init. The velocity of step i is the case's v_NNN when present (the
 * reference's guided velocities along its trajectory); otherwise it is the synthetic velocity that
 * golden/README.md defines, evaluated at the current sample and timestep:
 *   v(x, t, s) = cos(x·(1 + 0.1·s))·0.5 + (t/1000)·x − 0.2·s, s = 1 conditional, s = 0 unconditional,
 *   guided as v_u + g·(v_c − v_u) when the metadata's guidance is a number, the conditional alone otherwise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "cli_args.h"
#include "eval.h"
#include "io/safetensors.h"
#include "sched/sched.h"

#define CMD "eval unipc"

static const cli_usage usage = {
    .synopsis = "radial eval unipc --in CASE --out FILE [options]",
    .about = "Runs a sampler on a reference case. CASE holds x_init (or noise), optionally v_000.. (the velocity of "
             "each step; otherwise the synthetic one of golden/README.md) and __metadata__ steps, shift (the official "
             "grid) or flow_shift (the diffusers grid), guidance, and optionally timesteps (explicit unshifted "
             "timesteps, sampled with euler). Writes timesteps (I32 on a grid, F32 on explicit timesteps), sigmas and "
             "x_000.. (the sample after each step).",
};

static float synthetic_velocity(float x, double t, int s) {
    return cosf(x * (1.0f + 0.1f * (float)s)) * 0.5f + (float)(t / 1000.0) * x - 0.2f * (float)s;
}

typedef struct {
    rad_st_file *in;
    rad_sched *sched;
    float *x, *v, *xs;    /* current sample, velocity, all outputs [steps][n] */
    double *explicit_ts;  /* [RAD_SCHED_MAX_STEPS]: the explicit timesteps, when given */
    int n_explicit;       /* 0: the grid */
    int32_t *timesteps;   /* [steps]: a grid's integer timesteps */
    float *timesteps_f32; /* [steps]: an explicit schedule's float32 timesteps */
    float *sigmas;        /* [steps + 1] */
    rad_st_out *outs;     /* timesteps, sigmas, x_000.. */
    char (*names)[16];    /* x_000.. */
} unipc_run;

static void run_free(unipc_run *r) {
    rad_sched_free(r->sched);
    rad_st_close(r->in);
    rad_free(r->x);
    rad_free(r->v);
    rad_free(r->xs);
    rad_free(r->timesteps);
    rad_free(r->timesteps_f32);
    rad_free(r->explicit_ts);
    rad_free(r->sigmas);
    rad_free(r->outs);
    rad_free(r->names);
}

/* sampler: a rad_sched_kind, or -1 for the grid the case's metadata names. timesteps_text: --timesteps, or NULL
 * (then the metadata's timesteps, if any). */
static rad_status run_case(unipc_run *r, const char *in_path, const char *out_path, int sampler,
                           const char *timesteps_text) {
    RAD_TRY(rad_st_open(in_path, &r->in));
    const char *steps_s = rad_st_meta(r->in, "steps");
    const char *shift_s = rad_st_meta(r->in, "shift");
    const char *flow_shift_s = rad_st_meta(r->in, "flow_shift");
    const char *guidance_s = rad_st_meta(r->in, "guidance");
    const char *timesteps_s = timesteps_text ? timesteps_text : rad_st_meta(r->in, "timesteps");
    if (timesteps_s) {
        RAD_TRY(rad_calloc((void **)&r->explicit_ts, RAD_SCHED_MAX_STEPS, sizeof(double), "explicit timesteps"));
        rad_status st = rad_sched_parse_timesteps(timesteps_s, r->explicit_ts, RAD_SCHED_MAX_STEPS, &r->n_explicit);
        /* The parser's message starts "timesteps: item ..."; the prefix makes it "--timesteps: item ..." for the
         * flag and "CASE: __metadata__ timesteps: item ..." for the metadata. */
        if (st != RAD_OK)
            return timesteps_text ? rad_err_prefix(RADIAL_ERR_INVALID_ARG, "--")
                                  : rad_err_prefix(RADIAL_ERR_FORMAT, "%s: __metadata__ ", in_path);
    }
    if (!steps_s && !timesteps_s) return rad_err(RADIAL_ERR_FORMAT, "%s: __metadata__ has no 'steps'", in_path);
    if (!shift_s == !flow_shift_s)
        return rad_err(RADIAL_ERR_FORMAT, "%s: __metadata__ needs exactly one of 'shift' (official grid) and "
                                          "'flow_shift' (diffusers grid)", in_path);
    long long steps = r->n_explicit;
    double shift;
    if ((steps_s && !cli_int(CMD, "__metadata__ steps", steps_s, 1, 10000, &steps)) ||
        !cli_float(CMD, shift_s ? "__metadata__ shift" : "__metadata__ flow_shift", shift_s ? shift_s : flow_shift_s,
                   1e-3, 1e4, &shift))
        return rad_err(RADIAL_ERR_FORMAT, "%s: bad __metadata__ (see above)", in_path);
    /* A case's steps describe its reference run; explicit timesteps of another length would not be that run. */
    if (r->n_explicit && steps != r->n_explicit)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: __metadata__ steps is %lld but %d explicit timesteps are given",
                       in_path, steps, r->n_explicit);
    rad_sched_kind kind = shift_s ? RAD_SCHED_UNIPC_OFFICIAL : RAD_SCHED_UNIPC_DIFFUSERS;
    if (r->n_explicit) kind = RAD_SCHED_EULER; /* what explicit timesteps are sampled with */
    if (sampler >= 0) kind = (rad_sched_kind)sampler;
    /* guidance: a number means CFG on the synthetic velocity; anything else ("none (...)") the conditional. */
    double guidance = NAN;
    if (guidance_s) {
        char *end;
        double g = strtod(guidance_s, &end);
        if (end != guidance_s && !*end && isfinite(g)) guidance = g;
    }

    const rad_st_tensor *xt;
    const char *x_name = rad_st_find(r->in, "x_init") || !rad_st_find(r->in, "noise") ? "x_init" : "noise";
    RAD_TRY(rad_st_read_f32(r->in, x_name, &xt, &r->x));
    size_t n = (size_t)xt->numel;
    if (n == 0) return rad_err(RADIAL_ERR_FORMAT, "%s: '%s' is empty", in_path, x_name);
    size_t all;
    if (!rad_mul_size(n, (size_t)steps, &all)) return rad_err(RADIAL_ERR_NOMEM, "%s: outputs too large", in_path);
    if (r->n_explicit)
        RAD_TRY(rad_sched_new_timesteps(kind, r->explicit_ts, r->n_explicit, shift, n, &r->sched));
    else
        RAD_TRY(rad_sched_new(kind, (int)steps, shift, n, &r->sched));
    RAD_TRY(rad_calloc((void **)&r->v, n, sizeof(float), "velocity"));
    RAD_TRY(rad_calloc((void **)&r->xs, all, sizeof(float), "samples after each step"));
    if (r->n_explicit)
        RAD_TRY(rad_calloc((void **)&r->timesteps_f32, (size_t)steps, sizeof(float), "timesteps"));
    else
        RAD_TRY(rad_calloc((void **)&r->timesteps, (size_t)steps, sizeof(int32_t), "timesteps"));
    RAD_TRY(rad_calloc((void **)&r->sigmas, (size_t)steps + 1, sizeof(float), "sigmas"));
    RAD_TRY(rad_calloc((void **)&r->outs, (size_t)steps + 2, sizeof(rad_st_out), "output list"));
    RAD_TRY(rad_calloc((void **)&r->names, (size_t)steps, sizeof *r->names, "output names"));

    for (int i = 0; i < (int)steps; i++) {
        double t = rad_sched_timestep(r->sched, i);
        char vname[16];
        snprintf(vname, sizeof vname, "v_%03d", i);
        const rad_st_tensor *vt = rad_st_find(r->in, vname);
        if (vt) {
            if (vt->numel != xt->numel || vt->ndim != xt->ndim ||
                memcmp(vt->shape, xt->shape, (size_t)xt->ndim * sizeof xt->shape[0]))
                return rad_err(RADIAL_ERR_FORMAT, "%s: '%s' has a different shape from '%s'", in_path, vname, x_name);
            RAD_TRY(rad_st_to_f32(vt, r->v));
        } else {
            for (size_t j = 0; j < n; j++) {
                float vc = synthetic_velocity(r->x[j], t, 1);
                if (isnan(guidance)) {
                    r->v[j] = vc;
                } else {
                    float vu = synthetic_velocity(r->x[j], t, 0);
                    r->v[j] = vu + (float)guidance * (vc - vu);
                }
            }
        }
        RAD_TRY(rad_sched_step(r->sched, i, r->v, r->x));
        memcpy(r->xs + (size_t)i * n, r->x, n * sizeof(float));
        /* A grid's timesteps are integers (exact in I32); an explicit schedule's are float32 values, as diffusers'
         * float32 timesteps tensor holds them (exact in F32). */
        if (r->n_explicit)
            r->timesteps_f32[i] = (float)t;
        else
            r->timesteps[i] = (int32_t)t;
    }
    for (int i = 0; i <= (int)steps; i++) r->sigmas[i] = rad_sched_sigma(r->sched, i);

    const void *ts_data = r->n_explicit ? (const void *)r->timesteps_f32 : (const void *)r->timesteps;
    r->outs[0] = (rad_st_out){.name = "timesteps", .dtype = r->n_explicit ? RAD_DT_F32 : RAD_DT_I32, .ndim = 1,
                              .shape = {steps}, .data = ts_data};
    r->outs[1] = (rad_st_out){.name = "sigmas", .dtype = RAD_DT_F32, .ndim = 1, .shape = {steps + 1},
                              .data = r->sigmas};
    for (int i = 0; i < (int)steps; i++) {
        snprintf(r->names[i], sizeof r->names[i], "x_%03d", i);
        rad_st_out *o = &r->outs[2 + i];
        o->name = r->names[i];
        o->dtype = RAD_DT_F32;
        o->ndim = xt->ndim;
        memcpy(o->shape, xt->shape, sizeof o->shape);
        o->data = r->xs + (size_t)i * n;
    }
    char steps_out[32], shift_out[32];
    snprintf(steps_out, sizeof steps_out, "%lld", steps);
    snprintf(shift_out, sizeof shift_out, "%.17g", shift);
    const char *meta[] = {"sampler", rad_sched_kind_name(kind), "steps", steps_out, "shift", shift_out,
                          "timesteps", timesteps_s};
    return rad_st_write(out_path, r->outs, (size_t)steps + 2, meta, r->n_explicit ? 4 : 3);
}

int eval_unipc(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *timesteps = NULL;
    int sampler = -1;
    static const char *const samplers[] = {"unipc", "unipc-diffusers", "euler", NULL}; /* rad_sched_kind order */
    const cli_flag flags[] = {
        {"--in", NULL, CLI_TEXT, .value = &in, .arg = "CASE", .help = "the case file (safetensors) to read"},
        {"--out", NULL, CLI_TEXT, .value = &out, .arg = "FILE", .help = "the safetensors file to write"},
        {"--sampler", NULL, CLI_CHOICE, .value = &sampler, .choices = samplers,
         .help = "the sampler and its grid; when not given, the UniPC of the grid the case's metadata names (euler "
                 "on explicit timesteps)"},
        {"--timesteps", NULL, CLI_TEXT, .value = &timesteps, .arg = "LIST",
         .help = "explicit unshifted timesteps (1000,750,500,250), sampled with euler on diffusers' FlowMatchEuler "
                 "schedule with the case's shift; when not given, the metadata's timesteps, else the grid"},
    };
    const int rc = cli_parse(CMD, &usage, flags, CLI_N(flags), argc, argv);
    if (rc >= 0) return rc;
    if (!in || !out) return cli_usage_error(CMD, "--in and --out are required");
    unipc_run r = {0};
    rad_status st = run_case(&r, in, out, sampler, timesteps);
    run_free(&r);
    return st == RAD_OK ? 0 : cli_error(CMD);
}
