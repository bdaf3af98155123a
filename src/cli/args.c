#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int tl_usage_error(const tl_cmdspec *spec, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "teelm %s: ", spec->cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'teelm help %s')\n", spec->cmd);
    va_end(ap);
    return 2;
}

void tl_args_usage(const tl_cmdspec *spec, FILE *out)
{
    fprintf(out, "usage: teelm %s %s\n", spec->cmd, spec->synopsis ? spec->synopsis : "");
    if (spec->summary)
        fprintf(out, "\n%s\n", spec->summary);
    if (spec->opts && spec->opts[0].name) {
        fprintf(out, "\noptions:\n");
        for (const tl_opt *o = spec->opts; o->name; o++) {
            char left[64];
            snprintf(left, sizeof left, "%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
            fprintf(out, "  %-26s %s\n", left, o->help ? o->help : "");
        }
    }
    fprintf(out, "  %-26s %s\n", "--help", "show this help");
}

static int parse_number(const tl_cmdspec *spec, const tl_opt *o, const char *v)
{
    char *end = NULL;
    errno = 0;
    if (o->type == TL_ARG_DOUBLE) {
        double d = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(d))
            return tl_usage_error(spec, "%s needs a number, got '%s'", o->name, v);
        if ((o->min || o->max) && (d < o->min || d > o->max))
            return tl_usage_error(spec, "%s must be between %g and %g, got '%s'", o->name, o->min, o->max, v);
        *(double *)o->dest = d;
        return 0;
    }
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end)
        return tl_usage_error(spec, "%s needs a whole number, got '%s'", o->name, v);
    double lo = o->min, hi = o->max;
    if (!lo && !hi) {
        lo = o->type == TL_ARG_INT ? -2147483648.0 : -9.2e18;
        hi = o->type == TL_ARG_INT ? 2147483647.0 : 9.2e18;
    }
    if ((double)x < lo || (double)x > hi)
        return tl_usage_error(spec, "%s must be between %.0f and %.0f, got '%s'", o->name, lo, hi, v);
    if (o->type == TL_ARG_INT)
        *(int *)o->dest = (int)x;
    else
        *(int64_t *)o->dest = (int64_t)x;
    return 0;
}

int tl_args_parse(const tl_cmdspec *spec, int argc, char **argv, const char **pos, int *npos)
{
    int np = 0, only_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (only_pos || a[0] != '-' || strcmp(a, "-") == 0) {
            if (np >= spec->max_pos)
                return tl_usage_error(spec, "unexpected argument '%s'", a);
            pos[np++] = a;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            tl_args_usage(spec, stdout);
            return 1;
        }
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        const tl_opt *o = NULL;
        for (const tl_opt *p = spec->opts; p && p->name; p++)
            if (strlen(p->name) == nl && strncmp(p->name, a, nl) == 0)
                o = p;
        if (!o)
            return tl_usage_error(spec, "unknown flag '%.*s'", (int)nl, a);
        if (o->type == TL_ARG_FLAG) {
            if (eq)
                return tl_usage_error(spec, "%s takes no value", o->name);
            *(int *)o->dest = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v) {
            if (i + 1 >= argc)
                return tl_usage_error(spec, "%s needs a value%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
            v = argv[++i];
        }
        switch (o->type) {
        case TL_ARG_STR:
            *(const char **)o->dest = v;
            break;
        case TL_ARG_MULTI: {
            tl_strlist *l = o->dest;
            if (l->n >= (int)(sizeof l->v / sizeof l->v[0]))
                return tl_usage_error(spec, "%s given too many times", o->name);
            l->v[l->n++] = v;
            break;
        }
        default:
            if (parse_number(spec, o, v))
                return 2;
        }
    }
    if (np < spec->min_pos)
        return tl_usage_error(spec, "missing argument (expected %s)", spec->synopsis ? spec->synopsis : "more arguments");
    for (const tl_opt *o = spec->opts; o && o->name; o++)
        if (o->required && !*(const char **)o->dest)
            return tl_usage_error(spec, "%s", spec->missing ? spec->missing : "a required flag is missing");
    if (npos)
        *npos = np;
    return 0;
}

char **tl_args_expand_multi(int argc, char **argv, const char *flag, int *nargc)
{
    char **v = malloc(sizeof *v * (size_t)(2 * argc + 1));
    if (!v)
        return NULL;
    int n = 0;
    for (int i = 0; i < argc; i++) {
        v[n++] = argv[i];
        if (strcmp(argv[i], flag))
            continue;
        if (i + 1 < argc)
            v[n++] = argv[++i];
        while (i + 1 < argc && argv[i + 1][0] != '-') {
            v[n++] = (char *)flag;
            v[n++] = argv[++i];
        }
    }
    v[n] = NULL;
    *nargc = n;
    return v;
}
