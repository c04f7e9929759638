/* radial eval unipc: runs a sampler on a reference case (tests/data/cases/unipc*.safetensors) and writes
 * timesteps (I32), sigmas (F32) and x_000.. (the sample after each step).
 * From the case's __metadata__: steps; `shift` selects the official Wan grid, `flow_shift` the diffusers grid
 * (unless --sampler says otherwise); guidance. The velocity of step i is the case's v_NNN when present (the
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
    .about = "Runs a sampler on a reference case. CASE holds x_init, optionally v_000.. (the velocity of each step; "
             "otherwise the synthetic one of golden/README.md) and __metadata__ steps, shift (the official grid) or "
             "flow_shift (the diffusers grid), guidance. Writes timesteps, sigmas and x_000.. (the sample after each "
             "step).",
};

static float synthetic_velocity(float x, double t, int s) {
    return cosf(x * (1.0f + 0.1f * (float)s)) * 0.5f + (float)(t / 1000.0) * x - 0.2f * (float)s;
}

typedef struct {
    rad_st_file *in;
    rad_sched *sched;
    float *x, *v, *xs;    /* current sample, velocity, all outputs [steps][n] */
    int32_t *timesteps;   /* [steps] */
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
    rad_free(r->sigmas);
    rad_free(r->outs);
    rad_free(r->names);
}

/* sampler: a rad_sched_kind, or -1 for the grid the case's metadata names. */
static rad_status run_case(unipc_run *r, const char *in_path, const char *out_path, int sampler) {
    RAD_TRY(rad_st_open(in_path, &r->in));
    const char *steps_s = rad_st_meta(r->in, "steps");
    const char *shift_s = rad_st_meta(r->in, "shift");
    const char *flow_shift_s = rad_st_meta(r->in, "flow_shift");
    const char *guidance_s = rad_st_meta(r->in, "guidance");
    if (!steps_s) return rad_err(RADIAL_ERR_FORMAT, "%s: __metadata__ has no 'steps'", in_path);
    if (!shift_s == !flow_shift_s)
        return rad_err(RADIAL_ERR_FORMAT, "%s: __metadata__ needs exactly one of 'shift' (official grid) and "
                                          "'flow_shift' (diffusers grid)", in_path);
    long long steps;
    double shift;
    if (!cli_int(CMD, "__metadata__ steps", steps_s, 1, 10000, &steps) ||
        !cli_float(CMD, shift_s ? "__metadata__ shift" : "__metadata__ flow_shift", shift_s ? shift_s : flow_shift_s,
                   1e-3, 1e4, &shift))
        return rad_err(RADIAL_ERR_FORMAT, "%s: bad __metadata__ (see above)", in_path);
    rad_sched_kind kind = shift_s ? RAD_SCHED_UNIPC_OFFICIAL : RAD_SCHED_UNIPC_DIFFUSERS;
    if (sampler >= 0) kind = (rad_sched_kind)sampler;
    /* guidance: a number means CFG on the synthetic velocity; anything else ("none (...)") the conditional. */
    double guidance = NAN;
    if (guidance_s) {
        char *end;
        double g = strtod(guidance_s, &end);
        if (end != guidance_s && !*end && isfinite(g)) guidance = g;
    }

    const rad_st_tensor *xt;
    RAD_TRY(rad_st_read_f32(r->in, "x_init", &xt, &r->x));
    size_t n = (size_t)xt->numel;
    if (n == 0) return rad_err(RADIAL_ERR_FORMAT, "%s: 'x_init' is empty", in_path);
    size_t all;
    if (!rad_mul_size(n, (size_t)steps, &all)) return rad_err(RADIAL_ERR_NOMEM, "%s: outputs too large", in_path);
    RAD_TRY(rad_sched_new(kind, (int)steps, shift, n, &r->sched));
    RAD_TRY(rad_calloc((void **)&r->v, n, sizeof(float), "velocity"));
    RAD_TRY(rad_calloc((void **)&r->xs, all, sizeof(float), "samples after each step"));
    RAD_TRY(rad_calloc((void **)&r->timesteps, (size_t)steps, sizeof(int32_t), "timesteps"));
    RAD_TRY(rad_calloc((void **)&r->sigmas, (size_t)steps + 1, sizeof(float), "sigmas"));
    RAD_TRY(rad_calloc((void **)&r->outs, (size_t)steps + 2, sizeof(rad_st_out), "output list"));
    RAD_TRY(rad_calloc((void **)&r->names, (size_t)steps, sizeof *r->names, "output names"));

    for (int i = 0; i < (int)steps; i++) {
        int64_t t = rad_sched_timestep(r->sched, i);
        char vname[16];
        snprintf(vname, sizeof vname, "v_%03d", i);
        const rad_st_tensor *vt = rad_st_find(r->in, vname);
        if (vt) {
            if (vt->numel != xt->numel || vt->ndim != xt->ndim ||
                memcmp(vt->shape, xt->shape, (size_t)xt->ndim * sizeof xt->shape[0]))
                return rad_err(RADIAL_ERR_FORMAT, "%s: '%s' has a different shape from 'x_init'", in_path, vname);
            RAD_TRY(rad_st_to_f32(vt, r->v));
        } else {
            for (size_t j = 0; j < n; j++) {
                float vc = synthetic_velocity(r->x[j], (double)t, 1);
                if (isnan(guidance)) {
                    r->v[j] = vc;
                } else {
                    float vu = synthetic_velocity(r->x[j], (double)t, 0);
                    r->v[j] = vu + (float)guidance * (vc - vu);
                }
            }
        }
        RAD_TRY(rad_sched_step(r->sched, i, r->v, r->x));
        memcpy(r->xs + (size_t)i * n, r->x, n * sizeof(float));
        r->timesteps[i] = (int32_t)t;
    }
    for (int i = 0; i <= (int)steps; i++) r->sigmas[i] = rad_sched_sigma(r->sched, i);

    r->outs[0] = (rad_st_out){.name = "timesteps", .dtype = RAD_DT_I32, .ndim = 1, .shape = {steps},
                              .data = r->timesteps};
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
    const char *meta[] = {"sampler", rad_sched_kind_name(kind), "steps", steps_out, "shift", shift_out};
    return rad_st_write(out_path, r->outs, (size_t)steps + 2, meta, 3);
}

int eval_unipc(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    int sampler = -1;
    static const char *const samplers[] = {"unipc", "unipc-diffusers", "euler", NULL}; /* rad_sched_kind order */
    const cli_flag flags[] = {
        {"--in", NULL, CLI_TEXT, .value = &in, .arg = "CASE", .help = "the case file (safetensors) to read"},
        {"--out", NULL, CLI_TEXT, .value = &out, .arg = "FILE", .help = "the safetensors file to write"},
        {"--sampler", NULL, CLI_CHOICE, .value = &sampler, .choices = samplers,
         .help = "the sampler and its grid; when not given, the UniPC of the grid the case's metadata names"},
    };
    const int rc = cli_parse(CMD, &usage, flags, CLI_N(flags), argc, argv);
    if (rc >= 0) return rc;
    if (!in || !out) return cli_usage_error(CMD, "--in and --out are required");
    unipc_run r = {0};
    rad_status st = run_case(&r, in, out, sampler);
    run_free(&r);
    return st == RAD_OK ? 0 : cli_error(CMD);
}
