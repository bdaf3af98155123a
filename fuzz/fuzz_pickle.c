/* libFuzzer target for the restricted unpickler (data.pkl of a .pth): any byte string must give a
 * state_dict whose views fit their storages, or an error; never a crash, hang or leak. */
#include <stdint.h>

#include "formats/pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_pk_state_dict sd;
    tl_err err = {0};
    if (tl_pickle_state_dict(data, size, "fuzz", &sd, &err) != 0)
        return 0;
    for (int i = 0; i < sd.n; i++) {
        const tl_pk_tensor *t = &sd.t[i];
        int64_t last = t->offset;
        for (int d = 0; d < t->ndim; d++)
            if (t->size[d] > 0)
                last += (t->size[d] - 1) * t->stride[d];
        if (t->numel > 0 && last >= t->storage_numel)
            __builtin_trap();
    }
    tl_pk_state_dict_free(&sd);
    return 0;
}
