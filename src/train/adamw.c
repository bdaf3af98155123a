#include "train/adamw.h"

#include <math.h>

tl_adamw tl_adamw_defaults(double lr)
{
    tl_adamw o = {.lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
    return o;
}

void tl_adamw_step(const tl_adamw *o, float *p, const float *g, float *m, float *v, size_t n, int64_t t)
{
    const float decay = (float)(1.0 - o->lr * o->weight_decay);
    const float b1 = (float)o->beta1, b2 = (float)o->beta2, a1 = (float)(1.0 - o->beta1), a2 = (float)(1.0 - o->beta2);
    const float step = (float)(o->lr / (1.0 - pow(o->beta1, (double)t)));
    const float bc2 = (float)sqrt(1.0 - pow(o->beta2, (double)t));
    const float eps = (float)o->eps;
    /* one streaming pass over four arrays: memory bound, so split across threads */
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = m[i] * b1 + gi * a1;
        float vi = v[i] * b2 + gi * gi * a2;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step * mi / (sqrtf(vi) / bc2 + eps);
    }
}
