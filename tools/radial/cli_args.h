/* Flag parsing shared by the subcommands: a table of flags per command (cli_parse), strict numbers with ranges,
 * and messages that name the command, the flag, what was expected and what was found. */
#ifndef RAD_CLI_ARGS_H
#define RAD_CLI_ARGS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/status.h"
#include "radial.h"

typedef enum cli_kind {
    CLI_TEXT,   /* const char **: the value as given */
    CLI_INT,    /* int *, within [min, max] */
    CLI_INT64,  /* int64_t *, within [min, max] */
    CLI_FLOAT,  /* float *, finite, within [lo, hi] */
    CLI_DOUBLE, /* double *, finite, within [lo, hi] */
    CLI_CHOICE, /* int *: the index of the value in `choices` */
    CLI_SWITCH, /* bool *: set to true; the flag takes no value */
    CLI_LORA,   /* cli_loras *: PATH[:STRENGTH], repeatable (each use adds one) */
} cli_kind;

/* The values of a repeatable --lora flag. */
#define CLI_MAX_LORAS 16
typedef struct cli_loras {
    radial_lora items[CLI_MAX_LORAS];
    char paths[CLI_MAX_LORAS][4096]; /* the paths of PATH:STRENGTH values */
    int n;
} cli_loras;

/* One flag of a command. `value` points at the variable the flag sets, which holds its default: --help prints
 * the default from there, so the two cannot disagree. A number or choice that is not one of the accepted values
 * (0 for a flag whose minimum is 1, choice -1) means "not given", and no default is printed: `help` then says
 * what happens without the flag. */
typedef struct cli_flag {
    const char *name;  /* "--width"; NULL for a positional argument (a CLI_TEXT; several fill in table order) */
    const char *alias; /* other names, '|'-separated ("-W", "--cfg|--cfg-scale"), or NULL */
    cli_kind kind;
    void *value;
    long long min, max;         /* CLI_INT, CLI_INT64 */
    double lo, hi;              /* CLI_FLOAT, CLI_DOUBLE */
    const char *const *choices; /* CLI_CHOICE: the accepted values, NULL-terminated */
    /* The value's name in --help ("DIR", "FILE"; the positional argument's name, "PATH"). NULL: N for the
     * integers, X for the reals, TEXT, FILE[:STRENGTH] for CLI_LORA; a choice's value is always its list
     * (dense|radial) and a switch has none. */
    const char *arg;
    const char *help; /* one line (wrapped as needed) for --help, without the default: it is appended */
    bool *given;      /* optional: set when the flag is on the command line (a default and an explicit value differ) */
} cli_flag;

#define CLI_N(flags) (sizeof(flags) / sizeof((flags)[0]))

/* What a command's --help says besides its flags. */
typedef struct cli_usage {
    /* "radial generate --model DIR --prompt TEXT [options] -o OUTPUT"; each '\n' starts a line printed under
     * the first: another form of the command, or the rest of a long one */
    const char *synopsis;
    const char *about; /* a paragraph on what the flags cannot say (formats, a case file's tensors), or NULL */
} cli_usage;

/* The values of the --backend and --attention flags (CLI_CHOICE), in radial_backend and radial_attention order. */
extern const char *const cli_backend_names[];
extern const char *const cli_attention_names[];
extern const char *const cli_sampler_names[]; /* radial_sampler order */

/* Parses argv[1 .. argc) (argv[0] is the command's name) against flags[0 .. n). A flag's value is the next
 * argument, whatever it looks like ("--seed -1"), or follows '=' ("--seed=-1"); a repeated flag keeps its last
 * value (a CLI_LORA flag adds each). -h and --help print the help made from `usage` and the flags to stdout,
 * --version prints "radial <RADIAL_VERSION>". Returns -1 when every argument was taken (the command goes on),
 * otherwise the exit code for the command to return: 0 after --help or --version, 2 after a usage error
 * (cli_usage_error: unknown flag, missing or bad value, unexpected argument). */
int cli_parse(const char *cmd, const cli_usage *usage, const cli_flag *flags, size_t n, int argc, char **argv);

/* Prints "radial <cmd>: <message> (see radial <cmd> --help)" to stderr and returns 2, the exit code of bad
 * usage: for what cli_parse cannot check (a required flag, flags that exclude each other). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A subcommand: `radial <name>`, `radial eval <name>`, `radial bench <name>`. */
typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the name; returns the exit code */
    const char *help;                  /* one line for the list */
} cli_command;

/* Runs the command that argv[1] names with argv[1 ..] (prefix: "radial", "radial eval", ...). Without a
 * command, or for -h, --help or help, prints `about` (may be NULL), the usage and the list of commands: to
 * stdout returning 0 when asked, otherwise to stderr returning 2 (an unknown name is said so first).
 * --version prints "radial <RADIAL_VERSION>" and returns 0. */
int cli_dispatch(const char *prefix, const char *about, const cli_command *cmds, size_t n, int argc, char **argv);

/* Prints "radial <cmd>: <the library's last error>" to stderr and returns 1, the exit code of a failed run. */
int cli_error(const char *cmd);

/* Value checks for what is not a flag (a case file's metadata, list items). Each returns false after printing
 * "radial <cmd>: <what>: ..." to stderr. */
bool cli_int(const char *cmd, const char *what, const char *val, long long lo, long long hi, long long *out);
bool cli_float(const char *cmd, const char *what, const char *val, double lo, double hi, double *out);
/* Explicit unshifted timesteps ("1000,750,500,250"): numbers in (0, 1000], strictly decreasing, at most max. */
#define CLI_MAX_TIMESTEPS 1000
bool cli_timesteps(const char *cmd, const char *what, const char *val, double *out, int max, int *count);
/* A comma-separated list of ints ("81,161,241"); at most max items. */
bool cli_int_list(const char *cmd, const char *what, const char *val, long long lo, long long hi, long long *out,
                  int max, int *count);
#endif
