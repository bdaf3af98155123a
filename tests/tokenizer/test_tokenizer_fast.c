/* The hand-written ASCII pre-tokenizers (tok_fast.c) cut exactly the pieces PCRE2 cuts with the
 * cl100k and o200k patterns: every string of up to 4 symbols over a boundary-heavy alphabet (ASCII
 * classes, contraction letters, and non-ASCII letters, marks, digits and spaces that force the
 * fallback), plus 200,000 random longer strings per pattern. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tok_testutil.h"
#include "tokenizer/tok_internal.h"

static const char *alpha[] = {"a", "A", "s", "S", "l", "L", "e", "r", "v", "d", "0", "7", "'", " ", "\t", "\n",
                              "\r", "\v", "!", "/", "-", "\xc3\xa9" /* é */, "\xc5\xbf" /* ſ */,
                              "\xc2\xa0" /* nbsp */, "\xd9\xa3" /* Arabic-Indic 3 */, "\xcc\x81" /* combining acute */,
                              "\xc7\x85" /* ǅ Lt */, "\xf0\x9f\x98\x80" /* emoji */, "\xe2\x80\xa8" /* LS */, "\x00", "\x7f"};
#define NA (sizeof alpha / sizeof alpha[0])

static long compared, differ;

static void compare(tl_tokenizer *t, const uint8_t *s, size_t n, const char *name)
{
    size_t (*fast)(const uint8_t *, size_t, size_t) = t->fast;
    tok_matcher m;
    tl_err err = {0};
    if (tok_matcher_init(&m)) {
        CHECK(!"matcher");
        return;
    }
    size_t p1 = 0, p2 = 0;
    int same = 1;
    while (same && (p1 < n || p2 < n)) {
        size_t a1 = 0, b1 = 0, a2 = 0, b2 = 0;
        t->fast = fast;
        int r1 = p1 < n ? tok_next_piece(t, &m, s, n, p1, &a1, &b1, &err) : 0;
        t->fast = NULL;
        int r2 = p2 < n ? tok_next_piece(t, &m, s, n, p2, &a2, &b2, &err) : 0;
        same = r1 == r2 && a1 == a2 && b1 == b2 && r1 == 1 && b1 > a1;
        p1 = b1;
        p2 = b2;
        if (!same && differ < 5) {
            char *b = tt_b64(s, n);
            fprintf(stderr, "%s: pieces differ at byte %zu (fast [%zu,%zu) rc %d, PCRE2 [%zu,%zu) rc %d) in base64 %s\n",
                    name, a2, a1, b1, r1, a2, b2, r2, b);
            free(b);
        }
    }
    t->fast = fast;
    tok_matcher_free(&m);
    compared++;
    differ += !same;
}

static void exhaustive(tl_tokenizer *t, const char *name, int depth, uint8_t *buf, size_t n)
{
    if (n)
        compare(t, buf, n, name);
    if (depth == 0)
        return;
    for (size_t i = 0; i < NA; i++) {
        size_t l = alpha[i][0] ? strlen(alpha[i]) : 1;
        memcpy(buf + n, alpha[i], l);
        exhaustive(t, name, depth - 1, buf, n + l);
    }
}

int main(void)
{
    const char *names[2] = {"cl100k", "o200k"};
    uint8_t buf[512];
    tt_seed(4242);
    for (int k = 0; k < 2; k++) {
        tl_tokenizer t = {0};
        tl_err err = {0};
        CHECKF(tok_compile_pattern(&t, tok_spec_find(names[k])->pat, names[k], &err) == 0, "%s", err.msg);
        CHECK(t.fast != NULL);
        if (!t.fast)
            continue;
        compared = differ = 0;
        exhaustive(&t, names[k], 4, buf, 0);
        long ex = compared;
        for (int r = 0; r < 200000; r++) {
            size_t n = 0, len = 1 + tt_rand() % 40;
            for (size_t i = 0; i < len; i++) {
                const char *a = alpha[tt_rand() % (tt_rand() % 4 ? 21 : NA)];  /* mostly ASCII */
                size_t l = a[0] ? strlen(a) : 1;
                memcpy(buf + n, a, l);
                n += l;
            }
            compare(&t, buf, n, names[k]);
        }
        printf("%s: %ld exhaustive + %ld random strings, %ld differ\n", names[k], ex, compared - ex, differ);
        CHECK(differ == 0);
        pcre2_code_free(t.re);
    }
    return test_finish();
}
