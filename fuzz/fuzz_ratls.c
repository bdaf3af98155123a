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
    tl_ratls_ext x;
    tl_err err = {0};
    if (tl_ratls_extract(c, &x, &err) == 0)
        tl_ratls_ext_free(&x);
    X509_free(c);
    return 0;
}
