/* TODO(skeleton): replaced by the owner of this component. */
#include <stdio.h>
#include "eval.h"
int eval_vae(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "radial eval %s: not built yet\n", argv[0]);
    return 1;
}
