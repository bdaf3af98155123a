/* libFuzzer target for SEV-SNP evidence: the report parser, the certificate table after it, and
 * the whole verification (certificates from the table are parsed and checked against the pinned
 * ARKs) at a fixed time. Seeds: fuzz/corpus/fuzz_snp_report (the fixture reports, one with a
 * certificate table). */
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tee/snp.h"
#include "tee/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_snp_report r;
    tl_err err = {0};
    tl_snp_report_parse(data, size < TL_SNP_REPORT_LEN ? size : TL_SNP_REPORT_LEN, &r, &err);
    tl_snp_cert_entry c[TL_SNP_MAX_CERTS];
    int n = 0;
    if (size > TL_SNP_REPORT_LEN)
        tl_snp_certtable_parse(data + TL_SNP_REPORT_LEN, size - TL_SNP_REPORT_LEN, c, &n, &err);
    tl_identity id;
    tl_evidence_parse(data, size, &id, &err);
    tl_evidence_verify(data, size, NULL, (time_t)1748736000 /* 2025-06-01 */, &id, &err);
    return 0;
}
