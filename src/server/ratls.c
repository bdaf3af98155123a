/* RA-TLS certificate: build (server) and check (client). Format in docs/ra-tls.md. */
#include "server/ratls.h"

#include <openssl/asn1t.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "util/codec.h"

/* TeelmEvidence ::= SEQUENCE { version INTEGER, tee UTF8String, evidence OCTET STRING } */
typedef struct {
    ASN1_INTEGER *version;
    ASN1_UTF8STRING *tee;
    ASN1_OCTET_STRING *evidence;
} TEELM_EVIDENCE;

ASN1_SEQUENCE(TEELM_EVIDENCE) = {
    ASN1_SIMPLE(TEELM_EVIDENCE, version, ASN1_INTEGER),
    ASN1_SIMPLE(TEELM_EVIDENCE, tee, ASN1_UTF8STRING),
    ASN1_SIMPLE(TEELM_EVIDENCE, evidence, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END(TEELM_EVIDENCE)

static TEELM_EVIDENCE *TEELM_EVIDENCE_new(void)
{
    return (TEELM_EVIDENCE *)ASN1_item_new(ASN1_ITEM_rptr(TEELM_EVIDENCE));
}
static void TEELM_EVIDENCE_free(TEELM_EVIDENCE *te)
{
    ASN1_item_free((ASN1_VALUE *)te, ASN1_ITEM_rptr(TEELM_EVIDENCE));
}
static int i2d_TEELM_EVIDENCE(TEELM_EVIDENCE *te, unsigned char **out)
{
    return ASN1_item_i2d((ASN1_VALUE *)te, out, ASN1_ITEM_rptr(TEELM_EVIDENCE));
}
static TEELM_EVIDENCE *d2i_TEELM_EVIDENCE(const unsigned char **in, long len)
{
    return (TEELM_EVIDENCE *)ASN1_item_d2i(NULL, in, len, ASN1_ITEM_rptr(TEELM_EVIDENCE));
}

int tl_ratls_report_data(EVP_PKEY *pub, uint8_t rd[64], tl_err *err)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pub, &der);
    if (n <= 0)
        return tl_err_ssl(err, TL_ECRYPTO, "ra-tls: encoding the public key");
    memset(rd, 0, 64);
    SHA256(der, (size_t)n, rd);
    OPENSSL_free(der);
    return 0;
}

static ASN1_OBJECT *ratls_oid(void)
{
    return OBJ_txt2obj(TL_RATLS_OID, 1);
}

static X509_EXTENSION *make_ext(const char *tee, const uint8_t *ev, size_t len, tl_err *err)
{
    X509_EXTENSION *ext = NULL;
    ASN1_OBJECT *oid = ratls_oid();
    TEELM_EVIDENCE *te = TEELM_EVIDENCE_new();
    ASN1_OCTET_STRING *val = ASN1_OCTET_STRING_new();
    unsigned char *der = NULL;
    int n = -1;
    if (!oid || !te || !val || !ASN1_INTEGER_set(te->version, TL_RATLS_VERSION) ||
        !ASN1_STRING_set(te->tee, tee, (int)strlen(tee)) || !ASN1_OCTET_STRING_set(te->evidence, ev, (int)len) ||
        (n = i2d_TEELM_EVIDENCE(te, &der)) <= 0 || !ASN1_OCTET_STRING_set(val, der, n) ||
        !(ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, val)))
        tl_err_ssl(err, TL_ECRYPTO, "ra-tls: encoding the evidence extension");
    OPENSSL_free(der);
    ASN1_OCTET_STRING_free(val);
    TEELM_EVIDENCE_free(te);
    ASN1_OBJECT_free(oid);
    return ext;
}

static int add_v3(X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = e && X509_add_ext(cert, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

X509 *tl_ratls_make_cert(EVP_PKEY *key, const char *tee, const uint8_t *evidence, size_t len,
                         int validity_days, tl_err *err)
{
    if (len == 0 || len > TL_RATLS_MAX_EVIDENCE || strlen(tee) >= 64) {
        tl_errf(err, TL_EINVAL, "ra-tls: evidence of %zu bytes or tee name is out of range", len);
        return NULL;
    }
    X509 *cert = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509_EXTENSION *ext = make_ext(tee, evidence, len, err);
    BIGNUM *serial = BN_new();
    int ok = cert && name && ext && serial;
    /* random positive 127-bit serial: certificates of two server starts never collide */
    ok = ok && BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
         BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert));
    ok = ok && X509_set_version(cert, 2) &&
         X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"teelm", -1, -1, 0) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"teelm RA-TLS", -1, -1, 0) &&
         X509_set_subject_name(cert, name) && X509_set_issuer_name(cert, name) &&
         X509_gmtime_adj(X509_getm_notBefore(cert), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(cert), (long)validity_days * 86400) && X509_set_pubkey(cert, key) &&
         add_v3(cert, NID_basic_constraints, "critical,CA:FALSE") &&
         add_v3(cert, NID_key_usage, "critical,digitalSignature") && add_v3(cert, NID_ext_key_usage, "serverAuth") &&
         X509_add_ext(cert, ext, -1) && X509_sign(cert, key, EVP_sha256()) > 0;
    BN_free(serial);
    X509_EXTENSION_free(ext);
    X509_NAME_free(name);
    if (!ok) {
        if (!err || !err->code)
            tl_err_ssl(err, TL_ECRYPTO, "ra-tls: building the certificate");
        X509_free(cert);
        return NULL;
    }
    return cert;
}

int tl_ratls_create(tl_tee *tee, int validity_days, tl_ratls *out, tl_err *err)
{
    memset(out, 0, sizeof *out);
    out->key = EVP_EC_gen("P-256");
    if (!out->key)
        return tl_err_ssl(err, TL_ECRYPTO, "ra-tls: generating the key pair");
    uint8_t rd[64];
    if (tl_ratls_report_data(out->key, rd, err))
        goto fail;
    memcpy(out->pubkey_hash, rd, 32);
    if (tl_tee_evidence(tee, rd, &out->evidence, &out->evidence_len, err)) {
        tl_err_prefix(err, "ra-tls: evidence from tee %s", tee->name);
        goto fail;
    }
    snprintf(out->tee, sizeof out->tee, "%s", tee->name);
    out->simulated = tee->simulated;
    out->cert = tl_ratls_make_cert(out->key, out->tee, out->evidence, out->evidence_len, validity_days, err);
    if (!out->cert)
        goto fail;
    return 0;
fail:
    tl_ratls_free(out);
    return err ? err->code : TL_ECRYPTO;
}

void tl_ratls_free(tl_ratls *r)
{
    EVP_PKEY_free(r->key);
    X509_free(r->cert);
    free(r->evidence);
    memset(r, 0, sizeof *r);
}

int tl_ratls_extract(X509 *cert, uint8_t **evidence, size_t *len, char tee[64], tl_err *err)
{
    *evidence = NULL;
    *len = 0;
    ASN1_OBJECT *oid = ratls_oid();
    if (!oid)
        return tl_err_ssl(err, TL_ECRYPTO, "ra-tls: OID");
    int at = X509_get_ext_by_OBJ(cert, oid, -1);
    int again = at >= 0 ? X509_get_ext_by_OBJ(cert, oid, at) : -1;
    ASN1_OBJECT_free(oid);
    if (at < 0)
        return tl_errf(err, TL_EINVAL, "server certificate has no RA-TLS evidence extension (%s): not a teelm RA-TLS server", TL_RATLS_OID);
    if (again >= 0)
        return tl_errf(err, TL_EINVAL, "server certificate has the RA-TLS evidence extension twice");
    ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(X509_get_ext(cert, at));
    const unsigned char *p = ASN1_STRING_get0_data(val);
    long n = ASN1_STRING_length(val);
    const unsigned char *end = p + n;
    if (n <= 0 || n > TL_RATLS_MAX_EVIDENCE + 4096)
        return tl_errf(err, TL_EINVAL, "RA-TLS extension: %ld bytes is out of range", n);
    TEELM_EVIDENCE *te = d2i_TEELM_EVIDENCE(&p, n);
    ERR_clear_error();
    int rc = 0;
    int64_t version = 0;
    if (!te)
        rc = tl_errf(err, TL_EINVAL, "RA-TLS extension: not a DER TeelmEvidence SEQUENCE");
    else if (p != end)
        rc = tl_errf(err, TL_EINVAL, "RA-TLS extension: %ld trailing bytes after TeelmEvidence", (long)(end - p));
    else if (!ASN1_INTEGER_get_int64(&version, te->version) || version != TL_RATLS_VERSION)
        rc = tl_errf(err, TL_EUNSUPPORTED, "RA-TLS extension: version %lld (this teelm reads version %d)", (long long)version, TL_RATLS_VERSION);
    else if (ASN1_STRING_length(te->tee) <= 0 || ASN1_STRING_length(te->tee) >= 64)
        rc = tl_errf(err, TL_EINVAL, "RA-TLS extension: tee name of %d bytes", ASN1_STRING_length(te->tee));
    else if (ASN1_STRING_length(te->evidence) <= 0 || ASN1_STRING_length(te->evidence) > TL_RATLS_MAX_EVIDENCE)
        rc = tl_errf(err, TL_EINVAL, "RA-TLS extension: evidence of %d bytes", ASN1_STRING_length(te->evidence));
    if (!rc) {
        int tl = ASN1_STRING_length(te->tee);
        const unsigned char *t = ASN1_STRING_get0_data(te->tee);
        for (int i = 0; i < tl; i++)
            tee[i] = (t[i] >= 0x20 && t[i] < 0x7f) ? (char)t[i] : '?'; /* printable: it reaches messages */
        tee[tl] = 0;
        *len = (size_t)ASN1_STRING_length(te->evidence);
        *evidence = malloc(*len);
        if (!*evidence)
            rc = tl_errf(err, TL_ENOMEM, "RA-TLS extension: out of memory");
        else
            memcpy(*evidence, ASN1_STRING_get0_data(te->evidence), *len);
    }
    TEELM_EVIDENCE_free(te);
    if (rc)
        *len = 0;
    return rc;
}

int tl_ratls_verify_cert(X509 *cert, const tl_policy *policy, const tl_collateral *col, time_t now,
                         tl_identity *id, tl_err *err)
{
    memset(id, 0, sizeof *id);
    uint8_t *ev = NULL, rd[64];
    size_t len = 0;
    char tee[64];
    int rc = tl_ratls_extract(cert, &ev, &len, tee, err);
    if (rc)
        return rc;
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    if (!pub) {
        rc = tl_err_ssl(err, TL_EINVAL, "server certificate: public key");
    } else if (X509_verify(cert, pub) != 1) {
        rc = tl_err_ssl(err, TL_ECRYPTO, "server certificate: self-signature does not verify");
    } else if ((rc = tl_evidence_verify(ev, len, col, now, id, err))) {
        tl_err_prefix(err, "server evidence (tee %s)", tee);
    } else if ((rc = tl_ratls_report_data(pub, rd, err))) {
        ;
    } else if (CRYPTO_memcmp(rd, id->report_data, 64) != 0) {
        char want[65], got[65];
        tl_hex(rd, 32, want);
        tl_hex(id->report_data, 32, got);
        rc = tl_errf(err, TL_ECRYPTO,
                     "report_data does not bind the server's TLS key: report_data[0..32) is %s but SHA-256 of the "
                     "certificate's public key is %s (the evidence belongs to another key)", got, want);
    } else if ((rc = tl_policy_check(policy, id, err))) {
        ;
    }
    free(ev);
    return rc;
}
