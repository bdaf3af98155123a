/* Element types of weight files (safetensors dtype names; PyTorch storage types map onto them)
 * and their conversion to float32. Kernels read F32, F16 and BF16 weights (model/weights.h) and
 * ggml's block-quantized types Q8_0, Q4_0, Q4_K and Q6_K (tensor/quant.h, docs/quantization.md);
 * the seed model's arena is F32 only.
 *
 * Block types store a row of n elements (n a multiple of tl_dtype_block) as n / block blocks of
 * tl_dtype_block_bytes each; they have no element size (tl_dtype_size is 0: use tl_dtype_bytes). */
#ifndef TEELM_TENSOR_DTYPE_H
#define TEELM_TENSOR_DTYPE_H

#include <stddef.h>

typedef enum {
    TL_DT_F64, TL_DT_F32, TL_DT_F16, TL_DT_BF16,
    TL_DT_I64, TL_DT_I32, TL_DT_I16, TL_DT_I8, TL_DT_U8, TL_DT_BOOL,
    /* block types (appended: the values above keep their meaning) */
    TL_DT_Q8_0, TL_DT_Q4_0, TL_DT_Q4_K, TL_DT_Q6_K,
    TL_DT_COUNT
} tl_dtype;

/* "F32" -> TL_DT_F32; -1 when unknown. Element types only (the names safetensors and the
 * manifests use): a block type's name is -1 here, so no element-size arithmetic ever meets one. */
int tl_dtype_from_name(const char *name);
/* Any name, block types included ("Q4_K" -> TL_DT_Q4_K); -1 when unknown. */
int tl_dtype_from_name_any(const char *name);
const char *tl_dtype_name(tl_dtype dt);
/* Bytes per element; 0 for block types and unknown values. */
size_t tl_dtype_size(tl_dtype dt);
/* 1 for block types. */
int tl_dtype_is_block(tl_dtype dt);
/* Elements per block (1 for element types, 32 or 256 for block types; 0 when unknown). */
size_t tl_dtype_block(tl_dtype dt);
/* Bytes per block (the element size for element types). */
size_t tl_dtype_block_bytes(tl_dtype dt);
/* Bytes of n elements; SIZE_MAX when n is not a whole number of blocks, the size overflows or dt
 * is unknown. */
size_t tl_dtype_bytes(tl_dtype dt, size_t n);
/* Converts n little-endian elements of type dt at src to float32 (exact for F32/F16/BF16 and
 * integers below 2^24; F64 and larger integers round to nearest; block types are dequantized as
 * ggml's dequantize_row_* does, n a multiple of the block, src at any alignment). */
void tl_dtype_to_f32(tl_dtype dt, const void *src, float *dst, size_t n);
/* float32 to F32, F16 or BF16 (little-endian), rounding to nearest even as torch's .to() does;
 * NaN stays NaN, overflow becomes infinity. */
void tl_dtype_from_f32(tl_dtype dt, const float *src, void *dst, size_t n);
/* dst[i] = src[i] rounded to F16 or BF16 (as tl_dtype_from_f32) and widened back; a copy for F32.
 * A NaN stays NaN, its payload not promised. dst may be src. */
void tl_dtype_round_f32(tl_dtype dt, const float *src, float *dst, size_t n);

#endif
