/* Logging through the callback set with radial_set_log(). */
#ifndef RAD_LOG_H
#define RAD_LOG_H
#include "radial.h"
void rad_log(radial_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
#define RAD_INFO(...) rad_log(RADIAL_LOG_INFO, __VA_ARGS__)
#define RAD_WARN(...) rad_log(RADIAL_LOG_WARN, __VA_ARGS__)
#define RAD_DEBUG(...) rad_log(RADIAL_LOG_DEBUG, __VA_ARGS__)
#endif
