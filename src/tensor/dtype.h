/* Element types of weight files (safetensors dtype names; PyTorch storage types map onto them)
 * and their conversion to float32. Kernels read F32, F16 and BF16 weights (model/weights.h);
 * the seed model's arena is F32 only. */
#ifndef TEELM_TENSOR_DTYPE_H
#define TEELM_TENSOR_DTYPE_H

#include <stddef.h>

typedef enum {
    TL_DT_F64, TL_DT_F32, TL_DT_F16, TL_DT_BF16,
    TL_DT_I64, TL_DT_I32, TL_DT_I16, TL_DT_I8, TL_DT_U8, TL_DT_BOOL,
    TL_DT_COUNT
} tl_dtype;

/* "F32" -> TL_DT_F32; -1 when unknown. */
int tl_dtype_from_name(const char *name);
const char *tl_dtype_name(tl_dtype dt);
size_t tl_dtype_size(tl_dtype dt);
/* Converts n little-endian elements of type dt at src to float32 (exact for F32/F16/BF16 and
 * integers below 2^24; F64 and larger integers round to nearest). */
void tl_dtype_to_f32(tl_dtype dt, const void *src, float *dst, size_t n);

#endif
