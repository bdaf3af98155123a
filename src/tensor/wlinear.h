/* Linear layers whose weights stay in their stored dtype (F32, F16 or BF16; model/weights.h) and
 * are widened to float32 inside the kernels, as they are loaded into registers. Input, output,
 * bias and arithmetic are float32.
 *
 * Two weight layouts:
 *  - NT (nn.Linear, W [O][C]): y[n][o] = bias[o] + Σ_c x[n][c]·W[o][c]. Each output is one
 *    vector accumulator of SIMD-width partial sums over c (fused multiply-adds in the order of c,
 *    the tail zero-padded), reduced by the same horizontal sum: a row's outputs are bit-for-bit the
 *    same whichever rows and outputs are computed together, so a sequence's logits do not depend
 *    on batching or caching. Register tiles of up to 4 rows x 4 outputs (weights loaded once per
 *    tile for all its rows); work items are blocks of 16 outputs over all rows, so a block's
 *    weights stay in L1/L2 while the rows stream past (prompt processing) and a decoding step
 *    streams each weight row once (memory bound).
 *  - NN (GPT-2's Conv1D, W [C][O]): y[n][o] = bias[o] + Σ_c x[n][c]·W[c][o], each output lane one
 *    chain of fused multiply-adds over c in order (the same promise); tiles of up to 4 rows x 4
 *    vectors, items are blocks of 4 vectors of outputs over all rows.
 * Everything runs on the worker pool (util/pool.h) when the product is large enough to pay for it. */
#ifndef TEELM_TENSOR_WLINEAR_H
#define TEELM_TENSOR_WLINEAR_H

#include "tensor/dtype.h"

typedef struct {
    const void *w;      /* NT: [O][C]; NN: [C][O]; elements of dt, any alignment of the element size */
    tl_dtype dt;        /* TL_DT_F32, TL_DT_F16 or TL_DT_BF16 */
    const float *bias;  /* [O] or NULL */
    float *out;         /* [N][O] */
    int O;
    int add;            /* 1: out += the product (a residual connection); 0: out = the product */
    const void *w2;     /* NT only, or NULL: out = silu(x·wᵀ + bias) * (x·w2ᵀ), w2 [O][C] of dt
                           (Llama's gate and up projections, read in one pass) */
    int xround;         /* 1, with dt F16 or BF16: x is rounded to dt before the product (llama.cpp's
                           CPU arithmetic, model/config.h round_half_acts); ignored for other types */
    int ggml_silu;      /* with w2: SiLU as llama.cpp computes it (tensor/expf_ggml.h), not with libm's expf */
    const unsigned char *gemm; /* [N] or NULL (all 0): per row, the TL_ROW_* bits below */
} tl_wlin;

/* tl_wlin.gemm bits: how llama.cpp's CPU backend would compute the row (the caller knows its
 * batch, model/lm.c). GEMM: a repacked Q4_K matrix takes it as ggml's gemm, else as its gemv
 * (tensor/qdot8.h). ALONE: the product's only row; an F32 or F16 matrix then takes it in
 * ggml_vec_dot's order (llamafile's tinyBLAS, whose order the tiles keep, needs two rows;
 * AVX-512 builds). */
#define TL_ROW_GEMM 1
#define TL_ROW_ALONE 2

/* The NT products of ops[0..nops) over the same input x[N][C], in one parallel region. */
void tl_wlin_nt(const tl_wlin *ops, int nops, const float *x, int N, int C);
/* One NN product over x[N][C] (op->w2 must be NULL). */
void tl_wlin_nn(const tl_wlin *op, const float *x, int N, int C);

#endif
