/* Flag-value parsing shared by the subcommands: strict numbers with ranges, messages that name the flag. */
#ifndef RAD_CLI_ARGS_H
#define RAD_CLI_ARGS_H
#include <stdbool.h>
#include <stdint.h>

/* Each returns false after printing "radial <cmd>: <flag>: ..." to stderr. */
bool cli_int(const char *cmd, const char *flag, const char *val, long long lo, long long hi, long long *out);
bool cli_float(const char *cmd, const char *flag, const char *val, double lo, double hi, double *out);
/* A comma-separated list of ints ("81,161,241"); at most max items. */
bool cli_int_list(const char *cmd, const char *flag, const char *val, long long lo, long long hi, long long *out,
                  int max, int *count);

/* For loops over argv: returns the value after argv[*i] (advancing *i), or NULL with a message. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);
#endif
