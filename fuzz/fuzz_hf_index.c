/* libFuzzer target for model.safetensors.index.json (formats/hf_dir.h tl_hf_index_parse): an
 * accepted index has entries sorted by name, each naming a shard of the list, and every shard a
 * plain .safetensors file name (no '/', '\', NUL, "." or ".."). */
#include <stdint.h>
#include <string.h>

#include "formats/hf_dir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_hf_index ix;
    tl_err err = {0};
    if (tl_hf_index_parse((const char *)data, size, &ix, &err) != 0) {
        if (!err.msg[0])
            __builtin_trap();
        return 0;
    }
    for (int i = 0; i < ix.n; i++)
        if (ix.e[i].shard < 0 || ix.e[i].shard >= ix.nshards || (i && strcmp(ix.e[i - 1].tensor, ix.e[i].tensor) >= 0))
            __builtin_trap();
    for (int s = 0; s < ix.nshards; s++) {
        const char *n = ix.shards[s];
        size_t l = strlen(n);
        if (strchr(n, '/') || strchr(n, '\\') || l < 12 || strcmp(n + l - 12, ".safetensors"))
            __builtin_trap();
    }
    tl_hf_index_free(&ix);
    return 0;
}
