/* The output layer (Linear d -> vocab with bias) fused with softmax cross-entropy.
 * It dominates the seed model's cost (64 x 100070), so its logits are kept TRANSPOSED,
 * logitsT[V][Np] with Np = N rounded up to the SIMD width: every product then becomes
 * "broadcast one weight, multiply a vector of rows", and the softmax over the vocabulary runs
 * across rows in SIMD lanes. The gradient of the logits is never stored: the backward pass
 * recomputes it block by block from logitsT and the log-sum-exp. */
#ifndef TEELM_TENSOR_LMHEAD_H
#define TEELM_TENSOR_LMHEAD_H

#include <stddef.h>
#include <stdint.h>

/* Padded row count used for logitsT. */
size_t tl_lmhead_np(int N);
/* Floats of scratch for forward and backward with up to nthreads threads. */
size_t tl_lmhead_scratch(int N, int C, int nthreads);

/* logitsT[V][Np] = w[V,C] · x[N,C]ᵀ + bias[V] (columns >= N are padding). When lse (Np floats) is
 * given it receives each column's log Σ_v exp(logit), accumulated while the logits are still in
 * registers (no second pass over the V x Np logits). Up to nthreads threads. */
void tl_lmhead_forward(float *logitsT, float *lse, const float *x, const float *w, const float *bias,
                       int N, int C, int V, float *scratch, int nthreads);

/* Mean over rows n < N of the cross-entropy lse[n] - logit[targets[n]][n] (double accumulation). */
double tl_xent_loss(const float *logitsT, const float *lse, const uint32_t *targets, int N);

/* Backward of mean cross-entropy through the output layer. dlogit[n,v] = (softmax - onehot) / N.
 * dw[V,C] and dbias[V] are OVERWRITTEN (the output layer is their first writer); dx[N,C] +=.
 * Uses up to nthreads threads. */
void tl_lmhead_backward(float *dx, float *dw, float *dbias, const float *logitsT, const float *lse,
                        const uint32_t *targets, const float *x, const float *w, int N, int C, int V,
                        float *scratch, int nthreads);

/* Output weights re-laid for batched inference: blocks of 16 vocabulary rows, each block stored
 * column-major [C][16] (tail rows zero), so a block's 16 logits for one input row are 16 lanes of
 * C vector FMAs (no horizontal sums). Floats needed: ceil(V/16)*16*C. */
size_t tl_lmhead_packed_floats(int C, int V);
void tl_lmhead_pack(float *packed, const float *w, int C, int V);
/* Logits of a few rows, row-major: out[nb,V] = x[nb,C] · w[V,C]ᵀ + bias (inference), from the
 * packed weights; reads them once for all rows, parallel over the vocabulary. Every logit is bias + (Σ over c in order of w[v][c]·x[b][c]),
 * fused multiply-adds, the same number however many rows are computed together. rowmax (nb
 * floats, or NULL) receives each row's largest logit, taken while the logits are in registers
 * (a sampler's first pass over the row). */
void tl_lmhead_rows_packed(float *out, float *rowmax, const float *x, const float *packed, const float *bias, int nb,
                           int C, int V);

#define TL_LMHEAD_VB 64

#endif
