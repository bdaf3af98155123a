/* Real DCAP verification (SGX v3 / TDX v4 against the pinned Intel SGX Root CA). */
#include "tee/verify_internal.h"

int tl_verify_dcap(const tl_quote *q, STACK_OF(X509) *chain, const tl_collateral *col, time_t now, X509 *anchor,
                   tl_identity *id, tl_err *err)
{
    (void)q; (void)chain; (void)col; (void)now; (void)anchor; (void)id;
    return tl_errf(err, TL_EUNSUPPORTED, "DCAP quote verification against Intel's root is not implemented yet (only sim evidence verifies in this build)");
}
