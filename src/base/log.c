#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>

static void default_log(radial_log_level level, const char *msg, void *user_data) {
    (void)user_data;
    static const char *names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "radial: %s: %s\n", names[level], msg);
}

static radial_log_fn log_fn = default_log;
static void *log_user;
static radial_log_level log_min = RADIAL_LOG_WARN;
static _Thread_local const rad_log_sink *entered; /* the context's the calling thread works for, if it has one */

const rad_log_sink *rad_log_enter(const rad_log_sink *s) {
    const rad_log_sink *prev = entered;
    entered = s;
    return prev;
}
void rad_log_restore(const rad_log_sink *prev) { entered = prev; }
const rad_log_sink *rad_log_entered(void) { return entered; }

void radial_set_log(radial_log_fn fn, void *user_data, radial_log_level min_level) {
    log_fn = fn ? fn : default_log;
    log_user = user_data;
    log_min = min_level;
}

void rad_log(radial_log_level level, const char *fmt, ...) {
    const rad_log_sink *s = entered;
    if (level < (s ? s->min : log_min)) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (s) s->fn(level, buf, s->user);
    else log_fn(level, buf, log_user);
}
