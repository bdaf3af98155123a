/* Encoding (UTF-8 repair, special tokens, pre-tokenizer, piece lookup, byte pair merge) and decoding. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/hf_internal.h"
#include "tokenizer/tok_text.h"

/* ---- UTF-8 repair ---------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid; *bad receives how many bytes
 * form the maximal invalid subpart to replace by one U+FFFD (WHATWG "UTF-8 decode"). */
static size_t utf8_seq(const uint8_t *s, size_t n, size_t *bad)
{
    uint8_t b = s[0];
    if (b < 0x80)
        return 1;
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF)
        need = 1;
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        if (b == 0xE0)
            lo = 0xA0;
        if (b == 0xED)
            hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        if (b == 0xF0)
            lo = 0x90;
        if (b == 0xF4)
            hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t k = 1; k <= need; k++) {
        if (k >= n || s[k] < lo || s[k] > hi) {
            *bad = k;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

static size_t first_invalid(const uint8_t *s, size_t n)
{
    size_t i = 0, bad;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_seq(s + i, n - i, &bad);
        if (!l)
            return i;
        i += l;
    }
    return n;
}

int tok_utf8_sanitize(const uint8_t *s, size_t n, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = n;
    size_t i = first_invalid(s, n);
    if (i == n)
        return 0;
    /* each invalid byte becomes at most 3 bytes */
    if (n > (SIZE_MAX - 1) / 3)
        return -1;
    uint8_t *o = malloc(3 * n + 1);
    if (!o)
        return -1;
    memcpy(o, s, i);
    size_t k = i, bad;
    while (i < n) {
        size_t l = utf8_seq(s + i, n - i, &bad);
        if (l) {
            memcpy(o + k, s + i, l);
            k += l;
            i += l;
        } else {
            o[k++] = 0xEF, o[k++] = 0xBF, o[k++] = 0xBD;
            i += bad;
        }
    }
    o[k] = 0;
    *out = o;
    *out_len = k;
    return 0;
}

/* ---- encoding -------------------------------------------------------------------------------- */

static int encode_piece(const tl_tokenizer *t, const uint8_t *p, size_t n, tok_ids *v)
{
    if (tok_ids_reserve(v, n))
        return -1;
    uint32_t r = tok_rank(t, p, n);
    if (r != TOK_NONE) {
        v->v[v->n++] = r;
        return 0;
    }
    size_t k = n <= TOK_SMALL_PIECE ? tok_bpe_small(t, p, n, v->v + v->n) : tok_bpe_large(t, p, n, v->v + v->n);
    if (k == (size_t)-1)
        return -1;
    v->n += k;
    return 0;
}

/* UTF-8 length of the character starting with byte b (input is valid UTF-8 here). */
static size_t char_len(uint8_t b) { return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4; }

int tok_matcher_init(tok_matcher *m)
{
    m->js = NULL;
    m->md = pcre2_match_data_create(1, NULL);
    m->mc = pcre2_match_context_create(NULL);
    return m->md && m->mc ? 0 : -1;
}

void tok_matcher_free(tok_matcher *m)
{
    pcre2_jit_stack_free(m->js);
    pcre2_match_context_free(m->mc);
    pcre2_match_data_free(m->md);
}

int tok_match(const pcre2_code *re, int jit, size_t (*fast)(const uint8_t *, size_t, size_t), tok_matcher *m,
              const uint8_t *s, size_t n, size_t pos, size_t *a, size_t *b, tl_err *err)
{
    if (fast && pos < n && s[pos] < 0x80) {
        size_t e = fast(s, n, pos);
        if (e) {
            *a = pos;
            *b = e;
            return 1;
        }
    }
    for (;;) {
        int rc = jit ? pcre2_jit_match(re, s, n, pos, 0, m->md, m->mc)
                     : pcre2_match(re, s, n, pos, PCRE2_NO_UTF_CHECK, m->md, m->mc);
        if (rc == PCRE2_ERROR_NOMATCH)
            return 0;
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !m->js) {
            /* the default 32 KiB JIT stack ran out (long backtracking runs): retry with 8 MiB */
            m->js = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
            if (!m->js)
                return -tl_errf(err, TL_ENOMEM, "tokenizer: out of memory for the pattern stack");
            pcre2_jit_stack_assign(m->mc, NULL, m->js);
            continue;
        }
        if (rc < 0) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return -tl_errf(err, TL_EINVAL, "tokenizer: pre-tokenizer failed at byte %zu: %s", pos, (char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
        *a = ov[0];
        *b = ov[1];
        return 1;
    }
}

int tok_next_piece(const tl_tokenizer *t, tok_matcher *m, const uint8_t *s, size_t n, size_t pos, size_t *a,
                   size_t *b, tl_err *err)
{
    return tok_match(t->re, t->jit, t->fast, m, s, n, pos, a, b, err);
}

/* Pre-tokenizes s[0..n) (a slice between special tokens, matched on its own as tiktoken does, so
 * lookaheads stop at the slice end) and encodes each piece. Text the pattern does not match is
 * skipped, as tiktoken's find_iter skips it; empty matches produce nothing. */
static int encode_ordinary(const tl_tokenizer *t, const uint8_t *s, size_t n, tok_ids *v, tok_matcher *m, tl_err *err)
{
    size_t pos = 0, a, b;
    while (pos < n) {
        int rc = tok_next_piece(t, m, s, n, pos, &a, &b, err);
        if (rc == 0)
            break;
        if (rc < 0)
            return -rc;
        if (b <= a) {
            pos = a + char_len(s[a]);
            continue;
        }
        if (encode_piece(t, s + a, b - a, v))
            return tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
        pos = b;
    }
    return 0;
}

/* Earliest special token at or after pos (the longest one if several start there); -1 if none.
 * next[k] caches where special k next occurs (SIZE_MAX: nowhere). */
static int next_special(const tl_tokenizer *t, const uint8_t *s, size_t n, size_t pos, size_t *next, size_t *at)
{
    int best = -1;
    for (int k = 0; k < t->n_special; k++) {
        if (next[k] != SIZE_MAX && next[k] < pos) {
            const uint8_t *f = pos < n ? memmem(s + pos, n - pos, t->special[k].text, t->special[k].len) : NULL;
            next[k] = f ? (size_t)(f - s) : SIZE_MAX;
        }
        if (next[k] == SIZE_MAX)
            continue;
        if (best < 0 || next[k] < *at || (next[k] == *at && t->special[k].len > t->special[best].len)) {
            best = k;
            *at = next[k];
        }
    }
    return best;
}

int tl_tokenizer_is_hf(const tl_tokenizer *t) { return t && t->hf; }

int tl_tokenizer_encode(const tl_tokenizer *t, const char *text, size_t len, int allow_special, uint32_t **ids,
                        size_t *n, tl_err *err)
{
    return tl_tokenizer_encode_ex(t, text, len, allow_special ? 0 : TL_TOK_FORBID, ids, n, err);
}

int tl_tokenizer_encode_ex(const tl_tokenizer *t, const char *text, size_t len, unsigned flags, uint32_t **ids,
                           size_t *n, tl_err *err)
{
    *ids = NULL;
    *n = 0;
    uint8_t *fixed = NULL;
    size_t slen;
    if (tok_utf8_sanitize((const uint8_t *)text, len, &fixed, &slen))
        return tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
    const uint8_t *s = fixed ? fixed : (const uint8_t *)text;
    if (t->hf) {
        int hrc = hf_encode(t, s, slen, (int)(flags & 7u), ids, n, err);
        free(fixed);
        return hrc;
    }
    int allow_special = !(flags & TL_TOK_FORBID), plain = (flags & TL_TOK_PLAIN) != 0;
    tok_ids v = {0};
    size_t *next = t->n_special ? malloc((size_t)t->n_special * sizeof *next) : NULL;
    tok_matcher m;
    int rc = 0;
    if (tok_matcher_init(&m) || (t->n_special && !next) || tok_ids_reserve(&v, slen / 3 + 16)) {
        rc = tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
        goto out;
    }
    for (int k = 0; k < t->n_special; k++) {
        const uint8_t *f = memmem(s, slen, t->special[k].text, t->special[k].len);
        next[k] = f ? (size_t)(f - s) : SIZE_MAX;
    }
    size_t pos = 0;
    for (;;) {
        size_t at = 0;
        int k = t->n_special && !plain ? next_special(t, s, slen, pos, next, &at) : -1;
        if (k >= 0 && !allow_special) {
            rc = tl_errf(err, TL_EINVAL, "the text contains the special token %s (allow special tokens to encode it)",
                         t->special[k].text);
            goto out;
        }
        size_t end = k >= 0 ? at : slen;
        if ((rc = encode_ordinary(t, s + pos, end - pos, &v, &m, err)))
            goto out;
        if (k < 0)
            break;
        if (tok_ids_reserve(&v, 1)) {
            rc = tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
            goto out;
        }
        v.v[v.n++] = t->special[k].id;
        pos = at + t->special[k].len;
    }
out:
    tok_matcher_free(&m);
    free(next);
    free(fixed);
    if (rc) {
        free(v.v);
        return rc;
    }
    *ids = v.v;
    *n = v.n;
    return 0;
}

int tl_tokenizer_decode(const tl_tokenizer *t, const uint32_t *ids, size_t n, char **out, size_t *len, tl_err *err)
{
    if (t->hf)
        return hf_decode(t, ids, n, out, len, err);
    *out = NULL;
    *len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] >= t->n_ids || !t->tok_len[ids[i]])
            return tl_errf(err, TL_EINVAL, "token id %u (position %zu) is not in the vocabulary (%u ids)", ids[i], i,
                           t->n_ids);
        total += t->tok_len[ids[i]];
    }
    char *o = malloc(total + 1);
    if (!o)
        return tl_errf(err, TL_ENOMEM, "tokenizer: out of memory decoding %zu tokens", n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(o + k, t->arena + t->tok_off[ids[i]], t->tok_len[ids[i]]);
        k += t->tok_len[ids[i]];
    }
    o[k] = 0;
    *out = o;
    *len = k;
    return 0;
}
