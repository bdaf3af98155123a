/* Errors in OpenAI's JSON shape: {"error":{"message":..,"type":..,"param":..,"code":..}} with the
 * HTTP status that goes with them. Messages name the field and the problem; they never quote the
 * prompt or any other request text. */
#ifndef TEELM_SERVER_API_ERROR_H
#define TEELM_SERVER_API_ERROR_H

typedef struct {
    int status;        /* HTTP status: 400, 401, 404, 405, 408, 413, 429, 500, 503 */
    char type[32];     /* "invalid_request_error", "authentication_error", "server_error", ... */
    char param[48];    /* the offending field, or "" (JSON null) */
    char code[32];     /* machine-readable code, or "" (JSON null) */
    char message[400];
} tl_api_error;

/* Fills e and returns -1, so parsers can `return tl_api_errorf(...)`. */
int tl_api_errorf(tl_api_error *e, int status, const char *type, const char *param, const char *code,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Shorthand for a 400 invalid_request_error about param. */
int tl_api_bad_field(tl_api_error *e, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The JSON body (malloc'd with tl_sec_malloc, NUL-terminated). */
char *tl_api_error_json(const tl_api_error *e);

#endif
