#include "tensor/activations.h"

#include <math.h>

void tl_act_forward(float *out, const float *x, size_t n, int gelu)
{
    if (gelu)
        for (size_t i = 0; i < n; i++)
            out[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
    else
        for (size_t i = 0; i < n; i++)
            out[i] = x[i] > 0 ? x[i] : 0;
}

void tl_act_backward(float *dx, const float *dout, const float *x, size_t n, int gelu)
{
    if (gelu) {
        const float k = 0.3989422804014327f; /* 1/sqrt(2π) */
        for (size_t i = 0; i < n; i++) {
            float cdf = 0.5f * (1.0f + erff(x[i] * (float)M_SQRT1_2));
            float pdf = k * expf(-0.5f * x[i] * x[i]);
            dx[i] = dout[i] * (cdf + x[i] * pdf);
        }
    } else {
        for (size_t i = 0; i < n; i++)
            dx[i] = x[i] > 0 ? dout[i] : 0;
    }
}

void tl_add(float *out, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void tl_mul_inplace(float *x, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] *= mask[i];
}
