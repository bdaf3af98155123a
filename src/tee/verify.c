/* Evidence dispatch: SEV-SNP report (snp_verify.c), or DCAP-shaped quote whose certificate chain ends at the
 * simulation root (sim) or anywhere else (real DCAP, which then requires the pinned Intel root). */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "tee/certs.h"
#include "tee/ecdsa.h"
#include "tee/sim_ca.h"
#include "tee/verify_internal.h"
#include "util/sha.h"

int tl_quote_check_signatures(const tl_quote *q, X509 *pck, tl_err *err)
{
    EVP_PKEY *pk = X509_get0_pubkey(pck);
    if (!tl_is_p256(pk))
        return tl_errf(err, TL_ECRYPTO, "PCK certificate key is not ECDSA P-256");
    if (!tl_ecdsa_verify_raw(pk, q->qe_report, TL_SGX_REPORT_BODY, q->qe_report_sig))
        return tl_errf(err, TL_ECRYPTO, "QE report signature does not verify with the PCK certificate key");
    uint8_t h[32];
    tl_sha256_cat(q->att_key, 64, q->qe_auth, q->qe_auth_len, h);
    const uint8_t *rd = q->qe_report + TL_RB_REPORTDATA;
    static const uint8_t zero[32];
    if (CRYPTO_memcmp(rd, h, 32) != 0 || CRYPTO_memcmp(rd + 32, zero, 32) != 0)
        return tl_errf(err, TL_ECRYPTO,
                       "QE report data is not SHA-256(attestation key || QE auth data): the attestation key is not bound to the QE");
    EVP_PKEY *ak = tl_p256_from_raw(q->att_key);
    if (!ak)
        return tl_errf(err, TL_ECRYPTO, "attestation key is not a valid P-256 point");
    int ok = tl_ecdsa_verify_raw(ak, q->body - TL_QUOTE_HEADER, q->signed_len, q->sig);
    EVP_PKEY_free(ak);
    if (!ok)
        return tl_errf(err, TL_ECRYPTO, "quote signature does not verify with the attestation key (header or report body altered)");
    return 0;
}

int tl_verify_sim(const tl_quote *q, STACK_OF(X509) *chain, time_t now, tl_identity *id, tl_err *err)
{
    X509 *anchor = tl_x509_from_pem(tl_sim_root_pem);
    if (!anchor)
        return tl_errf(err, TL_ECRYPTO, "simulation root certificate is unreadable");
    int rc = tl_chain_verify(chain, anchor, NULL, now, "sim PCK certificate chain", err);
    X509_free(anchor);
    if (rc)
        return rc;
    if (q->version != 3)
        return tl_errf(err, TL_EINVAL, "sim evidence must be an SGX quote v3, got version %u", q->version);
    if ((rc = tl_quote_check_signatures(q, sk_X509_value(chain, 0), err)))
        return tl_err_prefix(err, "sim evidence");
    tl_quote_identity(q, id);
    id->simulated = 1;
    snprintf(id->tcb_status, sizeof id->tcb_status, "Simulated");
    return 0;
}

int tl_evidence_parse(const uint8_t *ev, size_t len, tl_identity *id, tl_err *err)
{
    memset(id, 0, sizeof *id);
    if (tl_is_snp_report(ev, len))
        return tl_snp_parse(ev, len, id, err);
    tl_quote q;
    if (tl_quote_parse(ev, len, &q, err))
        return err ? err->code : TL_EINVAL;
    tl_quote_identity(&q, id);
    /* unverified hint only: the chain ends at the simulation root */
    STACK_OF(X509) *chain = tl_pem_chain(q.cert_data, q.cert_len, 3, "quote PCK certificate chain", NULL);
    if (chain) {
        uint8_t fp[32];
        tl_x509_sha256(sk_X509_value(chain, 2), fp);
        id->simulated = CRYPTO_memcmp(fp, tl_sim_root_sha256, 32) == 0;
        sk_X509_pop_free(chain, X509_free);
    }
    return 0;
}

int tl_evidence_verify_opts(const uint8_t *ev, size_t len, const tl_collateral *col, time_t now,
                            const tl_verify_opts *o, tl_identity *id, tl_err *err)
{
    tl_err local = {0};
    if (!err)
        err = &local;
    memset(id, 0, sizeof *id);
    if (!ev)
        return tl_errf(err, TL_EINVAL, "no evidence");
    if (tl_is_snp_report(ev, len)) {
        int rc = tl_verify_snp(ev, len, now, o, id, err);
        if (rc)
            memset(id, 0, sizeof *id); /* nothing is trusted */
        return rc;
    }
    tl_quote q;
    STACK_OF(X509) *chain = tl_quote_pck_chain(ev, len, &q, err);
    if (!chain)
        return err->code;
    uint8_t fp[32];
    tl_x509_sha256(sk_X509_value(chain, 2), fp);
    int rc;
    if (CRYPTO_memcmp(fp, tl_sim_root_sha256, 32) == 0) {
        rc = tl_verify_sim(&q, chain, now, id, err);
    } else {
        X509 *anchor = o && o->root_der ? tl_x509_from_der(o->root_der, o->root_der_len)
                                        : tl_x509_from_der(tl_intel_root_der, tl_intel_root_der_len);
        uint8_t afp[32];
        if (anchor && !(o && o->root_der)) {
            tl_x509_sha256(anchor, afp);
            if (CRYPTO_memcmp(afp, tl_intel_root_sha256, 32) != 0) { /* the embedded copy was altered */
                X509_free(anchor);
                anchor = NULL;
            }
        }
        if (!anchor)
            rc = tl_errf(err, TL_ECRYPTO, "the trust anchor certificate is unreadable");
        else
            rc = tl_verify_dcap(&q, chain, col, now, anchor, id, err);
        X509_free(anchor);
    }
    sk_X509_pop_free(chain, X509_free);
    if (rc && rc != TL_ESTATE)
        memset(id, 0, sizeof *id);
    return rc;
}

int tl_evidence_verify(const uint8_t *ev, size_t len, const tl_collateral *col, time_t now, tl_identity *id,
                       tl_err *err)
{
    return tl_evidence_verify_opts(ev, len, col, now, NULL, id, err);
}
