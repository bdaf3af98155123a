#include "kbs/protocol.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "seal/crypto.h"
#include "tee/binding.h"
#include "tee/ecdsa.h"

static const char TRANSCRIPT_LABEL[] = "teelm-kbs-v1 transcript";
static const char WRAP_LABEL[] = "teelm-kbs-v1 key wrap";

/* Hash of the concatenation of n (pointer, length) pieces. */
static void hash(const EVP_MD *md, uint8_t *out, int n, const void *const *p, const size_t *l)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int ol = 0;
    if (!c || EVP_DigestInit_ex(c, md, NULL) != 1)
        abort(); /* only on allocation failure inside OpenSSL */
    for (int i = 0; i < n; i++)
        EVP_DigestUpdate(c, p[i], l[i]);
    EVP_DigestFinal_ex(c, out, &ol);
    EVP_MD_CTX_free(c);
}

void tl_kbs_report_data(const uint8_t nonce[TL_KBS_NONCE_LEN], const uint8_t pub[TL_KBS_PUB_LEN], const char *key_id,
                        uint8_t out[64])
{
    const tl_bind_field f[] = {{nonce, TL_KBS_NONCE_LEN}, {pub, TL_KBS_PUB_LEN}, {key_id, strlen(key_id)}};
    if (tl_binding_report_data(TL_BIND_KBS_KEY, f, 3, out, NULL))
        abort(); /* fixed purpose and field count: fails only if OpenSSL cannot hash */
}

static void transcript(const char *key_id, const uint8_t *nonce, const uint8_t *cpub, const uint8_t *spub,
                       const uint8_t *ev, size_t ev_len, uint8_t th[32])
{
    uint8_t evh[32], klen = (uint8_t)strlen(key_id);
    const void *pe[] = {ev};
    const size_t le[] = {ev_len};
    hash(EVP_sha256(), evh, 1, pe, le);
    const void *p[] = {TRANSCRIPT_LABEL, &klen, key_id, nonce, cpub, spub, evh};
    const size_t l[] = {sizeof TRANSCRIPT_LABEL, 1, klen, TL_KBS_NONCE_LEN, TL_KBS_PUB_LEN, TL_KBS_PUB_LEN, sizeof evh};
    hash(EVP_sha256(), th, 7, p, l);
}

EVP_PKEY *tl_kbs_ephemeral(uint8_t pub[TL_KBS_PUB_LEN], tl_err *err)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    pub[0] = 0x04;
    if (!k || tl_p256_to_raw(k, pub + 1) != 0) {
        EVP_PKEY_free(k);
        tl_err_ssl(err, TL_ECRYPTO, "ephemeral P-256 key");
        return NULL;
    }
    return k;
}

EVP_PKEY *tl_kbs_pub_decode(const uint8_t pub[TL_KBS_PUB_LEN], tl_err *err)
{
    EVP_PKEY *k = pub[0] == 0x04 ? tl_p256_from_raw(pub + 1) : NULL;
    ERR_clear_error();
    if (!k)
        tl_errf(err, TL_EINVAL, "public key is not an uncompressed P-256 point on the curve");
    return k;
}

/* ECDH shared secret (x coordinate, 32 bytes) then HKDF → AES key + IV. */
static int derive(EVP_PKEY *mine, EVP_PKEY *peer, const uint8_t *nonce, const uint8_t th[32], uint8_t okm[44], tl_err *err)
{
    uint8_t z[32], info[sizeof WRAP_LABEL - 1 + 32];
    size_t zl = sizeof z;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(mine, NULL);
    int ok = c && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c, peer) == 1 &&
             EVP_PKEY_derive(c, z, &zl) == 1 && zl == sizeof z;
    EVP_PKEY_CTX_free(c);
    if (!ok) {
        OPENSSL_cleanse(z, sizeof z);
        return tl_err_ssl(err, TL_ECRYPTO, "ECDH");
    }
    memcpy(info, WRAP_LABEL, sizeof WRAP_LABEL - 1);
    memcpy(info + sizeof WRAP_LABEL - 1, th, 32);
    int rc = tl_hkdf_sha256(z, sizeof z, nonce, TL_KBS_NONCE_LEN, info, sizeof info, okm, 44, err);
    OPENSSL_cleanse(z, sizeof z);
    return rc;
}

int tl_kbs_wrap(const tl_data_key *key, const uint8_t nonce[TL_KBS_NONCE_LEN], const uint8_t client_pub[TL_KBS_PUB_LEN],
                const uint8_t *evidence, size_t ev_len, uint8_t server_pub[TL_KBS_PUB_LEN],
                uint8_t wrapped[TL_KBS_WRAPPED_LEN], tl_err *err)
{
    uint8_t th[32], okm[44];
    EVP_PKEY *peer = tl_kbs_pub_decode(client_pub, err), *eph = NULL;
    tl_gcm g = {0};
    int rc = TL_ECRYPTO;
    if (!peer || !(eph = tl_kbs_ephemeral(server_pub, err)))
        goto out;
    transcript(key->key_id, nonce, client_pub, server_pub, evidence, ev_len, th);
    if ((rc = derive(eph, peer, nonce, th, okm, err)) || (rc = tl_gcm_init(&g, okm, 1, err)))
        goto out;
    rc = tl_gcm_seal(&g, okm + 32, th, sizeof th, key->key, wrapped, TL_KEY_LEN, wrapped + TL_KEY_LEN, err);
out:
    OPENSSL_cleanse(okm, sizeof okm);
    tl_gcm_free(&g);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(eph);
    return rc;
}

int tl_kbs_unwrap(EVP_PKEY *eph, const char *key_id, const uint8_t nonce[TL_KBS_NONCE_LEN],
                  const uint8_t client_pub[TL_KBS_PUB_LEN], const uint8_t *evidence, size_t ev_len,
                  const uint8_t server_pub[TL_KBS_PUB_LEN], const uint8_t wrapped[TL_KBS_WRAPPED_LEN], tl_data_key *out,
                  tl_err *err)
{
    memset(out, 0, sizeof *out);
    if (!tl_key_id_valid(key_id))
        return tl_errf(err, TL_EINVAL, "invalid key id");
    uint8_t th[32], okm[44];
    EVP_PKEY *peer = tl_kbs_pub_decode(server_pub, err);
    tl_gcm g = {0};
    int rc = TL_ECRYPTO;
    if (!peer)
        goto out;
    transcript(key_id, nonce, client_pub, server_pub, evidence, ev_len, th);
    if ((rc = derive(eph, peer, nonce, th, okm, err)) || (rc = tl_gcm_init(&g, okm, 0, err)))
        goto out;
    rc = tl_gcm_open(&g, okm + 32, th, sizeof th, wrapped, out->key, TL_KEY_LEN, wrapped + TL_KEY_LEN, err);
    if (rc)
        tl_errf(err, TL_ECRYPTO, "wrapped key does not authenticate (transcript mismatch or tampering)");
    else
        memcpy(out->key_id, key_id, strlen(key_id) + 1);
out:
    if (rc)
        tl_data_key_clear(out);
    OPENSSL_cleanse(okm, sizeof okm);
    tl_gcm_free(&g);
    EVP_PKEY_free(peer);
    return rc;
}
