/* libFuzzer target for the GGUF reader (formats/gguf.h) and what is built from its metadata: the
 * header, metadata and tensor infos are validated, every tensor must lie inside the input, every
 * string of every string array must be readable, then the model config (formats/gguf_model.h) and
 * the tokenizer.json built from tokenizer.ggml.* (loaded by the tokenizer.json reader). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf_model.h"
#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_gguf g;
    tl_err err = {0};
    if (tl_gguf_open_mem(data, size, "fuzz", &g, &err) != 0)
        return 0;
    for (uint64_t i = 0; i < g.nt; i++) {
        const tl_gguf_tensor *t = &g.t[i];
        if (t->data < data || (uint64_t)(t->data - data) + t->nbytes > size)
            __builtin_trap();
    }
    volatile uint8_t sink = 0;
    for (uint64_t i = 0; i < g.nkv; i++) {
        const tl_gguf_kv *kv = &g.kv[i];
        if (kv->type != TL_GGUF_ARR || kv->arr_type != TL_GGUF_STR)
            continue;
        for (uint64_t k = 0; k < kv->arr_n && k < 4096; k++) {
            tl_gguf_str s = tl_gguf_arr_str(kv, k);
            if ((const uint8_t *)s.p < data || (const uint8_t *)s.p + s.n > data + size)
                __builtin_trap();
            if (s.n)
                sink ^= (uint8_t)s.p[s.n - 1];
        }
    }
    tl_config cfg;
    (void)tl_gguf_config(&g, &cfg, &err);
    char *js = NULL;
    size_t len = 0;
    if (tl_gguf_tokenizer_json(&g, &js, &len, &err) == 0 && js) {
        tl_tokenizer *t = tl_tokenizer_load_hf_mem((const uint8_t *)js, len, NULL, 0, "fuzz", &err);
        if (t) {
            uint32_t *ids = NULL;
            size_t n = 0;
            if (tl_tokenizer_encode_ex(t, "Hello world 123", 15, 0, &ids, &n, &err) == 0)
                free(ids);
            tl_tokenizer_free(t);
        }
        free(js);
    }
    tl_gguf_close(&g);
    return 0;
}
