/* Tokenizer files: both forms load to the same vocabulary, standard files are identified by SHA-256
 * and impostors warned about, hostile files fail with messages naming the file and line. Also the
 * special-token rules, the model-directory lookup, the two merge implementations and the non-JIT
 * matcher agree. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tok_testutil.h"
#include "tokenizer/tok_internal.h"
#include "util/io.h"

static char dir[256];

static const char *write_tmp(const char *name, const char *data, size_t n)
{
    static char path[8][512];
    static int slot;
    char *p = path[slot++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    tl_err err = {0};
    if (tl_write_file_atomic(p, data, n, 0644, &err))
        fprintf(stderr, "%s\n", err.msg);
    return p;
}

/* A valid small vocabulary: the 256 bytes (rank = byte value) then "ab", "abc", "  ". */
static size_t base_vocab(char *o, size_t cap, int skip_byte)
{
    size_t n = 0;
    for (int b = 0; b < 256; b++) {
        if (b == skip_byte)
            continue;
        uint8_t c = (uint8_t)b;
        char *e = tt_b64(&c, 1);
        n += (size_t)snprintf(o + n, cap - n, "%s %d\n", e, b);
        free(e);
    }
    n += (size_t)snprintf(o + n, cap - n, "YWI= 256\nYWJj 257\nICA= 258\n");
    return n;
}

/* Loading `data` as `name` must fail with a message containing each of the given fragments. */
static void expect_error(const char *name, const char *data, size_t n, const char *frag1, const char *frag2)
{
    const char *p = write_tmp(name, data, n);
    tl_err err = {0};
    tl_tokenizer *t = tl_tokenizer_load(p, NULL, &err);
    CHECKF(t == NULL, "%s loaded but should not", name);
    tl_tokenizer_free(t);
    CHECKF(err.code != 0 && strstr(err.msg, p), "%s: message does not name the file: %s", name, err.msg);
    CHECKF(!frag1 || strstr(err.msg, frag1), "%s: message lacks '%s': %s", name, frag1, err.msg);
    CHECKF(!frag2 || strstr(err.msg, frag2), "%s: message lacks '%s': %s", name, frag2, err.msg);
    printf("  %-22s -> %s\n", name, err.msg);
}

static void bad_files(void)
{
    char *v = malloc(1 << 16), *w = malloc(1 << 17);
    size_t n = base_vocab(v, 1 << 16, -1);
    tl_err err = {0};
    tl_tokenizer *t = tl_tokenizer_load(write_tmp("good.tiktoken", v, n), NULL, &err);
    CHECKF(t != NULL, "%s", err.msg);
    if (t) {
        CHECK(strcmp(tl_tokenizer_encoding_name(t), "custom") == 0);
        CHECK(strcmp(tl_tokenizer_pattern_name(t), "cl100k") == 0);
        CHECK(tl_tokenizer_warning(t) == NULL);
        CHECK(tl_tokenizer_vocab_size(t) == 260);  /* 259 ranks + <|endoftext|> */
        CHECK(tl_tokenizer_special_id(t, "<|endoftext|>") == 259);
        uint32_t *ids = NULL;
        size_t k = 0;
        CHECK(tl_tokenizer_encode(t, "abcab  x", 8, 0, &ids, &k, &err) == 0);
        /* pieces "abcab", "  "... cl100k: "abcab" -> abc(257) ab(256); " " + " x" -> ... */
        CHECK(k >= 3 && ids[0] == 257 && ids[1] == 256);
        free(ids);
    }
    tl_tokenizer_free(t);

    printf("hostile files:\n");
    expect_error("empty.tiktoken", "", 0, "empty", NULL);
    expect_error("blank.tiktoken", "\n\n\n", 3, "no tokens", NULL);
    memcpy(w, v, n);
    memcpy(w + n, "YWJjZA==\n", 9);  /* line 260: no rank */
    expect_error("truncated.tiktoken", w, n + 9, "line 260", "BASE64 RANK");
    memcpy(w + n, "YWJjZA== ", 9);  /* rank missing after the space */
    expect_error("truncated2.tiktoken", w, n + 9, "line 260", NULL);
    memcpy(w, v, n / 2);
    memcpy(w + n / 2, "YWJj", 4);  /* cut in the middle of a line */
    expect_error("cut.tiktoken", w, n / 2 + 4, "line", NULL);
    /* v, then one bad line (line 260) */
    static const struct {
        const char *name, *line, *frag;
    } bad_line[] = {
        {"badb64.tiktoken", "YW!j 300\n", "base64"},
        {"badb64len.tiktoken", "YWJ 300\n", "base64"},
        {"badb64bits.tiktoken", "YWF= 300\n", "base64"},  /* non-canonical padding bits */
        {"duprank.tiktoken", "YWJjZA== 257\n", "rank 257 is also given on line 258"},
        {"duptoken.tiktoken", "YWI= 300\n", "duplicate token"},
        {"hugerank.tiktoken", "YWJjZA== 99999999999999999999999\n", "too large"},
        {"sparse.tiktoken", "YWJjZA== 16777000\n", "without a token"},
        {"negrank.tiktoken", "YWJjZA== -5\n", "whole number"},
        {"twospaces.tiktoken", "YWJjZA==  300\n", NULL},
    };
    for (size_t i = 0; i < sizeof bad_line / sizeof *bad_line; i++) {
        int l = snprintf(w, 1 << 17, "%.*s%s", (int)n, v, bad_line[i].line);
        expect_error(bad_line[i].name, w, (size_t)l, "line 260", bad_line[i].frag);
    }
    size_t m = base_vocab(w, 1 << 17, 0x41);
    expect_error("nobyte.tiktoken", w, m, "0x41", NULL);
    expect_error("binary.tiktoken", "\x00\x01\xff\xfe garbage\n", 14, "line 1", NULL);

    /* JSON form */
    char *b = tt_b64((const uint8_t *)v, n);
    (void)b;
    free(b);
    expect_error("syntax.json", "{\"bpe_ranks\": \"! 0 QQ==\",\n \"pat_str\": }", 40, "line 2", NULL);
    expect_error("notobj.json", "[1,2]", 5, "JSON object", NULL);
    expect_error("types1.json", "{\"bpe_ranks\": 5}", 16, "'bpe_ranks' must be a string", NULL);
    expect_error("types2.json", "{\"pat_str\": \"x\"}", 16, "'bpe_ranks' is missing", NULL);
    /* a full compact JSON vocabulary built from the bytes, then broken in different ways */
    size_t jn = 0;
    jn += (size_t)snprintf(w + jn, (1 << 17) - jn, "{\"bpe_ranks\": \"! 0");
    for (int c = 0; c < 256; c++) {
        uint8_t x = (uint8_t)c;
        char *e = tt_b64(&x, 1);
        jn += (size_t)snprintf(w + jn, (1 << 17) - jn, " %s", e);
        free(e);
    }
    jn += (size_t)snprintf(w + jn, (1 << 17) - jn, "\\n");
    size_t line2 = jn;
    jn += (size_t)snprintf(w + jn, (1 << 17) - jn, "! 256 YWI= YWJj\"");
    size_t jbase = jn;
    char *tail = w + jbase;
    snprintf(tail, 4096, ", \"pat_str\": 7}");
    expect_error("types3.json", w, strlen(w), "'pat_str' must be a string", NULL);
    snprintf(tail, 4096, ", \"special_tokens\": [1]}");
    expect_error("types4.json", w, strlen(w), "'special_tokens' must be an object", NULL);
    snprintf(tail, 4096, ", \"special_tokens\": {\"<|e|>\": \"258\"}}");
    expect_error("types5.json", w, strlen(w), "special_tokens", "<|e|>");
    snprintf(tail, 4096, ", \"special_tokens\": {\"<|e|>\": 257}}");
    expect_error("collide.json", w, strlen(w), "already a token", NULL);
    snprintf(tail, 4096, ", \"explicit_n_vocab\": 9}");
    expect_error("nvocab.json", w, strlen(w), "explicit_n_vocab", NULL);
    snprintf(tail, 4096, ", \"explicit_n_vocab\": \"9\"}");
    expect_error("nvocab2.json", w, strlen(w), "explicit_n_vocab", NULL);
    snprintf(tail, 4096, ", \"pat_str\": \"([a-z\"}");
    expect_error("badpat.json", w, strlen(w), "pattern", NULL);
    snprintf(w + line2, 4096, "! x YWI= YWJj\"}");  /* line 2 offset not a number */
    expect_error("badoffset.json", w, strlen(w), "bpe_ranks line 2", "offset");
    snprintf(w + line2, 4096, "! 256 Y!I= YWJj\"}");
    expect_error("badtok.json", w, strlen(w), "bpe_ranks line 2", "base64");

    /* a good JSON vocabulary with its own pattern and special tokens */
    snprintf(w + line2, 4096, "! 256 YWI= YWJj\", \"pat_str\": \"[a-z]+|[^a-z]+\", "
                                   "\"special_tokens\": {\"<|x|>\": 300}, \"explicit_n_vocab\": 259}");
    t = tl_tokenizer_load(write_tmp("custom.json", w, strlen(w)), NULL, &err);
    CHECKF(t != NULL, "%s", err.msg);
    if (t) {
        CHECK(strcmp(tl_tokenizer_pattern_name(t), "custom") == 0);
        CHECK(tl_tokenizer_vocab_size(t) == 301);
        CHECK(tl_tokenizer_special_id(t, "<|x|>") == 300);
        CHECK(tl_tokenizer_special_id(t, "<|endoftext|>") == -1);
        uint32_t *ids = NULL;
        size_t k = 0;
        CHECK(tl_tokenizer_encode(t, "abc<|x|>ab", 10, 1, &ids, &k, &err) == 0);
        CHECK(k == 3 && ids[0] == 257 && ids[1] == 300 && ids[2] == 256);
        free(ids);
        CHECK(tl_tokenizer_encode(t, "abc<|x|>ab", 10, 0, &ids, &k, &err) != 0 && strstr(err.msg, "<|x|>"));
        size_t tl = 0;
        const uint8_t *tb = tl_tokenizer_token_bytes(t, 300, &tl);
        CHECK(tb && tl == 5 && memcmp(tb, "<|x|>", 5) == 0);
        CHECK(tl_tokenizer_token_bytes(t, 299, &tl) == NULL);
        CHECK(tl_tokenizer_token_bytes(t, 301, &tl) == NULL);
        uint32_t bad[2] = {97, 299};
        char *out = NULL;
        size_t ol = 0;
        CHECK(tl_tokenizer_decode(t, bad, 2, &out, &ol, &err) != 0 && strstr(err.msg, "299"));
        free(out);
    }
    tl_tokenizer_free(t);

    /* a file named like a standard encoding whose digest does not match: loads, with a warning */
    t = tl_tokenizer_load(write_tmp("cl100k_base.tiktoken", v, n), NULL, &err);
    CHECKF(t != NULL, "%s", err.msg);
    const char *warn = t ? tl_tokenizer_warning(t) : NULL;
    CHECKF(warn && strstr(warn, "cl100k_base.tiktoken") && strstr(warn, "SHA-256") && strstr(warn, "223921b76ee99bde"),
           "warning: %s", warn ? warn : "(none)");
    if (warn)
        printf("impostor warning: %s\n", warn);
    CHECK(t && strcmp(tl_tokenizer_encoding_name(t), "custom") == 0);
    tl_tokenizer_free(t);

    /* unknown pattern name */
    t = tl_tokenizer_load(write_tmp("good.tiktoken", v, n), "cl99k", &err);
    CHECK(t == NULL && strstr(err.msg, "cl99k") && strstr(err.msg, "o200k"));
    tl_tokenizer_free(t);

    /* model directory */
    char mdir[512], mpath[600];
    snprintf(mdir, sizeof mdir, "%s/model", dir);
    CHECK(tl_mkdirs(mdir, 0755, &err) == 0);
    t = tl_tokenizer_load_model_dir(mdir, NULL, &err);
    CHECK(t == NULL && strstr(err.msg, mdir) && strstr(err.msg, "tokenizer.tiktoken"));
    snprintf(mpath, sizeof mpath, "%s/tokenizer.tiktoken", mdir);
    CHECK(tl_write_file_atomic(mpath, v, n, 0644, &err) == 0);
    t = tl_tokenizer_load_model_dir(mdir, "o200k", &err);
    CHECKF(t && strcmp(tl_tokenizer_pattern_name(t), "o200k") == 0, "%s", err.msg);
    tl_tokenizer_free(t);
    free(v);
    free(w);
}

/* The published files in both forms load to one and the same tokenizer. */
static void standard_files(const char *src)
{
    const char *shared_cl = test_shared("data/cl100k_base.tiktoken");
    char json[4096];
    snprintf(json, sizeof json, "%s/node_modules/tiktoken/encoders/cl100k_base.json", src);
    tl_err err = {0};
    tl_tokenizer *a = shared_cl ? tl_tokenizer_load(shared_cl, NULL, &err) : NULL;
    tl_tokenizer *b = tl_is_file(json) ? tl_tokenizer_load(json, NULL, &err) : NULL;
    if (!a || !b) {
        printf("form comparison skipped: needs ../shared/data/cl100k_base.tiktoken and node_modules/tiktoken\n");
    } else {
        CHECK(tl_tokenizer_vocab_size(a) == 100277 && tl_tokenizer_vocab_size(b) == 100277);
        size_t diff = 0;
        for (uint32_t id = 0; id < tl_tokenizer_vocab_size(a); id++) {
            size_t la = 0, lb = 0;
            const uint8_t *ta = tl_tokenizer_token_bytes(a, id, &la), *tb = tl_tokenizer_token_bytes(b, id, &lb);
            if ((ta == NULL) != (tb == NULL) || (ta && (la != lb || memcmp(ta, tb, la))))
                diff++;
        }
        CHECKF(diff == 0, "%zu ids differ between the .tiktoken and JSON forms", diff);
        CHECK(strcmp(tl_tokenizer_encoding_name(a), "cl100k_base") == 0);
        CHECK(strcmp(tl_tokenizer_encoding_name(b), "cl100k_base") == 0);
        CHECK(tl_tokenizer_warning(a) == NULL && tl_tokenizer_warning(b) == NULL);
        CHECK(tl_tokenizer_special_id(a, "<|endoftext|>") == 100257 && tl_tokenizer_special_id(b, "<|endofprompt|>") == 100276);
        CHECK(tl_tokenizer_token_bytes(a, 100261, NULL) == NULL);  /* a hole between the special ids */
        /* the same bytes under another name are still recognised by digest */
        uint8_t *d = NULL;
        size_t n = 0;
        CHECK(tl_read_file(shared_cl, 1 << 26, &d, &n, &err) == 0);
        tl_tokenizer *c = tl_tokenizer_load_mem(d, n, "memory", NULL, &err);
        CHECK(c && strcmp(tl_tokenizer_encoding_name(c), "cl100k_base") == 0);
        tl_tokenizer_free(c);
        /* one flipped rank: no longer the standard file, and the name claims it is -> warning */
        d[n - 2] = d[n - 2] == '5' ? '6' : '5';
        c = tl_tokenizer_load_mem(d, n, "x/cl100k_base.tiktoken", NULL, &err);
        CHECKF(c == NULL || (tl_tokenizer_warning(c) && strcmp(tl_tokenizer_encoding_name(c), "custom") == 0), "%s",
               err.msg);
        tl_tokenizer_free(c);
        free(d);
    }
    /* every npm JSON encoding loads and is identified */
    static const char *names[] = {"cl100k_base", "o200k_base", "p50k_base", "p50k_edit", "r50k_base", "gpt2"};
    static const char *pats[] = {"cl100k", "o200k", "p50k", "p50k", "r50k", "r50k"};
    for (int i = 0; i < 6; i++) {
        snprintf(json, sizeof json, "%s/node_modules/tiktoken/encoders/%s.json", src, names[i]);
        if (!tl_is_file(json))
            continue;
        tl_tokenizer *t = tl_tokenizer_load(json, NULL, &err);
        CHECKF(t && strcmp(tl_tokenizer_encoding_name(t), names[i]) == 0, "%s: %s", names[i], t ? tl_tokenizer_encoding_name(t) : err.msg);
        /* p50k_edit/gpt2 share a pattern with p50k/r50k: the JSON's pat_str names the first spec */
        CHECKF(t && strcmp(tl_tokenizer_pattern_name(t), pats[i]) == 0 ? 1 : (t && strstr(pats[i], "50k")), "%s", names[i]);
        CHECK(t && tl_tokenizer_warning(t) == NULL);
        tl_tokenizer_free(t);
    }
    tl_tokenizer_free(a);
    tl_tokenizer_free(b);
}

/* tok_bpe_small (tiktoken's array merge) and tok_bpe_large (heap) agree on every piece. */
static void merges_agree(const tl_tokenizer *t)
{
    uint8_t p[TOK_SMALL_PIECE];
    uint32_t a[TOK_SMALL_PIECE], b[TOK_SMALL_PIECE];
    size_t bad = 0;
    for (int r = 0; r < 20000; r++) {
        size_t n = 2 + tt_rand() % (TOK_SMALL_PIECE - 1);
        int mode = (int)(tt_rand() % 4);
        for (size_t i = 0; i < n; i++)
            p[i] = mode == 0 ? (uint8_t)tt_rand() : mode == 1 ? (uint8_t)("etaoin shrdlu"[tt_rand() % 13])
                   : mode == 2 ? (uint8_t)("ab"[tt_rand() % 2]) : (uint8_t)(0xE0 + tt_rand() % 32);
        size_t na = tok_bpe_small(t, p, n, a), nb = tok_bpe_large(t, p, n, b);
        if (na != nb || memcmp(a, b, na * sizeof *a))
            bad++;
    }
    CHECKF(bad == 0, "%zu of 20000 pieces merge differently", bad);
}

/* Without JIT (as in enclaves that forbid executable memory) the interpreter gives the same ids. */
static void interpreter_agrees(tl_tokenizer *t, const char *src)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/tokenizer/data/unicode_stress.txt", src);
    uint8_t *d = NULL;
    size_t n = 0;
    tl_err err = {0};
    if (tl_read_file(path, 1 << 20, &d, &n, &err)) {
        CHECK(!"stress text missing");
        return;
    }
    uint8_t *buf = malloc(1 << 16);
    size_t bad = 0;
    for (int r = 0; r < 300; r++) {
        const uint8_t *s = d;
        size_t len = n;
        if (r) {
            len = tt_random_text(buf, 1 << 16, 1);
            s = buf;
        }
        uint32_t *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;
        int jit = t->jit;
        int rx = tl_tokenizer_encode(t, (const char *)s, len, 0, &x, &nx, &err);
        t->jit = 0;
        int ry = tl_tokenizer_encode(t, (const char *)s, len, 0, &y, &ny, &err);
        t->jit = jit;
        if (rx != ry || nx != ny || (nx && memcmp(x, y, nx * sizeof *x)))
            bad++;
        free(x);
        free(y);
    }
    CHECKF(bad == 0, "%zu of 300 texts differ without JIT", bad);
    free(buf);
    free(d);
}

/* One loaded tokenizer shared by threads encoding at once gives each the single-thread answer. */
typedef struct {
    const tl_tokenizer *t;
    const uint8_t *text;
    size_t len;
    const uint32_t *want;
    size_t nwant;
    int bad;
} thread_job;

static void *encode_many(void *arg)
{
    thread_job *j = arg;
    tl_err err = {0};
    for (int r = 0; r < 30; r++) {
        uint32_t *ids = NULL;
        size_t n = 0;
        if (tl_tokenizer_encode(j->t, (const char *)j->text, j->len, 0, &ids, &n, &err) || n != j->nwant ||
            memcmp(ids, j->want, n * sizeof *ids))
            j->bad++;
        free(ids);
    }
    return NULL;
}

static void threads_agree(const tl_tokenizer *t, const char *src)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/tokenizer/data/unicode_stress.txt", src);
    uint8_t *d = NULL;
    size_t n = 0;
    tl_err err = {0};
    uint32_t *want = NULL;
    size_t nw = 0;
    if (tl_read_file(path, 1 << 20, &d, &n, &err) || tl_tokenizer_encode(t, (const char *)d, n, 0, &want, &nw, &err)) {
        CHECK(!"stress text");
        free(d);
        return;
    }
    pthread_t th[4];
    thread_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (thread_job){t, d, n, want, nw, 0};
        CHECK(pthread_create(&th[i], NULL, encode_many, &jobs[i]) == 0);
    }
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        bad += jobs[i].bad;
    }
    CHECKF(bad == 0, "%d concurrent encodings differ", bad);
    free(want);
    free(d);
}

int main(void)
{
    const char *src = getenv("TEELM_SRC") ? getenv("TEELM_SRC") : ".";
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    tt_seed(12345);
    bad_files();
    standard_files(src);
    const char *cl = test_shared("data/cl100k_base.tiktoken");
    char json[4096];
    snprintf(json, sizeof json, "%s/node_modules/tiktoken/encoders/cl100k_base.json", src);
    tl_err err = {0};
    tl_tokenizer *t = cl ? tl_tokenizer_load(cl, NULL, &err) : tl_is_file(json) ? tl_tokenizer_load(json, NULL, &err) : NULL;
    if (t) {
        merges_agree(t);
        threads_agree(t, src);
        interpreter_agrees(t, src);
        /* special tokens: refused unless allowed; allowed ones split the text like tiktoken */
        uint32_t *ids = NULL;
        size_t k = 0;
        const char *s = "hi <|endoftext|>  <|fim_prefix|>x";
        CHECK(tl_tokenizer_encode(t, s, strlen(s), 0, &ids, &k, &err) != 0 && strstr(err.msg, "<|endoftext|>"));
        CHECK(tl_tokenizer_encode(t, s, strlen(s), 1, &ids, &k, &err) == 0);
        int has_eot = 0, has_fim = 0;
        for (size_t i = 0; i < k; i++)
            has_eot |= ids[i] == 100257, has_fim |= ids[i] == 100258;
        CHECK(has_eot && has_fim);
        free(ids);
        CHECK(tl_tokenizer_encode(t, "", 0, 0, &ids, &k, &err) == 0 && k == 0);
        free(ids);
    } else {
        printf("cl100k checks skipped: no cl100k_base file in ../shared or node_modules\n");
    }
    tl_tokenizer_free(t);
    test_sh("rm -rf '%s'", dir);
    return test_finish();
}
