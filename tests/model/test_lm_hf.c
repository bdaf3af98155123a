/* The Hugging Face engine (model/lm.h) against the independent PyTorch reference
 * (tests/reference/hf_models.py) on random-weight directories from make_hf_model.py, over the
 * matrix of tests/reference/teelm_hf_check.sh plus odd widths (SIMD tails):
 *  - logits at every position of a 130-token prompt (two chunks of rows) within 1e-4 of the
 *    reference, max|a-b|/max|b| per position, checked here and by `hf_models.py compare`;
 *  - 64 greedy tokens from tl_lm_generate identical to `hf_models.py generate` (EOS honoured);
 *  - bit-for-bit: a sequence's logits alone == batched with others == with its cached prefix
 *    reused == after a cache that diverges part-way == decoded one token at a time with the cache
 *    == on one thread, and only the rows past the reusable prefix are computed. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lm_testload.h"
#include "model/lm.h"
#include "test.h"
#include "util/pool.h"

static const struct {
    const char *name, *args;
} matrix[] = {
    {"llama-mha-tied-oddvocab", "--family llama --d 64 --heads 4 --kv-heads 4 --vocab 1001"},
    {"llama-gqa2-untied", "--family llama --d 96 --heads 6 --kv-heads 3 --vocab 777 --untied --layers 3"},
    {"llama-gqa4-headdim", "--family llama --d 80 --heads 8 --kv-heads 2 --head-dim 16 --vocab 613"},
    {"llama-llama3-rope", "--family llama --d 64 --heads 4 --kv-heads 1 --vocab 509 --rope-scaling llama3:8,1,4,64 --rope-theta 500000"},
    {"llama-linear-rope-bias", "--family llama --d 64 --heads 4 --kv-heads 2 --vocab 333 --rope-scaling linear:4 --attention-bias"},
    {"llama-bf16-sharded", "--family llama --d 64 --heads 4 --kv-heads 2 --vocab 1000 --dtype BF16 --shards 3"},
    {"llama-f16", "--family llama --d 64 --heads 4 --kv-heads 2 --vocab 257 --dtype F16"},
    {"llama-odd-widths", "--family llama --d 72 --heads 4 --kv-heads 2 --ff 100 --vocab 131 --untied"},
    {"mistral-untied", "--family mistral --d 64 --heads 8 --kv-heads 2 --vocab 1003 --untied"},
    {"qwen2-tied", "--family qwen2 --d 64 --heads 4 --kv-heads 2 --vocab 1001"},
    {"qwen2-untied-bf16-sharded", "--family qwen2 --d 96 --heads 6 --kv-heads 2 --vocab 791 --untied --dtype BF16 --shards 2"},
    {"gpt2-bare", "--family gpt2 --d 64 --heads 4 --vocab 1001 --ctx 128"},
    {"gpt2-prefix-buffers-f16", "--family gpt2 --d 96 --heads 3 --vocab 503 --ctx 128 --gpt2-prefix --gpt2-buffers --dtype F16"},
    {"gpt2-odd-widths-bf16", "--family gpt2 --d 72 --heads 4 --ff 200 --vocab 259 --ctx 128 --dtype BF16"},
    {"gpt2-untied-prefix", "--family gpt2 --d 64 --heads 4 --vocab 301 --ctx 128 --untied --gpt2-prefix"},
};
static const uint32_t gen_prompt[] = {3, 17, 5, 96, 42, 7, 11, 64};
#define NGEN 64

static const char *py, *src;

static float *read_floats(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    float *x = malloc(n * sizeof *x);
    if (!f || !x || fread(x, sizeof *x, n, f) != n) {
        if (f)
            fclose(f);
        free(x);
        return NULL;
    }
    char extra;
    int more = fread(&extra, 1, 1, f) == 1;
    fclose(f);
    if (more) {
        free(x);
        return NULL;
    }
    return x;
}

static int write_floats(const char *path, const float *x, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(x, sizeof *x, n, f) == n;
    if (f)
        ok &= fclose(f) == 0;
    return ok ? 0 : -1;
}

static int step1(tl_lm *m, const uint32_t *t, int len, int slot, float *logits, float *all)
{
    tl_err err = {0};
    int rc = tl_lm_step(m, &t, &len, &slot, 1, logits, all, &err);
    if (rc)
        fprintf(stderr, "tl_lm_step: %s\n", err.msg);
    return rc;
}

static void one_model(const char *name, const char *args, int seed)
{
    char dir[512], ids[4096];
    snprintf(dir, sizeof dir, "%s/%s", test_tmpdir(), name);
    CHECKF(test_sh("'%s' '%s/tests/reference/make_hf_model.py' '%s' %s --seed %d >/dev/null", py, src, dir, args,
                   seed) == 0, "%s: make_hf_model", name);
    lm_test_model tm;
    if (lm_test_load(dir, 0, &tm) != 0) {
        CHECKF(0, "%s: load", name);
        return;
    }
    const tl_config *c = &tm.cfg;
    const int V = c->vocab_size, T = c->context_length > 130 ? 130 : c->context_length - 8;
    uint32_t *a = malloc((size_t)T * sizeof *a);
    int o = 0;
    for (int i = 0; i < T; i++) {
        a[i] = (uint32_t)((i * 7919 + 13 + seed) % V);
        o += snprintf(ids + o, sizeof ids - (size_t)o, "%s%u", i ? "," : "", a[i]);
    }
    char ref[600], gen[600], mine[600];
    snprintf(ref, sizeof ref, "%s/ref", dir);
    snprintf(gen, sizeof gen, "%s/gen.json", dir);
    snprintf(mine, sizeof mine, "%s/teelm.bin", dir);
    CHECKF(test_sh("'%s' '%s/tests/reference/hf_models.py' logits '%s' --ids %s --out '%s'", py, src, dir, ids, ref) == 0,
           "%s: reference logits", name);
    CHECKF(test_sh("'%s' '%s/tests/reference/hf_models.py' generate '%s' --ids 3,17,5,96,42,7,11,64 --new %d --out '%s' >/dev/null",
                   py, src, dir, NGEN, gen) == 0, "%s: reference generate", name);

    tl_err err = {0};
    tl_lm *m = tl_lm_new(c, tm.w, 4, &err);
    CHECKF(m != NULL, "%s: tl_lm_new: %s", name, err.msg);
    float *all = malloc((size_t)T * V * sizeof *all), *la = malloc((size_t)V * sizeof *la);
    float *lb = malloc(4 * (size_t)V * sizeof *lb);
    char refbin[620];
    snprintf(refbin, sizeof refbin, "%s.bin", ref);
    float *want = read_floats(refbin, (size_t)T * V);
    CHECKF(want != NULL, "%s: %s holds %d x %d floats", name, refbin, T, V);
    if (!m || !want)
        goto out;

    /* 1. every position against the reference */
    CHECK(step1(m, a, T, 0, la, all) == 0 && tl_lm_rows(m) == T);
    double worst = 0;
    int worst_pos = -1;
    for (int t = 0; t < T; t++) {
        double md = 0, mb = 0;
        for (int v = 0; v < V; v++) {
            const double b = want[(size_t)t * V + v], d = fabs(all[(size_t)t * V + v] - b);
            md = d > md ? d : md;
            mb = fabs(b) > mb ? fabs(b) : mb;
        }
        if (md / mb > worst) {
            worst = md / mb;
            worst_pos = t;
        }
    }
    CHECKF(worst <= 1e-4, "%s: logits differ from the reference by %.3g (relative) at position %d", name, worst, worst_pos);
    CHECKF(memcmp(all + (size_t)(T - 1) * V, la, (size_t)V * sizeof *la) == 0, "%s: all_logits' last row != logits", name);
    CHECK(write_floats(mine, all, (size_t)T * V) == 0);
    CHECKF(test_sh("'%s' '%s/tests/reference/hf_models.py' compare '%s.json' '%s' >/dev/null", py, src, ref, mine) == 0,
           "%s: hf_models.py compare", name);
    printf("%-28s max rel diff %.2e over %d positions\n", name, worst, T);

    /* 2. bit-for-bit under batching, caching, divergence, one-token decoding, one thread */
    const int nb_len = T / 2 + 3, nc_len = 7;
    uint32_t *b = malloc((size_t)nb_len * sizeof *b), cc[7];
    for (int i = 0; i < nb_len; i++)
        b[i] = (uint32_t)((i * 31 + 2) % V);
    for (int i = 0; i < nc_len; i++)
        cc[i] = (uint32_t)((i * 101 + 9) % V);
    for (int s = 0; s < 4; s++)
        tl_lm_forget(m, s);
    {
        const uint32_t *tk[3] = {b, a, cc};
        int lens[3] = {nb_len, T, nc_len}, slots[3] = {0, 2, 3};
        CHECK(tl_lm_step(m, tk, lens, slots, 3, lb, NULL, &err) == 0);
        CHECKF(memcmp(lb + V, la, (size_t)V * sizeof *la) == 0, "%s: batched logits differ from alone", name);
        CHECK(tl_lm_rows(m) == nb_len + T + nc_len);
    }
    tl_lm_forget(m, 1);
    CHECK(step1(m, a, T / 3, 1, lb, NULL) == 0 && step1(m, a, T, 1, lb, NULL) == 0);
    CHECKF(tl_lm_rows(m) == T - T / 3, "%s: %d rows computed after a cached prefix of %d", name, tl_lm_rows(m), T / 3);
    CHECKF(memcmp(lb, la, (size_t)V * sizeof *la) == 0, "%s: logits with a reused cache differ", name);
    /* diverging: slot 1 holds a; a' differs at position T-10 */
    uint32_t *a2 = malloc((size_t)T * sizeof *a2);
    memcpy(a2, a, (size_t)T * sizeof *a2);
    a2[T - 10] = (a2[T - 10] + 1) % (uint32_t)V;
    CHECK(step1(m, a2, T, 1, lb, NULL) == 0 && tl_lm_rows(m) == 10);
    tl_lm_forget(m, 0);
    CHECK(step1(m, a2, T, 0, lb + V, NULL) == 0 && tl_lm_rows(m) == T);
    CHECKF(memcmp(lb, lb + V, (size_t)V * sizeof *lb) == 0, "%s: logits after a diverging cache differ", name);
    tl_lm_forget(m, 2);
    int ones = 1;
    for (int k = 1; k <= T; k++) {
        CHECK(step1(m, a, k, 2, lb, NULL) == 0);
        ones &= tl_lm_rows(m) == 1;
    }
    CHECK(ones);
    CHECKF(memcmp(lb, la, (size_t)V * sizeof *la) == 0, "%s: one-token decoding differs from the full pass", name);
    const int nt = tl_get_threads();
    tl_set_threads(1);
    tl_lm_forget(m, 2);
    CHECK(step1(m, a, T, 2, lb, NULL) == 0);
    tl_set_threads(nt);
    CHECKF(memcmp(lb, la, (size_t)V * sizeof *la) == 0, "%s: one thread differs from %d", name, nt);
    free(a2);
    free(b);

    /* 3. 64 greedy tokens */
    json_error_t je;
    json_t *g = json_load_file(gen, 0, &je);
    json_t *gt = json_object_get(g, "tokens");
    CHECKF(json_is_array(gt), "%s: %s", name, gen);
    uint32_t out[NGEN];
    int n_out = 0;
    tl_sample_params sp = {.temperature = 0, .top_k = 0, .top_p = 1};
    tl_lm_forget(m, 3);
    CHECK(tl_lm_generate(m, 3, gen_prompt, 8, NGEN, &sp, 1, NULL, NULL, out, &n_out, &err) == 0);
    int same = json_is_array(gt) && (int)json_array_size(gt) == n_out;
    for (int i = 0; same && i < n_out; i++)
        same = (uint32_t)json_integer_value(json_array_get(gt, (size_t)i)) == out[i];
    CHECKF(same, "%s: greedy tokens differ from the reference (%d vs %zu tokens)", name, n_out,
           json_is_array(gt) ? json_array_size(gt) : 0);
    printf("%-28s %d greedy tokens %s\n", name, n_out, same ? "identical" : "DIFFER");
    json_decref(g);
out:
    free(want);
    free(all);
    free(la);
    free(lb);
    free(a);
    tl_lm_free(m);
    lm_test_free(&tm);
}

int main(int argc, char **argv)
{
    py = test_python("torch, numpy");
    src = getenv("TEELM_SRC");
    for (size_t i = 0; i < sizeof matrix / sizeof matrix[0]; i++)
        if (argc < 2 || strstr(matrix[i].name, argv[1]))
            one_model(matrix[i].name, matrix[i].args, (int)i + 1);
    /* a request that would run past the context is refused */
    tl_err err = {0};
    lm_test_model tm;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ctx", test_tmpdir());
    CHECK(test_sh("'%s' '%s/tests/reference/make_hf_model.py' '%s' --family llama --d 32 --heads 4 --kv-heads 2 --vocab 97 "
                  "--ctx 64 >/dev/null", py, src, dir) == 0);
    if (lm_test_load(dir, 16, &tm) == 0) {
        tl_lm *m = tl_lm_new(&tm.cfg, tm.w, 1, &err);
        uint32_t p[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, out[8];
        tl_sample_params sp = {.temperature = 0, .top_k = 0, .top_p = 1};
        CHECK(m && tl_lm_generate(m, 0, p, 10, 7, &sp, 1, NULL, NULL, out, NULL, &err) != 0 && strstr(err.msg, "context"));
        int n = 0;
        CHECK(m && tl_lm_generate(m, 0, p, 10, 6, &sp, 1, NULL, NULL, out, &n, &err) == 0 && n >= 1);
        float lg[97];
        const uint32_t *tp = p;
        int len = 17, slot = 0;
        CHECK(m && tl_lm_step(m, &tp, &len, &slot, 1, lg, NULL, &err) != 0 && strstr(err.msg, "context"));
        /* hostile calls: ids outside the vocabulary, bad slots, a shared slot, all_logits with a batch */
        uint32_t bad[2] = {1, 97};
        const uint32_t *bp = bad, *two[2] = {p, p};
        int l2 = 2, lens2[2] = {3, 3}, s2[2] = {0, 0}, sl5 = 5;
        CHECK(m && tl_lm_step(m, &bp, &l2, &slot, 1, lg, NULL, &err) != 0 && strstr(err.msg, "vocabulary"));
        CHECK(m && tl_lm_step(m, &tp, &l2, &sl5, 1, lg, NULL, &err) != 0 && strstr(err.msg, "slot"));
        CHECK(m && tl_lm_step(m, two, lens2, s2, 2, lg, NULL, &err) != 0);
        l2 = 0;
        CHECK(m && tl_lm_step(m, &tp, &l2, &slot, 1, lg, NULL, &err) != 0);
        CHECK(tl_lm_new(&tm.cfg, tm.w, 0, &err) == NULL);
        /* the size estimate covers the caches it allocates */
        const size_t cache = (size_t)2 * tm.cfg.n_layer * 2 * tm.cfg.n_kv_head * tm.cfg.head_dim * tm.cfg.context_length * 4;
        CHECK(tl_lm_bytes(&tm.cfg, 2, 2) > cache && tl_lm_bytes(&tm.cfg, 2, 2) < 4 * cache + (4u << 20));
        tl_lm_free(m);
        lm_test_free(&tm);
    } else {
        CHECK(0);
    }
    return test_finish();
}
