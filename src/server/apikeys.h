/* Optional API keys: a file with one key per line (blank lines and lines starting with '#'
 * ignored). Requests present "Authorization: Bearer KEY". Keys are kept only as SHA-256 digests
 * and every check compares against all of them in constant time, so timing says nothing about
 * which key or how much of it matched. */
#ifndef TEELM_SERVER_APIKEYS_H
#define TEELM_SERVER_APIKEYS_H

#include "util/err.h"

typedef struct tl_apikeys tl_apikeys;

tl_apikeys *tl_apikeys_load(const char *path, tl_err *err);
void tl_apikeys_free(tl_apikeys *k);
/* 1 when the Authorization header value carries a configured key. */
int tl_apikeys_check(const tl_apikeys *k, const char *authorization);
int tl_apikeys_count(const tl_apikeys *k);

#endif
