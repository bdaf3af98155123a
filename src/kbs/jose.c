/* JOSE for the Trustee KBS client (jose.h). Every primitive is OpenSSL's: ECDH (EVP_PKEY_derive),
 * SHA-256, AES key wrap (EVP_aes_256_wrap) and AES-256-GCM (seal/crypto.h). */
#include "kbs/jose.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ec.h>
#include <openssl/rand.h>

#include "seal/crypto.h"
#include "tee/ecdsa.h"
#include "util/codec.h"
#include "util/jcs.h"
#include "util/sha.h"

char *tl_b64url_encode(const uint8_t *data, size_t len)
{
    char *s = tl_b64_encode(data, len);
    if (!s)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '=')
            break;
        s[j++] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
    }
    s[j] = 0;
    return s;
}

int tl_b64url_decode(const char *s, size_t slen, uint8_t **out, size_t *len, size_t max)
{
    *out = NULL;
    *len = 0;
    if (slen % 4 == 1)
        return TL_CODEC_ELEN;
    if (slen > TL_B64_LEN(max)) /* checked before allocating anything */
        return TL_CODEC_ESIZE;
    if (slen == 0) {
        *out = calloc(1, 1);
        return *out ? 0 : TL_CODEC_ENOMEM;
    }
    size_t pl = (slen + 3) / 4 * 4;
    char *t = malloc(pl + 1);
    if (!t)
        return TL_CODEC_ENOMEM;
    for (size_t i = 0; i < slen; i++) {
        char c = s[i];
        if (c == '+' || c == '/' || c == '=' || c == 0) { /* standard base64's characters are not base64url */
            free(t);
            return TL_CODEC_ECHAR;
        }
        t[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    for (size_t i = slen; i < pl; i++)
        t[i] = '=';
    t[pl] = 0;
    int rc = tl_b64_decode(t, out, len, 0, max);
    OPENSSL_cleanse(t, pl);
    free(t);
    return rc;
}

/* ---------------- RFC 8785 ---------------- */

/* The one canonicalization (util/jcs.c) that receipts use too. */
char *tl_jcs_dump(const json_t *v)
{
    return v ? tl_jcs(v, NULL) : NULL;
}

/* ---------------- JWK ---------------- */

json_t *tl_jwk_p256(const uint8_t pub[65])
{
    char *x = tl_b64url_encode(pub + 1, 32), *y = tl_b64url_encode(pub + 33, 32);
    json_t *j = x && y ? json_pack("{s:s,s:s,s:s,s:s,s:s}", "alg", TL_JWE_ALG, "crv", "P-256", "kty", "EC", "x", x, "y", y)
                       : NULL;
    free(x);
    free(y);
    return j;
}

int tl_jwk_thumbprint(const json_t *jwk, char out[44])
{
    json_t *t = json_pack("{s:O,s:O,s:O,s:O}", "crv", json_object_get(jwk, "crv"), "kty", json_object_get(jwk, "kty"),
                          "x", json_object_get(jwk, "x"), "y", json_object_get(jwk, "y"));
    char *s = t ? tl_jcs_dump(t) : NULL;
    json_decref(t);
    if (!s)
        return -1;
    uint8_t h[32];
    tl_sha256(s, strlen(s), h);
    free(s);
    char *e = tl_b64url_encode(h, 32);
    if (!e)
        return -1;
    memcpy(out, e, 44); /* 43 characters and the NUL */
    free(e);
    return 0;
}

/* ---------------- JWE ---------------- */

#define MAX_JWE_MEMBER (1u << 20)

/* Concat KDF (NIST SP 800-56A §5.8.1, RFC 7518 §4.6.2) for 256 bits, one SHA-256 round:
 * SHA-256(be32(1) ‖ Z ‖ be32(len) alg ‖ be32(len) apu ‖ be32(len) apv ‖ be32(256)). */
static int concat_kdf(const uint8_t z[32], const char *alg, const uint8_t *apu, size_t apu_len, const uint8_t *apv,
                      size_t apv_len, uint8_t out[32])
{
    uint8_t be[4];
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
#define BE32(v) (be[0] = (uint8_t)((v) >> 24), be[1] = (uint8_t)((v) >> 16), be[2] = (uint8_t)((v) >> 8), be[3] = (uint8_t)(v), be)
    size_t al = strlen(alg);
    ok = ok && EVP_DigestUpdate(c, BE32(1u), 4) == 1 && EVP_DigestUpdate(c, z, 32) == 1 &&
         EVP_DigestUpdate(c, BE32((uint32_t)al), 4) == 1 && EVP_DigestUpdate(c, alg, al) == 1 &&
         EVP_DigestUpdate(c, BE32((uint32_t)apu_len), 4) == 1 && (!apu_len || EVP_DigestUpdate(c, apu, apu_len) == 1) &&
         EVP_DigestUpdate(c, BE32((uint32_t)apv_len), 4) == 1 && (!apv_len || EVP_DigestUpdate(c, apv, apv_len) == 1) &&
         EVP_DigestUpdate(c, BE32(256u), 4) == 1;
#undef BE32
    unsigned int n = 32;
    ok = ok && EVP_DigestFinal_ex(c, out, &n) == 1 && n == 32;
    EVP_MD_CTX_free(c);
    return ok ? 0 : -1;
}

static int ecdh(EVP_PKEY *mine, EVP_PKEY *peer, uint8_t z[32])
{
    size_t zl = 32;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(mine, NULL);
    int ok = c && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c, peer) == 1 &&
             EVP_PKEY_derive(c, z, &zl) == 1 && zl == 32;
    EVP_PKEY_CTX_free(c);
    return ok ? 0 : -1;
}

/* RFC 3394 with the default IV: wrap (enc 1) 32 → 40 bytes, unwrap (enc 0) 40 → 32. */
static int aes_kw(int enc, const uint8_t kek[32], const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0;
    if (!c)
        return -1;
    EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    int ok = EVP_CipherInit_ex(c, EVP_aes_256_wrap(), NULL, kek, NULL, enc) == 1 &&
             EVP_CipherUpdate(c, out, &l1, in, (int)in_len) == 1 && EVP_CipherFinal_ex(c, out + l1, &l2) == 1;
    EVP_CIPHER_CTX_free(c);
    *out_len = ok ? (size_t)(l1 + l2) : 0;
    return ok ? 0 : -1;
}

/* A required base64url member of o, decoded (at most max bytes). */
static int member(json_t *o, const char *where, const char *name, size_t max, uint8_t **out, size_t *len, tl_err *err)
{
    json_t *v = json_object_get(o, name);
    if (!json_is_string(v))
        return tl_errf(err, TL_EINVAL, "%s: member '%s' is missing or not a string", where, name);
    int rc = tl_b64url_decode(json_string_value(v), json_string_length(v), out, len, max);
    if (rc)
        return tl_errf(err, TL_EINVAL, "%s: member '%s' is not base64url%s (%s)", where, name,
                       rc == TL_CODEC_ESIZE ? " of a size allowed here" : "", tl_codec_strerror(rc));
    return 0;
}

static int fixed_member(json_t *o, const char *where, const char *name, size_t want, uint8_t *out, tl_err *err)
{
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = member(o, where, name, want, &b, &n, err);
    if (rc)
        return rc;
    int ok = n == want;
    if (ok)
        memcpy(out, b, want);
    free(b);
    return ok ? 0 : tl_errf(err, TL_EINVAL, "%s: member '%s' is %zu bytes, not %zu", where, name, n, want);
}

/* The epk of the protected header: a P-256 point on the curve. */
static EVP_PKEY *epk_key(json_t *epk, tl_err *err)
{
    const char *where = "JWE protected header epk";
    if (!json_is_object(epk)) {
        tl_errf(err, TL_EINVAL, "JWE protected header: epk is missing or not an object");
        return NULL;
    }
    const char *kty = json_string_value(json_object_get(epk, "kty"));
    const char *crv = json_string_value(json_object_get(epk, "crv"));
    if (!kty || strcmp(kty, "EC") || !crv || strcmp(crv, "P-256")) {
        tl_errf(err, TL_EINVAL, "%s: kty '%.20s' crv '%.20s', expected EC P-256", where, kty ? kty : "", crv ? crv : "");
        return NULL;
    }
    uint8_t xy[64];
    if (fixed_member(epk, where, "x", 32, xy, err) || fixed_member(epk, where, "y", 32, xy + 32, err))
        return NULL;
    EVP_PKEY *k = tl_p256_from_raw(xy);
    ERR_clear_error();
    if (!k)
        tl_errf(err, TL_EINVAL, "%s: not a point on P-256", where);
    return k;
}

int tl_jwe_decrypt(EVP_PKEY *eph, const char *text, size_t len, const char *kid, uint8_t **pt, size_t *pt_len,
                   size_t max, tl_err *err)
{
    *pt = NULL;
    *pt_len = 0;
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je), *h = NULL;
    uint8_t *hdr = NULL, *ek = NULL, *ct = NULL, *apu = NULL, *apv = NULL, *out = NULL;
    size_t hl = 0, ekl = 0, ctl = 0, apul = 0, apvl = 0;
    uint8_t iv[TL_GCM_IV_LEN], tag[TL_GCM_TAG_LEN], z[32], kek[32], cek[40];
    size_t cekl = 0;
    EVP_PKEY *peer = NULL;
    tl_gcm g = {0};
    int rc = 0;
    if (!json_is_object(o)) {
        rc = tl_errf(err, TL_EINVAL, "JWE: not a JSON object (%s)", o ? "another JSON value" : je.text);
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        static const char *const known[] = {"protected", "encrypted_key", "iv", "ciphertext", "tag"};
        size_t i = 0;
        while (i < 5 && strcmp(k, known[i]))
            i++;
        if (i == 5) {
            rc = tl_errf(err, TL_EINVAL, "JWE: member '%.40s' is not supported (%s)", k,
                         !strcmp(k, "aad") ? "an AAD besides the protected header"
                         : !strcmp(k, "header") || !strcmp(k, "unprotected") ? "unprotected header parameters"
                         : "the flattened serialization has protected, encrypted_key, iv, ciphertext, tag");
            goto out;
        }
    }
    json_t *prot = json_object_get(o, "protected");
    if ((rc = member(o, "JWE", "protected", 16384, &hdr, &hl, err)))
        goto out;
    h = json_loadb((const char *)hdr, hl, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(h)) {
        rc = tl_errf(err, TL_EINVAL, "JWE protected header: not a JSON object");
        goto out;
    }
    const char *alg = json_string_value(json_object_get(h, "alg"));
    const char *enc = json_string_value(json_object_get(h, "enc"));
    if (!alg || strcmp(alg, TL_JWE_ALG)) {
        rc = tl_errf(err, TL_EINVAL, "JWE protected header: alg '%.40s' is not %s (the tee-pubkey's alg)", alg ? alg : "",
                     TL_JWE_ALG);
        goto out;
    }
    if (!enc || strcmp(enc, TL_JWE_ENC)) {
        rc = tl_errf(err, TL_EINVAL, "JWE protected header: enc '%.40s' is not %s", enc ? enc : "", TL_JWE_ENC);
        goto out;
    }
    if (json_object_get(h, "crit") || json_object_get(h, "zip")) {
        rc = tl_errf(err, TL_EINVAL, "JWE protected header: %s is not supported",
                     json_object_get(h, "crit") ? "crit" : "zip (compression)");
        goto out;
    }
    json_t *jkid = json_object_get(h, "kid");
    if (jkid && (!json_is_string(jkid) || !kid || strcmp(json_string_value(jkid), kid))) {
        rc = tl_errf(err, TL_EINVAL, "JWE protected header: kid '%.64s' does not name our tee-pubkey (thumbprint %s)",
                     json_is_string(jkid) ? json_string_value(jkid) : "(not a string)", kid ? kid : "none");
        goto out;
    }
    if ((json_object_get(h, "apu") && (rc = member(h, "JWE protected header", "apu", 1024, &apu, &apul, err))) ||
        (json_object_get(h, "apv") && (rc = member(h, "JWE protected header", "apv", 1024, &apv, &apvl, err))))
        goto out;
    if (!(peer = epk_key(json_object_get(h, "epk"), err))) {
        rc = TL_EINVAL; /* epk_key's every failure is a malformed epk */
        goto out;
    }
    if ((rc = member(o, "JWE", "encrypted_key", 64, &ek, &ekl, err)) ||
        (rc = fixed_member(o, "JWE", "iv", TL_GCM_IV_LEN, iv, err)) ||
        (rc = fixed_member(o, "JWE", "tag", TL_GCM_TAG_LEN, tag, err)) ||
        (rc = member(o, "JWE", "ciphertext", max, &ct, &ctl, err)))
        goto out;
    if (ekl != 40) {
        rc = tl_errf(err, TL_EINVAL, "JWE: encrypted_key is %zu bytes, not 40 (a wrapped 256-bit key)", ekl);
        goto out;
    }
    if (ecdh(eph, peer, z) || concat_kdf(z, alg, apu, apul, apv, apvl, kek)) {
        rc = tl_err_ssl(err, TL_ECRYPTO, "JWE: ECDH-ES key agreement");
        goto out;
    }
    if (aes_kw(0, kek, ek, ekl, cek, &cekl) || cekl != 32) {
        ERR_clear_error();
        rc = tl_errf(err, TL_ECRYPTO, "JWE: the encrypted_key does not unwrap (AES key wrap integrity check failed): "
                                      "the resource was not encrypted to this TEE's key");
        goto out;
    }
    if (!(out = malloc(ctl ? ctl : 1))) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    /* AAD = ASCII(BASE64URL(protected header)) as received, not re-encoded (RFC 7516 §5.2 step 14) */
    const char *aad = json_string_value(prot);
    if ((rc = tl_gcm_init(&g, cek, 0, err)))
        goto out;
    if (tl_gcm_open(&g, iv, (const uint8_t *)aad, strlen(aad), ct, out, ctl, tag, err)) {
        rc = tl_errf(err, TL_ECRYPTO, "JWE: A256GCM authentication failed (tag does not match the ciphertext, iv and "
                                      "protected header)");
        goto out;
    }
    *pt = out;
    *pt_len = ctl;
    out = NULL;
out:
    OPENSSL_cleanse(z, sizeof z);
    OPENSSL_cleanse(kek, sizeof kek);
    OPENSSL_cleanse(cek, sizeof cek);
    if (out) {
        OPENSSL_cleanse(out, ctl);
        free(out);
    }
    if (ct) {
        OPENSSL_cleanse(ct, ctl);
        free(ct);
    }
    tl_gcm_free(&g);
    EVP_PKEY_free(peer);
    free(hdr);
    free(ek);
    free(apu);
    free(apv);
    json_decref(h);
    json_decref(o);
    return rc;
}

char *tl_jwe_encrypt_p256(const uint8_t pub[65], const uint8_t *pt, size_t pt_len, tl_err *err)
{
    uint8_t z[32], kek[32], cek[32], wrapped[40], iv[TL_GCM_IV_LEN], tag[TL_GCM_TAG_LEN], epub[65];
    size_t wl = 0;
    char *res = NULL, *ph = NULL, *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;
    uint8_t *ct = malloc(pt_len ? pt_len : 1);
    EVP_PKEY *peer = pub[0] == 4 ? tl_p256_from_raw(pub + 1) : NULL, *eph = EVP_EC_gen("P-256");
    json_t *jh = NULL, *jo = NULL;
    tl_gcm g = {0};
    epub[0] = 4;
    if (!ct || !peer || !eph || tl_p256_to_raw(eph, epub + 1) || ecdh(eph, peer, z) ||
        concat_kdf(z, TL_JWE_ALG, NULL, 0, NULL, 0, kek) || RAND_priv_bytes(cek, 32) != 1 ||
        RAND_bytes(iv, sizeof iv) != 1 || aes_kw(1, kek, cek, 32, wrapped, &wl) || wl != 40) {
        tl_err_ssl(err, TL_ECRYPTO, "JWE encryption");
        goto out;
    }
    json_t *epk = tl_jwk_p256(epub);
    json_object_del(epk, "alg");
    jh = json_pack("{s:s,s:s,s:o}", "alg", TL_JWE_ALG, "enc", TL_JWE_ENC, "epk", epk);
    char *hs = jh ? json_dumps(jh, JSON_COMPACT) : NULL;
    ph = hs ? tl_b64url_encode((const uint8_t *)hs, strlen(hs)) : NULL;
    free(hs);
    if (!ph || tl_gcm_init(&g, cek, 1, err) ||
        tl_gcm_seal(&g, iv, (const uint8_t *)ph, strlen(ph), pt, ct, pt_len, tag, err))
        goto out;
    e1 = tl_b64url_encode(wrapped, 40);
    e2 = tl_b64url_encode(iv, sizeof iv);
    e3 = tl_b64url_encode(ct, pt_len);
    e4 = tl_b64url_encode(tag, sizeof tag);
    jo = e1 && e2 && e3 && e4 ? json_pack("{s:s,s:s,s:s,s:s,s:s}", "protected", ph, "encrypted_key", e1, "iv", e2,
                                          "ciphertext", e3, "tag", e4)
                              : NULL;
    res = jo ? json_dumps(jo, JSON_COMPACT) : NULL;
    if (!res)
        tl_errf(err, TL_ENOMEM, "out of memory");
out:
    ERR_clear_error();
    OPENSSL_cleanse(z, sizeof z);
    OPENSSL_cleanse(kek, sizeof kek);
    OPENSSL_cleanse(cek, sizeof cek);
    tl_gcm_free(&g);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(eph);
    free(ct);
    free(ph);
    free(e1);
    free(e2);
    free(e3);
    free(e4);
    json_decref(jh);
    json_decref(jo);
    return res;
}
