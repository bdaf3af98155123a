/* Element-wise activations, dropout and residual sums over float arrays of n elements. */
#ifndef TEELM_TENSOR_ACTIVATIONS_H
#define TEELM_TENSOR_ACTIVATIONS_H

#include <stddef.h>

/* out = relu(x) or gelu(x) (exact: 0.5 x (1 + erf(x/√2)), like nn.GELU()) */
void tl_act_forward(float *out, const float *x, size_t n, int gelu);
/* dx = dout * act'(x) (overwritten) */
void tl_act_backward(float *dx, const float *dout, const float *x, size_t n, int gelu);
/* out = a + b */
void tl_add(float *out, const float *a, const float *b, size_t n);
/* x *= mask (mask holds 0 or 1/(1-p)) */
void tl_mul_inplace(float *x, const float *mask, size_t n);

#endif
