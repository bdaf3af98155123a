/* Token-for-token equality with npm tiktoken (tests/reference/tiktoken_encode.js) for cl100k_base and
 * o200k_base: the seed corpus, a Unicode stress text, and random boundary-heavy strings (seed printed;
 * TEELM_SEED=N reproduces a run); p50k_base and r50k_base on the stress text and 1,000 random strings. Also decode(encode(x)) == x for valid UTF-8, and the U+FFFD repair
 * of invalid UTF-8 against node's Buffer.toString. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "tok_testutil.h"
#include "tokenizer/tok_internal.h"
#include "util/io.h"

typedef struct {
    uint8_t *text;
    size_t len;
    int enc;       /* index into encs */
    int allow;
    int file;      /* compared against an F command */
    int sanitize;  /* an S command follows this case's E command */
    const char *label;
} tcase;

static tcase *cases;
static size_t ncases, capcases;

static void add_case(const uint8_t *text, size_t len, int enc, int allow, int file, int sanitize, const char *label)
{
    if (ncases == capcases) {
        capcases = capcases ? capcases * 2 : 1024;
        cases = realloc(cases, capcases * sizeof *cases);
    }
    uint8_t *copy = malloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = 0;
    cases[ncases++] = (tcase){copy, len, enc, allow, file, sanitize, label};
}

#define NENC 4
static const char *enc_names[NENC] = {"cl100k_base", "o200k_base", "p50k_base", "r50k_base"};
static tl_tokenizer *encs[NENC];
static int shown;

static void show(const tcase *c, const char *what, const uint32_t *a, long na, const char *ref)
{
    if (shown++ >= 8)
        return;
    char *b = tt_b64(c->text, c->len > 300 ? 300 : c->len);
    fprintf(stderr, "MISMATCH %s (%s, %s, allow=%d): input(base64%s)=%s\n  teelm:", what, c->label, enc_names[c->enc],
            c->allow, c->len > 300 ? ", first 300 bytes" : "", b);
    for (long i = 0; i < na && i < 40; i++)
        fprintf(stderr, " %u", a[i]);
    fprintf(stderr, "%s\n  tiktoken: %.300s\n", na < 0 ? " (error)" : "", ref);
    free(b);
}

int main(void)
{
    tt_require_node();
    uint64_t seed = getenv("TEELM_SEED") ? strtoull(getenv("TEELM_SEED"), NULL, 10)
                                          : (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
    long nrand = getenv("TEELM_TOKENIZER_RANDOM") ? atol(getenv("TEELM_TOKENIZER_RANDOM")) : 10000;
    printf("seed=%llu (rerun with TEELM_SEED=%llu), %ld random strings per encoding\n", (unsigned long long)seed,
           (unsigned long long)seed, nrand);
    tt_seed(seed);

    const char *src = getenv("TEELM_SRC") ? getenv("TEELM_SRC") : ".";
    char path[4096];
    tl_err err = {0};
    const char *shared_cl = test_shared("data/cl100k_base.tiktoken");
    if (shared_cl) {
        encs[0] = tl_tokenizer_load(shared_cl, NULL, &err);
    } else {
        snprintf(path, sizeof path, "%s/node_modules/tiktoken/encoders/cl100k_base.json", src);
        encs[0] = tl_tokenizer_load(path, NULL, &err);
    }
    CHECKF(encs[0] != NULL, "%s", err.msg);
    for (int e = 1; e < NENC; e++) {
        snprintf(path, sizeof path, "%s/node_modules/tiktoken/encoders/%s.json", src, enc_names[e]);
        encs[e] = tl_tokenizer_load(path, NULL, &err);
        CHECKF(encs[e] != NULL, "%s", err.msg);
        if (!encs[e])
            return test_finish();
    }
    if (!encs[0])
        return test_finish();
    CHECK(strcmp(tl_tokenizer_encoding_name(encs[0]), "cl100k_base") == 0);
    CHECK(strcmp(tl_tokenizer_encoding_name(encs[1]), "o200k_base") == 0);

    /* the seed corpus and the stress text, whole (read by node itself) and line by line */
    const char *corpus = test_shared("data/sales_textbook.txt");
    if (!corpus)
        printf("seed corpus comparison skipped: ../shared/data/sales_textbook.txt is absent\n");
    char stress[4096];
    snprintf(stress, sizeof stress, "%s/tests/tokenizer/data/unicode_stress.txt", src);
    uint8_t *sd = NULL;
    size_t sn = 0;
    CHECK(tl_read_file(stress, 1 << 20, &sd, &sn, &err) == 0);
    for (int e = 0; e < NENC; e++) {
        const char *files[2] = {corpus, stress};
        for (int f = 0; f < 2; f++) {
            if (!files[f] || (f == 0 && e >= 2))
                continue;
            uint8_t *d = NULL;
            size_t n = 0;
            CHECK(tl_read_file(files[f], 1 << 24, &d, &n, &err) == 0);
            add_case(d, n, e, 0, 1, 0, f ? "stress text" : "seed corpus");
            tt_cmd_file(enc_names[e], files[f]);
            free(d);
        }
        for (size_t i = 0; sd && i < sn;) {
            const uint8_t *nl = memchr(sd + i, '\n', sn - i);
            size_t end = nl ? (size_t)(nl - sd) + 1 : sn;
            for (int trim = 0; trim < 2; trim++) {  /* each line with and without its newline */
                add_case(sd + i, end - i - (trim && nl), e, 0, 0, 0, "stress line");
                tt_cmd_encode(enc_names[e], 0, sd + i, end - i - (trim && nl));
            }
            i = end;
        }
    }
    free(sd);

    uint8_t *buf = malloc(1 << 16);
    for (long r = 0; r < nrand; r++) {
        uint32_t k = (uint32_t)(tt_rand() % 100);
        int kind = k < 85 ? 0 : k < 95 ? 1 : 2;
        size_t n = tt_random_text(buf, 1 << 16, kind);
        int allow = kind == 2 ? (tt_rand() % 4 != 0) : 0;
        for (int e = 0; e < (r < 1000 ? NENC : 2); e++) {
            add_case(buf, n, e, allow, 0, kind == 1 && e == 0, kind == 1 ? "random, invalid UTF-8" : "random");
            tt_cmd_encode(enc_names[e], allow, buf, n);
            if (kind == 1 && e == 0)
                tt_cmd_sanitize(buf, n);
        }
    }
    free(buf);

    double t0 = (double)clock();
    if (tt_run() != 0) {
        CHECK(!"reference run failed");
        return test_finish();
    }
    printf("reference: %zu commands in %.1f s of this process's CPU\n", tt_ncmds(), ((double)clock() - t0) / CLOCKS_PER_SEC);

    size_t ans = 0, equal = 0, compared = 0, roundtrips = 0, errors_both = 0;
    double enc_time = 0;
    for (size_t i = 0; i < ncases; i++) {
        tcase *c = &cases[i];
        const char *ref = tt_answer(ans++);
        uint32_t *want = NULL, *got = NULL;
        size_t ngot = 0;
        long nwant = tt_parse_ids(ref, &want);
        clock_t c0 = clock();
        int rc = tl_tokenizer_encode(encs[c->enc], (const char *)c->text, c->len, c->allow, &got, &ngot, &err);
        enc_time += (double)(clock() - c0) / CLOCKS_PER_SEC;
        compared++;
        if (nwant < 0 || rc != 0) {
            if (nwant < 0 && rc != 0)
                errors_both++, equal++;
            else
                show(c, rc ? "teelm failed" : "tiktoken failed", got, rc ? -1 : (long)ngot, rc ? err.msg : ref);
            CHECK((nwant < 0) == (rc != 0));
        } else {
            int same = (size_t)nwant == ngot && memcmp(want, got, ngot * sizeof *got) == 0;
            if (same)
                equal++;
            else
                show(c, "ids differ", got, (long)ngot, ref);
            CHECK(same);
            /* decode(encode(x)) is x for valid UTF-8, and the U+FFFD repair of x otherwise */
            char *dec = NULL;
            size_t dn = 0;
            uint8_t *fixed = NULL;
            size_t fn = 0;
            CHECK(tok_utf8_sanitize(c->text, c->len, &fixed, &fn) == 0);
            CHECK(tl_tokenizer_decode(encs[c->enc], got, ngot, &dec, &dn, &err) == 0);
            const uint8_t *expect = fixed ? fixed : c->text;
            int rt = dec && dn == fn && memcmp(dec, expect, dn) == 0;
            if (!rt)
                show(c, "round trip", got, (long)ngot, "(decode differs from the input)");
            CHECK(rt);
            roundtrips += rt;
            free(dec);
            free(fixed);
        }
        if (c->sanitize) {
            const char *sref = tt_answer(ans++);
            uint8_t *fixed = NULL, *nodefix = malloc(strlen(sref) + 4);
            size_t fn = 0;
            CHECK(tok_utf8_sanitize(c->text, c->len, &fixed, &fn) == 0);
            long nn = tt_unb64(sref, nodefix);
            const uint8_t *mine = fixed ? fixed : c->text;
            int same = nn == (long)fn && memcmp(nodefix, mine, fn) == 0;
            if (!same)
                show(c, "U+FFFD repair differs from node", NULL, 0, sref);
            CHECK(same);
            free(fixed);
            free(nodefix);
        }
        free(want);
        free(got);
        free(c->text);
    }
    printf("%zu/%zu encodings equal to tiktoken (%zu rejected by both), %zu round trips; teelm encode CPU %.2f s\n",
           equal, compared, errors_both, roundtrips, enc_time);
    free(cases);
    tt_reset();
    for (int e = 0; e < NENC; e++)
        tl_tokenizer_free(encs[e]);
    return test_finish();
}
