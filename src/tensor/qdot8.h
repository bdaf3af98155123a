/* The products of ggml's repacked Q4_0: llama.cpp's x86 CPU backend (with AVX2) moves a Q4_0
 * matrix whose row count is a multiple of 8 into its CPU_REPACK buffer at load, eight rows
 * interleaved (q4_0_8x8), and computes it with ggml_gemv/gemm_q4_0_8x8_q8_0. Their arithmetic
 * differs from ggml_vec_dot's (tensor/quant.h) in the order of the float additions: each output
 * is ONE chain over the weight blocks, each block's exact integer sum scaled once,
 *   acc = fma((float)Σ_e (q[e]-8)·x[e], f16(w.d)·f16(x.d), acc); y = acc
 * the same in gemv and gemm (docs/quantization.md "Repacked matrices"). A head tied to the
 * embedding is repacked too (llama.cpp loads a duplicate of the embedding for the product).
 * Activations are tl_q_quantize_act's. */
#ifndef TEELM_TENSOR_QDOT8_H
#define TEELM_TENSOR_QDOT8_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/dtype.h"

/* 1 when llama.cpp on this machine's kind of CPU repacks a wt matrix of `rows` rows and teelm
 * follows it: Q4_0 with rows % 8 == 0, on a build for x86 with AVX2. */
int tl_q_repacked(tl_dtype wt, int rows);

/* out[r*8 + j] for r < R (1..4), j < 8: activation row r (xq + r*xq_row, quantized by
 * tl_q_quantize_act for wt) times weight row j (w + j*wrow, n weights of wt), in the repacked
 * arithmetic above. */
void tl_q_dot8(tl_dtype wt, size_t n, const void *w, size_t wrow, const void *xq, size_t xq_row, int R, float *out);
/* The same through plain scalar code (tests: bit for bit equal). */
void tl_q_dot8_scalar(tl_dtype wt, size_t n, const void *w, size_t wrow, const void *xq, size_t xq_row, int R,
                      float *out);

/* What tl_q_rows16 needs of each block of a quantized activation row besides its 32 values: the
 * block's scale as a float and -8 x the values' sum (the Q4_0 nibbles hold q + 8). Computed once
 * per row, it serves every sixteen outputs of every matrix that row meets. */
typedef struct {
    float d;
    int32_t off;
} tl_q8_aux;
/* aux[b] for the n/32 blocks of the activation row xq (quantized by tl_q_quantize_act for Q4_0). */
void tl_q8_aux_row(const void *xq, size_t n, tl_q8_aux *aux);

/* Rows for tl_q_rows16 at the most. */
#define TL_Q8_ROWS 32
/* out[r*16 + j] for r < N (1..TL_Q8_ROWS), j < 16 (weight rows w + j*wrow): tl_q_dot8's results
 * for sixteen outputs and N rows at once, where this build has a kernel for it (AVX-512 VNNI;
 * prompt processing). aux + r*(n/32): row r's tl_q8_aux_row. 0 done, -1 not available here (use
 * tl_q_dot8). */
int tl_q_rows16(tl_dtype wt, size_t n, const void *w, size_t wrow, const void *xq, size_t xq_row,
                const tl_q8_aux *aux, int N, float *out);

#endif
