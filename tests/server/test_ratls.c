/* RA-TLS certificates: the evidence extension round-trips, its DER is what docs/ra-tls.md says
 * (checked with the openssl CLI, an independent parser), the report data is the "ra-tls" binding of
 * SHA-256 of the certificate's SubjectPublicKeyInfo and SHA-256 of the configuration document
 * (computed by the openssl CLI from docs/bindings.md), and malformed extensions are refused with a
 * message naming the problem. */
#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "server/ratls.h"
#include "tee/policy.h"
#include "tee/snp.h"
#include "util/io.h"
#include "test.h"
#include "test_cert.h"
#include "util/codec.h"

/* A stand-in TEE whose "evidence" is a marker followed by the report data it was asked to bind. */
static int fake_evidence(tl_tee *t, const uint8_t rd[64], uint8_t **ev, size_t *len, tl_err *err)
{
    (void)t, (void)err;
    *ev = malloc(4 + 64);
    memcpy(*ev, "FAKE", 4);
    memcpy(*ev + 4, rd, 64);
    *len = 68;
    return 0;
}

static int write_pem(const char *path, X509 *c)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = PEM_write_X509(f, c);
    fclose(f);
    return ok ? 0 : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* A certificate like tl_ratls_make_cert's but with a raw extension value of our choosing. */
static X509 *cert_with_ext(EVP_PKEY *key, const unsigned char *der, int n, int copies)
{
    X509 *c = test_bare_cert(key, 7);
    ASN1_OBJECT *oid = OBJ_txt2obj(TL_RATLS_OID, 1);
    ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(v, der, n);
    for (int i = 0; i < copies; i++) {
        X509_EXTENSION *e = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, v);
        X509_add_ext(c, e, -1);
        X509_EXTENSION_free(e);
    }
    ASN1_OCTET_STRING_free(v);
    ASN1_OBJECT_free(oid);
    X509_sign(c, key, EVP_sha256());
    return c;
}

static void expect_refused(EVP_PKEY *key, const unsigned char *der, int n, int copies, const char *words)
{
    X509 *c = cert_with_ext(key, der, n, copies);
    tl_ratls_ext x;
    memset(&x, 0x5a, sizeof x); /* a refusal must leave it empty, whatever it held */
    tl_err err = {0};
    int rc = tl_ratls_extract(c, &x, &err);
    CHECKF(rc != 0 && strstr(err.msg, words), "expected refusal containing '%s', got rc=%d '%s'", words, rc, err.msg);
    CHECK(x.evidence == NULL && x.len == 0 && x.config == NULL && x.config_len == 0 && !x.tee[0]);
    X509_free(c);
}

/* The client's verification of an RA-TLS certificate carrying real SEV-SNP evidence (a fixture
 * report || its VCEK in the certificate table, in the evidence extension): the evidence verifies,
 * and only the binding to this certificate's key is missing (real hardware signed it for other
 * report data); an altered report is refused at verification. */
static void snp_fixture_cert(void)
{
    const char *rp = test_shared("fixtures/snp/milan_v2_trustee.report"), *vp = test_shared("fixtures/snp/milan_v2_trustee.vcek.der");
    uint8_t *r = NULL, *v = NULL, *tab = NULL;
    size_t rn = 0, vn = 0, tl = 0;
    tl_err e = {0};
    if (!rp || !vp || tl_read_file(rp, 1 << 20, &r, &rn, &e) || tl_read_file(vp, 1 << 20, &v, &vn, &e)) {
        CHECKF(0, "fixtures/snp: %s", e.msg);
        return;
    }
    tl_snp_cert_entry ce = {TL_SNP_CERT_VCEK, v, vn};
    CHECK(tl_snp_certtable_build(&ce, 1, &tab, &tl, &e) == 0);
    uint8_t *ev = malloc(rn + tl);
    memcpy(ev, r, rn);
    memcpy(ev + rn, tab, tl);
    char mh[97];
    tl_hex(r + 0x90, 48, mh);
    char pj[300];
    snprintf(pj, sizeof pj, "{\"version\":1,\"sev_snp\":{\"measurement\":\"%s\"}}", mh);
    tl_policy *pol = tl_policy_parse(pj, &e);
    CHECKF(pol != NULL, "%s", e.msg);
    EVP_PKEY *key = EVP_EC_gen("P-256");
    const char *cfg = "{\"teelm\":\"serve\"}";
    for (int flip = 0; flip < 2; flip++) {
        ev[0x90] ^= (uint8_t)flip;
        static const uint8_t rk0[32] = {7};
        X509 *c = tl_ratls_make_cert(key, "tsm:sev_guest", ev, rn + tl, cfg, strlen(cfg), rk0, 1, &e);
        CHECKF(c != NULL, "%s", e.msg);
        tl_identity id;
        int rc = c ? tl_ratls_verify_cert(c, pol, NULL, time(NULL), &id, &e) : -1;
        if (flip)
            CHECKF(rc == TL_ECRYPTO && strstr(e.msg, "SEV-SNP report signature"), "%s", e.msg);
        else
            CHECKF(rc == TL_ECRYPTO && strstr(e.msg, "report_data does not bind"), "%s", e.msg);
        X509_free(c);
    }
    EVP_PKEY_free(key);
    tl_policy_free(pol);
    free(ev);
    free(tab);
    free(r);
    free(v);
}

int main(void)
{
    snp_fixture_cert();
    tl_tee fake = {.name = "fake", .simulated = 1, .evidence = fake_evidence};
    tl_ratls r;
    tl_err err = {0};
    static const char doc[] = "{\"teelm\":\"serve\",\"version\":1}";
    CHECK(tl_ratls_create(&fake, doc, 0, 30, &r, &err) != 0 && strstr(err.msg, "configuration"));
    CHECK(tl_ratls_create(&fake, doc, sizeof doc - 1, 30, &r, &err) == 0);
    CHECK(r.cert && r.key && r.evidence_len == 68 && !strcmp(r.tee, "fake"));
    CHECK(r.config_len == sizeof doc - 1 && !strcmp(r.config, doc));

    /* SHA-256(SPKI DER), against the openssl CLI */
    const char *dir = test_tmpdir();
    char path[256], cmd[1024];
    snprintf(path, sizeof path, "%s/cert.pem", dir);
    CHECK(write_pem(path, r.cert) == 0);
    snprintf(cmd, sizeof cmd,
             "openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64 > %s/h.txt",
             path, dir);
    CHECK(test_sh("%s", cmd) == 0);
    char hpath[256], hex[65];
    snprintf(hpath, sizeof hpath, "%s/h.txt", dir);
    char *h = slurp(hpath);
    tl_hex(r.pubkey_hash, 32, hex);
    CHECKF(h && !strncmp(h, hex, 64), "openssl says %s, teelm %s", h ? h : "?", hex);
    /* report data = SHA-512("teelm/ra-tls/v1" NUL be32(32) SHA-256(SPKI) be32(32) SHA-256(doc)
     * be32(32) receipt key), assembled by the shell and hashed by the openssl CLI; the receipt key
     * is the one openssl reads out of the private key */
    {
        char kp[256];
        snprintf(kp, sizeof kp, "%s/rk.pem", dir);
        FILE *kf = fopen(kp, "wb");
        CHECK(kf && PEM_write_PrivateKey(kf, r.receipt_key, NULL, NULL, 0, NULL, NULL) == 1);
        if (kf)
            fclose(kf);
        CHECK(test_sh("cd %s && openssl pkey -in rk.pem -pubout -outform DER | tail -c 32 > rk.bin && "
                      "openssl pkey -in rk.pem -noout -text | grep -q ED25519", dir) == 0);
    }
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform DER | "
             "openssl dgst -sha256 -binary > spki.h && printf '%%s' '%s' | openssl dgst -sha256 -binary > doc.h && "
             "{ printf 'teelm/ra-tls/v1\\000\\000\\000\\000\\040'; cat spki.h; printf '\\000\\000\\000\\040'; "
             "cat doc.h; printf '\\000\\000\\000\\040'; cat rk.bin; } | openssl dgst -sha512 -r | cut -c1-128 > rd.txt",
             dir, doc);
    CHECK(test_sh("%s", cmd) == 0);
    char rdhex[129];
    snprintf(hpath, sizeof hpath, "%s/rd.txt", dir);
    h = slurp(hpath);
    tl_hex(r.evidence + 4, 64, rdhex);
    CHECKF(h && !strncmp(h, rdhex, 128), "openssl says %s, teelm bound %s", h ? h : "?", rdhex);
    CHECK(memcmp(r.evidence + 4, r.report_data, 64) == 0);
    uint8_t rd2[64], pk2[32];
    CHECK(tl_ratls_report_data(r.key, doc, sizeof doc - 1, r.receipt_pub, rd2, pk2, &err) == 0 && !memcmp(rd2, r.report_data, 64) &&
          !memcmp(pk2, r.pubkey_hash, 32));
    /* another document, another binding */
    CHECK(tl_ratls_report_data(r.key, doc, sizeof doc - 2, r.receipt_pub, rd2, NULL, &err) == 0 && memcmp(rd2, r.report_data, 64));
    /* another receipt key, another binding */
    {
        uint8_t rk2[32];
        memcpy(rk2, r.receipt_pub, 32);
        rk2[31] ^= 1;
        CHECK(tl_ratls_report_data(r.key, doc, sizeof doc - 1, rk2, rd2, NULL, &err) == 0 && memcmp(rd2, r.report_data, 64));
    }

    /* extension layout, parsed by openssl asn1parse: OID present, non-critical, SEQUENCE of
     * INTEGER 3, UTF8STRING "fake", OCTET STRING of 68 bytes, OCTET STRING (the document), OCTET
     * STRING of 32 bytes (the receipt key) */
    snprintf(cmd, sizeof cmd, "openssl x509 -in %s -text -noout > %s/text.txt", path, dir);
    CHECK(test_sh("%s", cmd) == 0);
    char tpath[256];
    snprintf(tpath, sizeof tpath, "%s/text.txt", dir);
    char *text = slurp(tpath);
    CHECK(text && strstr(text, TL_RATLS_OID ":") && !strstr(text, TL_RATLS_OID ": critical"));
    CHECK(text && strstr(text, "CN = teelm RA-TLS"));
    ASN1_OBJECT *oid = OBJ_txt2obj(TL_RATLS_OID, 1);
    X509_EXTENSION *ext = X509_get_ext(r.cert, X509_get_ext_by_OBJ(r.cert, oid, -1));
    ASN1_OBJECT_free(oid);
    ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(ext);
    char dpath[256];
    snprintf(dpath, sizeof dpath, "%s/ext.der", dir);
    FILE *f = fopen(dpath, "wb");
    fwrite(ASN1_STRING_get0_data(val), 1, (size_t)ASN1_STRING_length(val), f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "openssl asn1parse -inform DER -in %s > %s/asn1.txt", dpath, dir);
    CHECK(test_sh("%s", cmd) == 0);
    snprintf(tpath, sizeof tpath, "%s/asn1.txt", dir);
    text = slurp(tpath);
    char doclen[128];
    snprintf(doclen, sizeof doclen, "hl=2 l=%4zu prim: OCTET STRING      :%s", sizeof doc - 1, doc);
    CHECKF(text && strstr(text, "cons: SEQUENCE") && strstr(text, "prim: INTEGER           :03") &&
           strstr(text, "prim: UTF8STRING        :fake") && strstr(text, "hl=2 l=  68 prim: OCTET STRING") &&
           strstr(text, doclen) && strstr(text, "hl=2 l=  32 prim: OCTET STRING"),
           "asn1parse: %s", text ? text : "?");

    /* round trip */
    tl_ratls_ext x;
    CHECK(tl_ratls_extract(r.cert, &x, &err) == 0);
    CHECK(x.len == r.evidence_len && x.evidence && !memcmp(x.evidence, r.evidence, x.len) && !strcmp(x.tee, "fake"));
    CHECK(!memcmp(x.receipt_pub, r.receipt_pub, 32));
    CHECK(x.config && x.config_len == sizeof doc - 1 && !strcmp(x.config, doc));
    tl_ratls_ext_free(&x);

    /* malformed extensions */
    EVP_PKEY *k = r.key;
    unsigned char good[128];
    /* SEQUENCE { INTEGER 3, UTF8String "sim", OCTET STRING "abcd", OCTET STRING "{}",
     *            OCTET STRING (32 bytes 'k') } */
    const unsigned char tmpl[] = {0x30, 0x34, 0x02, 0x01, 0x03, 0x0c, 0x03, 's', 'i', 'm', 0x04,
                                  0x04, 'a',  'b',  'c',  'd',  0x04, 0x02, '{', '}', 0x04, 0x20,
                                  'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k',
                                  'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k'};
    memcpy(good, tmpl, sizeof tmpl);
    {
        X509 *c = cert_with_ext(k, good, sizeof tmpl, 1);
        CHECK(tl_ratls_extract(c, &x, &err) == 0 && x.len == 4 && !memcmp(x.evidence, "abcd", 4) &&
              !strcmp(x.tee, "sim") && x.config_len == 2 && !strcmp(x.config, "{}") && x.receipt_pub[0] == 'k' &&
              x.receipt_pub[31] == 'k');
        tl_ratls_ext_free(&x);
        X509_free(c);
    }
    expect_refused(k, good, sizeof tmpl, 2, "twice");
    good[4] = 1; /* version 1: the old layout, whose report data bound the key alone */
    expect_refused(k, good, sizeof tmpl, 1, "version 1");
    good[4] = 2; /* version 2: the layout without the receipt key */
    expect_refused(k, good, sizeof tmpl, 1, "version 2");
    good[4] = 4;
    expect_refused(k, good, sizeof tmpl, 1, "version 4");
    good[4] = 3;
    /* the version-2 layout (no receipt key) */
    const unsigned char v2[] = {0x30, 0x12, 0x02, 0x01, 0x03, 0x0c, 0x03, 's', 'i', 'm', 0x04,
                                0x04, 'a',  'b',  'c',  'd',  0x04, 0x02, '{', '}'};
    expect_refused(k, v2, sizeof v2, 1, "not a DER");
    {
        unsigned char shortkey[sizeof tmpl];
        memcpy(shortkey, tmpl, sizeof tmpl);
        shortkey[1] -= 1;
        shortkey[21] = 0x1f; /* a 31-byte key */
        expect_refused(k, shortkey, sizeof tmpl - 1, 1, "receipt key of 31 bytes");
    }
    /* the version-1 layout (no configuration document) */
    const unsigned char v1[] = {0x30, 0x0e, 0x02, 0x01, 0x01, 0x0c, 0x03, 's', 'i', 'm', 0x04, 0x04, 'a', 'b', 'c', 'd'};
    expect_refused(k, v1, sizeof v1, 1, "not a DER");
    unsigned char empty_cfg[sizeof tmpl - 2];
    memcpy(empty_cfg, tmpl, 16);
    empty_cfg[1] = 0x32;
    empty_cfg[16] = 0x04;
    empty_cfg[17] = 0;
    memcpy(empty_cfg + 18, tmpl + 20, sizeof tmpl - 20);
    expect_refused(k, empty_cfg, sizeof empty_cfg, 1, "configuration document of 0 bytes");
    unsigned char trail[sizeof tmpl + 2];
    memcpy(trail, tmpl, sizeof tmpl);
    trail[sizeof tmpl] = 0;
    trail[sizeof tmpl + 1] = 0;
    expect_refused(k, trail, sizeof trail, 1, "trailing");
    expect_refused(k, tmpl, 9, 1, "not a DER");          /* truncated */
    unsigned char empty_ev[sizeof tmpl - 4];
    memcpy(empty_ev, tmpl, 11);
    empty_ev[1] = 0x30;
    empty_ev[11] = 0;
    memcpy(empty_ev + 12, tmpl + 16, sizeof tmpl - 16);
    expect_refused(k, empty_ev, sizeof empty_ev, 1, "evidence of 0 bytes");
    unsigned char swapped[sizeof tmpl];
    memcpy(swapped, tmpl, sizeof tmpl);
    memcpy(swapped + 2, (const unsigned char[]){0x0c, 0x03, 's', 'i', 'm', 0x02, 0x01, 0x03}, 8);
    expect_refused(k, swapped, sizeof swapped, 1, "not a DER");
    {
        X509 *c = cert_with_ext(k, good, sizeof tmpl, 0);
        CHECK(tl_ratls_extract(c, &x, &err) != 0 && strstr(err.msg, "no RA-TLS evidence extension"));
        X509_free(c);
    }
    tl_ratls_free(&r);
    test_sh("rm -rf %s", dir);
    return test_finish();
}
