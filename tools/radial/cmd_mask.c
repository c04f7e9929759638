/* TODO(skeleton): replaced by the owner of this subcommand. */
#include <stdio.h>
#include "commands.h"
int cmd_mask(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "radial %s: not built yet\n", argv[0]);
    return 1;
}
