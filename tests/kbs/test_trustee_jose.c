/* kbs/jose.h and the Trustee runtime-data binding against independent references:
 *   - RFC 8785 §3.2.3's sorting example (UTF-16 order, an emoji before U+FB33) and its escaping rules;
 *   - base64url: RFC 4648 §10 vectors in the URL alphabet, and every non-canonical form refused;
 *   - the report data and the RFC 7638 thumbprint equal those of tests/reference/trustee_kbs.py
 *     (Python, written from Trustee's protocol document) for hostile nonces;
 *   - a JWE made by the Python reference (cryptography's ECDH, Concat KDF, AES key wrap, AES-GCM)
 *     to our ephemeral key decrypts to its payload; every member tampered with is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbs/jose.h"
#include "kbs/protocol.h"
#include "kbs/trustee_client.h"
#include "test.h"
#include "util/codec.h"
#include "util/io.h"

static void test_b64url(void)
{
    static const char *const vec[][2] = {{"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"},
                                         {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"}};
    for (size_t i = 0; i < sizeof vec / sizeof *vec; i++) {
        char *e = tl_b64url_encode((const uint8_t *)vec[i][0], strlen(vec[i][0]));
        CHECKF(e && !strcmp(e, vec[i][1]), "encode %s: %s", vec[i][1], e ? e : "NULL");
        free(e);
        uint8_t *d = NULL;
        size_t n = 0;
        CHECK(tl_b64url_decode(vec[i][1], strlen(vec[i][1]), &d, &n, 64) == 0 && n == strlen(vec[i][0]) &&
              !memcmp(d, vec[i][0], n));
        free(d);
    }
    static const char *const bad[] = {"Zg==", "Zm8=", "Zm9v+A", "Zm9v/A", "Z", "Zh", "Zm9vYmF", "Zm 9v", "Zm9v\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint8_t *d = NULL;
        size_t n = 0;
        int rc = tl_b64url_decode(bad[i], strlen(bad[i]), &d, &n, 64);
        CHECKF(rc != 0 && !d, "'%s' accepted", bad[i]);
        free(d);
    }
    uint8_t *d = NULL;
    size_t n = 0;
    CHECK(tl_b64url_decode("Zm9vYmFy", 8, &d, &n, 5) == TL_CODEC_ESIZE && !d);
}

static void test_jcs(void)
{
    /* RFC 8785 §3.2.3 */
    json_error_t je;
    json_t *o = json_loads("{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\",\"\\ufb33\":\"Hebrew Letter Dalet With "
                           "Dagesh\",\"1\":\"One\",\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":\"Control\","
                           "\"\\u00f6\":\"Latin Small Letter O With Diaeresis\"}",
                           0, &je);
    char *s = tl_jcs_dump(o);
    const char *want = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\",\"\xc3\xb6\":\"Latin Small Letter O "
                       "With Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\",\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
                       "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}";
    CHECKF(s && !strcmp(s, want), "got %s", s ? s : "NULL");
    free(s);
    json_decref(o);
    /* RFC 8785 §3.2.2.2: the escapes */
    o = json_pack("{s:s,s:[b,n,i]}", "s", "\"\\\b\f\n\r\t\x01\x1f\x7f/", "a", 1, -42);
    s = tl_jcs_dump(o);
    CHECKF(s && !strcmp(s, "{\"a\":[true,null,-42],\"s\":\"\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\x7f/\"}"), "got %s",
           s ? s : "NULL");
    free(s);
    json_decref(o);
    /* empty objects and arrays, nested (a fuzzer found the empty object was undefined behaviour) */
    o = json_pack("{s:{},s:[],s:[{}]}", "b", "a", "c");
    s = tl_jcs_dump(o);
    CHECKF(s && !strcmp(s, "{\"a\":[],\"b\":{},\"c\":[{}]}"), "got %s", s ? s : "NULL");
    free(s);
    json_decref(o);
    o = json_pack("{s:f}", "x", 1.5);
    CHECK(tl_jcs_dump(o) == NULL); /* reals are refused, not guessed */
    json_decref(o);
}

/* Runs the Python reference on our JWK and nonce; returns its stdout (malloc'd) or NULL. */
static char *python(const char *dir, const char *code)
{
    char out[1200];
    snprintf(out, sizeof out, "%s/py.out", dir);
    const char *src = getenv("TEELM_SRC"), *py = getenv("TEELM_PYTHON");
    if (test_sh("cd '%s' && '%s' -c \"import sys; sys.path.insert(0, '%s/tests/reference'); import trustee_kbs as t; "
                "%s\" > '%s'", dir, py ? py : "/usr/bin/python3", src ? src : ".", code, out) != 0)
        return NULL;
    uint8_t *d = NULL;
    size_t n = 0;
    if (tl_read_file(out, 1 << 20, &d, &n, NULL))
        return NULL;
    return (char *)d;
}

static void test_against_python(void)
{
    if (test_sh("'%s' -c 'import cryptography.hazmat.primitives.keywrap' 2>/dev/null",
                getenv("TEELM_PYTHON") ? getenv("TEELM_PYTHON") : "/usr/bin/python3"))
        test_skip("TEELM_PYTHON has no cryptography (python3-cryptography)");
    const char *dir = test_tmpdir();
    uint8_t pub[TL_KBS_PUB_LEN];
    EVP_PKEY *eph = tl_kbs_ephemeral(pub, NULL);
    json_t *jwk = tl_jwk_p256(pub);
    CHECK(eph && jwk);
    char p[1100];
    snprintf(p, sizeof p, "%s/jwk.json", dir);
    json_dump_file(jwk, p, 0);
    /* hostile nonces: quotes, backslash, controls, DEL, non-ASCII, a supplementary character */
    static const char *const nonces[] = {"w5J9Q7r6Q2m2s0l0pQ8Xk3J0H6f6a5m4vX2bQ1c9Z0A=", "a\"b\\c\n\x01\x7f",
                                         "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80/+"};
    for (size_t i = 0; i < 3; i++) {
        uint8_t rd[64];
        CHECK(tl_trustee_report_data(nonces[i], jwk, rd, NULL) == 0);
        char hex[129];
        tl_hex(rd, 64, hex);
        snprintf(p, sizeof p, "%s/nonce", dir);
        tl_write_file_atomic(p, nonces[i], strlen(nonces[i]), 0600, NULL);
        char *ref = python(dir, "import json, hashlib; k = json.load(open('jwk.json')); n = open('nonce', "
                                "encoding='utf-8', newline='').read(); print((hashlib.sha384(t.jcs({'additional-evidence': "
                                "'', 'nonce': n, 'tee-pubkey': k}).encode()).digest() + bytes(16)).hex())");
        CHECKF(ref && !strncmp(ref, hex, 128), "nonce %zu: ours %s, reference %s", i, hex, ref ? ref : "(none)");
        free(ref);
    }
    char kid[44];
    CHECK(tl_jwk_thumbprint(jwk, kid) == 0);
    char *ref = python(dir, "import json, hashlib; k = json.load(open('jwk.json')); "
                            "print(t.b64u(hashlib.sha256(t.jcs({m: k[m] for m in ('crv', 'kty', 'x', 'y')}).encode()).digest()))");
    CHECKF(ref && !strncmp(ref, kid, 43), "thumbprint ours %s, reference %s", kid, ref ? ref : "(none)");
    free(ref);

    /* the reference's JWE to our key */
    char *jwe = python(dir, "import json, sys; k = json.load(open('jwk.json')); "
                            "sys.stdout.write(t.jwe(k, b'the resource: 32 bytes of a key!').decode())");
    CHECK(jwe != NULL);
    uint8_t *pt = NULL;
    size_t n = 0;
    tl_err e = {0};
    int rc = jwe ? tl_jwe_decrypt(eph, jwe, strlen(jwe), kid, &pt, &n, 4096, &e) : -1;
    CHECKF(rc == 0 && n == 32 && !memcmp(pt, "the resource: 32 bytes of a key!", 32), "decrypt: %s", e.msg);
    free(pt);

    /* every member tampered with: one base64url character changed */
    static const char *const members[] = {"protected", "encrypted_key", "iv", "ciphertext", "tag"};
    for (size_t m = 0; jwe && m < 5; m++) {
        json_t *o = json_loads(jwe, 0, NULL);
        char *v = strdup(json_string_value(json_object_get(o, members[m])));
        size_t at = strlen(v) / 2;
        v[at] = v[at] == 'A' ? 'B' : 'A';
        json_object_set_new(o, members[m], json_string(v));
        char *t = json_dumps(o, JSON_COMPACT);
        memset(&e, 0, sizeof e);
        pt = NULL;
        rc = tl_jwe_decrypt(eph, t, strlen(t), kid, &pt, &n, 4096, &e);
        CHECKF(rc != 0 && !pt && e.msg[0], "tampered %s accepted", members[m]);
        printf("tampered %-13s -> %s\n", members[m], e.msg);
        free(t);
        free(v);
        json_decref(o);
    }
    /* our own encryption round-trips, and a JWE to another key does not unwrap */
    char *mine = tl_jwe_encrypt_p256(pub, (const uint8_t *)"x", 1, NULL);
    pt = NULL;
    CHECK(mine && tl_jwe_decrypt(eph, mine, strlen(mine), NULL, &pt, &n, 16, NULL) == 0 && n == 1 && pt[0] == 'x');
    free(pt);
    uint8_t other[TL_KBS_PUB_LEN];
    EVP_PKEY *ok = tl_kbs_ephemeral(other, NULL);
    char *theirs = tl_jwe_encrypt_p256(other, (const uint8_t *)"x", 1, NULL);
    memset(&e, 0, sizeof e);
    pt = NULL;
    CHECK(theirs && tl_jwe_decrypt(eph, theirs, strlen(theirs), NULL, &pt, &n, 16, &e) == TL_ECRYPTO && !pt);
    /* a ciphertext larger than the caller allows is refused before decrypting */
    char *big = tl_jwe_encrypt_p256(pub, (const uint8_t *)"0123456789abcdef0", 17, NULL);
    CHECK(big && tl_jwe_decrypt(eph, big, strlen(big), NULL, &pt, &n, 16, NULL) != 0 && !pt);
    free(big);
    free(mine);
    free(theirs);
    free(jwe);
    EVP_PKEY_free(ok);
    EVP_PKEY_free(eph);
    json_decref(jwk);
}

static void test_resource_names(void)
{
    static const char *const good[] = {"a/b/c", "default/key/model-1", "R_1/T.2/t-3"};
    static const char *const bad[] = {"", "a", "a/b", "a/b/c/d", "/a/b", "a/b/", "a//b", "../b/c", "a/./c", "a/b/c?x",
                                      "a/b/c%2f", "a b/c/d"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CHECKF(tl_trustee_resource_check(good[i], NULL) == 0, "%s refused", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECKF(tl_trustee_resource_check(bad[i], NULL) != 0, "'%s' accepted", bad[i]);
    CHECK(tl_trustee_url("trustee+https://h/") && !tl_trustee_url("https://h/") && !tl_trustee_url("trustee+http://h/"));
}

int main(void)
{
    test_b64url();
    test_jcs();
    test_resource_names();
    test_against_python();
    return test_finish();
}
