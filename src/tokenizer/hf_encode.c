/* tokenizer.json encoding and decoding, step for step as npm @huggingface/tokenizers 0.2.0 does it
 * (docs/tokenizer.md): added tokens split out (leftmost-longest), normalizer, added tokens again on
 * the normalized text, pre-tokenizer stages, BPE over pair ranks, post-processor. */
#include <stdlib.h>
#include <string.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include "tokenizer/hf_internal.h"
#include "tokenizer/tok_text.h"
#include "util/arena.h"

int32_t hf_added_find(const tok_hf *h, const uint8_t *p, size_t n);

enum { F_ADD = 1, F_PLAIN = 2, F_FORBID = 4 };  /* = TL_TOK_ADD_SPECIAL, TL_TOK_PLAIN; forbid: tiktoken-style */

/* ---- buffers ------------------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n;
} piece;
typedef struct {
    piece *v;
    size_t n, cap;
} plist;
static int ppush(plist *l, const uint8_t *p, size_t n)
{
    if (TL_GROW(l->v, &l->cap, l->n + 1, 64))
        return -1;
    l->v[l->n++] = (piece){p, n};
    return 0;
}

/* ---- JavaScript whitespace (String.prototype.trim) ---------------------------------------------- */

static int js_space(uint32_t c)
{
    return c == 9 || c == 10 || c == 11 || c == 12 || c == 13 || c == 32 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 ||
           c == 0xFEFF;
}
static void trim_end(piece *x)
{
    while (x->n) {
        size_t k = x->n - 1;
        while (k && (x->p[k] & 0xC0) == 0x80)
            k--;
        if (!js_space(hf_cp(x->p + k)))
            break;
        x->n = k;
    }
}
static void trim_start(piece *x)
{
    while (x->n) {
        size_t l = hf_clen(x->p[0]);
        if (!js_space(hf_cp(x->p)))
            break;
        x->p += l;
        x->n -= l;
    }
}

/* ---- normalizer ----------------------------------------------------------------------------------- */

static int unicode_norm(int kind, const uint8_t *s, size_t n, uint8_t **out, size_t *ol)
{
    UErrorCode e = U_ZERO_ERROR;
    const UNormalizer2 *nz = kind == HFN_NFC ? unorm2_getNFCInstance(&e) : kind == HFN_NFD ? unorm2_getNFDInstance(&e)
                             : kind == HFN_NFKC ? unorm2_getNFKCInstance(&e) : unorm2_getNFKDInstance(&e);
    if (U_FAILURE(e) || n > INT32_MAX / 8)
        return -1;
    int32_t ul = 0;
    u_strFromUTF8(NULL, 0, &ul, (const char *)s, (int32_t)n, &e);
    e = U_ZERO_ERROR;
    UChar *u = malloc(((size_t)ul + 1) * sizeof *u);
    if (!u)
        return -1;
    u_strFromUTF8(u, ul + 1, NULL, (const char *)s, (int32_t)n, &e);
    int32_t cap = ul * 4 + 16, nl;
    UChar *v = malloc((size_t)cap * sizeof *v);
    if (U_FAILURE(e) || !v) {
        free(u), free(v);
        return -1;
    }
    nl = unorm2_normalize(nz, u, ul, v, cap, &e);
    free(u);
    if (U_FAILURE(e)) {
        free(v);
        return -1;
    }
    int32_t bl = 0;
    u_strToUTF8(NULL, 0, &bl, v, nl, &e);
    e = U_ZERO_ERROR;
    uint8_t *o = malloc((size_t)bl + 1);
    if (o)
        u_strToUTF8((char *)o, bl + 1, NULL, v, nl, &e);
    free(v);
    if (!o || U_FAILURE(e)) {
        free(o);
        return -1;
    }
    o[bl] = 0;
    *out = o;
    *ol = (size_t)bl;
    return 0;
}

int hf_normalize(const tok_hf *h, const uint8_t *s, size_t n, uint8_t **out, size_t *out_len)
{
    uint8_t *cur = malloc(n + 1);
    if (!cur)
        return -1;
    memcpy(cur, s, n);
    cur[n] = 0;
    size_t cl = n;
    for (int i = 0; i < h->n_norm; i++) {
        const hf_norm *z = &h->norm[i];
        uint8_t *nx = NULL;
        size_t nl = 0;
        int rc;
        if (z->kind == HFN_PREPEND) {
            nx = malloc(cl + z->al + 1);
            rc = nx ? 0 : -1;
            if (nx) {
                memcpy(nx, z->a, z->al);
                memcpy(nx + z->al, cur, cl);
                nl = cl + z->al;
                nx[nl] = 0;
            }
        } else if (z->kind == HFN_REPLACE) {
            rc = tok_replace_all(cur, cl, z->a, z->al, z->b, z->bl, &nx, &nl);
        } else {
            rc = unicode_norm(z->kind, cur, cl, &nx, &nl);
        }
        free(cur);
        if (rc)
            return -1;
        cur = nx;
        cl = nl;
    }
    *out = cur;
    *out_len = cl;
    return 0;
}

/* ---- pre-tokenizer ------------------------------------------------------------------------------- */

static int split_piece(const hf_pre *pr, tok_matcher *m, piece x, plist *out, int match_only, tl_err *err)
{
    size_t pos = 0, last = 0, a, b;
    const uint8_t *s = x.p;
    size_t n = x.n;
    if (pr->behavior == HFB_REMOVED && !match_only) {
        /* String.prototype.split: an empty match at the current split start is skipped */
        size_t q = 0;
        while (q < n) {
            int rc = tok_match(pr->re, pr->jit, pr->fast, m, s, n, q, &a, &b, err);
            if (rc < 0)
                return -rc;
            if (rc == 0 || a >= n)
                break;
            if (b == last) {
                q = a + hf_clen(s[a]);
                continue;
            }
            if (a > last && ppush(out, s + last, a - last))
                return TL_ENOMEM;
            last = b;
            q = b;
        }
        if (last < n && ppush(out, s + last, n - last))
            return TL_ENOMEM;
        return 0;
    }
    while (pos <= n) {
        int rc = pos < n || pos == 0 ? tok_match(pr->re, pr->jit, pr->fast, m, s, n, pos, &a, &b, err) : 0;
        if (rc < 0)
            return -rc;
        if (rc == 0)
            break;
        if (!match_only && a > last && ppush(out, s + last, a - last))
            return TL_ENOMEM;
        if (b > a && ppush(out, s + a, b - a))
            return TL_ENOMEM;
        last = b;
        if (b > a)
            pos = b;
        else if (a < n)
            pos = a + hf_clen(s[a]);
        else
            break;
    }
    if (!match_only && last < n && ppush(out, s + last, n - last))
        return TL_ENOMEM;
    return 0;
}

static int pre_tokenize(const tok_hf *h, tok_matcher *m, tl_arena *sc, piece in, size_t section, plist *a, plist *b,
                        tl_err *err)
{
    a->n = 0;
    if (ppush(a, in.p, in.n))
        return TL_ENOMEM;
    for (int st = 0; st < h->n_pre; st++) {
        const hf_pre *pr = &h->pre[st];
        b->n = 0;
        for (size_t i = 0; i < a->n; i++) {
            piece x = a->v[i];
            int rc = 0;
            switch (pr->kind) {
            case HFP_SPLIT:
                rc = split_piece(pr, m, x, b, pr->behavior == HFB_INVERT, err);
                break;
            case HFP_BYTELEVEL:
                if (pr->flag && !(x.n && x.p[0] == ' ')) {
                    uint8_t *q = tl_arena_alloc(sc, x.n + 1);
                    if (!q)
                        return TL_ENOMEM;
                    q[0] = ' ';
                    memcpy(q + 1, x.p, x.n);
                    x = (piece){q, x.n + 1};
                }
                rc = pr->re ? split_piece(pr, m, x, b, 1, err) : (ppush(b, x.p, x.n) ? TL_ENOMEM : 0);
                break;
            case HFP_METASPACE: {
                size_t cnt = 0;
                for (size_t k = 0; k < x.n; k++)
                    cnt += x.p[k] == ' ';
                size_t len = x.n + cnt * (pr->repl - 1);
                int pre = 0;
                int starts = (x.n && x.p[0] == ' ') || (x.n >= pr->repl && memcmp(x.p, pr->rep, pr->repl) == 0);
                if (!starts && (pr->flag == HFM_ALWAYS || (pr->flag == HFM_FIRST && section == 0)))
                    pre = 1;
                uint8_t *q = tl_arena_alloc(sc, len + (pre ? pr->repl : 0) + 1);
                if (!q)
                    return TL_ENOMEM;
                size_t k = 0;
                if (pre) {
                    memcpy(q, pr->rep, pr->repl);
                    k = pr->repl;
                }
                for (size_t j = 0; j < x.n; j++) {
                    if (x.p[j] == ' ') {
                        memcpy(q + k, pr->rep, pr->repl);
                        k += pr->repl;
                    } else {
                        q[k++] = x.p[j];
                    }
                }
                rc = ppush(b, q, k) ? TL_ENOMEM : 0;
                break;
            }
            case HFP_DIGITS: {
                size_t j = 0;
                while (j < x.n && !rc) {
                    size_t e = j;
                    int dg = x.p[j] >= '0' && x.p[j] <= '9';
                    if (dg && pr->flag)
                        e = j + 1;
                    else
                        while (e < x.n && ((x.p[e] >= '0' && x.p[e] <= '9') == dg))
                            e++;
                    rc = ppush(b, x.p + j, e - j) ? TL_ENOMEM : 0;
                    j = e;
                }
                break;
            }
            }
            if (rc)
                return rc == TL_ENOMEM ? tl_errf(err, TL_ENOMEM, "tokenizer: out of memory") : rc;
        }
        plist t = *a;
        *a = *b;
        *b = t;
    }
    return 0;
}

/* ---- model: BPE over pair ranks ------------------------------------------------------------------ */

static inline const hf_merge_slot *merge_get(const tok_hf *h, uint32_t a, uint32_t b)
{
    if (a == TOK_NONE || b == TOK_NONE)
        return NULL;
    uint64_t key = (uint64_t)a << 32 | b, x = key * 0x9E3779B97F4A7C15ull;
    uint32_t i = (uint32_t)(x >> 32) & h->merge_mask;
    for (;;) {
        const hf_merge_slot *s = &h->merges[i];
        if (s->key == key)
            return s;
        if (s->key == UINT64_MAX)
            return NULL;
        i = (i + 1) & h->merge_mask;
    }
}

static uint32_t model_lookup(const tok_hf *h, const uint8_t *p, size_t n)
{
    uint64_t hh = tok_hash(p, n);
    uint32_t tag = (uint32_t)(hh >> 32), i = (uint32_t)hh & h->mmask;
    for (;;) {
        const hf_str_slot *s = &h->mslots[i];
        if (s->id == TOK_NONE)
            return TOK_NONE;
        if (s->tag == tag && h->mlen[s->id] == n && memcmp(h->marena + h->moff[s->id], p, n) == 0)
            return s->id;
        i = (i + 1) & h->mmask;
    }
}

typedef struct {
    uint32_t *tok, *start, *rank, *res, *nxt, *prv;
    uint64_t *heap;
    size_t cap;
} bpe_ws;

static int ws_reserve(bpe_ws *w, size_t n)
{
    if (n <= w->cap)
        return 0;
    size_t cap = n * 2;
    uint32_t **arr[] = {&w->tok, &w->start, &w->rank, &w->res, &w->nxt, &w->prv};
    for (int i = 0; i < 6; i++) {
        uint32_t *p = realloc(*arr[i], (cap + 1) * sizeof *p);
        if (!p)
            return -1;
        *arr[i] = p;
    }
    uint64_t *hp = realloc(w->heap, 3 * (cap + 1) * sizeof *hp);
    if (!hp)
        return -1;
    w->heap = hp;
    w->cap = cap;
    return 0;
}

/* Merges m units (w->tok, w->start) in place: lowest pair rank first, leftmost on ties (the
 * reference's priority queue orders by rank + position / length). Returns the part count; the parts
 * are w->tok[k] spanning w->start[k] .. w->start[k+1] (w->start[m] = end). */
static size_t bpe(const tok_hf *h, bpe_ws *w, size_t m)
{
    if (m < 2)
        return m;
    if (m <= 64) {
        uint32_t *tok = w->tok, *st = w->start, *rank = w->rank, *res = w->res;
        for (size_t i = 0; i + 1 < m; i++) {
            const hf_merge_slot *s = merge_get(h, tok[i], tok[i + 1]);
            rank[i] = s ? s->rank : TOK_NONE;
            res[i] = s ? s->id : TOK_NONE;
        }
        rank[m - 1] = TOK_NONE;
        for (;;) {
            uint32_t best = TOK_NONE;
            size_t bi = 0;
            for (size_t i = 0; i + 1 < m; i++)
                if (rank[i] < best) {
                    best = rank[i];
                    bi = i;
                }
            if (best == TOK_NONE)
                break;
            tok[bi] = res[bi];
            for (size_t j = bi + 1; j + 1 < m; j++) {
                tok[j] = tok[j + 1];
                st[j] = st[j + 1];
                rank[j] = rank[j + 1];
                res[j] = res[j + 1];
            }
            st[m - 1] = st[m];
            m--;
            rank[m - 1] = TOK_NONE;
            if (bi > 0) {
                const hf_merge_slot *s = merge_get(h, tok[bi - 1], tok[bi]);
                rank[bi - 1] = s ? s->rank : TOK_NONE;
                res[bi - 1] = s ? s->id : TOK_NONE;
            }
            if (bi + 1 < m) {
                const hf_merge_slot *s = merge_get(h, tok[bi], tok[bi + 1]);
                rank[bi] = s ? s->rank : TOK_NONE;
                res[bi] = s ? s->id : TOK_NONE;
            } else {
                rank[bi] = TOK_NONE;
            }
        }
        return m;
    }
    /* long pieces: a heap of (rank << 32 | position) with lazy deletion, O(m log m) */
    uint32_t *tok = w->tok, *nxt = w->nxt, *prv = w->prv;
    uint64_t *hp = w->heap;
    size_t hn = 0;
    uint32_t end = (uint32_t)m;
    for (size_t i = 0; i < m; i++) {
        nxt[i] = (uint32_t)i + 1;
        prv[i] = (uint32_t)i - 1;
        const hf_merge_slot *s = i + 1 < m ? merge_get(h, tok[i], tok[i + 1]) : NULL;
        if (s)
            tok_heap_push(hp, &hn, (uint64_t)s->rank << 32 | i);
    }
    uint8_t dead_marker = 0;
    (void)dead_marker;
    while (hn) {
        uint64_t top = tok_heap_pop(hp, &hn);
        uint32_t r = (uint32_t)(top >> 32), i = (uint32_t)top;
        if (nxt[i] == 0 || nxt[i] >= end)
            continue;  /* merged away, or last */
        uint32_t j = nxt[i];
        const hf_merge_slot *s = merge_get(h, tok[i], tok[j]);
        if (!s || s->rank != r)
            continue;  /* stale */
        tok[i] = s->id;
        uint32_t jn = nxt[j];
        nxt[i] = jn;
        nxt[j] = 0;
        if (jn < end)
            prv[jn] = i;
        if (jn < end && (s = merge_get(h, tok[i], tok[jn])))
            tok_heap_push(hp, &hn, (uint64_t)s->rank << 32 | i);
        if (i > 0 && (s = merge_get(h, tok[prv[i]], tok[i])))
            tok_heap_push(hp, &hn, (uint64_t)s->rank << 32 | prv[i]);
    }
    size_t k = 0;
    for (uint32_t i = 0; i < end; i = nxt[i]) {
        tok[k] = tok[i];
        w->start[k] = w->start[i];
        k++;
    }
    w->start[k] = w->start[end];
    return k;
}

static inline int added_ok(const tok_hf *h, int32_t a, int flags) { return a >= 0 && !((flags & F_PLAIN) && h->added[a].special); }

/* Final id of a model token: the added token spelled the same, if any (mode-filtered). */
static inline uint32_t final_id(const tok_hf *h, uint32_t m, int flags)
{
    if (h->override && h->override[m] != TOK_NONE && added_ok(h, (int32_t)h->override[m], flags))
        return h->added[h->override[m]].id;
    return m;
}

/* The model-space spelling of p[0..n) (byte-level: each byte's alphabet character in UTF-8, else the
 * bytes themselves) into buf (cap bytes); *q points at it. Returns the length, or SIZE_MAX if longer
 * than cap. */
static size_t spell(const tok_hf *h, const uint8_t *p, size_t n, uint8_t *buf, size_t cap, const uint8_t **q)
{
    *q = p;
    if (!h->byte_level)
        return n <= cap ? n : SIZE_MAX;
    size_t ql = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = hf_byte_char(p[i]);
        if (ql + 2 > cap)
            return SIZE_MAX;
        if (c < 0x80)
            buf[ql++] = (uint8_t)c;
        else {
            buf[ql++] = (uint8_t)(0xC0 | c >> 6);
            buf[ql++] = (uint8_t)(0x80 | (c & 0x3F));
        }
    }
    *q = buf;
    return ql;
}

/* The added token whose content is the model-space spelling q[0..ql), if the mode allows it: the
 * reference maps token strings to ids through a map that also holds every added token's content. */
static int32_t added_spelled(const tok_hf *h, const uint8_t *q, size_t ql, int flags)
{
    int32_t a = ql == SIZE_MAX ? -1 : hf_added_find(h, q, ql);
    if (added_ok(h, a, flags) && h->added[a].clen == ql && memcmp(h->added[a].content, q, ql) == 0)
        return a;
    return -1;
}

/* A unit that is no model token: an added token spelled the same, else byte fallback, else unk. */
static int emit_unknown(const tok_hf *h, const uint8_t *p, size_t n, tok_ids *out, int flags)
{
    uint8_t buf[4 * 64];
    const uint8_t *q;
    size_t ql = spell(h, p, n, buf, sizeof buf, &q);
    int32_t a = added_spelled(h, q, ql, flags);
    if (a >= 0)
        return tok_ids_push(out, h->added[a].id);
    if (h->byte_fallback && ql != SIZE_MAX) {  /* SIZE_MAX: never for one symbol (at most 4 bytes) */
        int all = 1;
        for (size_t i = 0; i < ql; i++)
            all &= h->fb_id[q[i]] != TOK_NONE;
        if (all) {
            for (size_t i = 0; i < ql; i++)
                if (tok_ids_push(out, h->fb_id[q[i]]))
                    return -1;
            return 0;
        }
    }
    if (h->unk != TOK_NONE)
        return tok_ids_push(out, h->unk);  /* mapped by final_id later */
    return 0;
}

/* Encodes the pieces of one subsection with the model; model ids into out (then fuse_unk, final ids). */
static int model_encode(const tok_hf *h, const plist *pl, bpe_ws *w, tok_ids *out, int flags)
{
    size_t first = out->n;
    for (size_t pi = 0; pi < pl->n; pi++) {
        const uint8_t *p = pl->v[pi].p;
        size_t n = pl->v[pi].n;
        if (!n)
            continue;
        if (h->ignore_merges) {
            /* a piece that is a token is that token; "token" means what the reference's string ->
             * id map holds: the vocabulary and the added tokens' contents (docs/tokenizer.md) */
            uint32_t id = model_lookup(h, p, n);
            if (id == TOK_NONE && h->n_added && n <= 4096) {
                uint8_t buf[2 * 4096];
                const uint8_t *q;
                size_t ql = spell(h, p, n, buf, sizeof buf, &q);
                int32_t a = added_spelled(h, q, ql, flags);
                if (a >= 0)
                    id = h->added[a].id;
            }
            if (id != TOK_NONE) {
                if (tok_ids_push(out, id))
                    return -1;
                continue;
            }
        }
        if (ws_reserve(w, n + 1))
            return -1;
        size_t m = 0;
        if (h->byte_level) {
            for (size_t i = 0; i < n; i++) {
                w->tok[m] = h->byte_id[p[i]];
                w->start[m++] = (uint32_t)i;
            }
        } else {
            for (size_t i = 0; i < n; i += hf_clen(p[i])) {
                size_t l = hf_clen(p[i]);
                if (i + l > n)
                    l = n - i;
                w->tok[m] = model_lookup(h, p + i, l);
                w->start[m++] = (uint32_t)i;
            }
        }
        w->start[m] = (uint32_t)n;
        size_t k = bpe(h, w, m);
        for (size_t i = 0; i < k; i++) {
            int rc = w->tok[i] != TOK_NONE ? tok_ids_push(out, w->tok[i])
                                           : emit_unknown(h, p + w->start[i], w->start[i + 1] - w->start[i], out, flags);
            if (rc)
                return -1;
        }
    }
    if (h->fuse_unk && h->unk != TOK_NONE) {
        size_t k = first;
        for (size_t i = first; i < out->n; i++)
            if (!(out->v[i] == h->unk && k > first && out->v[k - 1] == h->unk))
                out->v[k++] = out->v[i];
        out->n = k;
    }
    for (size_t i = first; i < out->n; i++)
        if (out->v[i] < h->n_model)
            out->v[i] = final_id(h, out->v[i], flags);
    return 0;
}

/* ---- added tokens -------------------------------------------------------------------------------- */

/* Leftmost-longest split of s[0..n) by trie w (the reference's DictionarySplitter). Sections go to out. */
static int dict_split(const tok_hf *h, int w, const uint8_t *s, size_t n, int flags, plist *out, tl_err *err)
{
    const hf_trie_node *tr = h->trie[w];
    size_t start = 0, i = 0;
    while (tr && i < n) {
        uint32_t node = 0;
        int32_t match = -1;
        size_t mend = 0;
        for (size_t j = i; j < n; j++) {
            uint32_t ch = tr[node].first_child;
            while (ch && tr[ch].byte != s[j])
                ch = tr[ch].next_sibling;
            if (!ch)
                break;
            node = ch;
            if (tr[node].token >= 0 && added_ok(h, tr[node].token, flags)) {
                match = tr[node].token;
                mend = j + 1;
            }
        }
        if (match < 0) {
            i++;
            continue;
        }
        if ((flags & F_FORBID) && h->added[match].special)
            return tl_errf(err, TL_EINVAL, "the text contains the special token %s (allow special tokens to encode it)",
                           h->added[match].content);
        if (i > start && ppush(out, s + start, i - start))
            return TL_ENOMEM;
        if (ppush(out, s + i, mend - i))
            return TL_ENOMEM;
        i = start = mend;
    }
    if (start < n && ppush(out, s + start, n - start))
        return TL_ENOMEM;
    return 0;
}

static void apply_strips(const tok_hf *h, plist *l, int flags)
{
    for (size_t i = 0; i < l->n; i++) {
        int32_t a = hf_added_find(h, l->v[i].p, l->v[i].n);
        if (!added_ok(h, a, flags))
            continue;
        if (h->added[a].lstrip && i > 0)
            trim_end(&l->v[i - 1]);
        if (h->added[a].rstrip && i + 1 < l->n)
            trim_start(&l->v[i + 1]);
    }
}

/* A section that is an added token, before or after normalization: its id goes to out and 1 is
 * returned (*rc set when it is a special token the caller forbade, or out of memory); 0 when the
 * section is ordinary text. */
static int push_added(const tok_hf *h, piece p, int flags, tok_ids *out, int *rc, tl_err *err)
{
    int32_t a = hf_added_find(h, p.p, p.n);
    if (!added_ok(h, a, flags))
        return 0;
    if ((flags & F_FORBID) && h->added[a].special)
        *rc = tl_errf(err, TL_EINVAL, "the text contains the special token %s (allow special tokens to encode it)",
                      h->added[a].content);
    else if (tok_ids_push(out, h->added[a].id))
        *rc = tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
    return 1;
}

typedef struct {
    tok_matcher m;
    tl_arena sc;
    plist secs, subs, pa, pb;
    bpe_ws w;
} enc_state;

int hf_encode(const tl_tokenizer *t, const uint8_t *s, size_t n, int flags, uint32_t **ids, size_t *nids,
              tl_err *err)
{
    const tok_hf *h = t->hf;
    enc_state e;
    memset(&e, 0, sizeof e);
    tok_ids out = {0};
    int rc = 0;
    if (tok_matcher_init(&e.m)) {
        rc = tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
        goto done;
    }
    if ((rc = dict_split(h, 0, s, n, flags, &e.secs, err)))
        goto done;
    apply_strips(h, &e.secs, flags);
    for (size_t si = 0; si < e.secs.n && !rc; si++) {
        piece sec = e.secs.v[si];
        if (!sec.n || push_added(h, sec, flags, &out, &rc, err))
            continue; /* empty, or an added token's id */
        const uint8_t *ns = sec.p;
        size_t nn = sec.n;
        if (h->n_norm) {
            uint8_t *o;
            if (hf_normalize(h, sec.p, sec.n, &o, &nn)) {
                rc = tl_errf(err, TL_ENOMEM, "tokenizer: out of memory normalizing");
                break;
            }
            uint8_t *keep = tl_arena_alloc(&e.sc, nn + 1);
            if (!keep) {
                free(o);
                rc = tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
                break;
            }
            memcpy(keep, o, nn);
            free(o);
            ns = keep;
        }
        if (!nn)
            continue;
        e.subs.n = 0;
        if ((rc = dict_split(h, 1, ns, nn, flags, &e.subs, err)))
            break;
        apply_strips(h, &e.subs, flags);
        for (size_t j = 0; j < e.subs.n && !rc; j++) {
            piece sub = e.subs.v[j];
            if (!sub.n || push_added(h, sub, flags, &out, &rc, err))
                continue; /* empty, or an added token's id */
            if (h->has_pre) {
                if ((rc = pre_tokenize(h, &e.m, &e.sc, sub, si, &e.pa, &e.pb, err)))
                    break;
            } else {
                e.pa.n = 0;
                if (ppush(&e.pa, sub.p, sub.n)) {
                    rc = tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
                    break;
                }
            }
            if (model_encode(h, &e.pa, &e.w, &out, flags))
                rc = tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
        }
    }
    if (!rc && (flags & F_ADD)) {
        for (int k = 0; k < h->n_tmpl && !rc; k++) {
            tok_ids nx = {0};
            for (int i = 0; i < h->tmpl_n[k] && !rc; i++) {
                if (h->tmpl[k][i] >= 0) {
                    if (tok_ids_push(&nx, (uint32_t)h->tmpl[k][i]))
                        rc = tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
                } else {
                    for (size_t q = 0; q < out.n && !rc; q++)
                        if (tok_ids_push(&nx, out.v[q]))
                            rc = tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
                }
            }
            free(out.v);
            out = nx;
        }
        if (!rc && h->bos_cfg >= 0) {
            if (tok_ids_push(&out, 0))
                rc = tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
            else {
                memmove(out.v + 1, out.v, (out.n - 1) * sizeof *out.v);
                out.v[0] = (uint32_t)h->bos_cfg;
            }
        }
        if (!rc && h->eos_cfg >= 0 && tok_ids_push(&out, (uint32_t)h->eos_cfg))
            rc = tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
    }
done:
    tok_matcher_free(&e.m);
    tl_arena_free(&e.sc);
    free(e.secs.v), free(e.subs.v), free(e.pa.v), free(e.pb.v);
    free(e.w.tok), free(e.w.start), free(e.w.rank), free(e.w.res), free(e.w.nxt), free(e.w.prv), free(e.w.heap);
    if (rc) {
        free(out.v);
        return rc;
    }
    if (!out.v)
        out.v = malloc(sizeof *out.v);
    if (!out.v)
        return tl_errf(err, TL_ENOMEM, "tokenizer: out of memory");
    *ids = out.v;
    *nids = out.n;
    return 0;
}
