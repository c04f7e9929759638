#include "cli_args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"

/* The checks of cli_int and cli_float, saying in `why` what is wrong instead of printing it: cli_parse adds the
 * pointer to --help to the message. */
static bool parse_int(const char *val, long long lo, long long hi, long long *out, char *why, size_t size) {
    char *end;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (errno || end == val || *end) {
        snprintf(why, size, "'%s' is not an integer", val);
        return false;
    }
    if (v < lo || v > hi) {
        snprintf(why, size, "%lld is out of range [%lld, %lld]", v, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_float(const char *val, double lo, double hi, double *out, char *why, size_t size) {
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end || !isfinite(v)) {
        snprintf(why, size, "'%s' is not a finite number", val);
        return false;
    }
    if (v < lo || v > hi) {
        snprintf(why, size, "%g is out of range [%g, %g]", v, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_int(const char *cmd, const char *what, const char *val, long long lo, long long hi, long long *out) {
    char why[256];
    if (parse_int(val, lo, hi, out, why, sizeof why)) return true;
    fprintf(stderr, "radial %s: %s: %s\n", cmd, what, why);
    return false;
}

bool cli_float(const char *cmd, const char *what, const char *val, double lo, double hi, double *out) {
    char why[256];
    if (parse_float(val, lo, hi, out, why, sizeof why)) return true;
    fprintf(stderr, "radial %s: %s: %s\n", cmd, what, why);
    return false;
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
const char *const cli_sampler_names[] = {"unipc", "euler", "unipc-diffusers", "auto", NULL};

static void print_version(void) { printf("radial %s\n", RADIAL_VERSION); }

int cli_dispatch(const char *prefix, const char *about, const cli_command *cmds, size_t n, int argc, char **argv) {
    const char *name = argc >= 2 ? argv[1] : NULL;
    const bool help = name && (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help"));
    if (name && !strcmp(name, "--version")) {
        print_version();
        return 0;
    }
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

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "radial %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see radial %s --help)\n", cmd);
    va_end(ap);
    return 2;
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

/* Appends to buf (of `size`, holding a string) what fmt says, cut at the end of buf. */
static void append(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t size, const char *fmt, ...) {
    const size_t k = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + k, size - k, fmt, ap);
    va_end(ap);
}

/* "a", "a or b", "a, b or c". */
static void list_choices(const char *const *choices, char *buf, size_t size) {
    for (size_t i = 0; choices[i]; i++)
        append(buf, size, "%s%s", i == 0 ? "" : choices[i + 1] ? ", " : " or ", choices[i]);
}

/* PATH[:STRENGTH]: the strength is what follows the last ':' when that parses as a number (a path may hold
 * colons); default 1.0. */
static bool add_lora(const char *val, cli_loras *l, char *why, size_t size) {
    if (l->n == CLI_MAX_LORAS) {
        snprintf(why, size, "at most %d LoRAs", CLI_MAX_LORAS);
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
                snprintf(why, size, "%s: strength must be between -100 and 100", val);
                return false;
            }
            const size_t k = (size_t)(colon - val);
            if (k >= sizeof l->paths[0]) {
                snprintf(why, size, "path too long");
                return false;
            }
            memcpy(l->paths[l->n], val, k);
            l->paths[l->n][k] = 0;
            it->path = l->paths[l->n], it->strength = (float)d;
        }
    }
    if (!it->path[0]) {
        snprintf(why, size, "empty path in '%s'", val);
        return false;
    }
    l->n++;
    return true;
}

/* Stores the value of flag f; false after saying in `why` what is wrong with it. */
static bool set_value(const cli_flag *f, const char *val, char *why, size_t size) {
    long long i;
    double d;
    switch (f->kind) {
    case CLI_TEXT: *(const char **)f->value = val; return true;
    case CLI_INT:
        if (!parse_int(val, f->min, f->max, &i, why, size)) return false;
        *(int *)f->value = (int)i;
        return true;
    case CLI_INT64:
        if (!parse_int(val, f->min, f->max, &i, why, size)) return false;
        *(int64_t *)f->value = (int64_t)i;
        return true;
    case CLI_FLOAT:
        if (!parse_float(val, f->lo, f->hi, &d, why, size)) return false;
        *(float *)f->value = (float)d;
        return true;
    case CLI_DOUBLE: return parse_float(val, f->lo, f->hi, (double *)f->value, why, size);
    case CLI_CHOICE:
        for (int k = 0; f->choices[k]; k++)
            if (!strcmp(val, f->choices[k])) {
                *(int *)f->value = k;
                return true;
            }
        snprintf(why, size, "expected ");
        list_choices(f->choices, why, size);
        append(why, size, ", found '%s'", val);
        return false;
    case CLI_SWITCH: *(bool *)f->value = true; return true;
    case CLI_LORA: return add_lora(val, (cli_loras *)f->value, why, size);
    }
    return false;
}

/* ---- --help ----------------------------------------------------------------------------------------------- */

enum { HELP_WIDTH = 100, HELP_COLUMN = 30 }; /* lines end by column 100; flag descriptions start at column 30 */

/* Prints text to stdout (where --help goes) from column `col`, breaking at spaces so that lines end by
 * HELP_WIDTH, and at each '\n'; every next line starts with `indent` spaces. A word longer than a line stays
 * whole. Ends the last line. */
static void print_wrapped(const char *text, int col, int indent) {
    for (const char *p = text;;) {
        const size_t len = strcspn(p, "\n");
        const char *line_end = p + len;
        while (col + (line_end - p) > HELP_WIDTH) {
            const char *cut = NULL; /* the last space that ends the line in time, else the first one after */
            for (const char *q = p; q < line_end && (!cut || q - p <= HELP_WIDTH - col); q++)
                if (*q == ' ') cut = q;
            if (!cut) break;
            printf("%.*s\n%*s", (int)(cut - p), p, indent, "");
            col = indent;
            p = cut;
            while (*p == ' ') p++;
        }
        printf("%.*s\n", (int)(line_end - p), p);
        if (!*line_end) return;
        p = line_end + 1;
        if (!*p) return;
        printf("%*s", indent, "");
        col = indent;
    }
}

/* The default of f as --help shows it, from the variable f->value points at. False when there is none to show:
 * a switch, LoRAs, no text, or a value outside the accepted ones (the flag's "not given"). */
static bool format_default(const cli_flag *f, char *buf, size_t size) {
    long long i = 0;
    double d = 0;
    switch (f->kind) {
    case CLI_TEXT: {
        const char *s = *(const char *const *)f->value;
        if (!s || !*s) return false;
        snprintf(buf, size, "%s", s);
        return true;
    }
    case CLI_INT: i = *(const int *)f->value; break;
    case CLI_INT64: i = *(const int64_t *)f->value; break;
    case CLI_FLOAT: d = *(const float *)f->value; break;
    case CLI_DOUBLE: d = *(const double *)f->value; break;
    case CLI_CHOICE: {
        const int k = *(const int *)f->value;
        int count = 0;
        while (f->choices[count]) count++;
        if (k < 0 || k >= count) return false;
        snprintf(buf, size, "%s", f->choices[k]);
        return true;
    }
    case CLI_SWITCH:
    case CLI_LORA: return false;
    }
    if (f->kind == CLI_INT || f->kind == CLI_INT64) {
        if (i < f->min || i > f->max) return false;
        snprintf(buf, size, "%lld", i);
    } else {
        if (d < f->lo || d > f->hi) return false;
        snprintf(buf, size, "%g", d);
    }
    return true;
}

/* Appends the aliases of the list (a '|'-separated one) that have one dash ("-p"), or those that have two,
 * each followed by ", ". */
static void append_aliases(char *buf, size_t size, const char *alias, bool one_dash) {
    for (const char *a = alias; a && *a;) {
        const size_t k = strcspn(a, "|");
        if ((a[1] != '-') == one_dash) append(buf, size, "%.*s, ", (int)k, a);
        a += k + (a[k] == '|');
    }
}

/* "  -p, --prompt TEXT": the one-dash aliases, the name, the other aliases, the value's name. */
static void format_names(const cli_flag *f, char *buf, size_t size) {
    static const char *const arg_of_kind[] = {
        [CLI_TEXT] = "TEXT", [CLI_INT] = "N",    [CLI_INT64] = "N",     [CLI_FLOAT] = "X",
        [CLI_DOUBLE] = "X",  [CLI_CHOICE] = "", [CLI_SWITCH] = "",     [CLI_LORA] = "FILE[:STRENGTH]",
    };
    snprintf(buf, size, "  ");
    append_aliases(buf, size, f->alias, true);
    if (f->name) append(buf, size, "%s, ", f->name);
    append_aliases(buf, size, f->alias, false);
    if (f->name || f->alias) buf[strlen(buf) - 2] = '\0'; /* the last ", " */
    if (f->kind == CLI_CHOICE) {
        for (size_t i = 0; f->choices[i]; i++) append(buf, size, "%c%s", i ? '|' : ' ', f->choices[i]);
    } else if (f->kind != CLI_SWITCH) {
        append(buf, size, "%s%s", f->name ? " " : "", f->arg ? f->arg : arg_of_kind[f->kind]);
    }
}

static void print_flag_help(const cli_flag *f) {
    char names[512], text[2048], def[256];
    format_names(f, names, sizeof names);
    snprintf(text, sizeof text, "%s", f->help ? f->help : "");
    if (format_default(f, def, sizeof def)) append(text, sizeof text, "%s(default %s)", text[0] ? " " : "", def);
    const int len = (int)strlen(names);
    if (len + 2 <= HELP_COLUMN) /* two spaces at least before the description, else it starts below */
        printf("%-*s", HELP_COLUMN, names);
    else
        printf("%s\n%*s", names, HELP_COLUMN, "");
    print_wrapped(text, HELP_COLUMN, HELP_COLUMN);
}

static void print_help(const cli_usage *usage, const cli_flag *flags, size_t n) {
    const char *syn = usage->synopsis;
    for (bool first = true; *syn; first = false) {
        const size_t k = strcspn(syn, "\n");
        printf("%s%.*s\n", first ? "usage: " : "       ", (int)k, syn);
        syn += k + (syn[k] == '\n');
    }
    if (usage->about) {
        printf("\n");
        print_wrapped(usage->about, 0, 0);
    }
    printf("\noptions:\n");
    static const cli_flag builtin[] = {
        {.name = "--help", .alias = "-h", .kind = CLI_SWITCH, .help = "print this help"},
        {.name = "--version", .kind = CLI_SWITCH, .help = "print radial's version"},
    };
    for (size_t i = 0; i < n; i++) print_flag_help(&flags[i]);
    for (size_t i = 0; i < CLI_N(builtin); i++) print_flag_help(&builtin[i]);
}

int cli_parse(const char *cmd, const cli_usage *usage, const cli_flag *flags, size_t n, int argc, char **argv) {
    size_t n_positional = 0, used_positional = 0; /* the positional arguments, filled in table order */
    for (size_t i = 0; i < n; i++) n_positional += !flags[i].name;
    char why[512];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_help(usage, flags, n);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            print_version();
            return 0;
        }
        if (a[0] != '-' || !a[1]) { /* not a flag ("-" alone names stdin/stdout) */
            if (used_positional == n_positional) return cli_usage_error(cmd, "unexpected argument '%s'", a);
            for (size_t k = 0, seen = 0; k < n; k++)
                if (!flags[k].name && seen++ == used_positional) *(const char **)flags[k].value = a;
            used_positional++;
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
        if (!f) return cli_usage_error(cmd, "unknown option '%s'", a);
        if (f->kind == CLI_SWITCH) {
            if (inline_val) return cli_usage_error(cmd, "%s takes no value", a);
            *(bool *)f->value = true;
            continue;
        }
        if (!inline_val && i + 1 >= argc) return cli_usage_error(cmd, "%s needs a value", a);
        if (!set_value(f, inline_val ? inline_val : argv[++i], why, sizeof why))
            return cli_usage_error(cmd, "%s: %s", a, why);
        if (f->given) *f->given = true;
    }
    return -1;
}

bool cli_timesteps(const char *cmd, const char *what, const char *val, double *out, int max, int *count) {
    if (rad_sched_parse_timesteps(val, out, max, count) == RAD_OK) return true;
    fprintf(stderr, "radial %s: %s: %s\n", cmd, what, rad_last_error());
    return false;
}
