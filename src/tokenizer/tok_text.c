/* See tok_text.h. */
#include "tokenizer/tok_text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tok_sb_puts(tl_strbuf *b, const char *s) { tl_strbuf_put(b, s, strlen(s)); }

void tok_sb_ranges(tl_strbuf *b, const tl_ucat_extra *e)
{
    for (size_t i = 0; i < e->n; i++) {
        if (e->ranges[i][0] == e->ranges[i][1])
            tl_strbuf_printf(b, "\\x{%X}", (unsigned)e->ranges[i][0]);
        else
            tl_strbuf_printf(b, "\\x{%X}-\\x{%X}", (unsigned)e->ranges[i][0], (unsigned)e->ranges[i][1]);
    }
}

const tl_ucat_extra *tok_ucat_find(const tl_ucat_extra *table, const char *name, size_t n)
{
    for (const tl_ucat_extra *e = table; e->name; e++)
        if (strlen(e->name) == n && memcmp(e->name, name, n) == 0)
            return e;
    return NULL;
}

int tok_replace_all(const uint8_t *s, size_t n, const char *a, size_t al, const char *b, size_t bl, uint8_t **out,
                    size_t *ol)
{
    size_t cnt = 0;
    for (const uint8_t *p = s; (p = memmem(p, (size_t)(s + n - p), a, al)); p += al)
        cnt++;
    uint8_t *o = malloc(n - cnt * al + cnt * bl + 1);
    if (!o)
        return -1;
    size_t k = 0;
    const uint8_t *p = s, *e = s + n;
    for (const uint8_t *f; (f = memmem(p, (size_t)(e - p), a, al)); p = f + al) {
        memcpy(o + k, p, (size_t)(f - p));
        k += (size_t)(f - p);
        memcpy(o + k, b, bl);
        k += bl;
    }
    memcpy(o + k, p, (size_t)(e - p));
    k += (size_t)(e - p);
    o[k] = 0;
    *out = o;
    *ol = k;
    return 0;
}
