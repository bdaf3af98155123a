/* libFuzzer target for the evidence parsers: DCAP quote (SGX v3 / TDX v4), the PEM chain inside it,
 * the SEV-SNP report, and verification up to the first failing check (no collateral). */
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tee/quote.h"
#include "tee/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_quote q;
    tl_err err = {0};
    tl_identity id;
    if (tl_quote_parse(data, size, &q, &err) == 0) {
        tl_quote_identity(&q, &id);
        /* every pointer the parser returns lies inside the input */
        if (q.cert_data + q.cert_len > data + size || q.qe_auth + q.qe_auth_len > data + size || q.end > size)
            __builtin_trap();
    }
    tl_evidence_parse(data, size, &id, &err);
    tl_evidence_verify(data, size, NULL, (time_t)1751328000, &id, &err);
    return 0;
}
