/* Strict parser for Intel DCAP quotes: SGX v3 (tee_type 0) and TDX v4 (tee_type 0x81), layouts in
 * docs/attestation.md. Parsing checks structure only (every length, every bound, certification data
 * type 5 present); signatures are verified by verify_dcap.c / verify.c (tl_verify_sim). Pointers point into the
 * caller's buffer. */
#ifndef TEELM_TEE_QUOTE_H
#define TEELM_TEE_QUOTE_H

#include <stddef.h>
#include <stdint.h>

#include "tee/identity.h"
#include "util/err.h"

enum {
    TL_QUOTE_HEADER = 48,
    TL_SGX_REPORT_BODY = 384,
    TL_TDX_REPORT_BODY = 584,
    TL_TEE_TYPE_SGX = 0x00000000,
    TL_TEE_TYPE_TDX = 0x00000081,
};

typedef struct {
    uint16_t version;          /* 3 (SGX) or 4 (TDX) */
    uint16_t att_key_type;     /* 2 = ECDSA-256-with-P-256 */
    uint32_t tee_type;
    uint16_t qe_svn, pce_svn;
    const uint8_t *qe_vendor_id;   /* 16 */
    const uint8_t *body;       /* SGX report body (384) or TD report body (584), at offset 48 */
    size_t body_len;
    size_t signed_len;         /* header + body: what the quote signature covers */
    uint32_t sig_data_len;
    const uint8_t *sig;        /* ECDSA r‖s (64) over bytes [0, signed_len) */
    const uint8_t *att_key;    /* raw P-256 point x‖y (64) */
    uint16_t outer_cert_type;  /* v3: the cert type; v4: 6 */
    const uint8_t *qe_report;  /* SGX report body of the quoting enclave (384) */
    const uint8_t *qe_report_sig; /* ECDSA r‖s (64) by the PCK key over qe_report */
    const uint8_t *qe_auth;    /* QE authentication data */
    uint16_t qe_auth_len;
    uint16_t cert_type;        /* 5 = PEM chain PCK leaf ‖ intermediate ‖ root */
    const uint8_t *cert_data;
    uint32_t cert_len;
    size_t end;                /* end of the signature data; bytes after it are zero padding */
} tl_quote;

/* SGX report body offsets (relative to the body). */
enum {
    TL_RB_CPUSVN = 0, TL_RB_MISCSELECT = 16, TL_RB_ATTRIBUTES = 48, TL_RB_MRENCLAVE = 64,
    TL_RB_MRSIGNER = 128, TL_RB_ISVPRODID = 256, TL_RB_ISVSVN = 258, TL_RB_REPORTDATA = 320,
};
/* TD report body offsets (relative to the body; the quote offset is +48). */
enum {
    TL_TD_TEE_TCB_SVN = 0, TL_TD_MRSEAM = 16, TL_TD_MRSIGNERSEAM = 64, TL_TD_SEAM_ATTRIBUTES = 112,
    TL_TD_ATTRIBUTES = 120, TL_TD_XFAM = 128, TL_TD_MRTD = 136, TL_TD_MRCONFIGID = 184,
    TL_TD_MROWNER = 232, TL_TD_MROWNERCONFIG = 280, TL_TD_RTMR0 = 328, TL_TD_REPORTDATA = 520,
};

/* 0 when `q` is a well-formed quote; the message names the field that is wrong and its offset. */
int tl_quote_parse(const uint8_t *q, size_t len, tl_quote *out, tl_err *err);
/* Fills the identity fields that the quote states (kind, measurements, report data, debug);
 * leaves tcb_status empty. The caller must verify the quote before trusting them. */
void tl_quote_identity(const tl_quote *q, tl_identity *id);

#endif
