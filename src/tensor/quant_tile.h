/* Register tiles of block-quantized dot products (tensor/quant.h) for prompt processing: a tile
 * of up to TL_QT_R activation rows by TL_QT_P weight rows decodes each weight block once for all
 * its rows. Every output is bit-for-bit tl_q_dot of its (weight row, activation row) pair: each
 * pair keeps its own float lanes with ggml's operations in ggml's order; only the integer sums
 * are formed differently (exact either way). */
#ifndef TEELM_TENSOR_QUANT_TILE_H
#define TEELM_TENSOR_QUANT_TILE_H

#include <stddef.h>

#include "tensor/dtype.h"

#define TL_QT_R 4
#define TL_QT_P 8

/* out[r * P + p] = tl_q_dot(wt, n, w + p * wrow, xq + r * xrow) for r < R, p < P
 * (1 <= R <= TL_QT_R, 1 <= P <= TL_QT_P; rows in bytes; xq quantized by tl_q_quantize_act).
 * stream: the weights come from memory once (decoding; the rows follow each other in memory):
 * the rows two tiles on are prefetched while this one computes. */
void tl_q_tile(tl_dtype wt, size_t n, const void *w, size_t wrow, int P, const void *xq, size_t xrow, int R,
               float *out, int stream);

#endif
