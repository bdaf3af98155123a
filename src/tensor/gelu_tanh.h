/* GPT-2's activation gelu_new (= PyTorch's gelu approximate="tanh"):
 * 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))). */
#ifndef TEELM_TENSOR_GELU_TANH_H
#define TEELM_TENSOR_GELU_TANH_H

#include <stddef.h>

/* x[0..n) in place */
void tl_gelu_tanh(float *x, size_t n);

#endif
