#include "train/adamw.h"

#include <math.h>

#include "util/pool.h"

tl_adamw tl_adamw_defaults(double lr)
{
    tl_adamw o = {.lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
    return o;
}

typedef struct {
    float *p, *m, *v;
    const float *g;
    size_t n;
    float decay, b1, b2, a1, a2, step, bc2, eps;
} adam_job;

static void adam_chunk(void *arg, int slot, long i0, long i1)
{
    (void)slot;
    const adam_job *j = arg;
    float *p = j->p, *m = j->m, *v = j->v;
    const float *g = j->g;
    const float decay = j->decay, b1 = j->b1, b2 = j->b2, a1 = j->a1, a2 = j->a2, step = j->step, bc2 = j->bc2,
                eps = j->eps;
#pragma GCC ivdep
    for (long i = i0; i < i1; i++) {
        float gi = g[i];
        float mi = m[i] * b1 + gi * a1;
        float vi = v[i] * b2 + gi * gi * a2;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step * mi / (sqrtf(vi) / bc2 + eps);
    }
}

void tl_adamw_step(const tl_adamw *o, float *p, const float *g, float *m, float *v, size_t n, int64_t t)
{
    const float decay = (float)(1.0 - o->lr * o->weight_decay);
    const float b1 = (float)o->beta1, b2 = (float)o->beta2, a1 = (float)(1.0 - o->beta1), a2 = (float)(1.0 - o->beta2);
    const float step = (float)(o->lr / (1.0 - pow(o->beta1, (double)t)));
    const float bc2 = (float)sqrt(1.0 - pow(o->beta2, (double)t));
    const float eps = (float)o->eps;
    /* one streaming pass over four arrays: memory bound, so split across threads */
    adam_job j = {p, m, v, g, n, decay, b1, b2, a1, a2, step, bc2, eps};
    tl_parallel_for((long)n, 1 << 16, n > (1 << 17) ? 256 : 1, adam_chunk, &j); /* 64k floats: ~30 us */
}
