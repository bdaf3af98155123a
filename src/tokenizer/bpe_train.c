/* BPE trainer: count the pre-tokenized pieces once, then repeatedly merge the most frequent adjacent
 * pair, updating pair counts only in the words that contain it (a pair -> words index) and picking
 * the next pair from a max-heap with lazy deletion. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/bpe_train.h"
#include "tokenizer/tok_internal.h"
#include "util/codec.h"
#include "util/grow.h"
#include "util/io.h"

#define MAX_CORPUS_BYTES ((size_t)4 << 30)

/* ---- growable arrays and a uint64 -> uint32 hash map ---------------------------------------- */

typedef struct {
    uint64_t *keys;  /* key + 1; 0 = empty */
    uint32_t *vals;
    size_t cap, n;
} u64map;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    x ^= x >> 33;
    return x;
}

static uint32_t *map_find(u64map *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    size_t i = mix64(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (m->keys[i] == key + 1)
            return &m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

static int map_put(u64map *m, uint64_t key, uint32_t val)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 1024;
        uint64_t *nk = calloc(nc, sizeof *nk);
        uint32_t *nv = malloc(nc * sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                size_t j = mix64(m->keys[i] - 1) & (nc - 1);
                while (nk[j])
                    j = (j + 1) & (nc - 1);
                nk[j] = m->keys[i];
                nv[j] = m->vals[i];
            }
        free(m->keys);
        free(m->vals);
        m->keys = nk;
        m->vals = nv;
        m->cap = nc;
    }
    size_t i = mix64(key) & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != key + 1)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i])
        m->n++;
    m->keys[i] = key + 1;
    m->vals[i] = val;
    return 0;
}

static void map_free(u64map *m)
{
    free(m->keys);
    free(m->vals);
}

/* ---- piece counting -------------------------------------------------------------------------- */

typedef struct {
    uint8_t *bytes;  /* distinct pieces, back to back */
    size_t nbytes, capbytes;
    uint32_t *off, *len;
    uint64_t *count;
    size_t n, cap;
    uint32_t *slots;  /* piece index + 1 */
    size_t nslots;
} piece_set;

static int piece_add(piece_set *ps, const uint8_t *p, size_t n)
{
    if ((ps->n + 1) * 2 > ps->nslots) {
        size_t nc = ps->nslots ? ps->nslots * 2 : 4096;
        uint32_t *ns = calloc(nc, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < ps->n; i++) {
            size_t j = tok_hash(ps->bytes + ps->off[i], ps->len[i]) & (nc - 1);
            while (ns[j])
                j = (j + 1) & (nc - 1);
            ns[j] = (uint32_t)i + 1;
        }
        free(ps->slots);
        ps->slots = ns;
        ps->nslots = nc;
    }
    size_t j = tok_hash(p, n) & (ps->nslots - 1);
    while (ps->slots[j]) {
        uint32_t k = ps->slots[j] - 1;
        if (ps->len[k] == n && memcmp(ps->bytes + ps->off[k], p, n) == 0) {
            ps->count[k]++;
            return 0;
        }
        j = (j + 1) & (ps->nslots - 1);
    }
    if (ps->nbytes + n > UINT32_MAX || ps->n + 1 >= UINT32_MAX)
        return -2;
    size_t cap = ps->cap;
    if (TL_GROW(ps->bytes, &ps->capbytes, ps->nbytes + n, 64) ||
        TL_GROW(ps->off, &cap, ps->n + 1, 64))
        return -1;
    cap = ps->cap;
    if (TL_GROW(ps->len, &cap, ps->n + 1, 64))
        return -1;
    cap = ps->cap;
    if (TL_GROW(ps->count, &ps->cap, ps->n + 1, 64))
        return -1;
    (void)cap;
    memcpy(ps->bytes + ps->nbytes, p, n);
    ps->off[ps->n] = (uint32_t)ps->nbytes;
    ps->len[ps->n] = (uint32_t)n;
    ps->count[ps->n] = 1;
    ps->slots[j] = (uint32_t)ps->n + 1;
    ps->nbytes += n;
    ps->n++;
    return 0;
}

static void piece_free(piece_set *ps)
{
    free(ps->bytes);
    free(ps->off);
    free(ps->len);
    free(ps->count);
    free(ps->slots);
}

/* Pre-tokenizes text with the encoder's own matcher (same pieces, same skipped text) and counts them. */
static int count_pieces(const tl_tokenizer *t, const uint8_t *s, size_t n, piece_set *ps, uint64_t *npieces,
                        tl_err *err)
{
    tok_matcher m;
    int rc = 0;
    if (tok_matcher_init(&m)) {
        tok_matcher_free(&m);
        return tl_errf(err, TL_ENOMEM, "tokenizer train: out of memory");
    }
    size_t pos = 0, a, b;
    while (pos < n) {
        int r = tok_next_piece(t, &m, s, n, pos, &a, &b, err);
        if (r <= 0) {
            rc = -r;
            break;
        }
        if (b <= a) {
            uint8_t c = s[a];
            pos = a + (c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4);
            continue;
        }
        r = piece_add(ps, s + a, b - a);
        if (r) {
            rc = tl_errf(err, r == -1 ? TL_ENOMEM : TL_EINVAL, "tokenizer train: %s",
                         r == -1 ? "out of memory" : "too many distinct pieces");
            break;
        }
        (*npieces)++;
        pos = b;
    }
    tok_matcher_free(&m);
    return rc;
}

/* ---- merging --------------------------------------------------------------------------------- */

typedef struct {
    uint32_t a, b;
    int64_t count;
    uint32_t *words;  /* words that contained the pair when it was created or later (may be stale) */
    uint32_t nwords, capwords;
    uint32_t last_word;  /* dedupes consecutive appends of the same word */
    uint32_t stamp;      /* merge step that last queued it for the heap */
} pair_t;

typedef struct {
    int64_t count;
    uint32_t a, b;
} heap_e;

/* Max-heap order: more occurrences first; ties go to the smaller left id, then the smaller right id. */
static int heap_before(const heap_e *x, const heap_e *y)
{
    if (x->count != y->count)
        return x->count > y->count;
    if (x->a != y->a)
        return x->a < y->a;
    return x->b < y->b;
}

typedef struct {
    heap_e *e;
    size_t n, cap;
} heap_t;

static int heap_push(heap_t *h, heap_e v)
{
    if (TL_GROW(h->e, &h->cap, h->n + 1, 64))
        return -1;
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_before(&v, &h->e[p]))
            break;
        h->e[i] = h->e[p];
        i = p;
    }
    h->e[i] = v;
    return 0;
}

static heap_e heap_pop(heap_t *h)
{
    heap_e top = h->e[0], v = h->e[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && heap_before(&h->e[c + 1], &h->e[c]))
            c++;
        if (!heap_before(&h->e[c], &v))
            break;
        h->e[i] = h->e[c];
        i = c;
    }
    if (h->n)
        h->e[i] = v;
    return top;
}

typedef struct {
    /* words: distinct pieces of 2+ bytes as symbol (token id) sequences */
    uint32_t *sym;
    uint32_t *woff, *wlen;
    int64_t *wcount;
    uint32_t *wstamp;
    size_t nwords;
    /* pairs */
    pair_t *pairs;
    size_t npairs, cappairs;
    u64map pair_index;
    /* tokens */
    uint8_t *tbytes;
    size_t ntbytes, captbytes;
    uint32_t *toff, *tlen;
    size_t ntok, captok;
    uint32_t *tslots;  /* token bytes -> id + 1 */
    size_t ntslots;
    /* pairs whose count rose during the current step */
    uint32_t *touched;
    size_t ntouched, captouched;
    heap_t heap;
} trainer;

static int64_t get_pair(trainer *tr, uint32_t a, uint32_t b, int create)
{
    uint64_t key = (uint64_t)a << 32 | b;
    uint32_t *v = map_find(&tr->pair_index, key);
    if (v)
        return *v;
    if (!create)
        return -1;
    if (TL_GROW(tr->pairs, &tr->cappairs, tr->npairs + 1, 64))
        return -2;
    memset(&tr->pairs[tr->npairs], 0, sizeof tr->pairs[0]);
    tr->pairs[tr->npairs].a = a;
    tr->pairs[tr->npairs].b = b;
    tr->pairs[tr->npairs].last_word = UINT32_MAX;
    tr->pairs[tr->npairs].stamp = UINT32_MAX;
    if (map_put(&tr->pair_index, key, (uint32_t)tr->npairs))
        return -2;
    return (int64_t)tr->npairs++;
}

static int pair_add_word(pair_t *p, uint32_t w)
{
    if (p->last_word == w)
        return 0;
    if (p->nwords == p->capwords) {
        uint32_t nc = p->capwords ? p->capwords * 2 : 4;
        uint32_t *nw = realloc(p->words, nc * sizeof *nw);
        if (!nw)
            return -1;
        p->words = nw;
        p->capwords = nc;
    }
    p->words[p->nwords++] = w;
    p->last_word = w;
    return 0;
}

static uint32_t token_find(const trainer *tr, const uint8_t *p, size_t n)
{
    size_t j = tok_hash(p, n) & (tr->ntslots - 1);
    while (tr->tslots[j]) {
        uint32_t k = tr->tslots[j] - 1;
        if (tr->tlen[k] == n && memcmp(tr->tbytes + tr->toff[k], p, n) == 0)
            return k;
        j = (j + 1) & (tr->ntslots - 1);
    }
    return UINT32_MAX;
}

static int token_add(trainer *tr, const uint8_t *p, size_t n)
{
    if ((tr->ntok + 1) * 2 > tr->ntslots) {
        size_t nc = tr->ntslots ? tr->ntslots * 2 : 1024;
        uint32_t *ns = calloc(nc, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < tr->ntok; i++) {
            size_t j = tok_hash(tr->tbytes + tr->toff[i], tr->tlen[i]) & (nc - 1);
            while (ns[j])
                j = (j + 1) & (nc - 1);
            ns[j] = (uint32_t)i + 1;
        }
        free(tr->tslots);
        tr->tslots = ns;
        tr->ntslots = nc;
    }
    size_t cap = tr->captok;
    if (TL_GROW(tr->tbytes, &tr->captbytes, tr->ntbytes + n, 64) ||
        TL_GROW(tr->toff, &cap, tr->ntok + 1, 64))
        return -1;
    if (TL_GROW(tr->tlen, &tr->captok, tr->ntok + 1, 64))
        return -1;
    memcpy(tr->tbytes + tr->ntbytes, p, n);
    tr->toff[tr->ntok] = (uint32_t)tr->ntbytes;
    tr->tlen[tr->ntok] = (uint32_t)n;
    size_t j = tok_hash(p, n) & (tr->ntslots - 1);
    while (tr->tslots[j])
        j = (j + 1) & (tr->ntslots - 1);
    tr->tslots[j] = (uint32_t)tr->ntok + 1;
    tr->ntbytes += n;
    tr->ntok++;
    return 0;
}

/* Adds delta * count to every adjacent pair of word w; with delta > 0 also indexes the pairs that
 * contain token `fresh` and queues those whose count rose. */
static int word_pairs(trainer *tr, uint32_t w, int64_t delta, uint32_t fresh, uint32_t step)
{
    const uint32_t *s = tr->sym + tr->woff[w];
    for (uint32_t i = 0; i + 1 < tr->wlen[w]; i++) {
        int64_t pi = get_pair(tr, s[i], s[i + 1], delta > 0);
        if (pi == -2)
            return -1;
        if (pi < 0)
            continue;
        pair_t *p = &tr->pairs[pi];
        p->count += delta * tr->wcount[w];
        if (delta > 0 && (s[i] == fresh || s[i + 1] == fresh)) {
            if (pair_add_word(p, w))
                return -1;
            if (p->stamp != step) {
                p->stamp = step;
                if (TL_GROW(tr->touched, &tr->captouched, tr->ntouched + 1, 64))
                    return -1;
                tr->touched[tr->ntouched++] = (uint32_t)pi;
            }
        }
    }
    return 0;
}

static void trainer_free(trainer *tr)
{
    free(tr->sym);
    free(tr->woff);
    free(tr->wlen);
    free(tr->wcount);
    free(tr->wstamp);
    for (size_t i = 0; i < tr->npairs; i++)
        free(tr->pairs[i].words);
    free(tr->pairs);
    map_free(&tr->pair_index);
    free(tr->tbytes);
    free(tr->toff);
    free(tr->tlen);
    free(tr->tslots);
    free(tr->touched);
    free(tr->heap.e);
}

static int train_merges(trainer *tr, uint32_t vocab, uint64_t min_count, uint32_t *reused, tl_err *err)
{
#define OOM() return tl_errf(err, TL_ENOMEM, "tokenizer train: out of memory")
    for (size_t w = 0; w < tr->nwords; w++) {
        tr->wstamp[w] = UINT32_MAX;
        if (word_pairs(tr, (uint32_t)w, 1, UINT32_MAX, 0))
            OOM();
        /* index every initial pair's words */
        const uint32_t *s = tr->sym + tr->woff[w];
        for (uint32_t i = 0; i + 1 < tr->wlen[w]; i++)
            if (pair_add_word(&tr->pairs[get_pair(tr, s[i], s[i + 1], 0)], (uint32_t)w))
                OOM();
    }
    for (size_t i = 0; i < tr->npairs; i++)
        if (heap_push(&tr->heap, (heap_e){tr->pairs[i].count, tr->pairs[i].a, tr->pairs[i].b}))
            OOM();
    uint8_t *buf = NULL;
    size_t capbuf = 0;
    for (uint32_t step = 1; tr->ntok < vocab && tr->heap.n; step++) {
        heap_e top = heap_pop(&tr->heap);
        int64_t pi = get_pair(tr, top.a, top.b, 0);
        pair_t *p = &tr->pairs[pi];
        if (p->count != top.count) {  /* stale: counts only fall, so re-queue the current value */
            if (p->count > 0 && heap_push(&tr->heap, (heap_e){p->count, p->a, p->b}))
                goto oom;
            step--;
            continue;
        }
        if ((uint64_t)p->count < min_count)
            break;
        size_t la = tr->tlen[top.a], lb = tr->tlen[top.b];
        if (TL_GROW(buf, &capbuf, la + lb, 64))
            goto oom;
        memcpy(buf, tr->tbytes + tr->toff[top.a], la);
        memcpy(buf + la, tr->tbytes + tr->toff[top.b], lb);
        /* two merge paths can spell the same bytes (ab+c, a+bc): reuse the token, keep ids unique */
        uint32_t id = token_find(tr, buf, la + lb);
        if (id == UINT32_MAX) {
            id = (uint32_t)tr->ntok;
            if (token_add(tr, buf, la + lb))
                goto oom;
        } else {
            (*reused)++;
        }
        tr->ntouched = 0;
        /* p may move when pairs grow: work from a copy of its word list */
        uint32_t nw = p->nwords, *words = p->words;
        p->words = NULL;
        p->nwords = p->capwords = 0;
        p->last_word = UINT32_MAX;
        for (uint32_t k = 0; k < nw; k++) {
            uint32_t w = words[k];
            if (tr->wstamp[w] == step)
                continue;
            tr->wstamp[w] = step;
            uint32_t *s = tr->sym + tr->woff[w], n = tr->wlen[w], found = 0;
            for (uint32_t i = 0; i + 1 < n && !found; i++)
                found = s[i] == top.a && s[i + 1] == top.b;
            if (!found)
                continue;
            if (word_pairs(tr, w, -1, id, step))
                goto oom;
            uint32_t o = 0;
            for (uint32_t i = 0; i < n; i++) {
                if (i + 1 < n && s[i] == top.a && s[i + 1] == top.b) {
                    s[o++] = id;
                    i++;
                } else {
                    s[o++] = s[i];
                }
            }
            tr->wlen[w] = o;
            if (word_pairs(tr, w, 1, id, step))
                goto oom;
        }
        free(words);
        for (size_t k = 0; k < tr->ntouched; k++) {
            pair_t *q = &tr->pairs[tr->touched[k]];
            if (q->count > 0 && heap_push(&tr->heap, (heap_e){q->count, q->a, q->b}))
                goto oom;
        }
    }
    free(buf);
    return 0;
oom:
    free(buf);
    OOM();
#undef OOM
}

static char *write_tiktoken(const trainer *tr, size_t *out_len)
{
    size_t cap = 0;
    for (size_t i = 0; i < tr->ntok; i++)
        cap += TL_B64_LEN(tr->tlen[i]) + 12;
    char *o = malloc(cap + 1), *q = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < tr->ntok; i++) {
        q += tl_b64_encode_into(tr->tbytes + tr->toff[i], tr->tlen[i], q);
        q += sprintf(q, " %zu\n", i);
    }
    *q = 0;
    *out_len = (size_t)(q - o);
    return o;
}

int tl_bpe_train(const char *const *texts, const size_t *lens, size_t n, const tl_bpe_train_opts *opts,
                 char **out, size_t *out_len, tl_bpe_train_stats *st, tl_err *err)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    *out = NULL;
    *out_len = 0;
    uint32_t vocab = opts->vocab;
    uint64_t min_count = opts->min_count ? opts->min_count : 2;
    if (vocab <= 256 || vocab > TOK_MAX_ID)
        return tl_errf(err, TL_EINVAL, "tokenizer train: vocabulary size %u is out of range (257 .. %u)", vocab, TOK_MAX_ID);
    const char *pname = opts->pattern ? opts->pattern : "cl100k";
    const tok_spec *spec = tok_spec_find(pname);
    if (!spec)
        return tl_errf(err, TL_EINVAL, "unknown pattern '%s' (known: cl100k, o200k, p50k, p50k_edit, r50k, gpt2)", pname);
    tl_tokenizer re = {0};
    if (tok_compile_pattern(&re, spec->pat, "tokenizer train", err))
        return err ? err->code : TL_EINVAL;

    piece_set ps = {0};
    trainer tr = {0};
    tl_bpe_train_stats s = {0};
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        uint8_t *fixed = NULL;
        size_t fl = 0;
        if (tok_utf8_sanitize((const uint8_t *)texts[i], lens[i], &fixed, &fl)) {
            rc = tl_errf(err, TL_ENOMEM, "tokenizer train: out of memory");
            break;
        }
        rc = count_pieces(&re, fixed ? fixed : (const uint8_t *)texts[i], fl, &ps, &s.pieces, err);
        s.bytes += fl;
        free(fixed);
    }
    s.distinct_pieces = ps.n;
    /* words: the distinct pieces of two or more bytes, as byte symbols */
    size_t nsym = 0;
    for (size_t i = 0; i < ps.n; i++)
        if (ps.len[i] >= 2)
            nsym += ps.len[i], tr.nwords++;
    if (!rc) {
        tr.sym = malloc((nsym ? nsym : 1) * sizeof *tr.sym);
        tr.woff = malloc((tr.nwords + 1) * sizeof *tr.woff);
        tr.wlen = malloc((tr.nwords + 1) * sizeof *tr.wlen);
        tr.wcount = malloc((tr.nwords + 1) * sizeof *tr.wcount);
        tr.wstamp = malloc((tr.nwords + 1) * sizeof *tr.wstamp);
        if (!tr.sym || !tr.woff || !tr.wlen || !tr.wcount || !tr.wstamp)
            rc = tl_errf(err, TL_ENOMEM, "tokenizer train: out of memory");
    }
    if (!rc) {
        size_t w = 0, o = 0;
        for (size_t i = 0; i < ps.n; i++) {
            if (ps.len[i] < 2)
                continue;
            tr.woff[w] = (uint32_t)o;
            tr.wlen[w] = ps.len[i];
            tr.wcount[w] = (int64_t)ps.count[i];
            for (uint32_t k = 0; k < ps.len[i]; k++)
                tr.sym[o++] = ps.bytes[ps.off[i] + k];
            w++;
        }
        for (int b = 0; b < 256 && !rc; b++) {
            uint8_t c = (uint8_t)b;
            if (token_add(&tr, &c, 1))
                rc = tl_errf(err, TL_ENOMEM, "tokenizer train: out of memory");
        }
    }
    piece_free(&ps);
    if (!rc)
        rc = train_merges(&tr, vocab, min_count, &s.reused, err);
    if (!rc) {
        *out = write_tiktoken(&tr, out_len);
        if (!*out)
            rc = tl_errf(err, TL_ENOMEM, "tokenizer train: out of memory");
    }
    s.vocab = (uint32_t)tr.ntok;
    trainer_free(&tr);
    pcre2_code_free(re.re);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    if (st)
        *st = s;
    return rc;
}

int tl_bpe_train_files(const char *const *paths, size_t n, const tl_bpe_train_opts *opts, const char *out_path,
                       tl_bpe_train_stats *st, tl_err *err)
{
    if (n == 0)
        return tl_errf(err, TL_EINVAL, "tokenizer train: no corpus files");
    uint8_t **data = calloc(n, sizeof *data);
    size_t *lens = calloc(n, sizeof *lens);
    int rc = 0;
    if (!data || !lens)
        rc = tl_errf(err, TL_ENOMEM, "tokenizer train: out of memory");
    for (size_t i = 0; i < n && !rc; i++)
        rc = tl_read_file(paths[i], MAX_CORPUS_BYTES, &data[i], &lens[i], err);
    char *out = NULL;
    size_t out_len = 0;
    if (!rc)
        rc = tl_bpe_train((const char *const *)data, lens, n, opts, &out, &out_len, st, err);
    if (!rc)
        rc = tl_write_file_atomic(out_path, out, out_len, 0644, err);
    free(out);
    for (size_t i = 0; data && i < n; i++)
        free(data[i]);
    free(data);
    free(lens);
    return rc;
}
