/* BPE trainer: the output loads, round-trips and compresses; it equals a naive trainer written here
 * (full pair recount per merge, same tie rule) on a slice of the corpus; it is deterministic; and a
 * 4096-token vocabulary on the seed corpus trains in seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tok_testutil.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/tok_internal.h"
#include "util/io.h"

/* ---- the naive reference ---- */
static const uint64_t *sort_keys;
static int by_key(const void *x, const void *y)
{
    uint64_t a = sort_keys[*(const size_t *)x], b = sort_keys[*(const size_t *)y];
    return a < b ? -1 : a > b;
}

typedef struct {
    uint32_t *s;
    size_t n;
    long count;
} nword;

static size_t naive_train(const uint8_t *text, size_t len, uint32_t vocab, uint8_t ***tok_out, size_t **tlen_out)
{
    char *pat = tok_translate_pattern(tok_spec_find("cl100k")->pat);
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    free(pat);
    nword *w = NULL;
    size_t nw = 0, pos = 0;
    while (pos < len && pcre2_match(re, text, len, pos, 0, md, NULL) > 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        pos = b;
        size_t k;
        for (k = 0; k < nw; k++)
            if (w[k].n == b - a) {
                size_t j = 0;
                while (j < w[k].n && w[k].s[j] == text[a + j])
                    j++;
                if (j == w[k].n)
                    break;
            }
        if (k == nw) {
            w = realloc(w, (nw + 1) * sizeof *w);
            w[nw].s = malloc((b - a) * sizeof(uint32_t));
            for (size_t j = 0; j < b - a; j++)
                w[nw].s[j] = text[a + j];
            w[nw].n = b - a;
            w[nw].count = 0;
            nw++;
        }
        w[k].count++;
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    uint8_t **tok = malloc(vocab * sizeof *tok);
    size_t *tl = malloc(vocab * sizeof *tl), ntok = 256;
    for (int b = 0; b < 256; b++) {
        tok[b] = malloc(1);
        tok[b][0] = (uint8_t)b;
        tl[b] = 1;
    }
    while (ntok < vocab) {
        /* recount every adjacent pair from scratch (sort and sum), pick the most frequent; ties: the
         * smaller left id, then the smaller right id */
        size_t np = 0;
        for (size_t k = 0; k < nw; k++)
            np += w[k].n ? w[k].n - 1 : 0;
        uint64_t *keys = malloc((np + 1) * sizeof *keys);
        long *cnt = malloc((np + 1) * sizeof *cnt);
        size_t *ord = malloc((np + 1) * sizeof *ord);
        np = 0;
        for (size_t k = 0; k < nw; k++)
            for (size_t i = 0; i + 1 < w[k].n; i++) {
                keys[np] = (uint64_t)w[k].s[i] << 32 | w[k].s[i + 1];
                cnt[np] = w[k].count;
                ord[np] = np;
                np++;
            }
        sort_keys = keys;
        qsort(ord, np, sizeof *ord, by_key);
        long best = 0;
        uint32_t ba = 0, bb = 0;
        for (size_t i = 0; i < np;) {
            size_t j = i;
            long c = 0;
            while (j < np && keys[ord[j]] == keys[ord[i]])
                c += cnt[ord[j++]];
            if (c > best) {  /* keys ascend, so the first of equal counts has the smaller (a, b) */
                best = c;
                ba = (uint32_t)(keys[ord[i]] >> 32);
                bb = (uint32_t)keys[ord[i]];
            }
            i = j;
        }
        free(keys);
        free(cnt);
        free(ord);
        if (best < 2)
            break;
        size_t nl = tl[ba] + tl[bb];
        uint8_t *nb = malloc(nl);
        memcpy(nb, tok[ba], tl[ba]);
        memcpy(nb + tl[ba], tok[bb], tl[bb]);
        uint32_t id = (uint32_t)ntok;
        for (size_t t = 0; t < ntok; t++)
            if (tl[t] == nl && memcmp(tok[t], nb, nl) == 0)
                id = (uint32_t)t;
        if (id == ntok) {
            tok[ntok] = nb;
            tl[ntok++] = nl;
        } else {
            free(nb);
        }
        for (size_t k = 0; k < nw; k++) {
            size_t o = 0;
            for (size_t i = 0; i < w[k].n; i++) {
                if (i + 1 < w[k].n && w[k].s[i] == ba && w[k].s[i + 1] == bb) {
                    w[k].s[o++] = id;
                    i++;
                } else {
                    w[k].s[o++] = w[k].s[i];
                }
            }
            w[k].n = o;
        }
    }
    for (size_t k = 0; k < nw; k++)
        free(w[k].s);
    free(w);
    *tok_out = tok;
    *tlen_out = tl;
    return ntok;
}

static void compare_with_naive(const uint8_t *text, size_t len, uint32_t vocab)
{
    uint8_t **tok = NULL;
    size_t *tl = NULL;
    size_t nt = naive_train(text, len, vocab, &tok, &tl);
    const char *texts[1] = {(const char *)text};
    tl_bpe_train_opts o = {vocab, "cl100k", 2};
    char *out = NULL;
    size_t ol = 0;
    tl_bpe_train_stats st = {0};
    tl_err err = {0};
    CHECKF(tl_bpe_train(texts, &len, 1, &o, &out, &ol, &st, &err) == 0, "%s", err.msg);
    tl_tokenizer *t = out ? tl_tokenizer_load_mem((uint8_t *)out, ol, "trained", NULL, &err) : NULL;
    CHECKF(t != NULL, "%s", err.msg);
    size_t diff = 0;
    CHECKF(st.vocab == nt, "trainer made %u tokens, naive %zu", st.vocab, nt);
    for (size_t i = 0; t && i < nt && i < st.vocab; i++) {
        size_t l = 0;
        const uint8_t *b = tl_tokenizer_token_bytes(t, (uint32_t)i, &l);
        if (!b || l != tl[i] || memcmp(b, tok[i], l))
            diff++;
    }
    CHECKF(diff == 0, "%zu of %zu tokens differ from the naive trainer", diff, nt);
    printf("naive comparison: %zu bytes, %zu tokens, %zu differ\n", len, nt, diff);
    for (size_t i = 0; i < nt; i++)
        free(tok[i]);
    free(tok);
    free(tl);
    free(out);
    tl_tokenizer_free(t);
}

/* Trains, loads the file, round-trips text and reports compression. */
static void train_and_use(const uint8_t *text, size_t len, uint32_t vocab, const char *label, double max_seconds)
{
    const char *dir = test_tmpdir();
    char corpus[512], out[512];
    snprintf(corpus, sizeof corpus, "%s/corpus.txt", dir);
    snprintf(out, sizeof out, "%s/trained.tiktoken", dir);
    tl_err err = {0};
    CHECK(tl_write_file_atomic(corpus, text, len, 0600, &err) == 0);
    const char *paths[1] = {corpus};
    tl_bpe_train_opts o = {vocab, NULL, 0};
    tl_bpe_train_stats st = {0};
    CHECKF(tl_bpe_train_files(paths, 1, &o, out, &st, &err) == 0, "%s", err.msg);
    printf("%s: vocab %u trained in %.3f s (%llu bytes, %llu pieces, %llu distinct, %u reused)\n", label, st.vocab,
           st.seconds, (unsigned long long)st.bytes, (unsigned long long)st.pieces,
           (unsigned long long)st.distinct_pieces, st.reused);
    CHECKF(st.seconds < max_seconds, "training took %.1f s (limit %.0f s)", st.seconds, max_seconds);
    CHECK(st.vocab == vocab);
    tl_tokenizer *t = tl_tokenizer_load(out, NULL, &err);
    CHECKF(t != NULL, "%s", err.msg);
    if (!t)
        return;
    CHECK(tl_tokenizer_vocab_size(t) == vocab + 1);
    CHECK(tl_tokenizer_special_id(t, "<|endoftext|>") == vocab);
    CHECK(strcmp(tl_tokenizer_encoding_name(t), "custom") == 0 && tl_tokenizer_warning(t) == NULL);
    uint32_t *ids = NULL;
    size_t n = 0;
    CHECKF(tl_tokenizer_encode(t, (const char *)text, len, 0, &ids, &n, &err) == 0, "%s", err.msg);
    char *dec = NULL;
    size_t dn = 0;
    CHECK(tl_tokenizer_decode(t, ids, n, &dec, &dn, &err) == 0 && dn == len && memcmp(dec, text, len) == 0);
    printf("%s: %zu bytes -> %zu tokens (%.2f bytes/token)\n", label, len, n, (double)len / (double)(n ? n : 1));
    CHECKF(n * 2 < len, "the trained vocabulary does not compress: %zu tokens for %zu bytes", n, len);
    free(ids);
    free(dec);
    /* unseen text still round-trips (every byte has a token) */
    uint8_t *buf = malloc(1 << 16);
    size_t bad = 0;
    for (int r = 0; r < 500; r++) {
        size_t m = tt_random_text(buf, 1 << 16, 0);
        if (tl_tokenizer_encode(t, (const char *)buf, m, 0, &ids, &n, &err) ||
            tl_tokenizer_decode(t, ids, n, &dec, &dn, &err) || dn != m || memcmp(dec, buf, m))
            bad++;
        free(ids);
        free(dec);
        ids = NULL;
        dec = NULL;
    }
    CHECKF(bad == 0, "%zu of 500 random texts do not round-trip", bad);
    free(buf);
    /* deterministic: a second run writes the same file */
    char out2[600];
    snprintf(out2, sizeof out2, "%s/again.tiktoken", dir);
    CHECK(tl_bpe_train_files(paths, 1, &o, out2, &st, &err) == 0);
    CHECK(test_sh("cmp -s '%s' '%s'", out, out2) == 0);
    tl_tokenizer_free(t);
    test_sh("rm -rf '%s'", dir);
}

int main(void)
{
    tt_seed(777);
    const char *corpus = test_shared("data/sales_textbook.txt");
    uint8_t *d = NULL;
    size_t n = 0;
    tl_err err = {0};
    if (corpus && tl_read_file(corpus, 1 << 24, &d, &n, &err) == 0) {
        train_and_use(d, n, 4096, "seed corpus", 30.0);
        compare_with_naive(d, n < 120000 ? n : 120000, 1500);
    } else {
        printf("seed corpus part skipped: ../shared/data/sales_textbook.txt is absent\n");
    }
    free(d);
    /* a generated corpus (always available): mixed scripts and invalid bytes */
    size_t cap = 1 << 20, len = 0;
    uint8_t *g = malloc(cap);
    while (len + 70000 < cap)
        len += tt_random_text(g + len, cap - len, 0);
    compare_with_naive(g, 30000, 400);
    free(g);

    /* bad options */
    const char *texts[1] = {"abc"};
    size_t lens[1] = {3};
    char *out = NULL;
    size_t ol = 0;
    tl_bpe_train_opts o = {256, NULL, 0};
    CHECK(tl_bpe_train(texts, lens, 1, &o, &out, &ol, NULL, &err) != 0 && strstr(err.msg, "257"));
    o.vocab = 300;
    o.pattern = "nope";
    CHECK(tl_bpe_train(texts, lens, 1, &o, &out, &ol, NULL, &err) != 0 && strstr(err.msg, "nope"));
    const char *missing[1] = {"/nonexistent/corpus.txt"};
    o.pattern = NULL;
    CHECK(tl_bpe_train_files(missing, 1, &o, "/tmp/x.tiktoken", NULL, &err) != 0 && strstr(err.msg, "/nonexistent/corpus.txt"));
    return test_finish();
}
