/* A growable NUL-terminated byte buffer whose out-of-memory is sticky: a writer appends freely and
 * checks `oom` once at the end (a failed growth turns later appends into no-ops). */
#ifndef TEELM_UTIL_STRBUF_H
#define TEELM_UTIL_STRBUF_H

#include <stddef.h>

typedef struct {
    char *p;    /* NUL-terminated once anything was appended; owned (tl_strbuf_free) */
    size_t n;   /* bytes appended, the NUL not counted */
    size_t cap; /* bytes allocated at p */
    int oom;    /* set by a failed growth */
} tl_strbuf;

void tl_strbuf_init(tl_strbuf *b);
/* Appends s[0..n) (may hold NUL bytes). */
void tl_strbuf_put(tl_strbuf *b, const void *s, size_t n);
void tl_strbuf_putc(tl_strbuf *b, char c);
/* Appends the printf-formatted text. */
void tl_strbuf_printf(tl_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees the bytes and leaves b empty (as after tl_strbuf_init). */
void tl_strbuf_free(tl_strbuf *b);

#endif
