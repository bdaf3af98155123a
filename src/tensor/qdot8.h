/* The products of ggml's repacked block types: llama.cpp's x86 CPU backend (with AVX2) moves a
 * Q4_0 or Q4_K matrix whose row count is a multiple of 8 into its CPU_REPACK buffer at load, eight
 * rows interleaved (q4_0_8x8, q4_K_8x8), and computes it with ggml_gemv/gemm_*_8x8_*. Their
 * arithmetic differs from ggml_vec_dot's (tensor/quant.h) in the order of the float additions:
 * each output is ONE chain over the weight blocks, each exact integer sum scaled once,
 *   Q4_0: acc = fma((float)Σ_e (q[e]-8)·x[e], f16(w.d)·f16(x.d), acc); y = acc
 *   Q4_K: acc  = fma((float)Σ_s sc[s]·Σ_{e∈s} q[e]·x[e], f16(w.d)·x.d, acc)
 *         accm = fma((float)Σ_s m[s]·(bsums[2s]+bsums[2s+1]), f16(w.dmin)·x.d, accm); y = acc - accm
 *         the sums over a block's 8 sub-blocks s in gemv (one FMA per block), over each pair of
 *         them in gemm (four per block).
 * ggml computes a call's rows in groups of four with gemm and the last rows % 4 with gemv; for
 * Q4_0 both give the same bits, for Q4_K the caller says which rows are gemm rows (teelm takes a
 * sequence's rows of one step as llama.cpp's batch, model/lm.c). Activations are
 * tl_q_quantize_act's (quant.c q8_K_act says why ggml's four-row quantizer changes no bits).
 * docs/quantization.md "Repacked matrices". A head tied to the
 * embedding is repacked too (llama.cpp loads a duplicate of the embedding for the product). */
#ifndef TEELM_TENSOR_QDOT8_H
#define TEELM_TENSOR_QDOT8_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/dtype.h"

/* 1 when llama.cpp on this machine's kind of CPU repacks a wt matrix of `rows` rows: Q4_0 and
 * Q4_K with rows % 8 == 0, on a build for x86 with AVX2 (ggml_repack_get_optimal_repack_type). */
int tl_q_repacked(tl_dtype wt, int rows);

/* out[r*8 + j] for r < R (1..4), j < 8: activation row r (xq + r*xq_row, quantized for wt)
 * times weight row j (w + j*wrow, n weights of wt), in the repacked arithmetic above: ggml's
 * gemm where bit 0 of gemm[r] is set (TL_ROW_GEMM of tensor/wlinear.h), its gemv where it is
 * clear or gemm is NULL. */
void tl_q_dot8(tl_dtype wt, size_t n, const void *w, size_t wrow, const void *xq, size_t xq_row, int R,
               const unsigned char *gemm, float *out);
/* The same through plain scalar code (tests: bit for bit equal). */
void tl_q_dot8_scalar(tl_dtype wt, size_t n, const void *w, size_t wrow, const void *xq, size_t xq_row, int R,
                      const unsigned char *gemm, float *out);

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
 * prompt processing). Q4_0: aux + r*(n/32) is row r's tl_q8_aux_row; Q4_K: aux is unused, gemm
 * as for tl_q_dot8. 0 done, -1 not available here (use tl_q_dot8). */
int tl_q_rows16(tl_dtype wt, size_t n, const void *w, size_t wrow, const void *xq, size_t xq_row,
                const tl_q8_aux *aux, const unsigned char *gemm, int N, float *out);

#endif
