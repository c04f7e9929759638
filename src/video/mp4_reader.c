/* Video input through FFmpeg: demux, decode, YUV -> RGB (yuv_to_rgb.c, or swscale for what it does not cover).
 * See mp4_reader.h for the choices. */
#include "video/mp4_reader.h"

#ifndef RAD_HAVE_FFMPEG
static rad_status no_ffmpeg(const char *path) {
    return rad_err(RADIAL_ERR_UNSUPPORTED,
                   "%s: reading MP4 (and other FFmpeg containers) needs FFmpeg, which this build lacks; install "
                   "libavformat-dev libavcodec-dev libavutil-dev libswscale-dev (Debian; `make deps` does it) and "
                   "rebuild, or convert the video to .y4m or PNG frames", path);
}
rad_status rad_mp4_open(const char *path, rad_mp4_reader **out) {
    *out = NULL;
    return no_ffmpeg(path);
}
const rad_mp4_info *rad_mp4_get_info(const rad_mp4_reader *r) {
    (void)r;
    return NULL;
}
rad_status rad_mp4_read(rad_mp4_reader *r, uint8_t *rgb, bool *got) {
    (void)r, (void)rgb;
    *got = false;
    return no_ffmpeg("video");
}
void rad_mp4_close(rad_mp4_reader *r) { (void)r; }
#else
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "video/av_log.h"
#include "video/output_path.h"
#include "video/yuv_to_rgb.h"

struct rad_mp4_reader {
    char *path;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    int stream;
    bool flushed; /* the decoder was sent the end of the stream */
    bool pending; /* r->frame holds a decoded frame not yet returned (the first one, decoded at open) */
    int64_t next; /* index of the next frame */
    rad_mp4_info info;
};

static rad_status av_fail(const char *path, rad_status code, const char *what, int averr) {
    char msg[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(averr, msg, sizeof msg);
    return rad_err(code, "%s: %s failed: %s", path, what, msg);
}

const rad_mp4_info *rad_mp4_get_info(const rad_mp4_reader *r) { return &r->info; }

void rad_mp4_close(rad_mp4_reader *r) {
    if (!r) return;
    sws_freeContext(r->sws);
    av_packet_free(&r->pkt);
    av_frame_free(&r->frame);
    avcodec_free_context(&r->dec);
    avformat_close_input(&r->fmt);
    free(r->path);
    free(r);
}

/* The formats yuv_to_rgb.c converts: 8-bit planar, chroma halved on 0, 1 or 2 axes, or grey. */
static bool own_format(enum AVPixelFormat f, int *sub_x, int *sub_y, bool *mono, bool *full) {
    *mono = false, *full = false, *sub_x = *sub_y = 0;
    switch (f) {
    case AV_PIX_FMT_YUVJ420P: *full = true; /* fall through */
    case AV_PIX_FMT_YUV420P: *sub_x = *sub_y = 1; return true;
    case AV_PIX_FMT_YUVJ422P: *full = true; /* fall through */
    case AV_PIX_FMT_YUV422P: *sub_x = 1; return true;
    case AV_PIX_FMT_YUVJ444P: *full = true; /* fall through */
    case AV_PIX_FMT_YUV444P: return true;
    case AV_PIX_FMT_GRAY8: *mono = true; return true;
    default: return false;
    }
}

/* The matrix of a colour space tag that yuv_to_rgb.c has; false for the others (swscale converts those). */
static bool own_matrix(enum AVColorSpace cs, rad_yuv_matrix *m) {
    switch (cs) {
    case AVCOL_SPC_UNSPECIFIED:
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M: *m = RAD_YUV_BT601; return true;
    case AVCOL_SPC_BT709: *m = RAD_YUV_BT709; return true;
    case AVCOL_SPC_BT2020_NCL: *m = RAD_YUV_BT2020; return true;
    default: return false;
    }
}

static int sws_colorspace(enum AVColorSpace cs) {
    switch (cs) {
    case AVCOL_SPC_BT709: return SWS_CS_ITU709;
    case AVCOL_SPC_FCC: return SWS_CS_FCC;
    case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020;
    default: return SWS_CS_ITU601;
    }
}

/* The next decoded frame into r->frame; *got = false at the end of the stream. */
static rad_status decode_next(rad_mp4_reader *r, bool *got) {
    *got = false;
    for (;;) {
        int e = avcodec_receive_frame(r->dec, r->frame);
        if (e == 0) {
            *got = true;
            return RAD_OK;
        }
        if (e == AVERROR_EOF) return RAD_OK;
        if (e != AVERROR(EAGAIN) || r->flushed) return av_fail(r->path, RADIAL_ERR_FORMAT, "decoding", e);
        e = av_read_frame(r->fmt, r->pkt);
        if (e == AVERROR_EOF) {
            r->flushed = true;
            e = avcodec_send_packet(r->dec, NULL);
            if (e < 0 && e != AVERROR_EOF) return av_fail(r->path, RADIAL_ERR_FORMAT, "decoding", e);
            continue;
        }
        if (e < 0) return av_fail(r->path, RADIAL_ERR_FORMAT, "reading a packet", e);
        if (r->pkt->stream_index == r->stream) {
            e = avcodec_send_packet(r->dec, r->pkt);
            av_packet_unref(r->pkt);
            if (e < 0 && e != AVERROR(EAGAIN)) return av_fail(r->path, RADIAL_ERR_FORMAT, "decoding", e);
        } else {
            av_packet_unref(r->pkt);
        }
    }
}

/* Frame -> RGB through swscale (set up at the first frame that needs it). */
static rad_status convert_sws(rad_mp4_reader *r, const AVFrame *f, uint8_t *rgb) {
    const int W = r->info.width, H = r->info.height;
    if (!r->sws) {
        r->sws = sws_getContext(W, H, (enum AVPixelFormat)f->format, W, H, AV_PIX_FMT_RGB24,
                                SWS_POINT | SWS_ACCURATE_RND, NULL, NULL, NULL);
        if (!r->sws) {
            const char *pf = av_get_pix_fmt_name((enum AVPixelFormat)f->format);
            return rad_err(RADIAL_ERR_UNSUPPORTED, "%s: swscale cannot convert pixel format %s to RGB", r->path,
                           pf ? pf : "(unknown)");
        }
        const int *coef = sws_getCoefficients(sws_colorspace(f->colorspace));
        sws_setColorspaceDetails(r->sws, coef, f->color_range == AVCOL_RANGE_JPEG, sws_getCoefficients(SWS_CS_DEFAULT),
                                 1, 0, 1 << 16, 1 << 16);
    }
    uint8_t *dst[4] = {rgb, NULL, NULL, NULL};
    const int stride[4] = {W * 3, 0, 0, 0};
    sws_scale(r->sws, (const uint8_t *const *)f->data, f->linesize, 0, H, dst, stride);
    return RAD_OK;
}

/* The decoded frame r->frame to rgb; `describe` (of `size` bytes) says how. */
static rad_status convert(rad_mp4_reader *r, uint8_t *rgb, char *describe, size_t size) {
    const AVFrame *f = r->frame;
    const int W = r->info.width, H = r->info.height;
    if (f->width != W || f->height != H)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "%s: frame %lld is %dx%d (WxH), the stream is %dx%d; a stream that "
                                               "changes size is not supported", r->path, (long long)r->next,
                       f->width, f->height, W, H);
    if (f->flags & AV_FRAME_FLAG_CORRUPT)
        RAD_WARN("%s: the decoder marks frame %lld as corrupt", r->path, (long long)r->next);
    int sub_x, sub_y;
    bool mono, full;
    rad_yuv_matrix m = RAD_YUV_BT601;
    const char *pf = av_get_pix_fmt_name((enum AVPixelFormat)f->format), *codec = r->dec->codec->name;
    if (own_format((enum AVPixelFormat)f->format, &sub_x, &sub_y, &mono, &full) &&
        (mono || (own_matrix(f->colorspace, &m) && f->linesize[1] == f->linesize[2]))) {
        full |= f->color_range == AVCOL_RANGE_JPEG;
        const rad_yuv_frame yf = {
            .y = f->data[0], .cb = mono ? NULL : f->data[1], .cr = mono ? NULL : f->data[2],
            .y_stride = f->linesize[0], .c_stride = mono ? 0 : f->linesize[1], .sub_x = sub_x, .sub_y = sub_y,
        };
        rad_yuv_to_rgb(&yf, W, H, m, full, rgb);
        snprintf(describe, size, "%s %s, %s %s range", codec, pf ? pf : "?", mono ? "grey" : rad_yuv_matrix_name(m),
                 full ? "full" : "limited");
        return RAD_OK;
    }
    const char *cs = av_color_space_name(f->colorspace);
    snprintf(describe, size, "%s %s, %s, %s range, via swscale", codec, pf ? pf : "?", cs ? cs : "?",
             f->color_range == AVCOL_RANGE_JPEG ? "full" : "limited");
    return convert_sws(r, f, rgb);
}

rad_status rad_mp4_open(const char *path, rad_mp4_reader **out) {
    *out = NULL;
    rad_av_log_install();
    char url[PATH_MAX + 8];
    if ((size_t)snprintf(url, sizeof url, "file:%s", path) >= sizeof url)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%.64s...: path too long", path);
    rad_mp4_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", path);
    }
    rad_status st = RAD_OK;
    uint8_t *probe = NULL;
    int e = avformat_open_input(&r->fmt, url, NULL, NULL);
    if (e < 0) {
        st = av_fail(path, e == AVERROR(ENOENT) || e == AVERROR(EACCES) ? RADIAL_ERR_IO : RADIAL_ERR_FORMAT,
                     "opening it as a video (FFmpeg)", e);
        goto fail;
    }
    if ((e = avformat_find_stream_info(r->fmt, NULL)) < 0) {
        st = av_fail(path, RADIAL_ERR_FORMAT, "reading the stream information", e);
        goto fail;
    }
    const AVCodec *codec = NULL;
    r->stream = av_find_best_stream(r->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (r->stream < 0 || !codec) {
        st = r->stream == AVERROR_DECODER_NOT_FOUND
                 ? rad_err(RADIAL_ERR_UNSUPPORTED, "%s: this FFmpeg has no decoder for the video stream", path)
                 : rad_err(RADIAL_ERR_FORMAT, "%s: the file has no video stream", path);
        goto fail;
    }
    const AVStream *vs = r->fmt->streams[r->stream];
    r->dec = avcodec_alloc_context3(codec);
    r->frame = av_frame_alloc();
    r->pkt = av_packet_alloc();
    if (!r->dec || !r->frame || !r->pkt) {
        st = rad_err(RADIAL_ERR_NOMEM, "%s: out of memory setting up the decoder", path);
        goto fail;
    }
    if ((e = avcodec_parameters_to_context(r->dec, vs->codecpar)) < 0 || (e = avcodec_open2(r->dec, codec, NULL)) < 0) {
        st = av_fail(path, RADIAL_ERR_FORMAT, "opening the decoder", e);
        goto fail;
    }
    const int W = vs->codecpar->width, H = vs->codecpar->height;
    if (W < 1 || H < 1 || W > RAD_VIDEO_MAX_SIDE || H > RAD_VIDEO_MAX_SIDE) {
        st = rad_err(RADIAL_ERR_FORMAT, "%s: the video is %dx%d (WxH); sizes in [1, %d] are read", path, W, H,
                     RAD_VIDEO_MAX_SIDE);
        goto fail;
    }
    r->info.width = W, r->info.height = H;
    r->info.declared_frames = vs->nb_frames > 0 ? vs->nb_frames : 0;
    const char *pf = av_get_pix_fmt_name((enum AVPixelFormat)vs->codecpar->format);
    snprintf(r->info.describe, sizeof r->info.describe, "%s %s", codec->name, pf ? pf : "(unknown pixel format)");
    /* The first frame now: a stream that cannot be decoded fails here, and `describe` says how its frames become
     * RGB (from the frame's own tags, which the container may lack). */
    st = decode_next(r, &r->pending);
    if (st == RAD_OK && r->pending) {
        if (!(probe = malloc((size_t)W * (size_t)H * 3)))
            st = rad_err(RADIAL_ERR_NOMEM, "%s: out of memory for a frame", path);
        if (st == RAD_OK) st = convert(r, probe, r->info.describe, sizeof r->info.describe);
    }
    if (st != RAD_OK) goto fail;
    free(probe);
    *out = r;
    return RAD_OK;
fail:
    free(probe);
    rad_mp4_close(r);
    return st;
}

rad_status rad_mp4_read(rad_mp4_reader *r, uint8_t *rgb, bool *got) {
    *got = false;
    if (!r->pending) RAD_TRY(decode_next(r, &r->pending));
    if (!r->pending) return RAD_OK;
    char describe[sizeof r->info.describe];
    const rad_status st = convert(r, rgb, describe, sizeof describe);
    av_frame_unref(r->frame);
    r->pending = false;
    RAD_TRY(st);
    r->next++;
    *got = true;
    return RAD_OK;
}
#endif
