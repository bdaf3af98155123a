#include "tensor/kvattn.h"

#include <math.h>
#include <stddef.h>

#include "tensor/simd.h"

void tl_kvattn_row(float *out, const float *q, const float *K, const float *V, int n, int hd, float scale,
                   float *s)
{
    const int hf = hd / VW * VW;
    float m = -INFINITY;
    for (int u = 0; u < n; u++) {
        const float *k = K + (size_t)u * hd;
        vf acc = vzero();
        for (int c = 0; c < hf; c += VW)
            acc = vfma(vload(q + c), vload(k + c), acc);
        float d = vsum(acc);
        for (int c = hf; c < hd; c++)
            d = fmaf(q[c], k[c], d);
        d *= scale;
        s[u] = d;
        m = d > m ? d : m;
    }
    /* exp(s - m) in vectors (simd.h's vexp_neg), a fixed summation order */
    const int nf = n / VW * VW;
    vf sum = vzero();
    for (int u = 0; u < nf; u += VW) {
        const vf e = vexp_neg(vsub(vload(s + u), vset1(m)));
        vstore(s + u, e);
        sum = vadd(sum, e);
    }
    float z = vsum(sum);
    for (int u = nf; u < n; u++) {
        s[u] = expf(s[u] - m);
        z += s[u];
    }
    const float inv = 1.0f / z;
    for (int c = 0; c < hd; c++)
        out[c] = 0.0f;
    if (hf == hd && hd <= 8 * VW) { /* the usual head widths (64, 128): accumulators in registers */
        vf acc[8];
        const int nv = hd / VW;
        for (int j = 0; j < nv; j++)
            acc[j] = vzero();
        for (int u = 0; u < n; u++) {
            const vf p = vset1(s[u]);
            const float *v = V + (size_t)u * hd;
            for (int j = 0; j < nv; j++)
                acc[j] = vfma(p, vload(v + j * VW), acc[j]);
        }
        for (int j = 0; j < nv; j++)
            vstore(out + j * VW, vmul(acc[j], vset1(inv)));
        return;
    }
    for (int u = 0; u < n; u++) {
        const float p = s[u];
        const float *v = V + (size_t)u * hd;
        for (int c = 0; c < hd; c++)
            out[c] = fmaf(p, v[c], out[c]);
    }
    for (int c = 0; c < hd; c++)
        out[c] *= inv;
}
