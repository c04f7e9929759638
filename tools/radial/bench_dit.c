/* TODO(skeleton): replaced by the owner of this benchmark. */
#include <stdio.h>
#include "bench.h"
int bench_dit(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "radial bench %s: not built yet\n", argv[0]);
    return 1;
}
