/* libFuzzer target for the safetensors reader: header parsing and validation, then reading every
 * tensor as float32 (which must stay inside the input: the reader validated the offsets). */
#include <stdint.h>
#include <stdlib.h>

#include "formats/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_st_file f;
    tl_err err = {0};
    if (tl_st_open_mem(data, size, "fuzz", &f, &err) != 0)
        return 0;
    for (int i = 0; i < f.n; i++) {
        const tl_st_tensor *t = &f.t[i];
        if (f.data_start + t->end > size || (t != tl_st_find(&f, t->name)))
            __builtin_trap();
        float *dst = malloc((size_t)t->numel * sizeof *dst + 1);
        if (dst && tl_st_read_f32(&f, t, dst, &err) != 0)
            __builtin_trap(); /* in memory, a validated tensor is always readable */
        free(dst);
    }
    tl_st_close(&f);
    return 0;
}
