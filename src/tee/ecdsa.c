#include "tee/ecdsa.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <string.h>

EVP_PKEY *tl_p256_from_raw(const uint8_t xy[64])
{
    uint8_t pt[65];
    pt[0] = 0x04; /* uncompressed */
    memcpy(pt + 1, xy, 64);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 || EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        k = NULL;
    EVP_PKEY_CTX_free(ctx);
    if (k) {
        /* fromdata does not always check the point: do it explicitly */
        EVP_PKEY_CTX *c2 = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
        int ok = c2 && EVP_PKEY_public_check(c2) == 1;
        EVP_PKEY_CTX_free(c2);
        if (!ok) {
            EVP_PKEY_free(k);
            k = NULL;
        }
    }
    return k;
}

int tl_is_p256(EVP_PKEY *k)
{
    char name[64];
    size_t n = 0;
    if (!k || !EVP_PKEY_is_a(k, "EC"))
        return 0;
    if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &n))
        return 0;
    return strcmp(name, "prime256v1") == 0 || strcmp(name, "P-256") == 0;
}

int tl_p256_to_raw(EVP_PKEY *k, uint8_t xy[64])
{
    uint8_t pt[65];
    size_t n = 0;
    if (!tl_is_p256(k))
        return -1;
    if (!EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof pt, &n) || n != 65 ||
        pt[0] != 0x04)
        return -1;
    memcpy(xy, pt + 1, 64);
    return 0;
}

int tl_ecdsa_verify_rs(EVP_PKEY *k, const EVP_MD *md, const uint8_t *r, const uint8_t *s, size_t len,
                       const uint8_t *msg, size_t n)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *br = BN_bin2bn(r, (int)len, NULL), *bs = BN_bin2bn(s, (int)len, NULL);
    uint8_t *der = NULL;
    int dlen = -1, ok = 0;
    if (sig && br && bs && ECDSA_SIG_set0(sig, br, bs)) {
        br = bs = NULL;
        dlen = i2d_ECDSA_SIG(sig, &der);
    }
    if (dlen > 0) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        ok = c && EVP_DigestVerifyInit(c, NULL, md, NULL, k) == 1 && EVP_DigestVerify(c, der, (size_t)dlen, msg, n) == 1;
        EVP_MD_CTX_free(c);
    }
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(sig);
    OPENSSL_free(der);
    ERR_clear_error();
    return ok;
}

int tl_ecdsa_verify_raw(EVP_PKEY *k, const uint8_t *msg, size_t n, const uint8_t sig[64])
{
    return tl_is_p256(k) && tl_ecdsa_verify_rs(k, EVP_sha256(), sig, sig + 32, 32, msg, n);
}

int tl_ecdsa_sign_raw(EVP_PKEY *k, const uint8_t *msg, size_t n, uint8_t sig[64])
{
    uint8_t der[128];
    size_t dlen = sizeof der;
    int rc = -1;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) == 1 && EVP_DigestSign(md, der, &dlen, msg, n) == 1) {
        const uint8_t *p = der;
        ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
        const BIGNUM *r, *ss;
        if (s) {
            ECDSA_SIG_get0(s, &r, &ss);
            if (BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(ss, sig + 32, 32) == 32)
                rc = 0;
            ECDSA_SIG_free(s);
        }
    }
    EVP_MD_CTX_free(md);
    return rc;
}
