#include "tensor/layernorm.h"

#include <math.h>
#include <stddef.h>

void tl_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                          const float *b, int N, int C, float eps)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float m = 0;
        for (int c = 0; c < C; c++)
            m += x[c];
        m /= (float)C;
        float v = 0;
        for (int c = 0; c < C; c++) {
            float d = x[c] - m;
            v += d * d;
        }
        v /= (float)C;
        float s = 1.0f / sqrtf(v + eps);
        float *o = out + (size_t)n * C;
        for (int c = 0; c < C; c++)
            o[c] = (x[c] - m) * s * w[c] + b[c];
        mean[n] = m;
        rstd[n] = s;
    }
}

void tl_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                           const float *w, const float *mean, const float *rstd, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * C, *x = inp + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        const float m = mean[n], s = rstd[n];
        /* with xh = (x-m)*s and dxh = g*w: dx = s * (dxh - mean(dxh) - xh * mean(dxh*xh)) */
        float sum1 = 0, sum2 = 0;
        for (int c = 0; c < C; c++) {
            float xh = (x[c] - m) * s, dxh = g[c] * w[c];
            sum1 += dxh;
            sum2 += dxh * xh;
        }
        sum1 /= (float)C;
        sum2 /= (float)C;
        for (int c = 0; c < C; c++) {
            float xh = (x[c] - m) * s, dxh = g[c] * w[c];
            dw[c] += g[c] * xh;
            db[c] += g[c];
            dx[c] += s * (dxh - sum1 - xh * sum2);
        }
    }
}
