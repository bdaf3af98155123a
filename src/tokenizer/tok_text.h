/* Small text helpers the tokenizer's pattern rewriters and normalizers/decoders share (tok_text.c):
 * appending to a util/strbuf.h buffer (whose out-of-memory is sticky, so a rewriter checks once at the
 * end), and replace-every-occurrence of a byte string. Internal to src/tokenizer/. */
#ifndef TEELM_TOKENIZER_TOK_TEXT_H
#define TEELM_TOKENIZER_TOK_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/unicode_extra.h"
#include "util/grow.h"
#include "util/strbuf.h"

void tok_sb_puts(tl_strbuf *b, const char *s);
/* The ranges of e as PCRE2 class members: "\x{A}" or "\x{A}-\x{B}" each. */
void tok_sb_ranges(tl_strbuf *b, const tl_ucat_extra *e);

/* The entry of table (ended by a NULL name) called name[0..n), or NULL. */
const tl_ucat_extra *tok_ucat_find(const tl_ucat_extra *table, const char *name, size_t n);

/* s[0..n) with every non-overlapping a[0..al) (al > 0) replaced by b[0..bl), left to right, into a new
 * NUL-terminated *out of *ol bytes. Returns 0, or -1 when out of memory (*out untouched). */
int tok_replace_all(const uint8_t *s, size_t n, const char *a, size_t al, const char *b, size_t bl, uint8_t **out,
                    size_t *ol);

/* The token ids an encoder produces (owned v, free). Inline: encoding pushes one per token. */
typedef struct {
    uint32_t *v;
    size_t n, cap;
} tok_ids;
/* Room for more ids past n: 0, or -1 when out of memory (the ids kept). */
static inline int tok_ids_reserve(tok_ids *a, size_t more)
{
    return TL_GROW(a->v, &a->cap, a->n + more, 256);
}
static inline int tok_ids_push(tok_ids *a, uint32_t x)
{
    if (tok_ids_reserve(a, 1))
        return -1;
    a->v[a->n++] = x;
    return 0;
}

#endif
