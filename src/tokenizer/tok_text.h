/* Small text helpers the tokenizer's pattern rewriters and normalizers/decoders share (tok_text.c):
 * appending to a util/strbuf.h buffer (whose out-of-memory is sticky, so a rewriter checks once at the
 * end), and replace-every-occurrence of a byte string. Internal to src/tokenizer/. */
#ifndef TEELM_TOKENIZER_TOK_TEXT_H
#define TEELM_TOKENIZER_TOK_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/unicode_extra.h"
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

/* Growth by doubling for the tokenizer's arrays: v (of *cap elements of elem bytes) reallocated to hold
 * at least need, starting from first. Returns the array (v itself when it already fits) with *cap
 * updated, or NULL when out of memory (v and *cap untouched). */
void *tok_grow(void *v, size_t *cap, size_t need, size_t elem, size_t first);

#endif
