/* AMD SEV-SNP evidence: the ATTESTATION_REPORT (AMD SEV-SNP ABI spec 56860, 1184 bytes,
 * little-endian, versions 2, 3 and 5), the TCB_VERSION layouts of Milan/Genoa and Turin, and the
 * certificate table (GHCB spec 56421 §4.1.8.1) that carries VCEK/VLEK, ASK/ASVK and ARK with the
 * report. teelm's SNP evidence is the report followed by that table (docs/attestation-snp.md).
 * Parsing checks structure only; tee/verify.h verifies. */
#ifndef TEELM_TEE_SNP_H
#define TEELM_TEE_SNP_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum {
    TL_SNP_REPORT_LEN = 1184,
    TL_SNP_SIGNED_LEN = 0x2A0, /* the signature covers bytes 0x000..0x29F */
    TL_SNP_MAX_CERTS = 8,      /* entries in a certificate table */
};

typedef enum { TL_SNP_MILAN = 0, TL_SNP_GENOA = 1, TL_SNP_TURIN = 2, TL_SNP_NPRODUCTS = 3 } tl_snp_product;
const char *tl_snp_product_name(int product); /* "Milan", "Genoa", "Turin", "unknown" */

/* TCB_VERSION, decoded. Milan/Genoa: byte0 bootloader, byte1 TEE, byte6 SNP, byte7 microcode;
 * Turin: byte0 FMC, byte1 bootloader, byte2 TEE, byte3 SNP, byte7 microcode. */
typedef struct {
    uint8_t bootloader, tee, snp, microcode, fmc; /* fmc: Turin only (0 elsewhere) */
} tl_snp_tcb;
void tl_snp_tcb_decode(uint64_t raw, int turin, tl_snp_tcb *out);

/* Signer info (0x48) bits 2-4: which key signed. */
enum { TL_SNP_SIGNER_VCEK = 0, TL_SNP_SIGNER_VLEK = 1, TL_SNP_SIGNER_NONE = 7 };

typedef struct {
    uint32_t version, guest_svn;
    uint64_t policy;
    uint8_t family_id[16], image_id[16];
    uint32_t vmpl, sig_algo;
    uint64_t current_tcb, platform_info;
    uint32_t signer_info;     /* bit 0 author_key_en, bit 1 mask_chip_key, bits 2-4 signing key */
    int signer;               /* TL_SNP_SIGNER_* (from signer_info) */
    uint8_t report_data[64], measurement[48], host_data[32], id_key_digest[48], author_key_digest[48];
    uint8_t report_id[32], report_id_ma[32];
    uint64_t reported_tcb;
    uint8_t cpuid_fam, cpuid_mod, cpuid_step; /* v3+; 0 in v2 */
    int product;              /* from CPUID (v3+), TL_SNP_*; -1 when the report does not say (v2) */
    uint8_t chip_id[64];      /* Turin: 8 bytes, the rest zero */
    uint64_t committed_tcb, launch_tcb;
    uint8_t current_build, current_minor, current_major, committed_build, committed_minor, committed_major;
    uint64_t launch_mit_vector, current_mit_vector; /* v5; 0 otherwise */
    uint8_t sig_r[48], sig_s[48]; /* big-endian, converted from the 72-byte little-endian fields */
} tl_snp_report;

/* Policy bits (0x08). */
enum { TL_SNP_POLICY_SMT = 16, TL_SNP_POLICY_MIGRATE_MA = 18, TL_SNP_POLICY_DEBUG = 19, TL_SNP_POLICY_SINGLE_SOCKET = 20 };

/* 1 when r starts like a report (at least 1184 bytes, a 32-bit version 1..31, which the parser
 * then judges); a DCAP quote never does (its first 32 bits are 0x00020003 / 0x00020004). */
int tl_snp_looks_like(const uint8_t *r, size_t len);
/* Parses exactly TL_SNP_REPORT_LEN bytes; the message names the field and offset that is wrong
 * (size, version, signature algorithm, signer "none" or reserved, nonzero bytes where the 72-byte
 * R/S fields or the signature's reserved area must be zero). */
int tl_snp_report_parse(const uint8_t *r, size_t len, tl_snp_report *out, tl_err *err);
/* The product named by CPUID family/model, or -1 (family 19h model 0x-0Fh Milan, 10h-1Fh and
 * A0h-AFh Genoa; family 1Ah model 00h-11h Turin). */
int tl_snp_product_of_cpuid(uint8_t family, uint8_t model);

/* The AMD KDS address of the VCEK for this report's chip and reported TCB:
 * https://kdsintf.amd.com/vcek/v1/PRODUCT/HWID?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=.. (Turin: an
 * 8-byte HWID and fmcSPL too). product -1 (v2 reports) writes "PRODUCT" for the caller to fill.
 * base NULL = "https://kdsintf.amd.com". Returns 0, or -1 when it does not fit. */
int tl_snp_kds_vcek_url_base(const char *base, const tl_snp_report *s, int product, char *out, size_t n);
#define tl_snp_kds_vcek_url(s, p, out, n) tl_snp_kds_vcek_url_base(NULL, s, p, out, n)

/* Certificate table entries (GUID in RFC 4122 byte order, as AMD's tools and Linux store it). */
typedef enum { TL_SNP_CERT_VCEK, TL_SNP_CERT_VLEK, TL_SNP_CERT_ASK, TL_SNP_CERT_ARK, TL_SNP_CERT_OTHER } tl_snp_cert_kind;
typedef struct {
    tl_snp_cert_kind kind;
    const uint8_t *der;
    size_t len;
} tl_snp_cert_entry;
/* Parses a table: 24-byte entries {guid, offset le32, length le32} ending with an all-zero entry,
 * offsets from the table's start, each certificate inside the table. Pointers into `t`. */
int tl_snp_certtable_parse(const uint8_t *t, size_t len, tl_snp_cert_entry out[TL_SNP_MAX_CERTS], int *n, tl_err *err);
/* Builds a table from DER certificates (malloc'd). */
int tl_snp_certtable_build(const tl_snp_cert_entry *in, int n, uint8_t **out, size_t *len, tl_err *err);

#endif
