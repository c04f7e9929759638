/* MP4 output: H.264 (libx264) through libavformat/libavcodec, yuv420p, CRF rate control, +faststart.
 * RGB -> yuv420p is swscale's BT.601 limited-range conversion, and the stream is tagged so (SMPTE 170M matrix,
 * MPEG range) so that players do not guess BT.709. Chroma is downsampled with an area (box) filter: each 2x2
 * block gets its average, with no ringing at sharp colour edges (bicubic overshoots there by 10+ levels).
 * yuv420p halves the chroma resolution, so width and height must be even; Wan's sizes are multiples of 16, so
 * odd sizes are rejected rather than padded (by the caller, video_writer.c).
 * The file is the caller's temporary file (atomic_file.h): FFmpeg opens it as "file:<path>" (so that a ':' in
 * the path is not read as a protocol) and the muxer is chosen by the name "mp4", not by the file's extension.
 * Metadata: every key/value pair becomes a container tag (AVFormatContext.metadata), plus a `comment` tag
 * holding all pairs as "key=value; key=value" unless a pair is itself named comment. The muxer runs with
 * movflags +use_metadata_tags, which stores the tags as QuickTime mdta keys with UTF-8 values (the default
 * iTunes ilst atoms keep only a fixed set of known keys and would drop e.g. `prompt` or `seed`), so
 * `ffprobe -show_entries format_tags` and av_dict_get on the demuxer's metadata list each pair. */
#include "video/formats.h"

#ifndef RAD_HAVE_FFMPEG
rad_status rad_write_mp4(const char *file, const char *dest, const uint8_t *frames, int T, int H, int W,
                         const radial_write_params *p) {
    (void)file, (void)frames, (void)T, (void)H, (void)W, (void)p;
    return rad_err(RADIAL_ERR_UNSUPPORTED,
                   "%s: MP4 output needs FFmpeg, which this build lacks; install libavformat-dev libavcodec-dev "
                   "libavutil-dev libswscale-dev (Debian; `make deps` does it) and rebuild (CMake option "
                   "RADIAL_FFMPEG=ON, the default), or write .y4m or frames_%%03d.png instead", dest);
}
#else
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "video/av_log.h"

typedef struct {
    const char *path; /* the user's path, for messages */
    char url[PATH_MAX + 8]; /* "file:" + the temporary file */
    AVFormatContext *oc;
    AVCodecContext *enc;
    AVStream *st;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
} mp4_state;

static rad_status av_fail(const mp4_state *m, const char *what, int averr) {
    char msg[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(averr, msg, sizeof msg);
    return rad_err(RADIAL_ERR_IO, "%s: %s failed: %s", m->path, what, msg);
}

/* Sends one frame (NULL flushes) and writes every packet the encoder has ready. */
static rad_status encode(mp4_state *m, AVFrame *frame) {
    int r = avcodec_send_frame(m->enc, frame);
    if (r < 0) return av_fail(m, "H.264 encoding", r);
    for (;;) {
        r = avcodec_receive_packet(m->enc, m->pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return RAD_OK;
        if (r < 0) return av_fail(m, "H.264 encoding", r);
        /* libx264 leaves the duration at 0; the MP4 muxer needs it for the last sample, whose duration the
         * edit list would otherwise cut to 0 (players then drop the last frame). One frame = 1 tick. */
        if (m->pkt->duration == 0) m->pkt->duration = 1;
        av_packet_rescale_ts(m->pkt, m->enc->time_base, m->st->time_base);
        m->pkt->stream_index = m->st->index;
        r = av_interleaved_write_frame(m->oc, m->pkt); /* takes the packet's reference */
        if (r < 0) return av_fail(m, "writing a packet", r);
    }
}

/* The meta pairs as container tags, and the `comment` tag summing them up. */
static rad_status set_tags(mp4_state *m, const radial_write_params *p) {
    size_t len = 1;
    int has_comment = 0;
    for (int i = 0; i < p->n_meta; i++) {
        len += strlen(p->meta[2 * i]) + strlen(p->meta[2 * i + 1]) + 3;
        has_comment |= !strcasecmp(p->meta[2 * i], "comment");
        if (av_dict_set(&m->oc->metadata, p->meta[2 * i], p->meta[2 * i + 1], 0) < 0)
            return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory for the metadata", m->path);
    }
    if (p->n_meta == 0 || has_comment) return RAD_OK;
    char *comment = malloc(len);
    if (!comment) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory for the metadata", m->path);
    size_t at = 0;
    for (int i = 0; i < p->n_meta; i++)
        at += (size_t)snprintf(comment + at, len - at, "%s%s=%s", i ? "; " : "", p->meta[2 * i], p->meta[2 * i + 1]);
    int r = av_dict_set(&m->oc->metadata, "comment", comment, 0);
    free(comment);
    if (r < 0) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory for the metadata", m->path);
    return RAD_OK;
}

static rad_status open_encoder(mp4_state *m, int H, int W, const radial_write_params *p) {
    rad_av_log_install(); /* FFmpeg's messages through the library's log callback */
    const int fps = p->fps, crf = p->crf;
    int r = avformat_alloc_output_context2(&m->oc, NULL, "mp4", m->url);
    if (r < 0 || !m->oc) return av_fail(m, "creating the MP4 muxer", r < 0 ? r : AVERROR(ENOMEM));
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "%s: this FFmpeg has no libx264 encoder (install libx264 / a "
                                               "full libavcodec build), or write .y4m instead", m->path);
    m->st = avformat_new_stream(m->oc, NULL);
    m->enc = avcodec_alloc_context3(codec);
    m->frame = av_frame_alloc();
    m->pkt = av_packet_alloc();
    if (!m->st || !m->enc || !m->frame || !m->pkt)
        return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory setting up the encoder", m->path);

    AVCodecContext *c = m->enc;
    c->width = W;
    c->height = H;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->time_base = (AVRational){1, fps};
    c->framerate = (AVRational){fps, 1};
    c->colorspace = AVCOL_SPC_SMPTE170M;
    c->color_range = AVCOL_RANGE_MPEG;
    if (m->oc->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    char crf_s[8];
    snprintf(crf_s, sizeof crf_s, "%d", crf);
    av_opt_set(c->priv_data, "crf", crf_s, 0);
    av_opt_set(c->priv_data, "preset", "medium", 0);
    r = avcodec_open2(c, codec, NULL);
    if (r < 0) return av_fail(m, "opening the libx264 encoder", r);
    r = avcodec_parameters_from_context(m->st->codecpar, c);
    if (r < 0) return av_fail(m, "setting the stream parameters", r);
    m->st->time_base = c->time_base;

    m->frame->format = c->pix_fmt;
    m->frame->width = W;
    m->frame->height = H;
    r = av_frame_get_buffer(m->frame, 0);
    if (r < 0) return av_fail(m, "allocating a frame", r);
    m->sws = sws_getContext(W, H, AV_PIX_FMT_RGB24, W, H, AV_PIX_FMT_YUV420P, SWS_AREA | SWS_ACCURATE_RND, NULL,
                            NULL, NULL);
    if (!m->sws) return rad_err(RADIAL_ERR_UNSUPPORTED, "%s: swscale cannot convert RGB to yuv420p", m->path);

    RAD_TRY(set_tags(m, p));
    r = avio_open(&m->oc->pb, m->url, AVIO_FLAG_WRITE);
    if (r < 0) return av_fail(m, "opening the temporary file for writing", r);
    AVDictionary *opts = NULL;
    /* moov atom first: playable while downloading; custom tags kept (see the top of this file). */
    av_dict_set(&opts, "movflags", p->n_meta > 0 ? "+faststart+use_metadata_tags" : "+faststart", 0);
    r = avformat_write_header(m->oc, &opts);
    av_dict_free(&opts);
    if (r < 0) return av_fail(m, "writing the MP4 header", r);
    return RAD_OK;
}

rad_status rad_write_mp4(const char *file, const char *dest, const uint8_t *frames, int T, int H, int W,
                         const radial_write_params *p) {
    mp4_state m = {.path = dest};
    if ((size_t)snprintf(m.url, sizeof m.url, "file:%s", file) >= sizeof m.url)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: path too long", dest);
    rad_status st = open_encoder(&m, H, W, p);
    size_t frame_bytes = (size_t)H * (size_t)W * 3;
    for (int t = 0; st == RAD_OK && t < T; t++) {
        st = rad_write_poll_cancel(p, dest, t, T);
        if (st != RAD_OK) break;
        int r = av_frame_make_writable(m.frame);
        if (r < 0) {
            st = av_fail(&m, "making a frame writable", r);
            break;
        }
        const uint8_t *src[1] = {frames + (size_t)t * frame_bytes};
        const int stride[1] = {W * 3};
        sws_scale(m.sws, src, stride, 0, H, m.frame->data, m.frame->linesize);
        m.frame->pts = t;
        st = encode(&m, m.frame);
    }
    if (st == RAD_OK) st = encode(&m, NULL);
    if (st == RAD_OK) {
        int r = av_write_trailer(m.oc);
        if (r < 0) st = av_fail(&m, "finishing the MP4 (trailer, faststart)", r);
    }
    if (m.oc && m.oc->pb) {
        int r = avio_closep(&m.oc->pb);
        if (r < 0 && st == RAD_OK) st = av_fail(&m, "closing the file", r);
    }
    sws_freeContext(m.sws);
    av_packet_free(&m.pkt);
    av_frame_free(&m.frame);
    avcodec_free_context(&m.enc);
    avformat_free_context(m.oc);
    return st;
}
#endif
