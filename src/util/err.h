/* Error reporting for library code: functions fill a tl_err and return non-zero; only the CLI prints.
 * Messages name the problem and the file or field; they never contain keys, weights or prompts. */
#ifndef TEELM_UTIL_ERR_H
#define TEELM_UTIL_ERR_H

#include <stddef.h>

typedef struct {
    int code;          /* 0 = ok; otherwise one of TL_E* below */
    char msg[512];
} tl_err;

enum {
    TL_OK = 0,
    TL_EINVAL = 1,     /* bad input: file, field, argument */
    TL_EIO = 2,        /* read/write/system failure */
    TL_ENOMEM = 3,
    TL_ECRYPTO = 4,    /* authentication or signature failure */
    TL_EPOLICY = 5,    /* evidence valid but refused by policy */
    TL_EUNSUPPORTED = 6,
    TL_ENOTFOUND = 7,
    TL_ESTATE = 8,     /* expired, replayed, revoked... */
};

/* Sets err (if non-NULL) and returns code, so callers can `return tl_errf(err, TL_EINVAL, ...)`. */
int tl_errf(tl_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefixes an existing message: "context: previous message". Returns err->code. */
int tl_err_prefix(tl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* calloc(1, n), or NULL with err set to TL_ENOMEM "out of memory": the constructors' first step. */
void *tl_zalloc(size_t n, tl_err *err);
/* Appends the OpenSSL error queue (and clears it) to a message. */
int tl_err_ssl(tl_err *err, int code, const char *what);

#endif
