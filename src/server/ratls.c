/* RA-TLS certificate: build (server) and check (client). Format in docs/ra-tls.md. */
#include "server/ratls.h"

#include <openssl/asn1t.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "tee/binding.h"
#include "util/codec.h"
#include "util/sha.h"

/* TeelmEvidence ::= SEQUENCE { version INTEGER, tee UTF8String, evidence OCTET STRING,
 *                              config OCTET STRING, receiptKey OCTET STRING } */
typedef struct {
    ASN1_INTEGER *version;
    ASN1_UTF8STRING *tee;
    ASN1_OCTET_STRING *evidence;
    ASN1_OCTET_STRING *config;
    ASN1_OCTET_STRING *receipt_key;
} TEELM_EVIDENCE;

ASN1_SEQUENCE(TEELM_EVIDENCE) = {
    ASN1_SIMPLE(TEELM_EVIDENCE, version, ASN1_INTEGER),
    ASN1_SIMPLE(TEELM_EVIDENCE, tee, ASN1_UTF8STRING),
    ASN1_SIMPLE(TEELM_EVIDENCE, evidence, ASN1_OCTET_STRING),
    ASN1_SIMPLE(TEELM_EVIDENCE, config, ASN1_OCTET_STRING),
    ASN1_SIMPLE(TEELM_EVIDENCE, receipt_key, ASN1_OCTET_STRING),
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

int tl_ratls_report_data(EVP_PKEY *pub, const void *config, size_t config_len, const uint8_t receipt_pub[32],
                         uint8_t rd[64], uint8_t pubkey_hash[32], tl_err *err)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pub, &der);
    if (n <= 0)
        return tl_err_ssl(err, TL_ECRYPTO, "ra-tls: encoding the public key");
    uint8_t h[2][32];
    tl_sha256(der, (size_t)n, h[0]);
    OPENSSL_free(der);
    tl_sha256(config, config_len, h[1]);
    if (pubkey_hash)
        memcpy(pubkey_hash, h[0], 32);
    const tl_bind_field f[] = {{h[0], 32}, {h[1], 32}, {receipt_pub, 32}};
    return tl_binding_report_data(TL_BIND_RA_TLS, f, 3, rd, err);
}

static ASN1_OBJECT *ratls_oid(void)
{
    return OBJ_txt2obj(TL_RATLS_OID, 1);
}

static X509_EXTENSION *make_ext(const char *tee, const uint8_t *ev, size_t len, const char *cfg, size_t cfg_len,
                                const uint8_t receipt_pub[32], tl_err *err)
{
    X509_EXTENSION *ext = NULL;
    ASN1_OBJECT *oid = ratls_oid();
    TEELM_EVIDENCE *te = TEELM_EVIDENCE_new();
    ASN1_OCTET_STRING *val = ASN1_OCTET_STRING_new();
    unsigned char *der = NULL;
    int n = -1;
    if (!oid || !te || !val || !ASN1_INTEGER_set(te->version, TL_RATLS_VERSION) ||
        !ASN1_STRING_set(te->tee, tee, (int)strlen(tee)) || !ASN1_OCTET_STRING_set(te->evidence, ev, (int)len) ||
        !ASN1_OCTET_STRING_set(te->config, (const unsigned char *)cfg, (int)cfg_len) ||
        !ASN1_OCTET_STRING_set(te->receipt_key, receipt_pub, 32) ||
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

X509 *tl_ratls_make_cert(EVP_PKEY *key, const char *tee, const uint8_t *evidence, size_t len, const char *config,
                         size_t config_len, const uint8_t receipt_pub[32], int validity_days, tl_err *err)
{
    if (len == 0 || len > TL_RATLS_MAX_EVIDENCE || strlen(tee) >= 64 || config_len == 0 ||
        config_len > TL_RATLS_MAX_CONFIG) {
        tl_errf(err, TL_EINVAL, "ra-tls: evidence of %zu bytes, configuration of %zu bytes or tee name is out of range",
                len, config_len);
        return NULL;
    }
    X509 *cert = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509_EXTENSION *ext = make_ext(tee, evidence, len, config, config_len, receipt_pub, err);
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

int tl_ratls_create(tl_tee *tee, const char *config, size_t config_len, int validity_days, tl_ratls *out, tl_err *err)
{
    memset(out, 0, sizeof *out);
    if (!config || config_len == 0 || config_len > TL_RATLS_MAX_CONFIG)
        return tl_errf(err, TL_EINVAL, "ra-tls: configuration document of %zu bytes is out of range", config_len);
    out->key = EVP_EC_gen("P-256");
    if (!out->key)
        return tl_err_ssl(err, TL_ECRYPTO, "ra-tls: generating the key pair");
    if (!(out->config = malloc(config_len + 1))) {
        tl_errf(err, TL_ENOMEM, "ra-tls: out of memory");
        goto fail;
    }
    memcpy(out->config, config, config_len);
    out->config[config_len] = 0;
    out->config_len = config_len;
    tl_sha256(config, config_len, out->config_hash);
    /* the receipt key: made here, in the TEE, and bound by the same evidence as the TLS key */
    size_t pl = 32;
    if (!(out->receipt_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) ||
        EVP_PKEY_get_raw_public_key(out->receipt_key, out->receipt_pub, &pl) != 1 || pl != 32) {
        tl_err_ssl(err, TL_ECRYPTO, "ra-tls: generating the Ed25519 receipt key");
        goto fail;
    }
    if (tl_ratls_report_data(out->key, config, config_len, out->receipt_pub, out->report_data, out->pubkey_hash, err))
        goto fail;
    if (tl_tee_evidence(tee, out->report_data, &out->evidence, &out->evidence_len, err)) {
        tl_err_prefix(err, "ra-tls: evidence from tee %s", tee->name);
        goto fail;
    }
    SHA256(out->evidence, out->evidence_len, out->evidence_sha256);
    snprintf(out->tee, sizeof out->tee, "%s", tee->name);
    out->simulated = tee->simulated;
    out->cert = tl_ratls_make_cert(out->key, out->tee, out->evidence, out->evidence_len, out->config, out->config_len,
                                   out->receipt_pub, validity_days, err);
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
    EVP_PKEY_free(r->receipt_key);
    X509_free(r->cert);
    free(r->evidence);
    free(r->config);
    memset(r, 0, sizeof *r);
}

int tl_ratls_extract(X509 *cert, tl_ratls_ext *x, tl_err *err)
{
    memset(x, 0, sizeof *x);
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
    if (n <= 0 || n > TL_RATLS_MAX_EVIDENCE + TL_RATLS_MAX_CONFIG + 4096)
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
    else if (ASN1_STRING_length(te->config) <= 0 || ASN1_STRING_length(te->config) > TL_RATLS_MAX_CONFIG)
        rc = tl_errf(err, TL_EINVAL, "RA-TLS extension: configuration document of %d bytes", ASN1_STRING_length(te->config));
    else if (ASN1_STRING_length(te->receipt_key) != 32)
        rc = tl_errf(err, TL_EINVAL, "RA-TLS extension: receipt key of %d bytes (an Ed25519 public key has 32)",
                     ASN1_STRING_length(te->receipt_key));
    if (!rc)
        memcpy(x->receipt_pub, ASN1_STRING_get0_data(te->receipt_key), 32);
    if (!rc) {
        int tl = ASN1_STRING_length(te->tee);
        const unsigned char *t = ASN1_STRING_get0_data(te->tee);
        for (int i = 0; i < tl; i++)
            x->tee[i] = (t[i] >= 0x20 && t[i] < 0x7f) ? (char)t[i] : '?'; /* printable: it reaches messages */
        x->len = (size_t)ASN1_STRING_length(te->evidence);
        x->config_len = (size_t)ASN1_STRING_length(te->config);
        x->evidence = malloc(x->len);
        x->config = malloc(x->config_len + 1);
        if (!x->evidence || !x->config) {
            rc = tl_errf(err, TL_ENOMEM, "RA-TLS extension: out of memory");
        } else {
            memcpy(x->evidence, ASN1_STRING_get0_data(te->evidence), x->len);
            memcpy(x->config, ASN1_STRING_get0_data(te->config), x->config_len);
            x->config[x->config_len] = 0;
        }
    }
    TEELM_EVIDENCE_free(te);
    if (rc)
        tl_ratls_ext_free(x);
    return rc;
}

void tl_ratls_ext_free(tl_ratls_ext *x)
{
    free(x->evidence);
    free(x->config);
    memset(x, 0, sizeof *x);
}


/* The certificate itself, before its evidence: in its validity period and not a CA. RA-TLS
 * certificates are leaves that sign nothing but the handshake. */
static int check_cert(X509 *cert, time_t now, tl_err *err)
{
    time_t t = now;
    if (X509_cmp_time(X509_get0_notBefore(cert), &t) >= 0)
        return tl_errf(err, TL_ESTATE, "server certificate is not valid yet (notBefore is after now)");
    if (X509_cmp_time(X509_get0_notAfter(cert), &t) <= 0)
        return tl_errf(err, TL_ESTATE, "server certificate has expired (notAfter is before now)");
    uint32_t fl = X509_get_extension_flags(cert); /* also caches the extensions it parsed */
    if (fl & EXFLAG_INVALID)
        return tl_errf(err, TL_EINVAL, "server certificate has a malformed extension");
    if (fl & EXFLAG_CA)
        return tl_errf(err, TL_EINVAL, "server certificate is a CA certificate (basicConstraints CA:TRUE): an "
                                       "RA-TLS certificate must be a leaf");
    if ((fl & EXFLAG_KUSAGE) && (X509_get_key_usage(cert) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)))
        return tl_errf(err, TL_EINVAL, "server certificate's keyUsage allows signing certificates");
    return 0;
}

int tl_ratls_verify_cert(X509 *cert, const tl_policy *policy, const tl_collateral *col, time_t now,
                         tl_identity *id, tl_err *err)
{
    memset(id, 0, sizeof *id);
    uint8_t rd[64], pkh[32];
    tl_ratls_ext x;
    int rc = check_cert(cert, now, err);
    if (rc || (rc = tl_ratls_extract(cert, &x, err)))
        return rc;
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    if (!pub) {
        rc = tl_err_ssl(err, TL_EINVAL, "server certificate: public key");
    } else if (X509_verify(cert, pub) != 1) {
        rc = tl_err_ssl(err, TL_ECRYPTO, "server certificate: self-signature does not verify");
    } else if ((rc = tl_evidence_verify(x.evidence, x.len, col, now, id, err))) {
        tl_err_prefix(err, "server evidence (tee %s)", x.tee);
    } else if ((rc = tl_ratls_report_data(pub, x.config, x.config_len, x.receipt_pub, rd, pkh, err))) {
        ;
    } else if (CRYPTO_memcmp(rd, id->report_data, 64) != 0) {
        char want[33], got[33];
        tl_hex(rd, 16, want);
        tl_hex(id->report_data, 16, got);
        rc = tl_errf(err, TL_ECRYPTO,
                     "report_data does not bind the server's TLS key and configuration: it starts %s, but the "
                     "teelm/ra-tls/v1 binding of this certificate's key, configuration document and receipt key "
                     "starts %s (evidence made for another key, configuration or purpose)", got, want);
    } else if ((rc = tl_policy_check(policy, id, err)) || (rc = tl_policy_check_config(policy, x.config, x.config_len, err))) {
        ;
    }
    tl_ratls_ext_free(&x);
    return rc;
}
