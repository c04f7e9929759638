/* Status codes and the error message that says what failed and where.
 * Every function that can fail returns rad_status; on failure it has called rad_err()
 * with a message naming the file, tensor or flag at fault. The message is thread-local. */
#ifndef RAD_STATUS_H
#define RAD_STATUS_H

#include "radial.h"

typedef radial_status rad_status;

#define RAD_OK RADIAL_OK

/* Records a printf-style message as the thread's last error and returns code. */
rad_status rad_err(rad_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prefixes the current message with more context ("loading DiT: " + message). Returns code. */
rad_status rad_err_prefix(rad_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

const char *rad_last_error(void);

/* Propagate a failure unchanged. */
#define RAD_TRY(expr)                    \
    do {                                 \
        rad_status rad_try_s_ = (expr);  \
        if (rad_try_s_ != RAD_OK)        \
            return rad_try_s_;           \
    } while (0)

#endif
