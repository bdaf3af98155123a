/* libFuzzer target for .pth files: zip container (libzip, stored entries only), data.pkl through the
 * restricted unpickler, storage sizes, then reading every tensor (views gathered from storages). */
#include <stdint.h>
#include <stdlib.h>

#include "formats/pth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_pth_file f;
    tl_err err = {0};
    if (tl_pth_open_mem(data, size, "fuzz", &f, &err) != 0)
        return 0;
    for (int i = 0; i < f.sd.n; i++) {
        const tl_pk_tensor *t = &f.sd.t[i];
        if ((uint64_t)t->numel * tl_dtype_size(t->dtype) > size) /* storages are inside the input */
            __builtin_trap();
        float *dst = malloc((size_t)t->numel * sizeof *dst + 1);
        if (dst)
            tl_pth_read_f32(&f, i, dst, &err);
        free(dst);
    }
    tl_pth_close(&f);
    return 0;
}
