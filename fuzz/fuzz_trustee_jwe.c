/* Fuzzes what the Trustee KBS client decodes from the KBS before any key is trusted: the JWE of a
 * resource reply (JSON, base64url members, protected header, epk point), decrypted with a fixed
 * ephemeral key, and base64url itself (canonical input round-trips). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "kbs/jose.h"
#include "kbs/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static EVP_PKEY *eph;
    static uint8_t pub[TL_KBS_PUB_LEN];
    if (!eph && !(eph = tl_kbs_ephemeral(pub, NULL)))
        return 0;
    uint8_t *pt = NULL, *b = NULL;
    size_t n = 0;
    if (tl_jwe_decrypt(eph, (const char *)data, size, "kid", &pt, &n, 1 << 16, NULL) == 0) {
        OPENSSL_cleanse(pt, n);
        free(pt);
    }
    if (tl_b64url_decode((const char *)data, size, &b, &n, 1 << 16) == 0) {
        char *again = tl_b64url_encode(b, n);
        if (!again || strlen(again) != size || memcmp(again, data, size) != 0)
            abort();
        free(again);
    }
    free(b);
    return 0;
}
