/* Two videos, frame by frame: open both, check the sizes, measure each pair of frames, sum up
 * (compare_videos.h). */
#include "video/compare_videos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

/* "832x480 (WxH), 81 frames"; without the count when it is not known yet. */
static void size_str(const rad_video_info *in, int64_t frames, char *buf, size_t size) {
    if (frames >= 0)
        snprintf(buf, size, "%dx%d (WxH), %lld frame%s", in->width, in->height, (long long)frames,
                 frames == 1 ? "" : "s");
    else
        snprintf(buf, size, "%dx%d (WxH)", in->width, in->height);
}

static rad_status mismatch(const char *a, const rad_video_info *ia, int64_t fa, const char *b, const rad_video_info *ib,
                           int64_t fb) {
    char sa[96], sb[96];
    size_str(ia, fa, sa, sizeof sa);
    size_str(ib, fb, sb, sizeof sb);
    return rad_err(RADIAL_ERR_INVALID_ARG, "the videos differ in size: %s is %s, %s is %s", a, sa, b, sb);
}

/* Reads r to its end into buf; *count += the frames read. */
static rad_status drain(rad_video_reader *r, float *buf, int64_t *count) {
    for (;;) {
        bool got;
        RAD_TRY(rad_video_reader_next(r, buf, &got));
        if (!got) return RAD_OK;
        ++*count;
    }
}

typedef struct {
    rad_video_reader *ra, *rb;
    rad_cmp *cmp;
    float *fa, *fb;
    size_t cap;
} run;

/* Appends one frame's metrics to out->frames. */
static rad_status push(run *r, rad_cmp_result *out, int64_t t, const rad_cmp_frame *f) {
    if ((size_t)t == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64, bytes;
        if (!rad_mul_size(cap, sizeof *out->frames, &bytes))
            return rad_err(RADIAL_ERR_NOMEM, "compare: too many frames");
        rad_cmp_frame *p = realloc(out->frames, bytes);
        if (!p) return rad_err(RADIAL_ERR_NOMEM, "compare: out of memory for the metrics of %zu frames", cap);
        out->frames = p, r->cap = cap;
    }
    out->frames[t] = *f;
    return RAD_OK;
}

static rad_status compare(run *r, const char *a, const char *b, const char *tensor_a, const char *tensor_b,
                          rad_cmp_result *out) {
    RAD_TRY(rad_video_reader_open(a, tensor_a, &r->ra));
    RAD_TRY(rad_video_reader_open(b, tensor_b, &r->rb));
    const rad_video_info *ia = rad_video_reader_info(r->ra), *ib = rad_video_reader_info(r->rb);
    out->a = *ia, out->b = *ib;
    if (ia->width != ib->width || ia->height != ib->height ||
        (ia->frames >= 0 && ib->frames >= 0 && ia->frames != ib->frames))
        return mismatch(a, ia, ia->frames, b, ib, ib->frames);
    const size_t n = (size_t)ia->width * (size_t)ia->height * 3; /* sides <= 16384 (the readers): no overflow */
    RAD_TRY(rad_cmp_create(ia->width, ia->height, &r->cmp));
    RAD_TRY(rad_alloc((void **)&r->fa, n * sizeof(float), "frame of A"));
    RAD_TRY(rad_alloc((void **)&r->fb, n * sizeof(float), "frame of B"));
    int64_t t = 0;
    for (;; t++) {
        bool got_a, got_b;
        RAD_TRY(rad_video_reader_next(r->ra, r->fa, &got_a));
        RAD_TRY(rad_video_reader_next(r->rb, r->fb, &got_b));
        if (!got_a && !got_b) break;
        if (got_a != got_b) { /* one ended first: count the other's frames for the message */
            int64_t fa = t + got_a, fb = t + got_b;
            RAD_TRY(drain(got_a ? r->ra : r->rb, got_a ? r->fa : r->fb, got_a ? &fa : &fb));
            return mismatch(a, ia, fa, b, ib, fb);
        }
        rad_cmp_frame f;
        RAD_TRY(rad_cmp_frame_metrics(r->cmp, r->fa, r->fb, &f));
        RAD_TRY(push(r, out, t, &f));
    }
    if (t == 0) return rad_err(RADIAL_ERR_INVALID_ARG, "%s and %s hold no frames", a, b);
    out->a.frames = out->b.frames = t;
    rad_cmp_summarize(out->frames, t, &out->summary);
    return RAD_OK;
}

rad_status rad_cmp_videos(const char *a, const char *b, const char *tensor_a, const char *tensor_b,
                          rad_cmp_result *out) {
    memset(out, 0, sizeof *out);
    run r = {0};
    const rad_status st = compare(&r, a, b, tensor_a, tensor_b, out);
    rad_video_reader_close(r.ra);
    rad_video_reader_close(r.rb);
    rad_cmp_free(r.cmp);
    rad_free(r.fa);
    rad_free(r.fb);
    if (st != RAD_OK) rad_cmp_result_free(out);
    return st;
}

void rad_cmp_result_free(rad_cmp_result *r) {
    if (!r) return;
    free(r->frames);
    r->frames = NULL;
}
