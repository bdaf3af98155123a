/* Fuzzes what the key broker decodes from a request before any authentication: base64 fields
 * (strict, canonical) and the client's public key point. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kbs/protocol.h"
#include "util/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    uint8_t *out = NULL;
    size_t n = 0;
    if (tl_b64_decode(s, &out, &n, 0, 1 << 16) == 0) {
        /* canonical base64 round-trips exactly */
        char *again = tl_b64_encode(out, n);
        if (!again || strcmp(again, s) != 0)
            abort();
        free(again);
        if (n == TL_KBS_PUB_LEN) {
            EVP_PKEY *k = tl_kbs_pub_decode(out, NULL);
            EVP_PKEY_free(k);
        }
        free(out);
    }
    free(s);
    return 0;
}
