/* GPT-2's activation gelu_new (= PyTorch's gelu approximate="tanh"):
 * 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))). */
#ifndef TEELM_TENSOR_GELU_TANH_H
#define TEELM_TENSOR_GELU_TANH_H

#include <stddef.h>

/* x[0..n) in place */
void tl_gelu_tanh(float *x, size_t n);

/* The same function as llama.cpp's CPU backend computes it (ggml's GGML_GELU_FP16): x rounded to
 * F16 indexes a table of ggml_gelu_f32 values rounded to F16; 0 at or below -10, x at or above 10.
 * Its results differ from tl_gelu_tanh by up to an F16 ulp, enough to move a greedy token of a
 * GGUF GPT-2 at a near-tie, so GGUF models run this one (docs/gguf.md). */
void tl_gelu_tanh_ggml(float *x, size_t n);

#endif
