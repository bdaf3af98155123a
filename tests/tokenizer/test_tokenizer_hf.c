/* tokenizer.json against npm @huggingface/tokenizers 0.2.0 (tests/reference/hf_tokenizer.js): the
 * GPT-2, Llama 3, Qwen2, SmolLM2, Llama 2 and Mistral layouts (tests/reference/make_hf_tokenizers.py)
 * on the seed text (whole and by line), the Unicode stress text by line, and deterministic random
 * boundary-heavy strings (seed fixed; TEELM_SEED=N changes it, TEELM_TOKENIZER_RANDOM=N runs more; 1,500, or
 * 300 in the sanitizer build):
 * ids identical in the three modes (added tokens recognized; with the post-processor; special tokens as
 * plain text), and decode(ids) identical to the reference's decode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tok_testutil.h"
#include "util/io.h"
#include "test.h"

/* CPU seconds of this process (which) or of its finished children */
static double cpu(int who)
{
    struct rusage u;
    getrusage(who, &u);
    return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

static const char *names[] = {"gpt2", "llama3", "qwen2", "smollm", "llama2", "mistral"};

typedef struct {
    uint8_t *p;
    size_t n;
} text;

static void add_lines(text **v, size_t *n, const uint8_t *d, size_t len)
{
    const uint8_t *p = d, *e = d + len;
    while (p < e) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(e - p));
        size_t l = nl ? (size_t)(nl - p) + 1 : (size_t)(e - p);
        *v = realloc(*v, (*n + 1) * sizeof **v);
        (*v)[*n].p = malloc(l + 1);
        memcpy((*v)[*n].p, p, l);
        (*v)[(*n)++].n = l;
        p += l;
    }
}

int main(void)
{
    tt_require_node();
    const char *src = getenv("TEELM_SRC") ? getenv("TEELM_SRC") : ".";
    uint64_t seed = getenv("TEELM_SEED") ? strtoull(getenv("TEELM_SEED"), NULL, 10) : 20261203;
    /* the sanitizer build runs the fixed corpora whole and a fifth of the random strings */
    const char *san = getenv("TEELM_SANITIZE");
    long nrand = getenv("TEELM_TOKENIZER_RANDOM") ? atol(getenv("TEELM_TOKENIZER_RANDOM"))
                 : san && strcmp(san, "1") == 0 ? 300 : 1500;
    printf("seed=%llu, %ld random strings per tokenizer\n", (unsigned long long)seed, nrand);
    const char *seedtext = test_shared("data/sales_textbook.txt");
    char dir[] = "/tmp/teelm_hftok_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK(test_sh("cd %s && /usr/bin/python3 tests/reference/make_hf_tokenizers.py %s %s 12000 >/dev/null", src, dir,
                  seedtext ? seedtext : "tests/tokenizer/data/unicode_stress.txt") == 0);
    /* the corpus: seed text whole and by line, stress text by line, random strings */
    text *v = NULL;
    size_t nv = 0;
    uint8_t *d;
    size_t dl;
    char path[4096];
    tl_err err = {0};
    if (seedtext && tl_read_file(seedtext, 64u << 20, &d, &dl, &err) == 0) {
        v = realloc(v, (nv + 1) * sizeof *v);
        v[nv].p = d;
        v[nv++].n = dl;
        add_lines(&v, &nv, d, dl > 200000 ? 200000 : dl);
    }
    snprintf(path, sizeof path, "%s/tests/tokenizer/data/unicode_stress.txt", src);
    CHECK(tl_read_file(path, 64u << 20, &d, &dl, &err) == 0);
    add_lines(&v, &nv, d, dl);
    free(d);
    static const char *extra[] = {"<|im_start|>user\nhi<|im_end|>", "<s> x</s>", " <|endoftext|> ", "<tool_call>{}</tool_call>",
                                  "<|begin_of_text|><|eot_id|>", "<0x41> ▁▁ ▁a", "12345678901234567890", "   \t\n\r\n  ",
                                  "e\xcc\x81 \xc3\xa9 \xef\xac\x81", "\xed\xa0\x80\xff\xfe\xc0\xaf", "don't I'LL 'ſ"};
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) {
        v = realloc(v, (nv + 1) * sizeof *v);
        v[nv].n = strlen(extra[i]);
        v[nv++].p = (uint8_t *)strdup(extra[i]);
    }
    tt_seed(seed);
    for (long i = 0; i < nrand; i++) {
        uint8_t buf[512];
        size_t l = tt_random_text(buf, sizeof buf, 3);
        v = realloc(v, (nv + 1) * sizeof *v);
        v[nv].p = malloc(l + 1);
        memcpy(v[nv].p, buf, l);
        v[nv++].n = l;
    }
    static const char modes[] = "nap";
    for (size_t t = 0; t < sizeof names / sizeof *names; t++) {
        snprintf(path, sizeof path, "%s/%s/tokenizer.json", dir, names[t]);
        tl_tokenizer *tk = tl_tokenizer_load(path, NULL, &err);
        CHECKF(tk != NULL, "%s: %s", names[t], err.msg);
        if (!tk)
            continue;
        char cmdf[4200], ansf[4200];
        snprintf(cmdf, sizeof cmdf, "%s/%s.cmd", dir, names[t]);
        snprintf(ansf, sizeof ansf, "%s/%s.ans", dir, names[t]);
        FILE *f = fopen(cmdf, "w");
        double c0 = cpu(RUSAGE_SELF);
        uint32_t **mine = calloc(nv * 3, sizeof *mine);
        size_t *mn = calloc(nv * 3, sizeof *mn);
        for (size_t i = 0; i < nv; i++) {
            char *b = tt_b64(v[i].p, v[i].n);
            for (int m = 0; m < 3; m++) {
                fprintf(f, "E %c %s\n", modes[m], b);
                unsigned fl = m == 1 ? TL_TOK_ADD_SPECIAL : m == 2 ? TL_TOK_PLAIN : 0;
                CHECK(tl_tokenizer_encode_ex(tk, (const char *)v[i].p, v[i].n, fl, &mine[i * 3 + m], &mn[i * 3 + m], &err) == 0);
            }
            free(b);
            fprintf(f, "D ");
            for (size_t k = 0; k < mn[i * 3]; k++)
                fprintf(f, "%s%u", k ? "," : "", mine[i * 3][k]);
            fprintf(f, "\n");
        }
        fclose(f);
        double c1 = cpu(RUSAGE_SELF), r0 = cpu(RUSAGE_CHILDREN);
        CHECK(test_sh("node %s/tests/reference/hf_tokenizer.js %s/%s/tokenizer.json %s/%s/tokenizer_config.json < %s > %s",
                      src, dir, names[t], dir, names[t], cmdf, ansf) == 0);
        FILE *a = fopen(ansf, "r");
        CHECK(a != NULL);
        char *line = NULL;
        size_t cap = 0;
        long bad = 0, good = 0;
        for (size_t i = 0; a && i < nv; i++) {
            for (int m = 0; m < 4; m++) {
                ssize_t r = getline(&line, &cap, a);
                CHECK(r >= 0);
                if (r < 0)
                    break;
                line[strcspn(line, "\n")] = 0;
                int ok;
                if (m < 3) {
                    uint32_t *ref = NULL;
                    long rn = tt_parse_ids(line, &ref);
                    ok = rn == (long)mn[i * 3 + m] && (rn == 0 || memcmp(ref, mine[i * 3 + m], (size_t)rn * 4) == 0);
                    free(ref);
                } else {
                    char *out = NULL;
                    size_t ol = 0;
                    int dr = tl_tokenizer_decode(tk, mine[i * 3], mn[i * 3], &out, &ol, &err);
                    uint8_t *ref = malloc(strlen(line) + 4);
                    long rl = tt_unb64(line, ref);
                    ok = dr == 0 && rl == (long)ol && memcmp(ref, out, ol) == 0;
                    free(ref);
                    free(out);
                }
                test_checks++;
                if (!ok) {
                    test_failures++;
                    if (bad++ < 5) {
                        char *b = tt_b64(v[i].p, v[i].n < 300 ? v[i].n : 300);
                        fprintf(stderr, "%s: string %zu mode %c differs: text(b64)=%s\n  ref: %.300s\n", names[t], i,
                                m < 3 ? modes[m] : 'd', b, line);
                        free(b);
                    }
                } else {
                    good++;
                }
            }
        }
        printf("%s: %ld of %ld comparisons identical (%zu strings x 3 modes + decode); CPU seconds: teelm %.2f "
               "(encode and write), reference %.2f\n", names[t], good, good + bad, nv, c1 - c0, cpu(RUSAGE_CHILDREN) - r0);
        free(line);
        if (a)
            fclose(a);
        for (size_t i = 0; i < nv * 3; i++)
            free(mine[i]);
        free(mine), free(mn);
        tl_tokenizer_free(tk);
    }
    for (size_t i = 0; i < nv; i++)
        free(v[i].p);
    free(v);
    test_sh("rm -rf %s", dir);
    return test_finish();
}
