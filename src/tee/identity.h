/* What verified evidence says about the code that produced it. Filled by the verifiers
 * (DCAP SGX/TDX, sim), judged by policy.h. */
#ifndef TEELM_TEE_IDENTITY_H
#define TEELM_TEE_IDENTITY_H

#include <stdint.h>

typedef enum {
    TL_TEE_KIND_SGX = 1,
    TL_TEE_KIND_TDX = 2,
    TL_TEE_KIND_SEV_SNP = 3,
} tl_tee_kind;

typedef struct {
    tl_tee_kind kind;
    int simulated;               /* evidence from the sim backend (protects nothing) */
    int debug;                   /* SGX debug enclave / TD debug attribute / SNP debug policy */
    uint8_t report_data[64];
    /* SGX */
    uint8_t mrenclave[32];
    uint8_t mrsigner[32];
    uint16_t isv_prod_id;
    uint16_t isv_svn;
    uint8_t attributes[16];
    /* TDX */
    uint8_t mrtd[48];
    uint8_t rtmr[4][48];
    uint8_t td_attributes[8];
    uint8_t tee_tcb_svn[16];
    /* SEV-SNP */
    uint8_t snp_measurement[48];
    /* platform verdict */
    char tcb_status[48];         /* "UpToDate", "OutOfDate", ... ("Simulated" for sim) */
    char advisories[512];        /* comma-separated advisory ids */
    /* DCAP details (empty for sim): */
    char qe_status[48];          /* QE identity level status */
    char tdx_module_status[48];  /* TDX module identity level status ("" for SGX) */
    char tcb_date[32];           /* tcbDate of the matched TCB level */
    uint8_t fmspc[6];
    uint64_t snp_policy;         /* SEV-SNP guest policy */
    /* SEV-SNP report fields (tee/snp.h, docs/attestation-snp.md) */
    uint32_t snp_version, snp_vmpl, snp_guest_svn;
    int snp_signer;              /* TL_SNP_SIGNER_VCEK 0 / VLEK 1 */
    int snp_product;             /* TL_SNP_MILAN.. (the verified chain's product); -1 unknown */
    uint64_t snp_reported_tcb, snp_platform_info;
    uint8_t snp_host_data[32], snp_id_key_digest[48], snp_author_key_digest[48], snp_chip_id[64];
    uint8_t snp_family_id[16], snp_image_id[16];
} tl_identity;

/* The identity as a JSON object text (malloc'd; hex strings, only the fields of its kind), for
 * `teelm attest --json`, logs of verdicts and the client. NULL when out of memory. */
char *tl_identity_to_json(const tl_identity *id);
const char *tl_tee_kind_name(tl_tee_kind k); /* "SGX", "TDX", "SEV-SNP" */

#endif
