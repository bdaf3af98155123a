/* libFuzzer target for encoding: arbitrary bytes through cl100k_base (from ../shared or node_modules;
 * a small built-in vocabulary if neither is there) with the cl100k and o200k pre-tokenizers. Checks
 * decode(encode(x)) == x for valid UTF-8, and == the U+FFFD repair of x otherwise, and that the ASCII
 * fast path gives the same ids as PCRE2 alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/tokenizer.h"
#include "util/codec.h"

static tl_tokenizer *tok[2];

static tl_tokenizer *load(const char *pattern)
{
    const char *shared = getenv("TEELM_SHARED");
    char p[4096];
    const char *cands[3] = {NULL, "../shared/data/cl100k_base.tiktoken", "node_modules/tiktoken/encoders/cl100k_base.json"};
    if (shared) {
        snprintf(p, sizeof p, "%s/data/cl100k_base.tiktoken", shared);
        cands[0] = p;
    }
    tl_err err = {0};
    for (int i = 0; i < 3; i++) {
        tl_tokenizer *t = cands[i] ? tl_tokenizer_load(cands[i], pattern, &err) : NULL;
        if (t)
            return t;
    }
    /* fallback: the 256 bytes (rank = value) and a few merges */
    char *v = malloc(256 * 16 + 256), *q = v;
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        q += tl_b64_encode_into(&byte, 1, q);
        q += sprintf(q, " %d\n", b);
    }
    q += sprintf(q, "IHQ= 256\naGU= 257\nIHRoZQ== 258\naW4= 259\nICA= 260\n");
    tl_tokenizer *t = tl_tokenizer_load_mem((const uint8_t *)v, (size_t)(q - v), "builtin", pattern, &err);
    free(v);
    if (!t) {
        fprintf(stderr, "fuzz_tokenizer_encode: %s\n", err.msg);
        abort();
    }
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tok[0]) {
        tok[0] = load("cl100k");
        tok[1] = load("o200k");
    }
    if (size == 0)
        return 0;
    tl_tokenizer *t = tok[data[0] & 1];
    int allow = (data[0] >> 1) & 1;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    uint32_t *ids = NULL;
    size_t k = 0;
    tl_err err = {0};
    if (tl_tokenizer_encode(t, text, n, allow, &ids, &k, &err) == 0) {
        char *out = NULL;
        size_t ol = 0;
        uint8_t *fixed = NULL;
        size_t fl = 0;
        if (tl_tokenizer_decode(t, ids, k, &out, &ol, &err) != 0 || tok_utf8_sanitize((const uint8_t *)text, n, &fixed, &fl))
            abort();
        const uint8_t *want = fixed ? fixed : (const uint8_t *)text;
        if (ol != fl || memcmp(out, want, fl) != 0)
            abort();  /* round trip broken */
        free(out);
        free(fixed);
        /* the same text without the hand-written ASCII matcher */
        size_t (*fast)(const uint8_t *, size_t, size_t) = t->fast;
        uint32_t *ids2 = NULL;
        size_t k2 = 0;
        t->fast = NULL;
        int rc2 = tl_tokenizer_encode(t, text, n, allow, &ids2, &k2, &err);
        t->fast = fast;
        if (rc2 != 0 || k2 != k || memcmp(ids, ids2, k * sizeof *ids) != 0)
            abort();
        free(ids2);
    } else if (allow || !strstr(err.msg, "special token")) {
        abort();  /* only a disallowed special token may make encoding fail */
    }
    free(ids);
    return 0;
}
