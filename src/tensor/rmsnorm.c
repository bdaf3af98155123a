#include "tensor/rmsnorm.h"

#include <math.h>
#include <stddef.h>

#include "tensor/simd.h"

void tl_rmsnorm_rows(float *out, const float *inp, const float *w, int N, int C, float eps)
{
    const int Cf = C / VW * VW;
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        vf acc = vzero();
        for (int c = 0; c < Cf; c += VW) {
            const vf v = vload(x + c);
            acc = vfma(v, v, acc);
        }
        float ss = vsum(acc);
        for (int c = Cf; c < C; c++)
            ss = fmaf(x[c], x[c], ss);
        /* as HF: x * rsqrt(mean + eps), then times the weight */
        const float r = (float)(1.0 / sqrt((double)(ss / (float)C + eps)));
        for (int c = 0; c < C; c++)
            y[c] = (x[c] * r) * w[c];
    }
}

void tl_rmsnorm_rows_ggml(float *out, const float *inp, const float *w, int N, int C, float eps)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        /* each square rounded to float, then added in double: the order of the additions is
         * what ggml's loop does (and what a double sum of 24-bit values rarely depends on) */
        double ss = 0.0;
        for (int c = 0; c < C; c++)
            ss += (double)(x[c] * x[c]);
        const float mean = (float)(ss / C), r = 1.0f / sqrtf(mean + eps);
        for (int c = 0; c < C; c++)
            y[c] = x[c] * r * w[c];
    }
}
