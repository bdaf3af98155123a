/* ggml's block-quantized weight types and the arithmetic llama.cpp's CPU backend uses with them
 * (docs/quantization.md has the layouts and the exact rules).
 *
 * A row of n weights (n a multiple of the block) is n / block consecutive blocks, little-endian,
 * packed (no padding), at any address. A product of such a row with float activations follows
 * ggml: the activations are first quantized per block to the weight type's "vec_dot type"
 * (Q8_0 for Q8_0 and Q4_0 weights, Q8_K for Q4_K and Q6_K), then each block's integer dot
 * product is scaled by the two blocks' scales and accumulated in float, in eight lanes, in
 * exactly the order of ggml's AVX2 kernels, so the result is bit-for-bit what llama.cpp
 * computes. The AVX2 kernels and the scalar fallback give identical results. */
#ifndef TEELM_TENSOR_QUANT_H
#define TEELM_TENSOR_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/dtype.h"

#define TL_QK8_0 32
#define TL_QK4_0 32
#define TL_QK_K 256
#define TL_Q8_0_BYTES 34   /* f16 d; int8 qs[32] */
#define TL_Q4_0_BYTES 18   /* f16 d; u8 qs[16]: element j low nibble, j + 16 high nibble */
#define TL_Q4_K_BYTES 144  /* f16 d, dmin; u8 scales[12] (8 6-bit scales, 8 6-bit mins); u8 qs[128] */
#define TL_Q6_K_BYTES 210  /* u8 ql[128], qh[64]; int8 scales[16]; f16 d */
#define TL_Q8_K_BYTES 292  /* f32 d; int8 qs[256]; int16 bsums[16] (activations only) */

/* The activation type a weight type's products use: TL_DT_Q8_0 for Q8_0/Q4_0, TL_Q8_K for
 * Q4_K/Q6_K (a pseudo-dtype value, not a tl_dtype weights can have), -1 for other types. */
#define TL_Q8_K 1000
int tl_q_act_type(tl_dtype wt);
/* Bytes of a row of n activations quantized for weight type wt (n a multiple of its block). */
size_t tl_q_act_bytes(tl_dtype wt, size_t n);
/* Quantizes n floats (a multiple of the block) for products with weights of type wt, as ggml's
 * CPU backend does (quantize_row_q8_0 of its x86 path, quantize_row_q8_K_ref). */
void tl_q_quantize_act(tl_dtype wt, const float *x, void *y, size_t n);

/* Σ_i w[i]·x[i] over a row of n weights of type wt and the row of activations xq quantized by
 * tl_q_quantize_act: ggml_vec_dot_<wt>_<act>'s result. */
float tl_q_dot(tl_dtype wt, size_t n, const void *w, const void *xq);
/* The same through the scalar code (tests: it must equal tl_q_dot bit for bit). */
float tl_q_dot_scalar(tl_dtype wt, size_t n, const void *w, const void *xq);

/* ggml's dequantize_row_*: n elements (a multiple of the block) to float32. */
void tl_q_dequant(tl_dtype wt, const void *src, float *dst, size_t n);
/* Weight quantization as ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref (teelm quantize).
 * 0 on success, -1 for another type or n not a multiple of 32. */
int tl_q_quantize_weights(tl_dtype wt, const float *x, void *y, size_t n);

/* IEEE binary16 conversions (round to nearest even), as ggml's. */
float tl_q_f16_to_f32(uint16_t h);
uint16_t tl_q_f32_to_f16(float f);

#endif
