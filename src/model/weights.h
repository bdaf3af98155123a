/* Where the engine finds each weight of a Hugging Face family model: one reference per entry of
 * the architecture's parameter table (tl_params_list, in table order), pointing into memory that
 * holds the tensor contiguous, row-major, little-endian, in its stored dtype. The memory is a
 * read-only mapping of a plaintext file, or an owned buffer (a sealed model decrypted in the TEE);
 * tl_checkpoint (model/checkpoint.h) owns it. The seed family uses its float arena instead. */
#ifndef TEELM_MODEL_WEIGHTS_H
#define TEELM_MODEL_WEIGHTS_H

#include <stddef.h>

#include "tensor/dtype.h"

typedef struct {
    const void *data; /* numel elements of dtype (tl_dtype_bytes); any alignment of the element size */
    tl_dtype dtype;   /* TL_DT_F32, TL_DT_F16 or TL_DT_BF16; matrices also TL_DT_Q8_0, Q4_0, Q4_K or
                         Q6_K, in rows of whole blocks along the input dimension (tensor/quant.h):
                         a GPT-2 Conv1D matrix in a block type is stored [out][in], not [in][out]
                         (tl_param_row_len, model/params.h) */
} tl_wref;

#endif
