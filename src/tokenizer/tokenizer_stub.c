/* Placeholder until the tokenizer lands: delete this file when tokenizer.c implements the header. */
#include "tokenizer/tokenizer.h"

tl_tokenizer *tl_tokenizer_load(const char *path, const char *pattern, tl_err *err)
{
    (void)pattern;
    tl_errf(err, TL_EUNSUPPORTED, "%s: tokenizer not available in this build yet", path);
    return NULL;
}
tl_tokenizer *tl_tokenizer_load_mem(const uint8_t *d, size_t l, const char *name, const char *p, tl_err *err)
{
    (void)d; (void)l; (void)p;
    tl_errf(err, TL_EUNSUPPORTED, "%s: tokenizer not available in this build yet", name);
    return NULL;
}
void tl_tokenizer_free(tl_tokenizer *t) { (void)t; }
int tl_tokenizer_encode(const tl_tokenizer *t, const char *s, size_t l, int a, uint32_t **ids, size_t *n, tl_err *err)
{
    (void)t; (void)s; (void)l; (void)a; (void)ids; (void)n;
    return tl_errf(err, TL_EUNSUPPORTED, "tokenizer not available in this build yet");
}
int tl_tokenizer_decode(const tl_tokenizer *t, const uint32_t *ids, size_t n, char **out, size_t *len, tl_err *err)
{
    (void)t; (void)ids; (void)n; (void)out; (void)len;
    return tl_errf(err, TL_EUNSUPPORTED, "tokenizer not available in this build yet");
}
const uint8_t *tl_tokenizer_token_bytes(const tl_tokenizer *t, uint32_t id, size_t *len) { (void)t; (void)id; (void)len; return NULL; }
uint32_t tl_tokenizer_vocab_size(const tl_tokenizer *t) { (void)t; return 0; }
const char *tl_tokenizer_pattern_name(const tl_tokenizer *t) { (void)t; return "none"; }
