/* LoRA files for the Wan DiT (io/lora.h): every key is parsed and matched to an official DiT tensor name when the
 * file is opened, with the rules of diffusers' Wan loader (loaders/lora_pipeline.py WanLoraLoaderMixin and
 * loaders/lora_conversion_utils.py _convert_non_diffusers_wan_lora_to_diffusers /
 * _convert_musubi_wan_lora_to_diffusers, PEFT's LoraConfig for native files); the deltas are formed in fp32 and
 * added to the model's fp32 weights one tensor at a time while the model loads.
 *
 * Key styles (chosen as diffusers chooses, by the first rule that fits any key):
 *   1. some key starts with `diffusion_model.`: official module names (ComfyUI, the official Wan trainers,
 *      lightx2v/CausVid/AccVideo); then every key must have that prefix (diffusers strips it from every key);
 *   2. some key starts with `lora_unet_`: musubi-tuner, official names with '_' for '.';
 *   3. some key starts with `transformer.`: diffusers/PEFT names, mapped through the diffusers -> official table of
 *      io/weights.c; keys without the prefix are ignored, as diffusers' load_lora_adapter(prefix="transformer")
 *      ignores them;
 *   4. no prefix at all: official names, or diffusers names as ModelMixin.save_lora_adapter writes them (diffusers'
 *      pipeline loader would load nothing from such a file; ComfyUI and PEFT read them, so we do).
 * Suffixes: `.lora_down.weight` / `.lora_A.weight` (A, [rank, in]), `.lora_up.weight` / `.lora_B.weight`
 * (B, [out, rank]), `.alpha` (scalar: scale = alpha / rank, 1 without), `.diff_b` / `.lora_B.bias` (bias delta),
 * `.diff` (full weight delta).
 *
 * What diffusers drops, and we drop too (logged, never an error):
 *   - `.diff` / `.diff_b` keys whose name contains "norm" (norm3, norm_q, norm_k): diffusers removes them as
 *     "just zeroed values" in the published LoRAs;
 *   - every `time_projection` key of an official-style file that has no `time_projection*.weight` key (AccVideo's
 *     LoRA carries only a bias delta there; diffusers removes it);
 *   - `dora_scale` keys of a diffusers-named file (diffusers filters them out with a warning, loading the rest as
 *     a plain LoRA; in the other styles its converters reject them, and so do we).
 * Where we deliberately do more than diffusers (documented, because the output then differs from diffusers'):
 *   - other `.diff` keys (full deltas of linears, `modulation`, `patch_embedding`) and stray `.diff_b` keys are
 *     applied as W += strength * diff, bias += strength * diff_b (what the format means and what ComfyUI does);
 *     diffusers' converter ends by discarding them ("diff keys which we do not handle yet"), except
 *     `head.head.diff`, which it applies exactly so (as lora_A with an identity lora_B);
 *   - musubi files may omit modules or `.alpha` (diffusers requires all ten linears of every block, with alpha);
 *   - `.alpha` is read for any module (diffusers reads it on block linears only and rejects it elsewhere);
 *   - the lora_A/lora_B and lora_down/lora_up spellings may differ between modules of one file (diffusers picks
 *     one spelling for the whole file), `head.head.diff` needs no `head.head.diff_b` beside it;
 *   - a NaN or infinity in a LoRA tensor is an error (diffusers would merge it and render NaN frames).
 * Image-to-video keys (cross_attn.k_img / v_img / norm_k_img, img_emb, diffusers add_k_proj / add_v_proj /
 * image_embedder) are an error saying so: this engine runs the text-to-video DiT.
 *
 * Arithmetic (tests/data/golden2/README.md): the stored tensors are rounded from their dtype to fp32, the product
 * B·A is accumulated in fp32 in the order k = 0..rank-1 (a multiply then an add per step), scaled once by
 * c = (float)(strength * alpha / rank) and added: W[o][i] += c * sum_k B[o][k] * A[k][i]. diffusers instead folds
 * alpha / rank into the stored lora_down / lora_up in their own dtype before PEFT casts them to fp32; for a power
 * of two alpha / rank (the usual alpha and rank values) that scaling is exact and the factors are the same; for
 * another ratio in an F16/BF16 file diffusers' factors carry one more rounding of that dtype. */
#include "io/lora.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/threads.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "io/weights.h"

#define LORA_MAX_RANK 4096
_Static_assert(RAD_LORA_MAX_DIMS == RAD_MAX_DIMS, "lora.h's RAD_LORA_MAX_DIMS must equal RAD_MAX_DIMS");
#define LORA_MAX_BLOCK_DIGITS 4 /* "blocks.N.": the 14B model has 40 blocks; a longer number is not a Wan block */

/* ---------------------------------------------------------------------------------------------------------- */
/* Known official DiT modules (spec wan21.md §5.1) and what a LoRA may do to each. */

typedef enum {
    MC_LINEAR,     /* nn.Linear: lora pair, .alpha, .diff (weight), .diff_b (bias) */
    MC_MODULATION, /* a bare parameter (blocks.N.modulation, head.modulation): .diff only, targets the name itself */
    MC_CONV,       /* patch_embedding (Conv3d): .diff and .diff_b; a LoRA pair needs conv LoRA, which diffusers lacks */
    MC_NORM        /* affine norms: reachable only by a lora pair (their diffs are dropped first), which is refused */
} mod_class;

typedef struct {
    const char *name;
    mod_class cls;
} mod_entry;

static const mod_entry k_block_mods[] = {
    {"self_attn.q", MC_LINEAR},     {"self_attn.k", MC_LINEAR},    {"self_attn.v", MC_LINEAR},
    {"self_attn.o", MC_LINEAR},     {"cross_attn.q", MC_LINEAR},   {"cross_attn.k", MC_LINEAR},
    {"cross_attn.v", MC_LINEAR},    {"cross_attn.o", MC_LINEAR},   {"ffn.0", MC_LINEAR},
    {"ffn.2", MC_LINEAR},           {"modulation", MC_MODULATION}, {"norm3", MC_NORM},
    {"self_attn.norm_q", MC_NORM},  {"self_attn.norm_k", MC_NORM}, {"cross_attn.norm_q", MC_NORM},
    {"cross_attn.norm_k", MC_NORM},
};
static const mod_entry k_top_mods[] = {
    {"text_embedding.0", MC_LINEAR},    {"text_embedding.2", MC_LINEAR},  {"time_embedding.0", MC_LINEAR},
    {"time_embedding.2", MC_LINEAR},    {"time_projection.1", MC_LINEAR}, {"head.head", MC_LINEAR},
    {"head.modulation", MC_MODULATION}, {"patch_embedding", MC_CONV},
};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* s equals the module name e with '.' written as '_' (musubi-tuner's names), over exactly n chars of s. */
static bool eq_underscored(const char *e, const char *s, size_t n) {
    if (strlen(e) != n) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] != e[i] && !(e[i] == '.' && s[i] == '_')) return false;
    return true;
}

/* Looks up module m (official, or musubi when `underscored`) in the table; on success *out is the official module
 * name (malloc'ed) and *cls its class. A block number must be written as the model writes it (no leading zero). */
static bool find_module(const char *m, bool underscored, char **out, mod_class *cls) {
    const char *bp = underscored ? "blocks_" : "blocks.";
    const char sep = underscored ? '_' : '.';
    *out = NULL;
    if (!strncmp(m, bp, 7)) {
        const char *d = m + 7;
        size_t nd = 0;
        while (d[nd] >= '0' && d[nd] <= '9') nd++;
        if (nd == 0 || nd > LORA_MAX_BLOCK_DIGITS || (nd > 1 && d[0] == '0') || d[nd] != sep) return false;
        const char *rest = d + nd + 1;
        for (size_t i = 0; i < N_OF(k_block_mods); i++) {
            const char *e = k_block_mods[i].name;
            if (underscored ? eq_underscored(e, rest, strlen(rest)) : !strcmp(e, rest)) {
                size_t n = 7 + nd + 1 + strlen(e) + 1;
                if (!(*out = malloc(n))) return false;
                snprintf(*out, n, "blocks.%.*s.%s", (int)nd, d, e);
                *cls = k_block_mods[i].cls;
                return true;
            }
        }
        return false;
    }
    for (size_t i = 0; i < N_OF(k_top_mods); i++) {
        const char *e = k_top_mods[i].name;
        if (underscored ? eq_underscored(e, m, strlen(m)) : !strcmp(e, m)) {
            *out = strdup(e);
            *cls = k_top_mods[i].cls;
            return *out != NULL;
        }
    }
    return false;
}

/* The official module of a diffusers (WanTransformer3DModel) module name, through io/weights.c's table. */
static bool find_diffusers_module(const char *m, char **out, mod_class *cls) {
    size_t n = strlen(m);
    char *w = malloc(n + 8);
    *out = NULL;
    if (!w) return false;
    memcpy(w, m, n);
    memcpy(w + n, ".weight", 8);
    char *o = rad_weights_dit_official_name(w);
    free(w);
    if (!o) return false;
    size_t k = strlen(o);
    bool ok = false;
    if (k > 7 && !strcmp(o + k - 7, ".weight")) {
        o[k - 7] = 0;
        ok = find_module(o, false, out, cls);
    }
    free(o);
    return ok;
}

/* Substrings that mark an image-to-video LoRA, in official, musubi and diffusers names. */
static const char *i2v_marker(const char *m) {
    static const char *const k[] = {"k_img",      "v_img",        "img_emb",       "add_k_proj",
                                    "add_v_proj", "norm_added_k", "image_embedder"};
    for (size_t i = 0; i < N_OF(k); i++)
        if (strstr(m, k[i])) return k[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Keys */

typedef enum { PART_DOWN, PART_UP, PART_ALPHA, PART_DIFF, PART_DIFF_B, PART_DORA, PART_DORA_PEFT } part_kind;
static const char *const k_part_names[] = {
    "lora_down", "lora_up", "alpha", "diff", "diff_b", "dora_scale", "lora_magnitude_vector"};

static const struct {
    const char *suffix;
    part_kind part;
    bool ab; /* the lora_A / lora_B spelling */
} k_suffixes[] = {
    {".lora_down.weight", PART_DOWN, false},
    {".lora_up.weight", PART_UP, false},
    {".lora_A.weight", PART_DOWN, true},
    {".lora_B.weight", PART_UP, true},
    {".lora_B.bias", PART_DIFF_B, true},
    {".alpha", PART_ALPHA, false},
    {".diff_b", PART_DIFF_B, false},
    {".diff", PART_DIFF, false},
    {".dora_scale", PART_DORA, false},
    {".lora_magnitude_vector.weight", PART_DORA_PEFT, false},
    {".lora_magnitude_vector", PART_DORA_PEFT, false},
};

/* The suffix entry that `s` ends with, or -1. */
static int find_suffix(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < N_OF(k_suffixes); i++) {
        size_t k = strlen(k_suffixes[i].suffix);
        if (n > k && !strcmp(s + n - k, k_suffixes[i].suffix)) return (int)i;
    }
    return -1;
}

typedef enum { ST_OFFICIAL, ST_MUSUBI, ST_DIFFUSERS, ST_BARE } key_style;

typedef struct {
    char *module;    /* official module name */
    char *peft_name; /* the diffusers module name (PEFT metadata patterns match it); NULL for other styles */
    part_kind part;
    mod_class cls;
    const rad_st_tensor *t;
} lora_key;

typedef enum { MOD_LORA, MOD_DIFF, MOD_DIFF_B } mod_kind;

typedef struct {
    mod_kind kind;
    char *target;                   /* official tensor name */
    char *peft_name;                /* as in lora_key */
    const rad_st_tensor *down, *up; /* MOD_LORA: A [rank, in], B [out, rank] */
    const rad_st_tensor *delta;     /* MOD_DIFF / MOD_DIFF_B */
    const char *key;                /* the key named in messages (lora_up for a pair) */
    int rank;                       /* 0 for diffs */
    float alpha;                    /* NAN when absent */
    double scale;                   /* alpha / rank (1 without alpha), times the PEFT metadata factor */
    bool applied;
} lora_mod;

struct rad_lora {
    char *path;
    const char *style;
    float strength;
    rad_st_file *f;
    lora_mod *mods; /* sorted by target (natural order), then kind */
    size_t n_mods, n_applied;
};

/* strcmp, except that runs of digits compare as numbers, so "blocks.9" < "blocks.10" (listings and "the first
 * unused module" then follow block order). */
static int natural_cmp(const char *a, const char *b) {
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            while (*a == '0') a++;
            while (*b == '0') b++;
            size_t na = 0, nb = 0;
            while (a[na] >= '0' && a[na] <= '9') na++;
            while (b[nb] >= '0' && b[nb] <= '9') nb++;
            if (na != nb) return na < nb ? -1 : 1;
            int c = strncmp(a, b, na);
            if (c) return c;
            a += na, b += nb;
            continue;
        }
        if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++, b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

static int key_cmp(const void *x, const void *y) {
    const lora_key *a = x, *b = y;
    int c = natural_cmp(a->module, b->module);
    if (!c) c = strcmp(a->module, b->module);
    return c ? c : (int)a->part - (int)b->part;
}

static int mod_cmp(const void *x, const void *y) {
    const lora_mod *a = x, *b = y;
    int c = natural_cmp(a->target, b->target);
    if (!c) c = strcmp(a->target, b->target);
    if (!c) c = (int)a->kind - (int)b->kind;
    return c ? c : strcmp(a->key, b->key);
}

static void shape_of(const rad_st_tensor *t, char *buf, size_t n) { rad_shape_str(t->shape, t->ndim, buf, n); }

static rad_status check_dtype(const rad_lora *l, const rad_st_tensor *t) {
    if (t->dtype == RAD_DT_F32 || t->dtype == RAD_DT_F16 || t->dtype == RAD_DT_BF16) return RAD_OK;
    return rad_err(RADIAL_ERR_FORMAT, "%s: LoRA key '%s' has dtype %s; LoRA tensors must be F32, F16 or BF16", l->path,
                   t->name, t->dtype_name);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Parsing */

typedef struct {
    lora_key *keys;
    size_t n_keys;
    size_t n_dropped, n_ignored;
    const char *first_dropped, *first_ignored;
    bool saw_ab, saw_down_up, bare_diffusers, bare_decided;
} parse_state;

static void free_keys(parse_state *ps) {
    for (size_t i = 0; i < ps->n_keys; i++) {
        free(ps->keys[i].module);
        free(ps->keys[i].peft_name);
    }
    rad_free(ps->keys);
    ps->keys = NULL;
    ps->n_keys = 0;
}

static void drop(parse_state *ps, const char *key, const char *why) {
    if (!ps->n_dropped) ps->first_dropped = key;
    ps->n_dropped++;
    RAD_DEBUG("LoRA key '%s' dropped: %s (as diffusers does)", key, why);
}

static const char *const k_prefixes[] = {"diffusion_model.", "lora_unet_", "transformer.", ""};

/* Parses one key into ps->keys (or drops or ignores it). */
static rad_status parse_key(rad_lora *l, parse_state *ps, key_style style, bool has_tp_weight, const rad_st_tensor *t) {
    const char *name = t->name, *pre = k_prefixes[style];
    size_t np = strlen(pre);
    if (strncmp(name, pre, np)) {
        if (style == ST_DIFFUSERS) { /* load_lora_adapter(prefix="transformer") keeps only "transformer." keys */
            if (!ps->n_ignored) ps->first_ignored = name;
            ps->n_ignored++;
            return RAD_OK;
        }
        return rad_err(RADIAL_ERR_FORMAT,
                       "%s: LoRA key '%s' lacks the prefix '%s' that other keys of the file have (mixed key styles)",
                       l->path, name, pre);
    }
    const char *rest = name + np;
    int si = find_suffix(rest);
    if (si < 0)
        return rad_err(RADIAL_ERR_FORMAT,
                       "%s: LoRA key '%s' has an unknown suffix (expected .lora_down.weight, .lora_up.weight, "
                       ".lora_A.weight, .lora_B.weight, .lora_B.bias, .alpha, .diff_b or .diff)",
                       l->path, name);
    part_kind part = k_suffixes[si].part;
    size_t nm = strlen(rest) - strlen(k_suffixes[si].suffix);
    char *m = malloc(nm + 1);
    if (!m) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory parsing key '%s'", l->path, name);
    memcpy(m, rest, nm);
    m[nm] = 0;

    rad_status st = RAD_OK;
    const char *i2v = i2v_marker(m);
    if (i2v) {
        st = rad_err(RADIAL_ERR_UNSUPPORTED,
                     "%s: LoRA key '%s' (%s) belongs to an image-to-video LoRA (Wan I2V's image branch); this engine "
                     "runs the text-to-video DiT, which has no such layer",
                     l->path, name, i2v);
        goto done;
    }
    if (part == PART_DORA_PEFT) {
        st = rad_err(RADIAL_ERR_UNSUPPORTED, "%s: LoRA key '%s' is a DoRA magnitude; DoRA adapters are not supported",
                     l->path, name);
        goto done;
    }
    if (part == PART_DORA) {
        if (style == ST_DIFFUSERS) {
            drop(ps, name, "DoRA scale of a diffusers-named file");
            goto done;
        }
        st = rad_err(RADIAL_ERR_UNSUPPORTED, "%s: LoRA key '%s' is a DoRA scale; DoRA adapters are not supported",
                     l->path, name);
        goto done;
    }
    /* _convert_non_diffusers_wan_lora_to_diffusers: norm diffs are removed (diffusers applies that to its
     * official-style files; a norm diff in another style would be just as zero). */
    if ((part == PART_DIFF || part == PART_DIFF_B) && strstr(rest, "norm")) {
        drop(ps, name, "norm diff");
        goto done;
    }
    if ((style == ST_OFFICIAL || style == ST_BARE) && !has_tp_weight && strstr(rest, "time_projection")) {
        drop(ps, name, "time_projection key without a time_projection weight key");
        goto done;
    }

    char *official = NULL, *peft = NULL;
    mod_class cls = MC_LINEAR;
    bool found = false;
    switch (style) {
    case ST_OFFICIAL: found = find_module(m, false, &official, &cls); break;
    case ST_MUSUBI: found = find_module(m, true, &official, &cls); break;
    case ST_DIFFUSERS:
        found = find_diffusers_module(m, &official, &cls);
        if (found && !(peft = strdup(m))) {
            free(official);
            st = rad_err(RADIAL_ERR_NOMEM, "%s: out of memory parsing key '%s'", l->path, name);
            goto done;
        }
        break;
    case ST_BARE: {
        bool as_official = find_module(m, false, &official, &cls);
        bool as_diffusers = !as_official && find_diffusers_module(m, &official, &cls);
        found = as_official || as_diffusers;
        if (found) {
            if (ps->bare_decided && ps->bare_diffusers != as_diffusers) {
                free(official);
                st = rad_err(RADIAL_ERR_FORMAT,
                             "%s: LoRA key '%s' uses %s module names but earlier keys use %s names (mixed key styles)",
                             l->path, name, as_diffusers ? "diffusers" : "official",
                             as_diffusers ? "official" : "diffusers");
                goto done;
            }
            ps->bare_decided = true;
            ps->bare_diffusers = as_diffusers;
            if (as_diffusers && !(peft = strdup(m))) {
                free(official);
                st = rad_err(RADIAL_ERR_NOMEM, "%s: out of memory parsing key '%s'", l->path, name);
                goto done;
            }
        }
        break;
    }
    }
    if (!found) {
        static const char *const k_naming[] = {"official Wan", "musubi-tuner", "diffusers", "official or diffusers"};
        st = rad_err(RADIAL_ERR_FORMAT, "%s: LoRA key '%s': module '%s' is not a layer of the Wan DiT (%s names)",
                     l->path, name, m, k_naming[style]);
        goto done;
    }
    /* What each module class may receive. */
    bool ok = cls == MC_LINEAR || (cls == MC_MODULATION && part == PART_DIFF) ||
              (cls == MC_CONV && (part == PART_DIFF || part == PART_DIFF_B));
    if (!ok) {
        free(official);
        free(peft);
        st = rad_err(RADIAL_ERR_UNSUPPORTED, "%s: LoRA key '%s': a %s for '%s' is not supported (%s)", l->path, name,
                     k_part_names[part], m,
                     cls == MC_CONV   ? "LoRA on the patch-embedding convolution; only .diff / .diff_b deltas"
                     : cls == MC_NORM ? "LoRA on a norm layer"
                                      : "a bare parameter takes only a .diff delta");
        goto done;
    }
    if (part == PART_DOWN || part == PART_UP) {
        if (k_suffixes[si].ab)
            ps->saw_ab = true;
        else
            ps->saw_down_up = true;
    }
    ps->keys[ps->n_keys++] = (lora_key){official, peft, part, cls, t};
done:
    free(m);
    return st;
}

/* Checks a module's tensors and fills *out from the keys ks[0..n) of one module. */
static rad_status build_modules(rad_lora *l, const lora_key *ks, size_t n, lora_mod *out, size_t *n_out) {
    const lora_key *by_part[PART_DIFF_B + 1] = {0};
    for (size_t i = 0; i < n; i++) {
        const lora_key *k = &ks[i];
        if (by_part[k->part])
            return rad_err(RADIAL_ERR_FORMAT, "%s: LoRA keys '%s' and '%s' both give the %s of module '%s'", l->path,
                           by_part[k->part]->t->name, k->t->name, k_part_names[k->part], k->module);
        by_part[k->part] = k;
        RAD_TRY(check_dtype(l, k->t));
    }
    const lora_key *down = by_part[PART_DOWN], *up = by_part[PART_UP], *alpha = by_part[PART_ALPHA];
    const char *module = ks[0].module;
    char sa[96], sb[96];
    if (down || up || alpha) {
        if (!down || !up) {
            const lora_key *have = up ? up : down ? down : alpha;
            return rad_err(RADIAL_ERR_FORMAT, "%s: LoRA key '%s' (%s) has no matching %s for module '%s'", l->path,
                           have->t->name, k_part_names[have->part],
                           !down && !up ? "lora_down/lora_up pair"
                           : !down      ? "lora_down"
                                        : "lora_up",
                           module);
        }
        const rad_st_tensor *a = down->t, *b = up->t;
        shape_of(a, sa, sizeof sa);
        shape_of(b, sb, sizeof sb);
        if (a->ndim != 2 || b->ndim != 2)
            return rad_err(RADIAL_ERR_FORMAT,
                           "%s: LoRA keys '%s' %s and '%s' %s must both be matrices (lora_down [rank, in], lora_up "
                           "[out, rank])",
                           l->path, a->name, sa, b->name, sb);
        if (a->shape[0] < 1 || a->shape[0] > LORA_MAX_RANK)
            return rad_err(RADIAL_ERR_FORMAT, "%s: LoRA key '%s' %s has rank %lld (must be 1..%d)", l->path, a->name,
                           sa, (long long)a->shape[0], LORA_MAX_RANK);
        if (b->shape[1] != a->shape[0])
            return rad_err(RADIAL_ERR_FORMAT,
                           "%s: LoRA rank mismatch in module '%s': '%s' %s has rank %lld, '%s' %s has rank %lld",
                           l->path, module, a->name, sa, (long long)a->shape[0], b->name, sb, (long long)b->shape[1]);
        if (a->shape[1] < 1 || b->shape[0] < 1)
            return rad_err(RADIAL_ERR_FORMAT, "%s: LoRA module '%s' is empty ('%s' %s, '%s' %s)", l->path, module,
                           a->name, sa, b->name, sb);
        lora_mod *m = &out[(*n_out)++];
        *m = (lora_mod){
            .kind = MOD_LORA, .down = a, .up = b, .key = b->name, .rank = (int)a->shape[0], .alpha = NAN, .scale = 1.0};
        if (alpha) {
            const rad_st_tensor *t = alpha->t;
            if (t->numel != 1) {
                shape_of(t, sa, sizeof sa);
                return rad_err(RADIAL_ERR_FORMAT, "%s: LoRA key '%s' has shape %s; an alpha must be a single number",
                               l->path, t->name, sa);
            }
            float v;
            RAD_TRY(rad_st_to_f32(t, &v));
            if (!isfinite(v))
                return rad_err(RADIAL_ERR_FORMAT, "%s: LoRA key '%s' is %g; an alpha must be finite", l->path, t->name,
                               (double)v);
            m->alpha = v;
            m->scale = (double)v / (double)m->rank;
        }
        size_t nt = strlen(module) + 8;
        if (!(m->target = malloc(nt))) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", l->path);
        snprintf(m->target, nt, "%s.weight", module);
        if (ks[0].peft_name && !(m->peft_name = strdup(ks[0].peft_name)))
            return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", l->path);
    }
    for (int p = PART_DIFF; p <= PART_DIFF_B; p++) {
        const lora_key *k = by_part[p];
        if (!k) continue;
        const rad_st_tensor *t = k->t;
        shape_of(t, sa, sizeof sa);
        if (p == PART_DIFF_B ? t->ndim != 1 : t->ndim < 1)
            return rad_err(RADIAL_ERR_FORMAT, "%s: LoRA key '%s' has shape %s; a %s must be %s", l->path, t->name, sa,
                           k_part_names[p],
                           p == PART_DIFF_B ? "a vector (bias delta)" : "a tensor of the weight's shape");
        lora_mod *m = &out[(*n_out)++];
        *m = (lora_mod){
            .kind = p == PART_DIFF ? MOD_DIFF : MOD_DIFF_B, .delta = t, .key = t->name, .alpha = NAN, .scale = 1.0};
        size_t nt = strlen(module) + 8;
        if (!(m->target = malloc(nt))) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", l->path);
        if (p == PART_DIFF_B)
            snprintf(m->target, nt, "%s.bias", module);
        else if (k->cls == MC_MODULATION)
            snprintf(m->target, nt, "%s", module);
        else
            snprintf(m->target, nt, "%s.weight", module);
        if (k->peft_name && !(m->peft_name = strdup(k->peft_name)))
            return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", l->path);
    }
    return RAD_OK;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* PEFT adapter metadata: diffusers writes the LoraConfig as JSON under __metadata__["lora_adapter_metadata"]
 * ("transformer."-prefixed keys from the pipeline's save_lora_weights, bare keys from save_lora_adapter) and
 * loads it back as the LoraConfig, whose scaling is lora_alpha / r per module (rank_pattern / alpha_pattern
 * override r and lora_alpha for the modules they match; use_rslora divides by sqrt(r)). PEFT applies that
 * scaling to lora_B's output, bias included. */

/* PEFT's get_pattern_key: pattern p matches module name m when re.match(rf"(.*\.)?({p})$", m); a leading '^'
 * (diffusers writes "^blocks.0.attn1.to_q") allows no prefix. Patterns are treated as literal names in which
 * '.' matches any character; other regex syntax is refused (returned as an error by the caller). */
static bool pattern_is_literal(const char *p) { return !strpbrk(p, "*+?()[]{}|\\$"); }

static bool match_at(const char *p, const char *s) {
    if (strlen(p) != strlen(s)) return false;
    for (; *p; p++, s++)
        if (*p != '.' && *p != *s) return false;
    return true;
}

static bool pattern_match(const char *p, const char *m) {
    if (*p == '^') return match_at(p + 1, m);
    if (match_at(p, m)) return true;
    size_t np = strlen(p), nm = strlen(m);
    return nm > np + 1 && m[nm - np - 1] == '.' && match_at(p, m + nm - np);
}

/* The value of the first pattern in obj that matches m, or NULL. */
static const json_t *pattern_value(const json_t *obj, const char *m) {
    const char *k;
    const json_t *v;
    if (!obj) return NULL;
    json_object_foreach((json_t *)obj, k, v) {
        if (pattern_match(k, m)) return v;
    }
    return NULL;
}

static rad_status apply_peft_metadata(rad_lora *l, key_style style, bool bare_diffusers) {
    const char *raw = rad_st_meta(l->f, "lora_adapter_metadata");
    if (!raw) return RAD_OK;
    if (!(style == ST_DIFFUSERS || (style == ST_BARE && bare_diffusers)))
        return rad_err(RADIAL_ERR_UNSUPPORTED,
                       "%s: the file carries diffusers' lora_adapter_metadata but its keys are not diffusers names; "
                       "such a mix is not supported",
                       l->path);
    char label[600];
    snprintf(label, sizeof label, "%s (__metadata__ lora_adapter_metadata)", l->path);
    json_t *root;
    RAD_TRY(rad_json_loadb(raw, strlen(raw), label, &root));
    rad_status st = RAD_OK;
    const char *pre = style == ST_DIFFUSERS ? "transformer." : "";
    char kr[64], ka[64], krp[64], kap[64], krs[64], kdo[64];
    snprintf(kr, sizeof kr, "%sr", pre);
    snprintf(ka, sizeof ka, "%slora_alpha", pre);
    snprintf(krp, sizeof krp, "%srank_pattern", pre);
    snprintf(kap, sizeof kap, "%salpha_pattern", pre);
    snprintf(krs, sizeof krs, "%suse_rslora", pre);
    snprintf(kdo, sizeof kdo, "%suse_dora", pre);
    if (!json_is_object(root)) {
        st = rad_err(RADIAL_ERR_FORMAT, "%s: expected a JSON object", label);
        goto done;
    }
    long long r = 8; /* PEFT's LoraConfig defaults */
    double alpha = 8;
    bool has_r, has_alpha;
    if ((st = rad_json_int(root, kr, label, &r, &has_r)) != RAD_OK) goto done;
    if ((st = rad_json_num(root, ka, label, &alpha, &has_alpha)) != RAD_OK) goto done;
    const json_t *rp = json_object_get(root, krp), *ap = json_object_get(root, kap);
    const json_t *rs = json_object_get(root, krs), *dora = json_object_get(root, kdo);
    if (!has_r && !has_alpha && !rp && !ap) {
        RAD_WARN("%s: lora_adapter_metadata has no '%s' / '%s'; ignored (scale 1)", l->path, kr, ka);
        goto done;
    }
    if (dora && json_is_true(dora)) {
        st = rad_err(RADIAL_ERR_UNSUPPORTED, "%s: %s is true: DoRA adapters are not supported", label, kdo);
        goto done;
    }
    bool rslora = rs && json_is_true(rs);
    if ((rp && !json_is_null(rp) && !json_is_object(rp)) || (ap && !json_is_null(ap) && !json_is_object(ap))) {
        st = rad_err(RADIAL_ERR_FORMAT, "%s: '%s' and '%s' must be objects", label, krp, kap);
        goto done;
    }
    if (rp && !json_is_object(rp)) rp = NULL;
    if (ap && !json_is_object(ap)) ap = NULL;
    const json_t *pats[2] = {rp, ap};
    for (int i = 0; i < 2; i++) {
        const char *k;
        const json_t *v;
        if (!pats[i]) continue;
        json_object_foreach((json_t *)pats[i], k, v) {
            if (!pattern_is_literal(k) || !json_is_number(v)) {
                st = rad_err(RADIAL_ERR_UNSUPPORTED,
                             "%s: pattern '%s' of '%s' is a regular expression or has a non-numeric value; only "
                             "module names are supported",
                             label, k, i ? kap : krp);
                goto done;
            }
        }
    }
    for (size_t i = 0; i < l->n_mods; i++) {
        lora_mod *m = &l->mods[i];
        if (!m->peft_name || m->kind == MOD_DIFF) continue; /* .diff is no PEFT tensor */
        const json_t *vr = pattern_value(rp, m->peft_name), *va = pattern_value(ap, m->peft_name);
        double rm = vr ? json_number_value(vr) : (double)r, am = va ? json_number_value(va) : alpha;
        if (!(rm >= 1 && rm <= LORA_MAX_RANK && rm == floor(rm)) || !isfinite(am)) {
            st = rad_err(RADIAL_ERR_FORMAT,
                         "%s: module '%s' gets r = %g, lora_alpha = %g; r must be 1..%d, alpha finite", label,
                         m->peft_name, rm, am, LORA_MAX_RANK);
            goto done;
        }
        if (m->kind == MOD_LORA && (double)m->rank != rm) {
            st =
                rad_err(RADIAL_ERR_FORMAT, "%s: LoRA key '%s' has rank %d but the adapter config gives r = %g for '%s'",
                        label, m->key, m->rank, rm, m->peft_name);
            goto done;
        }
        m->scale *= am / (rslora ? sqrt(rm) : rm);
    }
done:
    json_decref(root);
    return st;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Open / close */

static rad_status parse(rad_lora *l) {
    size_t n = rad_st_count(l->f);
    if (n == 0) return rad_err(RADIAL_ERR_FORMAT, "%s: the file holds no tensors; it is not a LoRA", l->path);

    /* Not a LoRA at all (a model checkpoint, a case file): say so instead of naming its first key's suffix. */
    bool any_lora = false;
    for (size_t i = 0; i < n && !any_lora; i++) any_lora = find_suffix(rad_st_at(l->f, i)->name) >= 0;
    if (!any_lora)
        return rad_err(
            RADIAL_ERR_FORMAT,
            "%s: no key of the file is a LoRA key (first key '%s'); it is not a LoRA file (expected keys such "
            "as 'diffusion_model.blocks.0.self_attn.q.lora_down.weight')",
            l->path, rad_st_at(l->f, 0)->name);

    /* The style, in the order WanLoraLoaderMixin.lora_state_dict tests them. */
    key_style style = ST_BARE;
    for (int s = ST_OFFICIAL; s <= ST_DIFFUSERS && style == ST_BARE; s++)
        for (size_t i = 0; i < n; i++)
            if (!strncmp(rad_st_at(l->f, i)->name, k_prefixes[s], strlen(k_prefixes[s]))) {
                style = (key_style)s;
                break;
            }
    /* diffusers' has_time_projection_weight, on the keys without their prefix. */
    bool has_tp_weight = false;
    size_t np = strlen(k_prefixes[style]);
    for (size_t i = 0; i < n; i++) {
        const char *k = rad_st_at(l->f, i)->name;
        if (strncmp(k, k_prefixes[style], np)) continue;
        k += np;
        size_t nk = strlen(k);
        if (!strncmp(k, "time_projection", 15) && nk >= 7 && !strcmp(k + nk - 7, ".weight")) has_tp_weight = true;
    }

    parse_state ps = {0};
    rad_status st = rad_calloc((void **)&ps.keys, n, sizeof *ps.keys, "LoRA keys");
    if (st != RAD_OK) return rad_err_prefix(st, "%s: ", l->path);
    for (size_t i = 0; i < n && st == RAD_OK; i++) st = parse_key(l, &ps, style, has_tp_weight, rad_st_at(l->f, i));
    if (st != RAD_OK) goto done;

    if (ps.n_keys == 0) {
        st = rad_err(
            RADIAL_ERR_FORMAT,
            "%s: no LoRA module for the DiT in the file (%zu key(s) dropped as diffusers drops them, first '%s'; "
            "%zu ignored, first '%s')",
            l->path, ps.n_dropped, ps.first_dropped ? ps.first_dropped : "-", ps.n_ignored,
            ps.first_ignored ? ps.first_ignored : "-");
        goto done;
    }
    qsort(ps.keys, ps.n_keys, sizeof *ps.keys, key_cmp);
    /* A module gives at most a pair, a diff and a diff_b: at most as many modules as keys. */
    if ((st = rad_calloc((void **)&l->mods, ps.n_keys, sizeof *l->mods, "LoRA modules")) != RAD_OK) goto done;
    for (size_t i = 0; i < ps.n_keys && st == RAD_OK;) {
        size_t j = i + 1;
        while (j < ps.n_keys && !strcmp(ps.keys[j].module, ps.keys[i].module)) j++;
        st = build_modules(l, &ps.keys[i], j - i, l->mods, &l->n_mods);
        i = j;
    }
    if (st != RAD_OK) goto done;
    if ((st = apply_peft_metadata(l, style, ps.bare_diffusers)) != RAD_OK) goto done;
    qsort(l->mods, l->n_mods, sizeof *l->mods, mod_cmp);
    for (size_t i = 1; i < l->n_mods; i++)
        if (!strcmp(l->mods[i].target, l->mods[i - 1].target) && l->mods[i].kind == l->mods[i - 1].kind) {
            st = rad_err(RADIAL_ERR_FORMAT, "%s: LoRA keys '%s' and '%s' both give the %s of '%s'", l->path,
                         l->mods[i - 1].key, l->mods[i].key, l->mods[i].kind == MOD_LORA ? "lora pair" : "delta",
                         l->mods[i].target);
            goto done;
        }

    switch (style) {
    case ST_OFFICIAL:
        l->style = ps.saw_ab && ps.saw_down_up
                       ? "ComfyUI/official (diffusion_model., lora_down/lora_up and lora_A/lora_B)"
                   : ps.saw_ab      ? "ComfyUI/official (diffusion_model., lora_A/lora_B)"
                   : ps.saw_down_up ? "ComfyUI/official (diffusion_model., lora_down/lora_up)"
                                    : "ComfyUI/official (diffusion_model., diff only)";
        break;
    case ST_MUSUBI: l->style = "musubi-tuner (lora_unet_)"; break;
    case ST_DIFFUSERS: l->style = "diffusers/PEFT (transformer.)"; break;
    case ST_BARE: l->style = ps.bare_diffusers ? "diffusers/PEFT names, no prefix" : "official names, no prefix"; break;
    }
    if (ps.n_dropped)
        RAD_INFO("%s: %zu LoRA key(s) dropped as diffusers drops them (first '%s')", l->path, ps.n_dropped,
                 ps.first_dropped);
    if (ps.n_ignored)
        RAD_WARN("%s: %zu key(s) without the 'transformer.' prefix ignored, as diffusers ignores them (first '%s')",
                 l->path, ps.n_ignored, ps.first_ignored);
done:
    free_keys(&ps);
    return st;
}

static rad_status finish_open(rad_lora *l, rad_status st, rad_lora **out) {
    if (st == RAD_OK) st = parse(l);
    if (st != RAD_OK) {
        rad_lora_close(l);
        return st;
    }
    *out = l;
    return RAD_OK;
}

static rad_status new_lora(const char *path, float strength, rad_lora **l) {
    if (!isfinite(strength))
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: LoRA strength %g is not finite", path, (double)strength);
    if (!(*l = calloc(1, sizeof **l)) || !((*l)->path = strdup(path))) {
        free(*l);
        *l = NULL;
        return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory opening the LoRA", path);
    }
    (*l)->strength = strength;
    return RAD_OK;
}

rad_status rad_lora_open(const char *path, float strength, rad_lora **out) {
    rad_lora *l;
    *out = NULL;
    if (!path) return rad_err(RADIAL_ERR_INVALID_ARG, "rad_lora_open: no path");
    RAD_TRY(new_lora(path, strength, &l));
    return finish_open(l, rad_st_open(path, &l->f), out);
}

rad_status rad_lora_open_memory(const void *data, size_t size, const char *label, float strength, rad_lora **out) {
    rad_lora *l;
    *out = NULL;
    if (!label) label = "(memory)";
    RAD_TRY(new_lora(label, strength, &l));
    return finish_open(l, rad_st_open_memory(data, size, label, &l->f), out);
}

void rad_lora_close(rad_lora *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n_mods; i++) {
        free(l->mods[i].target);
        free(l->mods[i].peft_name);
    }
    rad_free(l->mods);
    rad_st_close(l->f);
    free(l->path);
    free(l);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Merging */

/* W[out, in] += c · B[out, r] · A[r, in], blocked like the CPU backend's GEMM (backend/cpu/cpu_ops.c): A is
 * packed once into NR-column panels, k-major (ap[panel][k][0..NR), zero past `in`), so a micro-kernel step reads
 * NR consecutive floats (unpacked, the r rows of a column strip lie `in` floats apart: at in = 5120 they all fall
 * in one L1 set); the micro-kernel keeps an MR x NR tile of sums in registers while k runs 0..r-1, broadcasting
 * B[o][k]. Rows are split over threads; each thread walks its rows in blocks of MERGE_RB (their B rows stay in
 * L2) and, inside a block, panel by panel (the panel, r x NR floats, stays in L1 while the block's row groups
 * pass over it). 5120 x 5120 at rank 128: ~0.017 s on 16 cores (AVX-512), so ~400 such modules add ~7 s.
 *
 * Every sum is formed in fp32 as s = 0; for k = 0..r-1: s = s + B[o][k]·A[k][i] (a rounded multiply, then a
 * rounded add: no fused multiply-add, in any variant), then W[o][i] = W[o][i] + c·s; so every ISA variant, tiling
 * and thread count gives the same bits. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* clang would fuse a*b+c by default; gcc's ISO C mode does not */
#endif

#define MERGE_MAXR 8
#define MERGE_MAXC 32
#define MERGE_RB 64 /* rows per block: B block = 64 x r floats (32 KB at rank 128) */

typedef void (*merge_kernel_fn)(int64_t r, const float *const *b, const float *ap, float *tile);

/* tile[i][j] = sum over k = 0..r-1 of b[i][k] * ap[k][j], in order. */
#define MERGE_KERNEL_BODY(MR, NR)                                                                                      \
    float acc[MR][NR];                                                                                                 \
    for (int i = 0; i < MR; i++)                                                                                       \
        for (int j = 0; j < NR; j++) acc[i][j] = 0.0f;                                                                 \
    for (int64_t k = 0; k < r; k++) {                                                                                  \
        const float *a = ap + k * NR;                                                                                  \
        for (int i = 0; i < MR; i++) {                                                                                 \
            const float bk = b[i][k];                                                                                  \
            for (int j = 0; j < NR; j++) acc[i][j] = acc[i][j] + bk * a[j];                                            \
        }                                                                                                              \
    }                                                                                                                  \
    for (int i = 0; i < MR; i++)                                                                                       \
        for (int j = 0; j < NR; j++) tile[i * NR + j] = acc[i][j];

static void merge_kernel_base(int64_t r, const float *const *b, const float *ap, float *tile) {
    MERGE_KERNEL_BODY(4, 8)
}
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MERGE_HAVE_X86 1
__attribute__((target("avx2"))) static void merge_kernel_avx2(int64_t r, const float *const *b, const float *ap,
                                                              float *tile) {
    MERGE_KERNEL_BODY(6, 16)
}
__attribute__((target("avx512f,prefer-vector-width=512"))) static void
merge_kernel_avx512(int64_t r, const float *const *b, const float *ap, float *tile) {
    MERGE_KERNEL_BODY(8, 32)
}
#endif

typedef struct {
    merge_kernel_fn fn;
    int mr, nr;
} merge_kernel;

static merge_kernel merge_pick(void) {
#ifdef MERGE_HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return (merge_kernel){merge_kernel_avx512, 8, 32};
    if (__builtin_cpu_supports("avx2")) return (merge_kernel){merge_kernel_avx2, 6, 16};
#endif
    return (merge_kernel){merge_kernel_base, 4, 8};
}

typedef struct {
    float *w;        /* [out, in] */
    const float *ap; /* packed A: n_panels x r x nr */
    const float *b;  /* B [out, r] */
    int64_t out, in, r, n_panels;
    float c;
    merge_kernel kern;
} merge_job;

/* Rows [g0*mr, g1*mr) of W (clipped to out). */
static void merge_rows(void *ctx, int64_t g0, int64_t g1) {
    const merge_job *j = ctx;
    const int mr = j->kern.mr, nr = j->kern.nr;
    const int64_t in = j->in, r = j->r, o_end = g1 * mr < j->out ? g1 * mr : j->out;
    float tile[MERGE_MAXR * MERGE_MAXC];
    const int64_t rb = (MERGE_RB / mr) * mr;
    for (int64_t o0 = g0 * mr; o0 < o_end; o0 += rb) {
        const int64_t o1 = o0 + rb < o_end ? o0 + rb : o_end;
        for (int64_t p = 0; p < j->n_panels; p++) {
            const float *ap = j->ap + p * r * nr;
            const int64_t x = p * nr;
            const int nv = x + nr <= in ? nr : (int)(in - x);
            for (int64_t o = o0; o < o1; o += mr) {
                const int mv = o + mr <= o1 ? mr : (int)(o1 - o);
                const float *brow[MERGE_MAXR];
                for (int i = 0; i < mr; i++) brow[i] = j->b + (o + (i < mv ? i : 0)) * r; /* spare rows: row 0 again */
                j->kern.fn(r, brow, ap, tile);
                for (int i = 0; i < mv; i++) {
                    float *w = j->w + (o + i) * in + x;
                    const float *t = tile + i * nr;
                    for (int q = 0; q < nv; q++) w[q] = w[q] + j->c * t[q];
                }
            }
        }
    }
}

/* W += c · B·A for a [out, in] tensor; a (fp32 [r, in]) and b (fp32 [out, r]) as converted from the file. */
static rad_status merge(const rad_lora *l, const lora_mod *m, float *w, const float *a, const float *b, float c) {
    const int64_t out = m->up->shape[0], in = m->down->shape[1], r = m->rank;
    merge_job j = {.w = w, .b = b, .out = out, .in = in, .r = r, .c = c, .kern = merge_pick()};
    const int nr = j.kern.nr;
    j.n_panels = (in + nr - 1) / nr;
    size_t n_ap, bytes;
    if (!rad_mul_size((size_t)j.n_panels * (size_t)nr, (size_t)r, &n_ap) || !rad_mul_size(n_ap, sizeof(float), &bytes))
        return rad_err(RADIAL_ERR_NOMEM, "%s: LoRA key '%s' is too large", l->path, m->key);
    float *ap;
    RAD_TRY(rad_alloc((void **)&ap, bytes, "packed lora_down"));
    for (int64_t p = 0; p < j.n_panels; p++)
        for (int64_t k = 0; k < r; k++) {
            float *dst = ap + (p * r + k) * nr;
            for (int q = 0; q < nr; q++) dst[q] = p * nr + q < in ? a[k * in + p * nr + q] : 0.0f;
        }
    j.ap = ap;
    /* At least ~4 M multiply-adds per thread: the tiny test model stays on one thread. */
    const int64_t groups = (out + j.kern.mr - 1) / j.kern.mr, per_group = (int64_t)j.kern.mr * in * r;
    const int64_t min_chunk = (4 << 20) / (per_group > 0 ? per_group : 1);
    rad_parallel_for(groups, min_chunk < 1 ? 1 : min_chunk, merge_rows, &j);
    rad_free(ap);
    return RAD_OK;
}

/* A tensor of the file as a new fp32 array. A NaN or infinity is refused: merged, it would silently turn the
 * weight (and every frame) into NaN; the scan costs little next to the conversion. */
static rad_status to_f32(const rad_lora *l, const rad_st_tensor *t, float **out) {
    size_t bytes;
    *out = NULL;
    if (!rad_mul_size((size_t)t->numel, sizeof(float), &bytes))
        return rad_err(RADIAL_ERR_NOMEM, "%s: LoRA key '%s' is too large", l->path, t->name);
    RAD_TRY(rad_alloc((void **)out, bytes ? bytes : sizeof(float), t->name));
    rad_status st = rad_st_to_f32(t, *out);
    if (st != RAD_OK) {
        rad_free(*out);
        *out = NULL;
        return rad_err_prefix(st, "%s: ", l->path);
    }
    for (int64_t i = 0; i < t->numel; i++)
        if (!isfinite((*out)[i])) {
            st = rad_err(RADIAL_ERR_FORMAT, "%s: LoRA key '%s' holds a non-finite value (%g at element %lld)", l->path,
                         t->name, (double)(*out)[i], (long long)i);
            rad_free(*out);
            *out = NULL;
            return st;
        }
    return RAD_OK;
}

static rad_status apply_one(rad_lora *l, lora_mod *m, const char *name, int ndim, const int64_t *shape, float *data) {
    char want[96], got[96], sa[96], sb[96];
    rad_shape_str(shape, ndim, got, sizeof got);
    if (m->kind == MOD_LORA) {
        const int64_t out = m->up->shape[0], in = m->down->shape[1];
        if (ndim != 2 || shape[0] != out || shape[1] != in) {
            rad_shape_str((int64_t[]){out, in}, 2, want, sizeof want);
            shape_of(m->up, sa, sizeof sa);
            shape_of(m->down, sb, sizeof sb);
            return rad_err(RADIAL_ERR_MODEL,
                           "%s: LoRA key '%s' gives a delta of shape %s (lora_up %s x lora_down %s) but model tensor "
                           "'%s' is %s",
                           l->path, m->key, want, sa, sb, name, got);
        }
        const float c = (float)((double)l->strength * m->scale);
        if (c == 0.0f) return RAD_OK; /* strength 0 (or alpha 0): nothing to add */
        float *a = NULL, *b = NULL;
        rad_status st = to_f32(l, m->down, &a);
        if (st == RAD_OK) st = to_f32(l, m->up, &b);
        if (st == RAD_OK) st = merge(l, m, data, a, b, c);
        rad_free(a);
        rad_free(b);
        return st;
    }
    const rad_st_tensor *t = m->delta;
    bool same = ndim == t->ndim;
    for (int i = 0; same && i < ndim; i++) same = shape[i] == t->shape[i];
    if (!same) {
        shape_of(t, want, sizeof want);
        return rad_err(RADIAL_ERR_MODEL, "%s: LoRA key '%s' has shape %s but model tensor '%s' is %s", l->path, m->key,
                       want, name, got);
    }
    const float s = (float)((double)l->strength * m->scale);
    if (s == 0.0f) return RAD_OK;
    float *d;
    RAD_TRY(to_f32(l, t, &d));
    for (int64_t i = 0; i < t->numel; i++) data[i] += s * d[i];
    rad_free(d);
    return RAD_OK;
}

/* First module whose target is `name` (the modules are sorted by target). */
static size_t lower_bound(const rad_lora *l, const char *name) {
    size_t lo = 0, hi = l->n_mods;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = natural_cmp(l->mods[mid].target, name);
        if (!c) c = strcmp(l->mods[mid].target, name);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Not thread-safe on one handle (it records which modules were applied); the merge itself is multi-threaded. */
rad_status rad_lora_apply(rad_lora *l, const char *name, int ndim, const int64_t *shape, float *data, bool *touched) {
    if (touched) *touched = false;
    if (!l || !name || !shape || !data || !touched || ndim < 1 || ndim > RAD_MAX_DIMS)
        return rad_err(RADIAL_ERR_INVALID_ARG, "rad_lora_apply: bad arguments for tensor '%s'", name ? name : "(null)");
    for (size_t i = lower_bound(l, name); i < l->n_mods && !strcmp(l->mods[i].target, name); i++) {
        RAD_TRY(apply_one(l, &l->mods[i], name, ndim, shape, data));
        if (!l->mods[i].applied) l->n_applied++;
        l->mods[i].applied = true;
        *touched = true;
    }
    return RAD_OK;
}

rad_status rad_lora_check_all_used(const rad_lora *l) {
    for (size_t i = 0; i < l->n_mods; i++)
        if (!l->mods[i].applied)
            return rad_err(RADIAL_ERR_MODEL,
                           "%s: LoRA key '%s' targets '%s', which the model does not have (%zu of %zu LoRA modules "
                           "applied; is the LoRA for another model size?)",
                           l->path, l->mods[i].key, l->mods[i].target, l->n_applied, l->n_mods);
    return RAD_OK;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Accessors */

const char *rad_lora_path(const rad_lora *l) { return l->path; }
const char *rad_lora_style(const rad_lora *l) { return l->style; }
float rad_lora_strength(const rad_lora *l) { return l->strength; }
size_t rad_lora_module_count(const rad_lora *l) { return l->n_mods; }
size_t rad_lora_applied_count(const rad_lora *l) { return l->n_applied; }

void rad_lora_module_at(const rad_lora *l, size_t i, const char **target, int *rank, float *alpha) {
    const lora_mod *m = &l->mods[i];
    if (target) *target = m->target;
    if (rank) *rank = m->rank;
    if (alpha) *alpha = m->alpha;
}

const char *rad_lora_module_key(const rad_lora *l, size_t i) { return l->mods[i].key; }

float rad_lora_module_scale(const rad_lora *l, size_t i) { return (float)l->mods[i].scale; }

int rad_lora_module_shape(const rad_lora *l, size_t i, int64_t shape[RAD_LORA_MAX_DIMS]) {
    const lora_mod *m = &l->mods[i];
    if (m->kind == MOD_LORA) {
        shape[0] = m->up->shape[0];
        shape[1] = m->down->shape[1];
        return 2;
    }
    for (int d = 0; d < m->delta->ndim; d++) shape[d] = m->delta->shape[d];
    return m->delta->ndim;
}
