#include "cli_args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cli_int(const char *cmd, const char *what, const char *val, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (errno || end == val || *end) {
        fprintf(stderr, "radial %s: %s: '%s' is not an integer\n", cmd, what, val);
        return false;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "radial %s: %s: %lld is out of range [%lld, %lld]\n", cmd, what, v, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_float(const char *cmd, const char *what, const char *val, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end || !isfinite(v)) {
        fprintf(stderr, "radial %s: %s: '%s' is not a finite number\n", cmd, what, val);
        return false;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "radial %s: %s: %g is out of range [%g, %g]\n", cmd, what, v, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_int_list(const char *cmd, const char *what, const char *val, long long lo, long long hi, long long *out,
                  int max, int *count) {
    char buf[1024];
    if (strlen(val) >= sizeof buf) {
        fprintf(stderr, "radial %s: %s: a list of %zu characters, expected at most %zu\n", cmd, what, strlen(val),
                sizeof buf - 1);
        return false;
    }
    strcpy(buf, val);
    int n = 0;
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == max) {
            fprintf(stderr, "radial %s: %s: more than %d values, expected at most %d\n", cmd, what, max, max);
            return false;
        }
        if (!cli_int(cmd, what, tok, lo, hi, &out[n])) return false;
        n++;
    }
    if (n == 0) {
        fprintf(stderr, "radial %s: %s: expected a list of integers, found an empty one\n", cmd, what);
        return false;
    }
    *count = n;
    return true;
}

const char *const cli_backend_names[] = {"cpu", "cuda", "auto", NULL};
const char *const cli_attention_names[] = {"dense", "radial", NULL};

int cli_dispatch(const char *prefix, const char *about, const cli_command *cmds, size_t n, int argc, char **argv) {
    const char *name = argc >= 2 ? argv[1] : NULL;
    const bool help = name && (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help"));
    if (name && !help) {
        for (size_t i = 0; i < n; i++)
            if (!strcmp(name, cmds[i].name)) return cmds[i].run(argc - 1, argv + 1);
        fprintf(stderr, "%s: unknown command '%s'\n\n", prefix, name);
    }
    FILE *f = help ? stdout : stderr;
    int width = 0;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(cmds[i].name) > width) width = (int)strlen(cmds[i].name);
    if (about) fprintf(f, "%s\n\n", about);
    fprintf(f, "usage: %s <command> [options]\n\n", prefix);
    for (size_t i = 0; i < n; i++) fprintf(f, "  %-*s  %s\n", width, cmds[i].name, cmds[i].help);
    fprintf(f, "\n'%s <command> --help' describes a command's options.\n", prefix);
    return help ? 0 : 2;
}

int cli_error(const char *cmd) {
    fprintf(stderr, "radial %s: %s\n", cmd, rad_last_error());
    return 1;
}

/* Whether arg names the flag: its name, or one of its aliases (a '|'-separated list: "-p|--text"). */
static bool names_flag(const cli_flag *f, const char *arg) {
    if (!f->name) return false;
    if (!strcmp(arg, f->name)) return true;
    for (const char *a = f->alias; a && *a;) {
        const char *end = strchr(a, '|');
        const size_t k = end ? (size_t)(end - a) : strlen(a);
        if (strlen(arg) == k && !strncmp(arg, a, k)) return true;
        a = end ? end + 1 : NULL;
    }
    return false;
}

static const cli_flag *find_flag(const cli_flag *flags, size_t n, const char *arg) {
    for (size_t i = 0; i < n; i++)
        if (names_flag(&flags[i], arg)) return &flags[i];
    return NULL;
}

/* "a", "a or b", "a, b or c". */
static void print_choices(const char *const *choices) {
    for (size_t i = 0; choices[i]; i++)
        fprintf(stderr, "%s%s", i == 0 ? "" : choices[i + 1] ? ", " : " or ", choices[i]);
}

/* PATH[:STRENGTH]: the strength is what follows the last ':' when that parses as a number (a path may hold
 * colons); default 1.0. */
static bool add_lora(const char *cmd, const char *as_given, const char *val, cli_loras *l) {
    if (l->n == CLI_MAX_LORAS) {
        fprintf(stderr, "radial %s: %s: at most %d LoRAs\n", cmd, as_given, CLI_MAX_LORAS);
        return false;
    }
    radial_lora *it = &l->items[l->n];
    *it = (radial_lora){.path = val, .strength = 1.0f};
    const char *colon = strrchr(val, ':');
    if (colon && colon[1]) {
        char *end;
        errno = 0;
        const double d = strtod(colon + 1, &end);
        if (!*end && errno == 0) {
            if (!(d >= -100.0 && d <= 100.0)) {
                fprintf(stderr, "radial %s: %s %s: strength must be between -100 and 100\n", cmd, as_given, val);
                return false;
            }
            const size_t k = (size_t)(colon - val);
            if (k >= sizeof l->paths[0]) {
                fprintf(stderr, "radial %s: %s: path too long\n", cmd, as_given);
                return false;
            }
            memcpy(l->paths[l->n], val, k);
            l->paths[l->n][k] = 0;
            it->path = l->paths[l->n], it->strength = (float)d;
        }
    }
    if (!it->path[0]) {
        fprintf(stderr, "radial %s: %s: empty path in '%s'\n", cmd, as_given, val);
        return false;
    }
    l->n++;
    return true;
}

/* Stores the value of flag f, given as `as_given` (its name or alias); false after a message. */
static bool set_value(const char *cmd, const cli_flag *f, const char *as_given, const char *val) {
    long long i;
    double d;
    switch (f->kind) {
    case CLI_TEXT: *(const char **)f->value = val; return true;
    case CLI_INT:
        if (!cli_int(cmd, as_given, val, f->min, f->max, &i)) return false;
        *(int *)f->value = (int)i;
        return true;
    case CLI_INT64:
        if (!cli_int(cmd, as_given, val, f->min, f->max, &i)) return false;
        *(int64_t *)f->value = (int64_t)i;
        return true;
    case CLI_FLOAT:
        if (!cli_float(cmd, as_given, val, f->lo, f->hi, &d)) return false;
        *(float *)f->value = (float)d;
        return true;
    case CLI_DOUBLE: return cli_float(cmd, as_given, val, f->lo, f->hi, (double *)f->value);
    case CLI_CHOICE:
        for (int k = 0; f->choices[k]; k++)
            if (!strcmp(val, f->choices[k])) {
                *(int *)f->value = k;
                return true;
            }
        fprintf(stderr, "radial %s: %s: expected ", cmd, as_given);
        print_choices(f->choices);
        fprintf(stderr, ", found '%s'\n", val);
        return false;
    case CLI_SWITCH: *(bool *)f->value = true; return true;
    case CLI_LORA: return add_lora(cmd, as_given, val, (cli_loras *)f->value);
    }
    return false;
}

int cli_parse(const char *cmd, void (*usage)(FILE *), const cli_flag *flags, size_t n, int argc, char **argv) {
    const cli_flag *positional = NULL;
    for (size_t i = 0; i < n; i++)
        if (!flags[i].name) positional = &flags[i];
    bool have_positional = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (a[0] != '-' || !a[1]) { /* not a flag ("-" alone names stdin/stdout) */
            if (!positional || have_positional) {
                fprintf(stderr, "radial %s: unexpected argument '%s' (see radial %s --help)\n", cmd, a, cmd);
                return 2;
            }
            *(const char **)positional->value = a;
            have_positional = true;
            continue;
        }
        /* --name=value is --name value (the value may itself hold '=') */
        char flag[128];
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL, *inline_val = NULL;
        if (eq && (size_t)(eq - a) < sizeof flag) {
            memcpy(flag, a, (size_t)(eq - a));
            flag[eq - a] = 0;
            inline_val = eq + 1;
            a = flag;
        }
        const cli_flag *f = find_flag(flags, n, a);
        if (!f) {
            fprintf(stderr, "radial %s: unknown option '%s' (see radial %s --help)\n", cmd, a, cmd);
            return 2;
        }
        if (f->kind == CLI_SWITCH) {
            if (inline_val) {
                fprintf(stderr, "radial %s: %s takes no value\n", cmd, a);
                return 2;
            }
            set_value(cmd, f, a, NULL);
            continue;
        }
        if (!inline_val && i + 1 >= argc) {
            fprintf(stderr, "radial %s: %s needs a value\n", cmd, a);
            return 2;
        }
        if (!set_value(cmd, f, a, inline_val ? inline_val : argv[++i])) return 2;
    }
    return -1;
}
