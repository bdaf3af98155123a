#include "server/api_error.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/secmem.h"

static int vset(tl_api_error *e, int status, const char *type, const char *param, const char *code,
                const char *fmt, va_list ap)
{
    e->status = status;
    snprintf(e->type, sizeof e->type, "%s", type ? type : "invalid_request_error");
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    snprintf(e->code, sizeof e->code, "%s", code ? code : "");
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    return -1;
}

int tl_api_errorf(tl_api_error *e, int status, const char *type, const char *param, const char *code,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(e, status, type, param, code, fmt, ap);
    va_end(ap);
    return -1;
}

int tl_api_bad_field(tl_api_error *e, const char *param, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(e, 400, "invalid_request_error", param, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

static json_t *str_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

char *tl_api_error_json(const tl_api_error *e)
{
    /* messages are built by teelm from field names and numbers, but keep them valid UTF-8 anyway */
    json_t *msg = json_string(e->message);
    if (!msg)
        msg = json_string("invalid request");
    json_t *o = json_pack("{s:{s:o,s:s,s:o,s:o}}", "error", "message", msg, "type", e->type,
                          "param", str_or_null(e->param), "code", str_or_null(e->code));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) {
        text = tl_sec_malloc(64);
        if (text)
            snprintf(text, 64, "{\"error\":{\"message\":\"internal error\",\"type\":\"server_error\"}}");
    }
    return text;
}
