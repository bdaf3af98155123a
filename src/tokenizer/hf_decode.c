/* tokenizer.json decoding: the decoder chain over token strings, then clean_up_tokenization_spaces,
 * as npm @huggingface/tokenizers 0.2.0 decodes (skip_special_tokens false). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/hf_internal.h"
#include "tokenizer/tok_text.h"

typedef struct {
    uint8_t *p;
    size_t n;
} str;
typedef struct {
    str *v;
    size_t n, cap;
    int oom;
} slist;

static void sl_push(slist *l, const uint8_t *p, size_t n)
{
    if (l->oom)
        return;
    /* doubling: one realloc per token made decoding quadratic under ASan */
    if (TL_GROW(l->v, &l->cap, l->n + 1, 16)) {
        l->oom = 1;
        return;
    }
    uint8_t *q = malloc(n + 1);
    if (!q) {
        l->oom = 1;
        return;
    }
    memcpy(q, p, n);
    q[n] = 0;
    l->v[l->n++] = (str){q, n};
}
static void sl_free(slist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].p);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* TextDecoder: invalid UTF-8 -> U+FFFD; strip_bom drops one leading U+FEFF (ignoreBOM false). */
static void push_decoded(slist *l, const uint8_t *b, size_t n, int strip_bom)
{
    uint8_t *fixed = NULL;
    size_t fl;
    if (tok_utf8_sanitize(b, n, &fixed, &fl)) {
        l->oom = 1;
        return;
    }
    const uint8_t *p = fixed ? fixed : b;
    if (strip_bom && fl >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
        p += 3, fl -= 3;
    sl_push(l, p, fl);
    free(fixed);
}

static void replace_into(slist *l, const str *s, const char *a, size_t al, const char *b, size_t bl)
{
    uint8_t *o;
    size_t k;
    if (tok_replace_all(s->p, s->n, a, al, b, bl, &o, &k)) {
        l->oom = 1;
        return;
    }
    sl_push(l, o, k);
    free(o);
}

static int hexv(uint8_t c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

/* The Rust tokenizers library's rule (u8::from_str_radix of the two middle characters): two hex
 * digits of either case, or '+' and one. The npm reference's parseInt also takes a valid first digit
 * followed by anything ("<0x1G>" -> 0x01), leading white space and '-' (wrapping to 0xFF): those
 * stay text here (docs/tokenizer.md, "Decoding"). */
int hf_byte_token(const uint8_t *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int hi = hexv(s[3]), lo = hexv(s[4]);
    if (s[3] == '+')
        return lo;
    return hi >= 0 && lo >= 0 ? hi * 16 + lo : -1;
}

static void step(const tok_hf *h, const hf_dec *d, slist *in, slist *out, const int32_t *added_of)
{
    switch (d->kind) {
    case HFD_BYTELEVEL: {
        uint8_t *buf = NULL;
        size_t bn = 0, bc = 0;
        for (size_t i = 0; i <= in->n && !out->oom; i++) {
            int flush = i == in->n || added_of[i] >= 0;
            if (flush) {
                if (bn || (i < in->n && 0)) {
                    push_decoded(out, buf, bn, 0);
                    bn = 0;
                }
                if (i < in->n)
                    sl_push(out, in->v[i].p, in->v[i].n);
                continue;
            }
            if (bn + in->v[i].n + 1 > bc) {
                bc = (bn + in->v[i].n + 1) * 2;
                uint8_t *nb = realloc(buf, bc);
                if (!nb) {
                    out->oom = 1;
                    break;
                }
                buf = nb;
            }
            const uint8_t *s = in->v[i].p;
            for (size_t k = 0; k < in->v[i].n; k += hf_clen(s[k])) {
                int b = hf_char_byte(hf_cp(s + k));
                buf[bn++] = (uint8_t)(b < 0 ? 0 : b);
            }
        }
        free(buf);
        break;
    }
    case HFD_REPLACE:
        for (size_t i = 0; i < in->n; i++)
            replace_into(out, &in->v[i], d->a, d->al, d->b, d->bl);
        break;
    case HFD_BYTEFALLBACK: {
        uint8_t *run = malloc(in->n + 1);
        size_t rn = 0;
        if (!run) {
            out->oom = 1;
            break;
        }
        for (size_t i = 0; i < in->n; i++) {
            const uint8_t *s = in->v[i].p;
            int b = hf_byte_token(s, in->v[i].n);
            if (b >= 0) {
                run[rn++] = (uint8_t)b;
                continue;
            }
            if (rn)
                push_decoded(out, run, rn, 1);
            rn = 0;
            sl_push(out, s, in->v[i].n);
        }
        if (rn)
            push_decoded(out, run, rn, 1);
        free(run);
        break;
    }
    case HFD_FUSE: {
        size_t tot = 0;
        for (size_t i = 0; i < in->n; i++)
            tot += in->v[i].n;
        uint8_t *o = malloc(tot + 1);
        if (!o) {
            out->oom = 1;
            break;
        }
        size_t k = 0;
        for (size_t i = 0; i < in->n; i++) {
            memcpy(o + k, in->v[i].p, in->v[i].n);
            k += in->v[i].n;
        }
        sl_push(out, o, k);
        free(o);
        break;
    }
    case HFD_STRIP:
        for (size_t i = 0; i < in->n; i++) {
            const uint8_t *s = in->v[i].p;
            size_t a = 0, b = in->v[i].n;
            for (int k = 0; k < d->start && a + d->al <= b && memcmp(s + a, d->a, d->al) == 0; k++)
                a += d->al;
            for (int k = 0; k < d->stop && b >= a + d->al && memcmp(s + b - d->al, d->a, d->al) == 0; k++)
                b -= d->al;
            sl_push(out, s + a, b - a);
        }
        break;
    case HFD_METASPACE:
        for (size_t i = 0; i < in->n; i++) {
            size_t before = out->n;
            replace_into(out, &in->v[i], d->a, d->al, " ", 1);
            if (i == 0 && out->n > before && out->v[before].n && out->v[before].p[0] == ' ') {
                memmove(out->v[before].p, out->v[before].p + 1, out->v[before].n);
                out->v[before].n--;
            }
        }
        break;
    }
    (void)h;
}

static const struct {
    const char *from, *to;
} cleanups[] = {{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
                {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};

int hf_decode(const tl_tokenizer *t, const uint32_t *ids, size_t n, char **out, size_t *len, tl_err *err)
{
    const tok_hf *h = t->hf;
    *out = NULL;
    *len = 0;
    slist a = {0}, b = {0};
    int32_t *added_of = malloc((n + 1) * sizeof *added_of);
    if (!added_of)
        return tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
    for (size_t i = 0; i < n; i++) {
        if (ids[i] >= h->n_ids || (!h->dlen[ids[i]] && h->dadded[ids[i]] < 0)) {
            sl_free(&a);
            free(added_of);
            return tl_errf(err, TL_EINVAL, "token id %u (position %zu) is not in the vocabulary (%u ids)", ids[i], i,
                           h->n_ids);
        }
        sl_push(&a, h->darena + h->doff[ids[i]], h->dlen[ids[i]]);
        added_of[i] = h->dadded[ids[i]];
    }
    int first = 1;
    for (int d = 0; d < h->n_dec && !a.oom; d++) {
        /* only the ByteLevel decoder looks at which strings are added tokens; it runs first in real files */
        if (!first)
            for (size_t i = 0; i < a.n; i++)
                added_of[i] = -1;
        step(h, &h->dec[d], &a, &b, added_of);
        sl_free(&a);
        a = b;
        b = (slist){0};
        first = 0;
    }
    free(added_of);
    if (a.oom) {
        sl_free(&a);
        return tl_errf(err, TL_ENOMEM, "tokenizer: out of memory decoding %zu tokens", n);
    }
    size_t tot = a.n;  /* room for the separators of a missing decoder */
    for (size_t i = 0; i < a.n; i++)
        tot += a.v[i].n;
    str joined = {malloc(tot + 1), 0};
    if (!joined.p) {
        sl_free(&a);
        return tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
    }
    for (size_t i = 0; i < a.n; i++) {
        if (i && !h->n_dec)  /* no decoder: the reference joins the token strings with spaces */
            joined.p[joined.n++] = ' ';
        memcpy(joined.p + joined.n, a.v[i].p, a.v[i].n);
        joined.n += a.v[i].n;
    }
    joined.p[joined.n] = 0;
    sl_free(&a);
    for (size_t c = 0; h->cleanup && c < sizeof cleanups / sizeof cleanups[0]; c++) {
        slist r = {0};
        replace_into(&r, &joined, cleanups[c].from, strlen(cleanups[c].from), cleanups[c].to, strlen(cleanups[c].to));
        if (r.oom) {
            free(joined.p);
            return tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
        }
        free(joined.p);
        joined = r.v[0];
        free(r.v);
    }
    *out = (char *)joined.p;
    *len = joined.n;
    return 0;
}
