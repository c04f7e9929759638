/* FFmpeg's log callback to rad_log (av_log.h). */
#include "video/av_log.h"

#ifdef RAD_HAVE_FFMPEG
#include <libavutil/log.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "base/log.h"

static void av_log_to_rad(void *avcl, int level, const char *fmt, va_list ap) {
    if (level > AV_LOG_INFO) return;
    char line[1024];
    int prefix = 1;
    av_log_format_line2(avcl, level, fmt, ap, line, sizeof line, &prefix);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    if (n) rad_log(level <= AV_LOG_WARNING ? RADIAL_LOG_WARN : RADIAL_LOG_DEBUG, "ffmpeg: %s", line);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void install(void) { av_log_set_callback(av_log_to_rad); }
void rad_av_log_install(void) { pthread_once(&once, install); }
#else
typedef int rad_av_log_unused; /* ISO C wants a translation unit to declare something */
#endif
