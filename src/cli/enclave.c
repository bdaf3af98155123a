/* Enclave mode (enclave.h): the measured serve command, and the few settings the host may add. */
#include "cli/enclave.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "util/io.h"
#include "util/json_fields.h"

#define MAX_ARGS 256

/* The host-supplied settings, each safe to leave to the host (docs/deploy-occlum.md says why):
 * where the socket listens decides only who can connect, which the host decides anyway (it owns
 * the network); TLS with the RA-TLS certificate protects everything sent over it. */
static const char *const host_flags[] = {"--listen"};

static int refuse(const char *path, const char *what)
{
    fprintf(stderr,
            "teelm: enclave mode (%s=%s, set by the measured image): this enclave runs only its measured "
            "'teelm serve'; the host may pass only --listen HOST:PORT, not %s\n", TL_ENCLAVE_ENV, path, what);
    return 2;
}

/* Index of a's flag in host_flags (value: the part after '=', or NULL), or -1. */
static int host_flag(const char *a, const char **value)
{
    for (size_t i = 0; i < sizeof host_flags / sizeof *host_flags; i++) {
        size_t n = strlen(host_flags[i]);
        if (!strncmp(a, host_flags[i], n) && (a[n] == 0 || a[n] == '=')) {
            *value = a[n] == '=' ? a + n + 1 : NULL;
            return (int)i;
        }
    }
    return -1;
}

int tl_enclave_main(const char *path, int argc, char **argv)
{
    /* the host's arguments first: nothing of the file is needed to refuse them */
    enum { NHOST = sizeof host_flags / sizeof *host_flags };
    int first = 1, seen[NHOST] = {0}, nhost = 0;
    char *host[2 * NHOST];
    if (argc > 1 && !strcmp(argv[1], "serve"))
        first = 2; /* what run.sh passes; any other command name is refused below */
    for (int i = first; i < argc; i++) {
        const char *v;
        char what[300];
        snprintf(what, sizeof what, "'%.256s'", argv[i]);
        for (char *c = what; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                *c = '?'; /* the host's bytes reach the operator's terminal */
        int k = host_flag(argv[i], &v);
        if (k < 0)
            return refuse(path, what);
        if (seen[k]++)
            return refuse(path, "the same setting twice");
        host[nhost++] = argv[i];
        if (!v) {
            if (i + 1 >= argc)
                return refuse(path, "a setting without its value");
            host[nhost++] = argv[++i];
        }
    }

    tl_err e = {0};
    uint8_t *data = NULL;
    size_t len = 0;
    if (tl_read_file(path, 1 << 20, &data, &len, &e)) {
        fprintf(stderr, "teelm: enclave mode: %s\n", e.msg);
        return 1;
    }
    json_error_t je;
    json_t *o = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &je);
    free(data);
    static const tl_json_field fields[] = {{"version", TL_JF_INT, 1}, {"serve", TL_JF_ANY, 1}, {NULL}};
    json_t *fv[2] = {NULL, NULL};
    tl_jf_status st = o ? tl_json_fields(o, fields, fv, NULL) : TL_JF_NOT_OBJECT;
    json_t *args = fv[1];
    const char *bad = !o ? je.text
                    : st || json_integer_value(fv[0]) != 1
                        ? "must be an object with exactly \"version\": 1 and \"serve\""
                    : !json_is_array(args) || json_array_size(args) > MAX_ARGS ? "\"serve\" must be an array of at most 256 strings"
                                                                               : NULL;
    size_t n = json_array_size(args);
    for (size_t i = 0; !bad && i < n; i++)
        if (!json_is_string(json_array_get(args, i)))
            bad = "\"serve\" must hold strings only";
    if (bad) {
        fprintf(stderr, "teelm: enclave mode: %s: %s\n", path, bad);
        json_decref(o);
        return 1;
    }
    char **av = calloc(n + (size_t)nhost + 1, sizeof *av);
    if (!av) {
        json_decref(o);
        fprintf(stderr, "teelm: enclave mode: out of memory\n");
        return 1;
    }
    int ac = 0;
    for (size_t i = 0; i < n; i++)
        av[ac++] = (char *)json_string_value(json_array_get(args, i));
    /* the host's settings last: they replace a default the file may give */
    for (int j = 0; j < nhost; j++)
        av[ac++] = host[j];
    int rc = cmd_serve(ac, av);
    free(av);
    json_decref(o);
    return rc;
}
