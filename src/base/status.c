#include "base/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char rad_errbuf[2048];

rad_status rad_err(rad_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rad_errbuf, sizeof rad_errbuf, fmt, ap);
    va_end(ap);
    return code;
}

rad_status rad_err_prefix(rad_status code, const char *fmt, ...) {
    char prefix[512], old[sizeof rad_errbuf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, rad_errbuf, sizeof old);
    size_t np = strlen(prefix), room = sizeof rad_errbuf - 1;
    if (np > room) np = room;
    memcpy(rad_errbuf, prefix, np);
    size_t no = strnlen(old, sizeof old - 1);
    if (no > room - np) no = room - np;
    memcpy(rad_errbuf + np, old, no);
    rad_errbuf[np + no] = '\0';
    return code;
}

const char *rad_last_error(void) { return rad_errbuf; }

const char *radial_last_error(void) { return rad_errbuf; }

const char *radial_status_name(radial_status s) {
    switch (s) {
    case RADIAL_OK: return "ok";
    case RADIAL_ERR_INVALID_ARG: return "invalid argument";
    case RADIAL_ERR_IO: return "i/o error";
    case RADIAL_ERR_FORMAT: return "malformed file";
    case RADIAL_ERR_MODEL: return "model mismatch";
    case RADIAL_ERR_NOMEM: return "out of memory";
    case RADIAL_ERR_UNSUPPORTED: return "unsupported";
    case RADIAL_ERR_BACKEND: return "backend error";
    case RADIAL_ERR_CANCELLED: return "cancelled";
    }
    return "unknown status";
}
