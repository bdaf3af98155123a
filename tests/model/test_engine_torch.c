/* The engine against an independent PyTorch implementation (tests/reference/engine_ref.py) with
 * identical weights and inputs: logits, loss, every parameter gradient, the losses and final
 * weights of 10 AdamW steps, and greedy generation past the context window.
 *
 * Configurations: the seed model (small vocabulary so the test is fast), the pre-norm variant, and
 * a variant with every other switch (GELU, learned positions, tied embeddings, 1/sqrt(head) scale)
 * on shapes that are not multiples of the SIMD width (exercising every kernel's tail path).
 *
 * Tolerances (float32 on both sides; the two differ only in summation order and exp/erf
 * implementations, whose errors are ~1e-7 relative per operation):
 *  - logits: 1e-4 absolute for the seed config (as the issue requires; logits here are O(1),
 *    observed differences are ~1e-6), 2e-4 for the variants (larger activations through GELU,
 *    tied N(0,1) output weights make logits O(10)).
 *  - loss: 1e-5 absolute (a mean over all positions: errors average out).
 *  - gradients: per tensor, max |diff| <= 1e-4 * max |torch grad| + 1e-7. Back-propagation through
 *    8 layers with LayerNorm amplifies rounding; a wrong formula (a missing term, a transposed
 *    product, a wrong scale) gives errors of order 1e-1 relative or more, far above this bound.
 *  - AdamW: teelm's defaults are checked to be PyTorch's, then the steps run with eps 1e-5 on both
 *    sides instead of the default 1e-8. Adam moves each weight by ~lr*g/(|g|+eps): with eps 1e-8
 *    every weight whose gradient is below the rounding noise of its own gradient (~1e-7 here)
 *    moves by up to lr in a direction rounding decides, so two float32 implementations (or
 *    PyTorch with two BLAS libraries) part ways after a few steps; the slope lr/eps = 100 at
 *    eps 1e-5 keeps that noise at ~1e-5. The formulas are the same at every eps.
 *  - AdamW, first step: no weight differs by more than 3e-5 (observed <= 4e-6), at most 0.1% by
 *    more than 1e-6. A wrong rule changes most weights: without weight decay every N(0,1)
 *    embedding weight moves by ~1e-5, without bias correction every update is 3x off.
 *  - AdamW, 10 steps: each loss within 1e-5 relative of PyTorch's (observed <= 6e-7); after them
 *    at most 0.1% of the weights differ by more than 1e-4 (observed 38 of 527k) and none by more
 *    than lr (observed <= 3.3e-4). A wrong step count or moment update moves most weights by a
 *    fraction of lr.
 *  - greedy tokens: equal. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/generate.h"
#include "model/model.h"
#include "model/params.h"
#include "test.h"
#include "train/adamw.h"

static float *arena_alloc(const tl_config *c)
{
    size_t n = tl_params_arena_floats(c);
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    memset(p, 0, n * sizeof(float));
    return p;
}

static int write_bin(const char *dir, const char *name, const void *data, size_t bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, bytes, f);
    fclose(f);
    return w == bytes ? 0 : -1;
}

static void *read_bin(const char *dir, const char *name, size_t bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    void *p = malloc(bytes);
    size_t r = fread(p, 1, bytes, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (r != bytes || extra) {
        free(p);
        return NULL;
    }
    return p;
}

static double max_abs_diff(const float *a, const float *b, size_t n, double *maxref)
{
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= d))
            d = e; /* NaN propagates as a failure */
        if (fabs(b[i]) > m)
            m = fabs(b[i]);
    }
    if (maxref)
        *maxref = m;
    return d;
}

/* The dropout masks tl_model_forward draws from rng (model.c: per layer, after the attention
 * projection then after the MLP, N*D draws each, dropped when u < p, kept ones scaled 1/(1-p)). */
static float *expected_masks(const tl_config *c, int N, tl_rng rng)
{
    size_t nd = (size_t)N * c->d_model, n = 2 * (size_t)c->n_layer * nd;
    float *m = malloc(n * sizeof *m);
    for (size_t i = 0; i < n; i++)
        m[i] = tl_rng_float(&rng) < c->dropout ? 0.0f : 1.0f / (1.0f - c->dropout);
    return m;
}

static void run_case(const char *label, tl_config cfg, int B, int T, double tol_logits)
{
    tl_err err = {0};
    const char *dir = test_tmpdir();
    const int V = cfg.vocab_size, N = B * T, ctx = cfg.context_length;
    const size_t A = tl_params_arena_floats(&cfg);
    float *params = arena_alloc(&cfg);
    tl_model_init(&cfg, params, 4242);
    uint32_t *tok = malloc(N * sizeof *tok), *tgt = malloc(N * sizeof *tgt);
    tl_rng r = tl_rng_seed(99);
    for (int i = 0; i < N; i++) {
        tok[i] = (uint32_t)tl_rng_below(&r, (uint64_t)V);
        tgt[i] = (uint32_t)tl_rng_below(&r, (uint64_t)V);
    }
    const int greedy_new = 2 * ctx + 5;
    const uint32_t prompt[3] = {tok[0], tok[1], tok[2]};
    const int adam_steps = 10;

    /* manifest for the reference */
    int np = tl_params_count(&cfg);
    tl_param *list = calloc((size_t)np, sizeof *list);
    tl_params_list(&cfg, list);
    char *cj = tl_config_to_json(&cfg);
    json_t *man = json_object();
    json_object_set_new(man, "config", json_loads(cj, 0, NULL));
    free(cj);
    json_object_set_new(man, "B", json_integer(B));
    json_object_set_new(man, "T", json_integer(T));
    json_object_set_new(man, "arena_floats", json_integer((json_int_t)A));
    json_t *pl = json_array();
    for (int i = 0; i < np; i++) {
        json_t *shape = json_array();
        for (int d = 0; d < list[i].ndim; d++)
            json_array_append_new(shape, json_integer(list[i].shape[d]));
        json_array_append_new(pl, json_pack("{s:s,s:I,s:o}", "name", list[i].name, "offset",
                                            (json_int_t)list[i].offset, "shape", shape));
    }
    json_object_set_new(man, "params", pl);
    /* a training-mode pass with dropout 0.1, masks shared with the reference */
    tl_config dcfg = cfg;
    dcfg.dropout = 0.1f;
    const tl_rng drop_rng = tl_rng_seed(2024);
    float *masks = expected_masks(&dcfg, N, drop_rng);
    CHECK(write_bin(dir, "masks.bin", masks, 2 * (size_t)cfg.n_layer * N * cfg.d_model * sizeof(float)) == 0);
    free(masks);
    json_object_set_new(man, "dropout_masks", json_true());
    /* teelm's AdamW defaults are PyTorch's; the steps compared below use a larger eps (see the top). */
    tl_adamw opt = tl_adamw_defaults(1e-3);
    CHECK(opt.beta1 == 0.9 && opt.beta2 == 0.999 && opt.eps == 1e-8 && opt.weight_decay == 0.01);
    opt.eps = 1e-5;
    json_object_set_new(man, "adam", json_pack("{s:i,s:f,s:f,s:f}", "steps", adam_steps, "lr", opt.lr, "eps", opt.eps,
                                               "weight_decay", opt.weight_decay));
    json_object_set_new(man, "greedy", json_pack("{s:[i,i,i],s:i}", "prompt", (int)prompt[0], (int)prompt[1],
                                                 (int)prompt[2], "new", greedy_new));
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    CHECK(json_dump_file(man, path, 0) == 0);
    json_decref(man);
    CHECK(write_bin(dir, "params.bin", params, A * sizeof(float)) == 0);
    CHECK(write_bin(dir, "tokens.bin", tok, N * sizeof *tok) == 0);
    CHECK(write_bin(dir, "targets.bin", tgt, N * sizeof *tgt) == 0);

    int rc = test_sh("'%s' '%s/tests/reference/engine_ref.py' '%s'", getenv("TEELM_PYTHON"),
                     getenv("TEELM_SRC"), dir);
    CHECKF(rc == 0, "%s: reference failed (exit %d)", label, rc);
    float *ref_logits = read_bin(dir, "logits.bin", (size_t)N * V * sizeof(float));
    float *ref_grads = read_bin(dir, "grads.bin", A * sizeof(float));
    float *ref_after = read_bin(dir, "params_after.bin", A * sizeof(float));
    snprintf(path, sizeof path, "%s/out.json", dir);
    json_t *out = json_load_file(path, 0, NULL);
    CHECK(ref_logits && ref_grads && ref_after && out);
    if (!ref_logits || !ref_grads || !ref_after || !out)
        goto done;

    /* logits */
    float *logits = malloc((size_t)N * V * sizeof(float));
    CHECK(tl_model_logits(&cfg, params, tok, B, T, logits, &err) == 0);
    double d = max_abs_diff(logits, ref_logits, (size_t)N * V, NULL);
    printf("%s: logits max |diff| %.3g (tolerance %.0e)\n", label, d, tol_logits);
    CHECKF(d <= tol_logits, "%s: logits differ by %g", label, d);
    free(logits);

    /* loss and gradients */
    tl_model *m = tl_model_new(&cfg, B, T, &err);
    CHECK(m != NULL);
    double loss = 0, ref_loss = json_real_value(json_object_get(out, "loss"));
    CHECK(tl_model_forward(m, params, tok, tgt, 0, NULL, &loss, &err) == 0);
    printf("%s: loss %.7f, torch %.7f\n", label, loss, ref_loss);
    CHECKF(fabs(loss - ref_loss) <= 1e-5, "%s: loss %g vs %g", label, loss, ref_loss);
    float *grads = arena_alloc(&cfg);
    tl_model_backward(m, params, grads);
    double worst = 0;
    for (int i = 0; i < np; i++) {
        double mref, gd = max_abs_diff(grads + list[i].offset, ref_grads + list[i].offset, list[i].numel, &mref);
        double rel = gd / (mref + 1e-30);
        if (rel > worst)
            worst = rel;
        CHECKF(gd <= 1e-4 * mref + 1e-7, "%s: gradient of %s differs by %g (max |g| %g)", label, list[i].name, gd, mref);
    }
    printf("%s: gradients: worst max|diff|/max|g| over %d tensors %.3g\n", label, np, worst);

    /* training mode with dropout: same masks, same loss and gradients */
    {
        tl_model *md = tl_model_new(&dcfg, B, T, &err);
        tl_rng dr = drop_rng;
        double ld = 0, ref_ld = json_real_value(json_object_get(out, "loss_dropout"));
        float *ref_gd = read_bin(dir, "grads_dropout.bin", A * sizeof(float));
        CHECK(md && ref_gd && tl_model_forward(md, params, tok, tgt, 1, &dr, &ld, &err) == 0);
        CHECKF(fabs(ld - ref_ld) <= 1e-5, "%s: dropout loss %g vs %g", label, ld, ref_ld);
        double worst_d = 0;
        if (md && ref_gd) {
            tl_model_backward(md, params, grads);
            for (int i = 0; i < np; i++) {
                double mref, gd = max_abs_diff(grads + list[i].offset, ref_gd + list[i].offset, list[i].numel, &mref);
                if (gd / (mref + 1e-30) > worst_d)
                    worst_d = gd / (mref + 1e-30);
                CHECKF(gd <= 1e-4 * mref + 1e-7, "%s: dropout gradient of %s differs by %g (max |g| %g)", label,
                       list[i].name, gd, mref);
            }
        }
        printf("%s: dropout 0.1 (shared masks): loss %.7f vs %.7f, gradients worst %.3g\n", label, ld, ref_ld, worst_d);
        tl_model_free(md);
        free(ref_gd);
    }

    /* AdamW */
    float *mom = arena_alloc(&cfg), *vel = arena_alloc(&cfg);
    json_t *ls = json_object_get(out, "adam_losses");
    CHECK(json_array_size(ls) == (size_t)adam_steps);
    double worst_l = 0;
    for (int s = 0; s < adam_steps; s++) {
        CHECK(tl_model_forward(m, params, tok, tgt, 1, &r, &loss, &err) == 0);
        tl_model_backward(m, params, grads);
        tl_adamw_step(&opt, params, grads, mom, vel, A, s + 1);
        if (s == 0) {
            float *ref1 = read_bin(dir, "params_step1.bin", A * sizeof(float));
            CHECK(ref1 != NULL);
            double d1 = ref1 ? max_abs_diff(params, ref1, A, NULL) : 1;
            size_t off = 0;
            for (size_t e = 0; e < A && ref1; e++)
                off += fabs((double)params[e] - (double)ref1[e]) > 1e-6;
            printf("%s: AdamW step 1: %zu of %zu weights differ by more than 1e-6, max |diff| %.3g\n", label, off, A, d1);
            CHECKF(off <= A / 1000, "%s: %zu weights differ after one AdamW step", label, off);
            CHECKF(d1 <= 3e-5, "%s: a weight moved by %g more than PyTorch's in one AdamW step", label, d1);
            free(ref1);
        }
        double rl = json_real_value(json_array_get(ls, (size_t)s));
        if (fabs(loss - rl) > worst_l)
            worst_l = fabs(loss - rl);
        CHECKF(fabs(loss - rl) <= 1e-5 * fabs(rl), "%s: AdamW step %d loss %.8g vs %.8g", label, s, loss, rl);
    }
    double dw = max_abs_diff(params, ref_after, A, NULL);
    size_t off10 = 0;
    for (size_t e = 0; e < A; e++)
        off10 += fabs((double)params[e] - (double)ref_after[e]) > 1e-4;
    printf("%s: AdamW: %d losses max |diff| %.3g; after them %zu weights differ by more than 1e-4, max |diff| %.3g\n",
           label, adam_steps, worst_l, off10, dw);
    CHECKF(off10 <= A / 1000, "%s: %zu weights differ by more than 1e-4 after %d AdamW steps", label, off10, adam_steps);
    CHECKF(dw <= opt.lr, "%s: a weight differs by %g after %d AdamW steps", label, dw, adam_steps);
    tl_model_free(m);
    free(grads);
    free(mom);
    free(vel);

    /* greedy generation past the context window, from the original weights */
    {
        float *orig = read_bin(dir, "params.bin", A * sizeof(float));
        CHECK(orig != NULL);
        json_t *gr = json_object_get(out, "greedy");
        CHECK(json_array_size(gr) == (size_t)greedy_new);
        uint32_t *gen = malloc((size_t)greedy_new * sizeof *gen);
        tl_sample_params sp = {.temperature = 0, .top_k = 0, .top_p = 1};
        int n = 0;
        CHECK(orig && tl_generate(&cfg, orig, prompt, 3, greedy_new, &sp, 1, NULL, NULL, gen, &n, &err) == 0);
        CHECK(n == greedy_new);
        int same = 1;
        for (int i = 0; i < n && i < (int)json_array_size(gr); i++)
            if (gen[i] != (uint32_t)json_integer_value(json_array_get(gr, (size_t)i)))
                same = 0;
        CHECKF(same, "%s: greedy continuation differs from PyTorch's argmax", label);
        printf("%s: greedy %d tokens (context %d) %s\n", label, n, ctx, same ? "equal" : "DIFFER");
        free(gen);
        free(orig);
    }
done:
    json_decref(out);
    free(ref_logits);
    free(ref_grads);
    free(ref_after);
    free(list);
    free(params);
    free(tok);
    free(tgt);
    test_sh("rm -rf '%s'", dir);
}

int main(void)
{
    test_python("torch");

    tl_config seed = tl_config_seed(1000);
    seed.dropout = 0;
    run_case("seed", seed, 4, 16, 1e-4);

    tl_config pre = seed;
    pre.prenorm = 1;
    run_case("pre-norm", pre, 4, 16, 2e-4);

    tl_config odd = tl_config_seed(777);
    odd.dropout = 0;
    odd.d_model = 40;
    odd.n_head = 2;
    odd.d_ff = 72;
    odd.n_layer = 3;
    odd.context_length = 12;
    odd.gelu = 1;
    odd.learned_pos = 1;
    odd.tie_embeddings = 1;
    odd.attn_inv_sqrt = 1;
    run_case("variants", odd, 3, 11, 2e-4);
    return test_finish();
}
