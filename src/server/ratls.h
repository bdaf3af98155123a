/* RA-TLS: a TLS certificate that carries TEE evidence binding the certificate's own public key and
 * the server's configuration document (docs/ra-tls.md). The server makes a fresh P-256 key pair at
 * start, asks the TEE for evidence whose report data is the teelm binding "ra-tls" over
 * (SHA-256(DER SubjectPublicKeyInfo), SHA-256(configuration document)) (tee/binding.h), and
 * self-signs a certificate with the evidence and the document in a non-critical extension (OID
 * TL_RATLS_OID). A client that completes a TLS handshake with that certificate and checks the
 * evidence knows its bytes go to the key holder the evidence describes, configured as the document
 * says. */
#ifndef TEELM_SERVER_RATLS_H
#define TEELM_SERVER_RATLS_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tee/identity.h"
#include "tee/policy.h"
#include "tee/tee.h"
#include "tee/verify.h"
#include "util/err.h"

/* teelm's private arc is the UUID OID 2.25.<uuid 1e949563-8f27-41f7-b6db-ca692cd31783>;
 * .1 under it is the RA-TLS evidence extension. */
#define TL_RATLS_ARC "2.25.40648329775533479721960150952957908867"
#define TL_RATLS_OID TL_RATLS_ARC ".1"
#define TL_RATLS_VERSION 3 /* 3: the receipt signing key (docs/receipts.md) */
#define TL_RATLS_MAX_CONFIG (64 << 10) /* the configuration document */
#define TL_RATLS_MAX_EVIDENCE (1 << 20) /* refuse larger extensions: no real quote is near this */

typedef struct {
    EVP_PKEY *key;           /* private key; never leaves the process */
    X509 *cert;              /* self-signed, with the evidence extension */
    uint8_t *evidence;       /* what the TEE returned (also inside the certificate) */
    size_t evidence_len;
    uint8_t pubkey_hash[32]; /* SHA-256(DER SubjectPublicKeyInfo) */
    uint8_t config_hash[32]; /* SHA-256(configuration document) */
    uint8_t report_data[64]; /* the "ra-tls" binding of the three */
    EVP_PKEY *receipt_key;   /* Ed25519: signs the receipts of completions (docs/receipts.md); never leaves */
    uint8_t receipt_pub[32]; /* its raw public key (RFC 8032), the binding's third field */
    uint8_t evidence_sha256[32]; /* SHA-256(evidence): receipts name the evidence by it */
    char *config;            /* the configuration document (also inside the certificate), NUL-terminated */
    size_t config_len;
    char tee[64];            /* tee->name, also inside the certificate */
    int simulated;
} tl_ratls;

/* Generates the TLS key pair and the Ed25519 receipt key, gets evidence from tee binding both and config (config_len bytes, 1 ..
 * TL_RATLS_MAX_CONFIG) and builds the certificate, valid from one hour ago for validity_days. */
int tl_ratls_create(tl_tee *tee, const char *config, size_t config_len, int validity_days, tl_ratls *out, tl_err *err);
void tl_ratls_free(tl_ratls *r);

/* The report data that binds a TLS public key, a configuration document and a receipt key:
 * binding("ra-tls", SHA-256(DER SubjectPublicKeyInfo), SHA-256(config), receipt_pub (32 bytes,
 * raw Ed25519)). pubkey_hash (may be NULL) receives the first field. */
int tl_ratls_report_data(EVP_PKEY *pub, const void *config, size_t config_len, const uint8_t receipt_pub[32],
                         uint8_t rd[64], uint8_t pubkey_hash[32], tl_err *err);

/* Builds a self-signed certificate for key carrying (tee, evidence, config, receipt_pub); used by
 * tl_ratls_create and by tests that need certificates with chosen contents. */
X509 *tl_ratls_make_cert(EVP_PKEY *key, const char *tee, const uint8_t *evidence, size_t len, const char *config,
                         size_t config_len, const uint8_t receipt_pub[32], int validity_days, tl_err *err);

/* What a certificate's evidence extension carries (tl_ratls_extract; tl_ratls_ext_free). */
typedef struct {
    uint8_t *evidence; /* malloc'd */
    size_t len;
    char tee[64];      /* the backend name, printable */
    char *config;      /* malloc'd, NUL-terminated */
    size_t config_len;
    uint8_t receipt_pub[32];
} tl_ratls_ext;

/* Parses the evidence extension of cert into *x without verifying anything. Fails naming the
 * problem when the extension is absent, repeated, malformed or of another version; *x is then
 * empty (nothing to free). */
int tl_ratls_extract(X509 *cert, tl_ratls_ext *x, tl_err *err);
void tl_ratls_ext_free(tl_ratls_ext *x);

/* The whole client-side check of a peer certificate: validity dates at now, not a CA, extract the
 * evidence, verify it (tl_evidence_verify with col at now), require report_data ==
 * tl_ratls_report_data(cert key, carried configuration, carried receipt key), then tl_policy_check.
 * On success *id describes the server. Messages name what failed. */
int tl_ratls_verify_cert(X509 *cert, const tl_policy *policy, const tl_collateral *col, time_t now,
                         tl_identity *id, tl_err *err);

#endif
