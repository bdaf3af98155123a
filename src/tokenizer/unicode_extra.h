/* Code points that npm tiktoken (Unicode 16.0) puts in a General_Category but PCRE2 10.42 (Unicode 14.0)
 * does not; the pre-tokenizer adds them to each \p{X} so both engines classify alike. Generated into
 * unicode_extra.c by scripts/gen-tokenizer-unicode.py. */
#ifndef TEELM_TOKENIZER_UNICODE_EXTRA_H
#define TEELM_TOKENIZER_UNICODE_EXTRA_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;             /* "L", "Lu", ..., "M", "N"; NULL ends the table */
    const uint32_t (*ranges)[2];  /* inclusive code point ranges */
    size_t n;
} tl_ucat_extra;

extern const tl_ucat_extra tl_ucat_extras[];

#endif
