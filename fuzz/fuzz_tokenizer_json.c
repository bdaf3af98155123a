/* libFuzzer target: tokenizer.json loading (hf_load.c, hf_regex.c), then encoding and decoding a
 * fixed text with whatever loaded. Seeds: fuzz/corpus/fuzz_tokenizer_json/. */
#include <stdint.h>
#include <stdlib.h>

#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_err err = {0};
    tl_tokenizer *t = tl_tokenizer_load_hf_mem(data, size, NULL, 0, "fuzz.json", &err);
    if (!t)
        return 0;
    static const char text[] = "Hello <s> wor\xc3\xa9ld  12345 \xe2\x96\x81x\xff<|im_start|>\n";
    for (unsigned f = 0; f < 3; f++) {
        uint32_t *ids = NULL;
        size_t n = 0;
        if (tl_tokenizer_encode_ex(t, text, sizeof text - 1, f == 2 ? TL_TOK_PLAIN : f, &ids, &n, &err) == 0) {
            char *out = NULL;
            size_t ol = 0;
            if (tl_tokenizer_decode(t, ids, n, &out, &ol, &err) == 0)
                free(out);
        }
        free(ids);
    }
    tl_tokenizer_free(t);
    return 0;
}
