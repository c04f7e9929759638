/* Logging through the calling thread's sink while it works for a context that has one (rad_log_enter), else the
 * process's (radial_set_log). */
#ifndef RAD_LOG_H
#define RAD_LOG_H
#include "radial.h"

typedef struct rad_log_sink {
    radial_log_fn fn;
    void *user;
    radial_log_level min;
} rad_log_sink;
/* The calling thread logs to s (NULL: the process's sink) until rad_log_restore(the returned previous one); s must
 * outlive that. */
const rad_log_sink *rad_log_enter(const rad_log_sink *s);
void rad_log_restore(const rad_log_sink *prev);
const rad_log_sink *rad_log_entered(void);
void rad_log(radial_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
#define RAD_INFO(...) rad_log(RADIAL_LOG_INFO, __VA_ARGS__)
#define RAD_WARN(...) rad_log(RADIAL_LOG_WARN, __VA_ARGS__)
#define RAD_DEBUG(...) rad_log(RADIAL_LOG_DEBUG, __VA_ARGS__)
#endif
