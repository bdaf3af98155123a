#include "tensor/gelu_tanh.h"

#include <math.h>

void tl_gelu_tanh(float *x, size_t n)
{
    const float k = 0.7978845608028654f; /* sqrt(2/π) */
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}
