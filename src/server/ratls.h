/* RA-TLS: a TLS certificate that carries TEE evidence binding the certificate's own public key
 * (docs/ra-tls.md). The server makes a fresh P-256 key pair at start, asks the TEE for evidence
 * whose report data is SHA-256(DER SubjectPublicKeyInfo) ‖ 32 zero bytes, and self-signs a
 * certificate with that evidence in a non-critical extension (OID TL_RATLS_OID). A client that
 * completes a TLS handshake with that certificate and checks the evidence knows its bytes go to
 * the key holder the evidence describes. */
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
#define TL_RATLS_VERSION 1
#define TL_RATLS_MAX_EVIDENCE (1 << 20) /* refuse larger extensions: no real quote is near this */

typedef struct {
    EVP_PKEY *key;           /* private key; never leaves the process */
    X509 *cert;              /* self-signed, with the evidence extension */
    uint8_t *evidence;       /* what the TEE returned (also inside the certificate) */
    size_t evidence_len;
    uint8_t pubkey_hash[32]; /* SHA-256(DER SubjectPublicKeyInfo) = report_data[0..32) */
    char tee[64];            /* tee->name, also inside the certificate */
    int simulated;
} tl_ratls;

/* Generates the key pair, gets evidence from tee and builds the certificate, valid from one
 * hour ago for validity_days. */
int tl_ratls_create(tl_tee *tee, int validity_days, tl_ratls *out, tl_err *err);
void tl_ratls_free(tl_ratls *r);

/* The report data that binds a public key: SHA-256(DER SubjectPublicKeyInfo) ‖ 32 zero bytes. */
int tl_ratls_report_data(EVP_PKEY *pub, uint8_t rd[64], tl_err *err);

/* Builds a self-signed certificate for key carrying (tee, evidence); used by tl_ratls_create and
 * by tests that need certificates with chosen contents. */
X509 *tl_ratls_make_cert(EVP_PKEY *key, const char *tee, const uint8_t *evidence, size_t len,
                         int validity_days, tl_err *err);

/* Parses the evidence extension of cert without verifying anything: *evidence is malloc'd;
 * tee (64 bytes) receives the backend name. Fails naming the problem when the extension is absent,
 * repeated, malformed or of another version. */
int tl_ratls_extract(X509 *cert, uint8_t **evidence, size_t *len, char tee[64], tl_err *err);

/* The whole client-side check of a peer certificate: extract the evidence, verify it
 * (tl_evidence_verify with col at now), require report_data == tl_ratls_report_data(cert key),
 * then tl_policy_check. On success *id describes the server. Messages name what failed. */
int tl_ratls_verify_cert(X509 *cert, const tl_policy *policy, const tl_collateral *col, time_t now,
                         tl_identity *id, tl_err *err);

#endif
