/* Monotonic wall-clock seconds. */
#ifndef RAD_TIMER_H
#define RAD_TIMER_H
#include <time.h>
static inline double rad_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif
