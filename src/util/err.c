#include "util/err.h"

#include <stdlib.h>

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int tl_errf(tl_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int tl_err_prefix(tl_err *err, const char *fmt, ...)
{
    if (!err)
        return TL_EINVAL;
    char prefix[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t pl = strlen(prefix);
    if (pl > sizeof err->msg - 3)
        pl = sizeof err->msg - 3;
    memcpy(err->msg, prefix, pl);
    memcpy(err->msg + pl, ": ", 2);
    size_t room = sizeof err->msg - pl - 3, ol = strnlen(old, room);
    memcpy(err->msg + pl + 2, old, ol);
    err->msg[pl + 2 + ol] = 0;
    if (!err->code)
        err->code = TL_EINVAL;
    return err->code;
}

int tl_err_ssl(tl_err *err, int code, const char *what)
{
    char buf[256] = "";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return tl_errf(err, code, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

void *tl_zalloc(size_t n, tl_err *err)
{
    void *p = calloc(1, n ? n : 1);
    if (!p)
        tl_errf(err, TL_ENOMEM, "out of memory");
    return p;
}
