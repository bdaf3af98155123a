/* RFC 8785 canonical JSON (jcs.h). */
#include "util/jcs.h"
#include "util/strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The next code point of UTF-8 s[0..n) at *i (advanced), or -1 when not well-formed. */
static long utf8_next(const unsigned char *s, size_t n, size_t *i)
{
    unsigned c = s[*i];
    int k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
    if (k < 0 || *i + (size_t)k >= n + (k ? 0 : 1))
        return -1;
    long cp = k == 0 ? (long)c : (long)(c & (0x3f >> k));
    for (int j = 1; j <= k; j++) {
        unsigned d = s[*i + (size_t)j];
        if ((d & 0xc0) != 0x80)
            return -1;
        cp = cp << 6 | (d & 0x3f);
    }
    static const long min[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *i += (size_t)k + 1;
    return cp;
}

static void put_string(tl_strbuf *b, const char *s, size_t n)
{
    tl_strbuf_put(b, "\"", 1);
    size_t i = 0, run = 0; /* bytes [run, i) are copied as they are */
    while (i < n && !b->oom) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            if (utf8_next((const unsigned char *)s, n, &i) < 0)
                b->oom = 1;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        tl_strbuf_put(b, s + run, i - run);
        char e[8];
        const char *sh = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\t' ? "\\t"
                       : c == '\n' ? "\\n" : c == '\f' ? "\\f" : c == '\r' ? "\\r" : NULL;
        if (!sh) {
            snprintf(e, sizeof e, "\\u%04x", c);
            sh = e;
        }
        tl_strbuf_put(b, sh, strlen(sh));
        run = ++i;
    }
    tl_strbuf_put(b, s + run, i - run);
    tl_strbuf_put(b, "\"", 1);
}

/* RFC 8785 3.2.3: names compare as sequences of UTF-16 code units. For code points below U+10000
 * that is code point order, and so is UTF-8 byte order; a supplementary code point (a surrogate
 * pair, 0xD800..0xDBFF first) sorts before U+E000..U+FFFF, unlike in UTF-8. */
static int utf16_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    size_t i = 0, j = 0;
    while (i < na && j < nb) {
        long x = utf8_next((const unsigned char *)a, na, &i), y = utf8_next((const unsigned char *)b, nb, &j);
        if (x < 0 || y < 0)
            return x < 0 ? (y < 0 ? 0 : -1) : 1;
        long ux = x >= 0x10000 ? 0xd800 + ((x - 0x10000) >> 10) : x, uy = y >= 0x10000 ? 0xd800 + ((y - 0x10000) >> 10) : y;
        if (ux != uy)
            return ux < uy ? -1 : 1;
        if (x != y) /* same high surrogate: the low ones decide */
            return ((x - 0x10000) & 0x3ff) < ((y - 0x10000) & 0x3ff) ? -1 : 1;
    }
    return i < na ? 1 : j < nb ? -1 : 0;
}

typedef struct {
    const char *k;
    size_t n;
    json_t *v;
} member;

static int member_cmp(const void *pa, const void *pb)
{
    const member *a = pa, *b = pb;
    return utf16_cmp(a->k, a->n, b->k, b->n);
}

static void put_value(tl_strbuf *b, const json_t *v, int depth)
{
    if (b->oom)
        return;
    if (depth > 64) {
        b->oom = 1;
        return;
    }
    char num[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), k = 0;
        member *m = n ? malloc(n * sizeof *m) : NULL;
        if (n && !m) {
            b->oom = 1;
            return;
        }
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val) {
            m[k].k = key;
            m[k].n = strlen(key);
            m[k++].v = val;
        }
        if (n) /* qsort's base must not be NULL, even for no members */
            qsort(m, n, sizeof *m, member_cmp);
        tl_strbuf_putc(b, '{');
        for (size_t i = 0; i < n; i++) {
            if (i)
                tl_strbuf_putc(b, ',');
            put_string(b, m[i].k, m[i].n);
            tl_strbuf_putc(b, ':');
            put_value(b, m[i].v, depth + 1);
        }
        tl_strbuf_putc(b, '}');
        free(m);
        return;
    }
    case JSON_ARRAY:
        tl_strbuf_putc(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                tl_strbuf_putc(b, ',');
            put_value(b, json_array_get(v, i), depth + 1);
        }
        tl_strbuf_putc(b, ']');
        return;
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER: {
        json_int_t x = json_integer_value(v);
        if (x > TL_JCS_MAX_INT || x < -TL_JCS_MAX_INT) {
            b->oom = 1;
            return;
        }
        snprintf(num, sizeof num, "%lld", (long long)x);
        tl_strbuf_put(b, num, strlen(num));
        return;
    }
    case JSON_TRUE: tl_strbuf_put(b, "true", 4); return;
    case JSON_FALSE: tl_strbuf_put(b, "false", 5); return;
    case JSON_NULL: tl_strbuf_put(b, "null", 4); return;
    default: b->oom = 1; return; /* JSON_REAL */
    }
}

char *tl_jcs(const json_t *v, size_t *len)
{
    tl_strbuf b;
    tl_strbuf_init(&b);
    if (!v)
        return NULL;
    put_value(&b, v, 0);
    if (b.oom || !b.p) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.n;
    return b.p;
}
