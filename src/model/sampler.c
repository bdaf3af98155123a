#include "model/sampler.h"

#include <math.h>

#include "tensor/reduce.h"

tl_sample_params tl_sample_defaults(void)
{
    tl_sample_params p = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f};
    return p;
}

static uint32_t argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return (uint32_t)best;
}

/* Moves the k largest values of x (by index list idx[0..n)) into idx[0..k) (quickselect). */
static void select_top(const float *x, uint32_t *idx, int n, int k)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = x[idx[lo + (hi - lo) / 2]];
        int i = lo, j = hi;
        while (i <= j) {
            while (x[idx[i]] > pivot)
                i++;
            while (x[idx[j]] < pivot)
                j--;
            if (i <= j) {
                uint32_t t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
                i++;
                j--;
            }
        }
        if (k - 1 <= j)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            break;
    }
}

/* a before b: higher probability first, then lower id */
static int better(const float *p, uint32_t a, uint32_t b)
{
    return p[a] > p[b] || (p[a] == p[b] && a < b);
}

static void sift(const float *p, uint32_t *h, int n, int i)
{
    for (;;) {
        int w = i, l = 2 * i + 1, r = l + 1;
        if (l < n && better(p, h[w], h[l]))
            w = l;
        if (r < n && better(p, h[w], h[r]))
            w = r;
        if (w == i)
            return;
        uint32_t t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* heapsort of idx[0..n) best-first: O(n log n) even for flat distributions, no extra memory */
static void sort_desc(const float *p, uint32_t *idx, int n)
{
    for (int i = n / 2 - 1; i >= 0; i--)
        sift(p, idx, n, i); /* root = worst element */
    for (int end = n - 1; end > 0; end--) {
        uint32_t t = idx[0];
        idx[0] = idx[end];
        idx[end] = t;
        sift(p, idx, end, 0);
    }
}

/* Walks the cumulative sum of p[0..V) to the first id where it exceeds u: block sums first
 * (vectorized), then element by element inside the one block that holds u. */
static uint32_t walk(const float *p, int V, double u)
{
    enum { BLK = 256 };
    double acc = 0;
    int b0 = 0;
    for (; b0 + BLK <= V; b0 += BLK) {
        double bs = tl_vec_sum(p + b0, BLK);
        if (acc + bs > u)
            break;
        acc += bs;
    }
    int last = -1;
    for (int i = b0; i < V; i++)
        if (p[i] > 0) {
            acc += p[i];
            last = i;
            if (u < acc)
                return (uint32_t)i;
        }
    /* rounding left u at the very end: the last id with probability > 0 */
    for (int i = last >= 0 ? last : V - 1; i >= 0; i--)
        if (p[i] > 0)
            return (uint32_t)i;
    return 0;
}

uint32_t tl_sample(float *x, int V, const tl_sample_params *sp, tl_rng *rng, uint32_t *idx)
{
    if (!(sp->temperature > 0))
        return argmax(x, V);
    return tl_sample_max(x, V, tl_vec_max(x, V), sp, rng, idx);
}

uint32_t tl_sample_max(float *x, int V, float mx, const tl_sample_params *sp, tl_rng *rng, uint32_t *idx)
{
    if (!(sp->temperature > 0))
        return argmax(x, V);
    /* top-k: everything below the k-th largest logit gets probability 0 */
    float floor_logit = -INFINITY;
    if (sp->top_k > 0 && sp->top_k < V && idx) {
        for (int i = 0; i < V; i++)
            idx[i] = (uint32_t)i;
        select_top(x, idx, V, sp->top_k);
        floor_logit = x[idx[0]];
        for (int i = 1; i < sp->top_k; i++)
            if (x[idx[i]] < floor_logit)
                floor_logit = x[idx[i]];
        for (int i = 0; i < V; i++)
            if (x[i] < floor_logit)
                x[i] = -INFINITY;
    }
    /* unnormalized probabilities exp((logit - max) / temperature); the max maps to exactly 1 */
    double sum = tl_vec_exp_shift(x, V, mx, 1.0f / sp->temperature);
    if (floor_logit > -INFINITY) { /* the vector exp clamps its argument: make the excluded ids exactly 0 */
        sum = 0;
        for (int i = 0; i < V; i++) {
            if (x[i] < 1e-37f)
                x[i] = 0;
            sum += x[i];
        }
    }
    /* top-p: the nucleus lies among the ids above a cutoff whose mass already reaches top_p, so
     * only those are sorted; the cutoff is lowered until that holds */
    if (sp->top_p < 1.0f && idx) {
        const double target = (double)sp->top_p * sum;
        float cut = 1.0f / 16;
        int n = 0;
        for (;;) {
            double mass = 0;
            n = 0;
            for (int i = 0; i < V; i++)
                if (x[i] >= cut && x[i] > 0) {
                    idx[n++] = (uint32_t)i;
                    mass += x[i];
                }
            if (mass >= target || cut < 1e-30f)
                break;
            cut /= 16;
        }
        sort_desc(x, idx, n);
        double cum = 0;
        int keep = 0;
        while (keep < n) {
            cum += x[idx[keep++]];
            if (cum >= target)
                break;
        }
        double u = tl_rng_double(rng) * cum, acc = 0;
        for (int i = 0; i < keep; i++) {
            acc += x[idx[i]];
            if (u < acc)
                return idx[i];
        }
        return idx[keep - 1];
    }
    return walk(x, V, tl_rng_double(rng) * sum);
}
