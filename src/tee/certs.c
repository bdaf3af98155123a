#include "tee/certs.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <string.h>

#include "util/codec.h"

static const char BEGIN[] = "-----BEGIN CERTIFICATE-----", END[] = "-----END CERTIFICATE-----";

static const uint8_t *find(const uint8_t *p, const uint8_t *e, const char *s)
{
    size_t n = strlen(s);
    for (; p + n <= e; p++)
        if (memcmp(p, s, n) == 0)
            return p;
    return NULL;
}

static int blank(const uint8_t *p, const uint8_t *e)
{
    for (; p < e; p++)
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t' && *p != 0)
            return 0;
    return 1;
}

STACK_OF(X509) *tl_pem_chain(const uint8_t *pem, size_t n, int want, const char *what, tl_err *err)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    const uint8_t *p = pem, *e = pem + n;
    if (!sk) {
        tl_errf(err, TL_ENOMEM, "%s: out of memory", what);
        return NULL;
    }
    for (;;) {
        const uint8_t *b = find(p, e, BEGIN);
        if (!b) {
            if (!blank(p, e)) {
                tl_errf(err, TL_EINVAL, "%s: unexpected bytes after certificate %d", what, sk_X509_num(sk));
                goto fail;
            }
            break;
        }
        if (!blank(p, b)) {
            tl_errf(err, TL_EINVAL, "%s: unexpected bytes before certificate %d", what, sk_X509_num(sk) + 1);
            goto fail;
        }
        const uint8_t *f = find(b, e, END);
        if (!f) {
            tl_errf(err, TL_EINVAL, "%s: certificate %d has no END line", what, sk_X509_num(sk) + 1);
            goto fail;
        }
        f += strlen(END);
        BIO *bio = BIO_new_mem_buf(b, (int)(f - b));
        X509 *c = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        if (!c || !sk_X509_push(sk, c)) {
            X509_free(c);
            ERR_clear_error();
            tl_errf(err, TL_EINVAL, "%s: certificate %d is not valid PEM/DER", what, sk_X509_num(sk) + 1);
            goto fail;
        }
        if (sk_X509_num(sk) > 8) {
            tl_errf(err, TL_EINVAL, "%s: more than 8 certificates", what);
            goto fail;
        }
        p = f;
    }
    if (sk_X509_num(sk) == 0 || (want && sk_X509_num(sk) != want)) {
        tl_errf(err, TL_EINVAL, "%s: has %d certificates, expected %d (leaf, intermediate, root)", what,
                sk_X509_num(sk), want ? want : 1);
        goto fail;
    }
    return sk;
fail:
    sk_X509_pop_free(sk, X509_free);
    return NULL;
}

STACK_OF(X509) *tl_quote_pck_chain(const uint8_t *ev, size_t len, tl_quote *q, tl_err *err)
{
    if (tl_quote_parse(ev, len, q, err))
        return NULL;
    return tl_pem_chain(q->cert_data, q->cert_len, 3, "quote PCK certificate chain", err);
}

X509 *tl_x509_from_pem(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *c = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    return c;
}

X509 *tl_x509_from_der(const uint8_t *der, size_t n)
{
    const uint8_t *p = der;
    X509 *c = d2i_X509(NULL, &p, (long)n);
    if (c && p != der + n) {
        X509_free(c);
        c = NULL;
    }
    ERR_clear_error();
    return c;
}

X509_CRL *tl_crl_parse(const uint8_t *data, size_t n)
{
    X509_CRL *c = NULL;
    if (n > 10 && memcmp(data, "-----BEGIN", 10) == 0) {
        BIO *b = BIO_new_mem_buf(data, (int)n);
        c = b ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
    } else {
        const uint8_t *p = data;
        c = d2i_X509_CRL(NULL, &p, (long)n);
        if (c && p != data + n) {
            X509_CRL_free(c);
            c = NULL;
        }
    }
    ERR_clear_error();
    return c;
}

void tl_x509_sha256(X509 *c, uint8_t out[32])
{
    unsigned int n = 32;
    X509_digest(c, EVP_sha256(), out, &n);
}

static const char *cert_cn(X509 *c, char *buf, size_t n)
{
    buf[0] = 0;
    X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, buf, (int)n);
    if (!buf[0])
        snprintf(buf, n, "(no CN)");
    return buf;
}

int tl_chain_verify(STACK_OF(X509) *chain, X509 *anchor, STACK_OF(X509_CRL) *crls, time_t now, const char *what,
                    tl_err *err)
{
    int n = sk_X509_num(chain);
    if (n < 1)
        return tl_errf(err, TL_EINVAL, "%s: empty certificate chain", what);
    X509 *root = sk_X509_value(chain, n - 1);
    if (n < 2 || X509_cmp(root, anchor) != 0) {
        uint8_t fp[32];
        char hex[65], cn[128];
        tl_x509_sha256(root, fp);
        tl_hex(fp, 32, hex);
        return tl_errf(err, TL_ECRYPTO,
                       "%s: chain ends at \"%s\" (SHA-256 %.16s...), which is not the pinned trusted root", what,
                       cert_cn(root, cn, sizeof cn), hex);
    }
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *mid = sk_X509_new_null();
    int rc = TL_ENOMEM;
    if (!st || !ctx || !mid || !X509_STORE_add_cert(st, anchor))
        goto out;
    for (int i = 1; i < n - 1; i++)
        sk_X509_push(mid, sk_X509_value(chain, i));
    if (!X509_STORE_CTX_init(ctx, st, sk_X509_value(chain, 0), mid))
        goto out;
    X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(vp, now);
    /* The anchor is the only trusted certificate; partial chains would let a pinned
     * intermediate stand in for it, so they stay off. */
    unsigned long flags = 0;
    if (crls) {
        X509_STORE_CTX_set0_crls(ctx, crls);
        flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
    }
    X509_VERIFY_PARAM_set_flags(vp, flags);
    if (X509_verify_cert(ctx) == 1) {
        /* the built chain must be exactly the presented one */
        STACK_OF(X509) *got = X509_STORE_CTX_get0_chain(ctx);
        rc = 0;
        if (sk_X509_num(got) != n)
            rc = tl_errf(err, TL_ECRYPTO, "%s: verified chain has %d certificates, the quote presents %d", what,
                         sk_X509_num(got), n);
        for (int i = 0; !rc && i < n; i++)
            if (X509_cmp(sk_X509_value(got, i), sk_X509_value(chain, i)) != 0)
                rc = tl_errf(err, TL_ECRYPTO, "%s: certificate %d is not the one that verified", what, i + 1);
        goto out;
    }
    int e = X509_STORE_CTX_get_error(ctx), depth = X509_STORE_CTX_get_error_depth(ctx);
    X509 *bad = X509_STORE_CTX_get_current_cert(ctx);
    char cn[128] = "?";
    if (bad)
        cert_cn(bad, cn, sizeof cn);
    int code = TL_ECRYPTO;
    switch (e) {
    case X509_V_ERR_CERT_REVOKED:
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
        code = TL_ESTATE;
        break;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
        code = TL_ENOTFOUND;
        break;
    default:
        break;
    }
    if (e == X509_V_ERR_CERT_REVOKED && bad) {
        char *serial = NULL;
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(bad), NULL);
        if (bn)
            serial = BN_bn2hex(bn);
        rc = tl_errf(err, code, "%s: certificate \"%s\" (serial %s) is revoked by its issuer's CRL", what, cn,
                     serial ? serial : "?");
        OPENSSL_free(serial);
        BN_free(bn);
    } else {
        rc = tl_errf(err, code, "%s: %s (certificate %d, \"%s\")", what, X509_verify_cert_error_string(e), depth + 1,
                     cn);
    }
out:
    if (rc == TL_ENOMEM)
        tl_errf(err, TL_ENOMEM, "%s: out of memory", what);
    ERR_clear_error();
    sk_X509_free(mid);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    return rc;
}

int tl_asn1_time_t(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    *out = timegm(&tm);
    return 0;
}

int tl_parse_iso8601(const char *s, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int used = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                     &tm.tm_sec, &used) != 6)
        return -1;
    const char *rest = s + used;
    if (*rest == '.') { /* fractional seconds: ignored */
        rest++;
        while (*rest >= '0' && *rest <= '9')
            rest++;
    }
    if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
        return -1;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60 || tm.tm_year < 1970 || used != 19)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *out = timegm(&tm);
    return 0;
}

void tl_format_iso8601(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
