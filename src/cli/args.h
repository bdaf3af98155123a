/* Declarative flag parsing shared by every subcommand, so all of them behave alike:
 * `--name value` or `--name=value`; unknown flags, missing or malformed values print one line
 * ("teelm CMD: ...") to stderr and make tl_args_parse return 2 (the exit code for usage errors). */
#ifndef TEELM_CLI_ARGS_H
#define TEELM_CLI_ARGS_H

#include <stdint.h>
#include <stdio.h>

typedef enum {
    TL_ARG_FLAG,    /* int* set to 1 */
    TL_ARG_STR,     /* const char ** */
    TL_ARG_INT,     /* int*, range [min,max] */
    TL_ARG_I64,     /* int64_t*, range [min,max] */
    TL_ARG_DOUBLE,  /* double*, range [min,max] */
    TL_ARG_MULTI,   /* tl_strlist*: repeatable string flag */
} tl_arg_type;

typedef struct {
    const char *v[64];
    int n;
} tl_strlist;

typedef struct {
    const char *name;     /* "--steps" */
    tl_arg_type type;
    void *dest;
    const char *metavar;  /* "N"; NULL for flags */
    const char *help;
    double min, max;      /* for numbers; both 0 = unbounded */
    int required;         /* TL_ARG_STR only: the command cannot run without it (spec->missing) */
} tl_opt;

typedef struct {
    const char *cmd;       /* "train" or "kbs add-key" */
    const char *synopsis;  /* one line after "usage: teelm CMD " */
    const char *summary;   /* a sentence or two */
    const tl_opt *opts;    /* terminated by {0} */
    int min_pos, max_pos;  /* positional argument count bounds */
    /* The usage error when a required flag is missing, naming them together as the synopsis
     * does ("--server and --policy are required"), so one message covers the set. */
    const char *missing;
} tl_cmdspec;

/* Returns 0 when parsed, 1 when --help was printed (caller exits 0), 2 on a usage error (printed):
 * an unknown flag or a malformed value, too few or too many positionals, then a required flag missing.
 * Positional arguments are stored in pos (at most spec->max_pos); *npos receives their number. */
int tl_args_parse(const tl_cmdspec *spec, int argc, char **argv, const char **pos, int *npos);
void tl_args_usage(const tl_cmdspec *spec, FILE *out);
/* tl_args_parse at the start of a command: returns from the calling command with its exit code when
 * it must stop there (0 after --help, 2 after a usage error), so every command stops alike. */
#define TL_ARGS_PARSE_OR_RETURN(spec, argc, argv, pos, npos)                 \
    do {                                                                     \
        int tl_args_rc_ = tl_args_parse((spec), (argc), (argv), (pos), (npos)); \
        if (tl_args_rc_)                                                     \
            return tl_args_rc_ == 1 ? 0 : tl_args_rc_;                       \
    } while (0)
/* `FLAG A B C` as `FLAG A FLAG B FLAG C`, so a TL_ARG_MULTI flag takes several values: they run to
 * the next argument that starts with '-'. Returns a malloc'd argv (NULL-terminated, same strings;
 * free only the array) of *nargc entries, or NULL when out of memory. */
char **tl_args_expand_multi(int argc, char **argv, const char *flag, int *nargc);
/* Prints "teelm CMD: msg" and returns 2; for checks after parsing (missing required flags...). */
int tl_usage_error(const tl_cmdspec *spec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
