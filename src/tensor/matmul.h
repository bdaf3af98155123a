/* Linear layers (nn.Linear semantics: y = x·Wᵀ + b, W stored [out, in] row-major like PyTorch).
 * Register-tiled SIMD kernels (tensor/simd.h, tensor/tile.h), row and column tiles split across the
 * engine's worker pool (tensor/pool.h, tl_parallel_for). */
#ifndef TEELM_TENSOR_MATMUL_H
#define TEELM_TENSOR_MATMUL_H

#include <stddef.h>

/* Floats of scratch tl_linear_forward needs for a C x OC weight. */
size_t tl_linear_scratch(int C, int OC);

/* out[N,OC] = inp[N,C] · w[OC,C]ᵀ + bias[OC] (bias may be NULL).
 * wt: tl_linear_scratch(C, OC) floats (receives wᵀ so the kernel reads contiguous vectors). */
void tl_linear_forward(float *out, const float *inp, const float *w, const float *bias,
                       int N, int C, int OC, float *wt);

/* The same product from weights packed once (inference keeps them for every call): wt is wᵀ
 * zero-padded to whole SIMD vectors with the bias as its last row, tl_linear_packed_floats(C, OC)
 * floats (bias may be NULL). Every output is bias + the multiply-adds over c in order, exactly as
 * in tl_linear_forward, whatever N and whichever rows are computed together. */
size_t tl_linear_packed_floats(int C, int OC);
void tl_linear_pack(float *wt, const float *w, const float *bias, int C, int OC);
void tl_linear_forward_packed(float *out, const float *inp, const float *wt, int N, int C, int OC);

/* Backward of tl_linear_forward, accumulating (+=) into each non-NULL output:
 * dinp[N,C] += dout[N,OC] · w[OC,C];  dw[OC,C] += doutᵀ · inp;  dbias[OC] += Σ_n dout[n,:]. */
void tl_linear_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                        const float *w, int N, int C, int OC);

#endif
