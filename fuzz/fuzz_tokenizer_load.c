/* libFuzzer target for the tokenizer file parsers: arbitrary bytes as a .tiktoken or npm JSON file
 * (the form is chosen by content). A file that loads must encode and decode a fixed text. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_err err = {0};
    /* the name matters only for the "claims to be standard" warning */
    const char *name = size && (data[size - 1] & 1) ? "cl100k_base.tiktoken" : "fuzz.json";
    tl_tokenizer *t = tl_tokenizer_load_mem(data, size, name, NULL, &err);
    if (!t) {
        if (!err.code || !strstr(err.msg, name))
            abort();  /* failures must say which file */
        return 0;
    }
    static const char text[] = "Hello, world! It's 2024: 42 caf\xc3\xa9s \xe6\xbc\xa2\xe5\xad\x97  \n\n";
    uint32_t *ids = NULL;
    size_t n = 0;
    char *out = NULL;
    size_t ol = 0;
    if (tl_tokenizer_encode(t, text, sizeof text - 1, 0, &ids, &n, &err) == 0) {
        if (tl_tokenizer_decode(t, ids, n, &out, &ol, &err) != 0)
            abort();
        /* a custom pattern may skip text, so only the standard-pattern case must round-trip */
        if (strcmp(tl_tokenizer_pattern_name(t), "custom") != 0 && (ol != sizeof text - 1 || memcmp(out, text, ol)))
            abort();
    }
    for (uint32_t id = 0; id < tl_tokenizer_vocab_size(t) && id < 300; id++)
        tl_tokenizer_token_bytes(t, id, NULL);
    free(ids);
    free(out);
    tl_tokenizer_free(t);
    return 0;
}
