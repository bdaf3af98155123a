/* SEV-SNP attestation report (AMD "SEV Secure Nested Paging Firmware ABI", ATTESTATION_REPORT,
 * 1184 bytes, little-endian). Parsed for measurement, report data and policy; the AMD signature chain
 * (ARK -> ASK -> VCEK) is not verified yet, so tl_evidence_verify refuses SNP evidence. */
#include <string.h>

#include "tee/quote.h"
#include "tee/verify_internal.h"
#include "util/bytes.h"

enum {
    SNP_LEN = 1184,
    SNP_VERSION = 0x00, SNP_POLICY = 0x08, SNP_SIG_ALGO = 0x34,
    SNP_REPORT_DATA = 0x50, SNP_MEASUREMENT = 0x90,
    SNP_POLICY_DEBUG = 19, /* policy bit: debugging allowed */
};

int tl_is_snp_report(const uint8_t *r, size_t len)
{
    if (!r || len != SNP_LEN)
        return 0;
    uint32_t v = tl_load_le32(r + SNP_VERSION);
    return v >= 2 && v <= 5 && tl_load_le32(r + SNP_SIG_ALGO) == 1;
}

int tl_snp_parse(const uint8_t *r, size_t len, tl_identity *id, tl_err *err)
{
    if (len != SNP_LEN)
        return tl_errf(err, TL_EINVAL, "SEV-SNP report is %zu bytes, expected %d", len, SNP_LEN);
    uint32_t v = tl_load_le32(r + SNP_VERSION);
    if (v < 2 || v > 5)
        return tl_errf(err, TL_EUNSUPPORTED, "SEV-SNP report version %u is not supported (2..5)", v);
    if (tl_load_le32(r + SNP_SIG_ALGO) != 1)
        return tl_errf(err, TL_EUNSUPPORTED, "SEV-SNP report signature algorithm %u is not ECDSA P-384 (1)",
                       tl_load_le32(r + SNP_SIG_ALGO));
    memset(id, 0, sizeof *id);
    id->kind = TL_TEE_KIND_SEV_SNP;
    memcpy(id->report_data, r + SNP_REPORT_DATA, 64);
    memcpy(id->snp_measurement, r + SNP_MEASUREMENT, 48);
    id->snp_policy = tl_load_le64(r + SNP_POLICY);
    id->debug = (id->snp_policy >> SNP_POLICY_DEBUG) & 1;
    return 0;
}
