/* RA-TLS certificates come from any server a client connects to: DER certificate → evidence
 * extension parser (tl_ratls_extract) must never crash or leak. */
#include <openssl/x509.h>
#include <stdint.h>
#include <stdlib.h>

#include "server/ratls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned char *p = data;
    X509 *c = d2i_X509(NULL, &p, (long)size);
    if (!c)
        return 0;
    uint8_t *ev = NULL;
    size_t len = 0;
    char tee[64];
    tl_err err = {0};
    char *cfg = NULL;
    size_t cfg_len = 0;
    uint8_t rk[32];
    if (tl_ratls_extract(c, &ev, &len, tee, &cfg, &cfg_len, rk, &err) == 0) {
        free(ev);
        free(cfg);
    }
    X509_free(c);
    return 0;
}
