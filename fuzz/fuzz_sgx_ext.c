/* libFuzzer target for the other binary inputs of DCAP verification: the PCK certificate's SGX
 * extension (our DER walker), PEM certificate chains and CRL bytes (DER, PEM or hex). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tee/certs.h"
#include "tee/collateral.h"
#include "tee/sgx_ext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_pck_ext ext;
    tl_err err = {0};
    tl_pck_ext_parse_der(data, size, &ext, &err);
    STACK_OF(X509) *chain = tl_pem_chain(data, size, 0, "fuzz", &err);
    sk_X509_pop_free(chain, X509_free);
    uint8_t *crl = NULL;
    size_t n = 0;
    if (tl_crl_bytes(data, size, &crl, &n) == 0) {
        X509_CRL_free(tl_crl_parse(crl, n));
        free(crl);
    }
    return 0;
}
