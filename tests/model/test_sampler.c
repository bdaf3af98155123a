/* The sampler's distribution against exact probabilities computed here in double: temperature,
 * top-k, top-p, greedy; reproducibility for a seed. Frequencies over 200k draws must be within 5
 * standard deviations (sqrt(p(1-p)/n)) of the exact probability: a wrong temperature, a filter
 * that keeps the wrong set or an off-by-one in the cumulative walk moves some id by far more. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/sampler.h"
#include "test.h"

#define DRAWS 200000

static void check_dist(const char *what, const float *logits, int V, tl_sample_params sp, const double *want)
{
    double *count = calloc((size_t)V, sizeof *count);
    float *work = malloc((size_t)V * sizeof *work);
    uint32_t *idx = malloc((size_t)V * sizeof *idx);
    tl_rng rng = tl_rng_seed(11);
    for (int i = 0; i < DRAWS; i++) {
        memcpy(work, logits, (size_t)V * sizeof *work);
        uint32_t id = tl_sample(work, V, &sp, &rng, idx);
        CHECK(id < (uint32_t)V);
        if (id < (uint32_t)V)
            count[id]++;
    }
    double worst = 0;
    for (int v = 0; v < V; v++) {
        double f = count[v] / DRAWS, sd = sqrt(want[v] * (1 - want[v]) / DRAWS) + 1e-12;
        if (want[v] == 0)
            CHECKF(count[v] == 0, "%s: id %d (probability 0) drawn %g times", what, v, count[v]);
        else if (fabs(f - want[v]) / sd > worst)
            worst = fabs(f - want[v]) / sd;
    }
    printf("%s: worst deviation %.2f sd\n", what, worst);
    CHECKF(worst < 5, "%s: frequencies deviate by %.1f sd", what, worst);
    free(count);
    free(work);
    free(idx);
}

/* softmax(logits / t) restricted to `keep` (NULL = all) */
static void softmax(const float *l, int V, double t, const int *keep, double *p)
{
    double mx = -INFINITY, s = 0;
    for (int v = 0; v < V; v++)
        if ((!keep || keep[v]) && l[v] > mx)
            mx = l[v];
    for (int v = 0; v < V; v++) {
        p[v] = (!keep || keep[v]) ? exp((l[v] - mx) / t) : 0;
        s += p[v];
    }
    for (int v = 0; v < V; v++)
        p[v] /= s;
}

int main(void)
{
    const float l5[5] = {1.0f, 2.5f, 0.0f, 2.0f, -1.0f};
    double p[1000];
    tl_sample_params sp = tl_sample_defaults();
    softmax(l5, 5, 1.0, NULL, p);
    check_dist("temperature 1", l5, 5, sp, p);
    sp.temperature = 0.5f;
    softmax(l5, 5, 0.5, NULL, p);
    check_dist("temperature 0.5", l5, 5, sp, p);
    sp.temperature = 2.0f;
    softmax(l5, 5, 2.0, NULL, p);
    check_dist("temperature 2", l5, 5, sp, p);
    sp = tl_sample_defaults();
    sp.top_k = 2;
    int k2[5] = {0, 1, 0, 1, 0};
    softmax(l5, 5, 1.0, k2, p);
    check_dist("top-k 2", l5, 5, sp, p);
    /* probabilities at t=1: .09 .41 .03 .25 .01 (x1/sum); sorted .41 .25 .09 ...: top-p 0.6 needs
     * the two largest (0.66 >= 0.6), top-p 0.3 the largest alone */
    sp = tl_sample_defaults();
    sp.top_p = 0.6f;
    softmax(l5, 5, 1.0, k2, p);
    check_dist("top-p 0.6", l5, 5, sp, p);
    sp.top_p = 0.3f;
    int k1[5] = {0, 1, 0, 0, 0};
    softmax(l5, 5, 1.0, k1, p);
    check_dist("top-p 0.3", l5, 5, sp, p);

    /* a large vocabulary (exercises the vectorized passes and the blocked walk): a few spikes */
    static float big[1000];
    for (int v = 0; v < 1000; v++)
        big[v] = -3.0f + (float)(v % 7) * 0.1f;
    big[3] = 4.0f;
    big[517] = 4.5f;
    big[999] = 3.0f;
    sp = tl_sample_defaults();
    softmax(big, 1000, 1.0, NULL, p);
    check_dist("1000 ids", big, 1000, sp, p);

    /* greedy: the largest logit, lowest id on ties, no random number consumed */
    float g[4] = {1, 3, 3, 2};
    tl_sample_params gs = {.temperature = 0, .top_k = 0, .top_p = 1};
    tl_rng r = tl_rng_seed(5), r0 = r;
    CHECK(tl_sample(g, 4, &gs, &r, NULL) == 1);
    CHECK(r.s == r0.s);

    /* reproducible: the same seed gives the same sequence */
    uint32_t a[50], b[50];
    for (int pass = 0; pass < 2; pass++) {
        tl_rng rr = tl_rng_seed(1234);
        for (int i = 0; i < 50; i++) {
            float w[1000];
            memcpy(w, big, sizeof w);
            (pass ? b : a)[i] = tl_sample(w, 1000, &sp, &rr, NULL);
        }
    }
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* tl_sample_max with the known maximum draws exactly what tl_sample draws */
    for (int pass = 0; pass < 2; pass++) {
        sp = tl_sample_defaults();
        sp.top_p = pass ? 0.9f : 1.0f;
        tl_rng r1 = tl_rng_seed(99), r2 = tl_rng_seed(99);
        uint32_t idx[1000];
        int same = 1;
        for (int i = 0; i < 50; i++) {
            float w1[1000], w2[1000];
            memcpy(w1, big, sizeof w1);
            memcpy(w2, big, sizeof w2);
            same &= tl_sample(w1, 1000, &sp, &r1, idx) == tl_sample_max(w2, 1000, 4.5f, &sp, &r2, idx);
        }
        CHECKF(same, "tl_sample_max differs from tl_sample (top_p %g)", sp.top_p);
    }
    return test_finish();
}
