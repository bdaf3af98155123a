#include "seal/crypto.h"

#include <limits.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

int tl_gcm_init(tl_gcm *g, const uint8_t key[32], int enc, tl_err *err)
{
    g->enc = enc;
    g->ctx = EVP_CIPHER_CTX_new();
    if (!g->ctx)
        return tl_err_ssl(err, TL_ENOMEM, "AES-GCM context");
    int ok = enc ? EVP_EncryptInit_ex(g->ctx, EVP_aes_256_gcm(), NULL, key, NULL)
                 : EVP_DecryptInit_ex(g->ctx, EVP_aes_256_gcm(), NULL, key, NULL);
    if (ok != 1) {
        tl_gcm_free(g);
        return tl_err_ssl(err, TL_ECRYPTO, "AES-256-GCM key setup");
    }
    return 0;
}

void tl_gcm_free(tl_gcm *g)
{
    if (g && g->ctx) {
        EVP_CIPHER_CTX_free(g->ctx);
        g->ctx = NULL;
    }
}

/* EVP takes int lengths: feed large buffers in pieces. */
static int update(tl_gcm *g, uint8_t *out, const uint8_t *in, size_t len)
{
    while (len) {
        int n = len > (size_t)(INT_MAX / 2) ? INT_MAX / 2 : (int)len, outl = 0;
        int ok = g->enc ? EVP_EncryptUpdate(g->ctx, out, &outl, in, n) : EVP_DecryptUpdate(g->ctx, out, &outl, in, n);
        if (ok != 1 || outl != n)
            return -1;
        if (out)
            out += n;
        in += n;
        len -= (size_t)n;
    }
    return 0;
}

static int start(tl_gcm *g, const uint8_t *iv, const uint8_t *aad, size_t aad_len)
{
    int ok = g->enc ? EVP_EncryptInit_ex(g->ctx, NULL, NULL, NULL, iv) : EVP_DecryptInit_ex(g->ctx, NULL, NULL, NULL, iv);
    if (ok != 1)
        return -1;
    return aad_len ? update(g, NULL, aad, aad_len) : 0;
}

int tl_gcm_seal(tl_gcm *g, const uint8_t iv[TL_GCM_IV_LEN], const uint8_t *aad, size_t aad_len,
                const uint8_t *in, uint8_t *out, size_t len, uint8_t tag[TL_GCM_TAG_LEN], tl_err *err)
{
    int outl = 0;
    uint8_t fin[16]; /* GCM's final step writes nothing; out may be NULL when len is 0 */
    if (!g->enc || start(g, iv, aad, aad_len) || update(g, out, in, len) ||
        EVP_EncryptFinal_ex(g->ctx, fin, &outl) != 1 ||
        EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_GET_TAG, TL_GCM_TAG_LEN, tag) != 1)
        return tl_err_ssl(err, TL_ECRYPTO, "AES-256-GCM encryption");
    return 0;
}

int tl_gcm_open(tl_gcm *g, const uint8_t iv[TL_GCM_IV_LEN], const uint8_t *aad, size_t aad_len,
                const uint8_t *in, uint8_t *out, size_t len, const uint8_t tag[TL_GCM_TAG_LEN], tl_err *err)
{
    int outl = 0;
    uint8_t t[TL_GCM_TAG_LEN];
    memcpy(t, tag, sizeof t);
    if (g->enc || start(g, iv, aad, aad_len) || update(g, out, in, len) ||
        EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_SET_TAG, TL_GCM_TAG_LEN, t) != 1)
        return tl_err_ssl(err, TL_ECRYPTO, "AES-256-GCM decryption");
    if (EVP_DecryptFinal_ex(g->ctx, t, &outl) != 1) { /* writes nothing (GCM); out may be NULL when len is 0 */
        ERR_clear_error();
        return tl_errf(err, TL_ECRYPTO, "authentication failed");
    }
    return 0;
}

int tl_gcm_begin(tl_gcm *g, const uint8_t iv[TL_GCM_IV_LEN], const uint8_t *aad, size_t aad_len, tl_err *err)
{
    if (g->enc || start(g, iv, aad, aad_len))
        return tl_err_ssl(err, TL_ECRYPTO, "AES-256-GCM decryption");
    return 0;
}

int tl_gcm_update(tl_gcm *g, const uint8_t *in, uint8_t *out, size_t len, tl_err *err)
{
    if (update(g, out, in, len))
        return tl_err_ssl(err, TL_ECRYPTO, "AES-256-GCM decryption");
    return 0;
}

int tl_gcm_verify(tl_gcm *g, const uint8_t tag[TL_GCM_TAG_LEN], tl_err *err)
{
    uint8_t t[TL_GCM_TAG_LEN], dummy[16];
    int outl = 0;
    memcpy(t, tag, sizeof t);
    if (EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_SET_TAG, TL_GCM_TAG_LEN, t) != 1)
        return tl_err_ssl(err, TL_ECRYPTO, "AES-256-GCM decryption");
    if (EVP_DecryptFinal_ex(g->ctx, dummy, &outl) != 1) {
        ERR_clear_error();
        return tl_errf(err, TL_ECRYPTO, "authentication failed");
    }
    return 0;
}

int tl_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                   const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len, tl_err *err)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (!kctx)
        return tl_err_ssl(err, TL_ECRYPTO, "HKDF unavailable");
    OSSL_PARAM params[5], *p = params;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
    *p = OSSL_PARAM_construct_end();
    int ok = EVP_KDF_derive(kctx, out, out_len, params) == 1;
    EVP_KDF_CTX_free(kctx);
    if (!ok)
        return tl_err_ssl(err, TL_ECRYPTO, "HKDF-SHA256 derivation");
    return 0;
}
