/* SEV-SNP verification against the real reports and AMD certificates in tests/fixtures/snp
 * (SOURCES.txt states each report's facts and the verdict a correct verifier reaches), hostile
 * variants of them, and an own SEV-SNP PKI built here with OpenSSL (through the test-only ARK seam
 * of tl_verify_opts) for what real certificates cannot show: SPLs that differ from the report, both
 * hwID encodings, Turin's TCB layout and 8-byte chip id, PSS parameters, CRL revocation. */
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee/certs.h"
#include "tee/policy.h"
#include "tee/snp.h"
#include "tee/snp_internal.h"
#include "tee/verify.h"
#include "attest_test.h"
#include "test.h"
#include "util/io.h"

typedef struct {
    uint8_t *d;
    size_t n;
} blob;

static blob load(const char *name)
{
    char rel[200];
    snprintf(rel, sizeof rel, "fixtures/snp/%s", name);
    const char *p = test_shared(rel);
    if (!p)
        test_skip_shared("fixtures/snp is absent");
    blob b = {0};
    tl_err e = {0};
    if (tl_read_file(p, 1 << 20, &b.d, &b.n, &e))
        test_skip(e.msg);
    return b;
}

static int verify(const uint8_t *ev, size_t n, const blob *certs, int nc, time_t now, const tl_verify_opts *base, tl_identity *id,
                  tl_err *e)
{
    const uint8_t *bl[8];
    size_t bn[8];
    for (int i = 0; i < nc; i++) {
        bl[i] = certs[i].d;
        bn[i] = certs[i].n;
    }
    tl_verify_opts o = {0};
    if (base)
        o = *base;
    o.snp_blobs = bl;
    o.snp_blob_lens = bn;
    o.n_snp_blobs = nc;
    memset(e, 0, sizeof *e);
    return tl_evidence_verify_opts(ev, n, NULL, now, &o, id, e);
}

/* ---------------- the real fixtures ---------------- */

typedef struct {
    const char *report, *leaf, *chain;
    const char *product;
    int signer, version, vmpl, debug;
    uint64_t policy, tcb; /* from SOURCES.txt; 0 = not stated there */
    time_t when;
} fixture;

static void real_fixtures(void)
{
    const time_t now = T("2025-06-01T00:00:00Z"); /* inside every certificate's validity, the VLEK's too */
    const fixture fx[] = {
        {"milan_v2_gsg.report", "milan_v2_gsg.vcek.der", "milan_ask_ark_asvk.pem", "Milan", 0, 2, 0, 1, 0xB0000, 0x4405000000000002ull, now},
        {"milan_v2_virtee.report", "milan_v2_virtee.vcek.der", "milan_ask_ark_asvk.pem", "Milan", 0, 2, -1, 0, 0x30000, 0x7308000000000003ull, now},
        {"milan_v2_trustee.report", "milan_v2_trustee.vcek.der", "milan_ask_ark_asvk.pem", "Milan", 0, 2, -1, 0, 0x3001F, 0x7308000000000003ull, now},
        {"milan_vlek_v3_trustee.report", "milan_vlek_v3_trustee.vlek.der", "milan_ask_ark_asvk.pem", "Milan", 1, 3, 1, -1, 0, 0, now},
        {"genoa_v3_azure.report", "genoa_v3_azure.vcek.pem", "genoa_ask_ark_asvk.pem", "Genoa", 0, 3, 0, -1, 0, 0x541700000000000Aull, now},
    };
    for (size_t f = 0; f < sizeof fx / sizeof *fx; f++) {
        const fixture *x = &fx[f];
        blob r = load(x->report), certs[2] = {load(x->leaf), load(x->chain)};
        tl_identity id;
        tl_err e;
        /* with the AMD bundle, and with the leaf alone (the built-in ASK/ASVK) */
        for (int nc = 2; nc >= 1; nc--) {
            int rc = verify(r.d, r.n, certs, nc, x->when, NULL, &id, &e);
            CHECKF(rc == 0, "%s (%d files): %s", x->report, nc, e.msg);
            if (rc)
                continue;
            CHECKF(!strcmp(tl_snp_product_name(id.snp_product), x->product), "%s product %d", x->report, id.snp_product);
            CHECK(id.kind == TL_TEE_KIND_SEV_SNP && id.snp_signer == x->signer && (int)id.snp_version == x->version);
            CHECK(x->vmpl < 0 || (int)id.snp_vmpl == x->vmpl);
            CHECK(x->debug < 0 || id.debug == x->debug);
            CHECKF(!x->policy || id.snp_policy == x->policy, "%s policy %llx", x->report, (unsigned long long)id.snp_policy);
            CHECKF(!x->tcb || id.snp_reported_tcb == x->tcb, "%s tcb %llx", x->report, (unsigned long long)id.snp_reported_tcb);
        }
        /* the platform verdict: policy refuses DEBUG by default (gsg) */
        if (!verify(r.d, r.n, certs, 1, x->when, NULL, &id, &e)) {
            char pol[400];
            char mh[97];
            for (int i = 0; i < 48; i++)
                snprintf(mh + 2 * i, 3, "%02x", id.snp_measurement[i]);
            snprintf(pol, sizeof pol, "{\"version\":1,\"sev_snp\":{\"measurement\":\"%s\"}}", mh);
            tl_policy *p = tl_policy_parse(pol, &e);
            CHECKF(p != NULL, "%s", e.msg);
            int prc = p ? tl_policy_check(p, &id, &e) : -1;
            if (x->debug == 1)
                CHECKF(prc == TL_EPOLICY && contains(e.msg, "debug"), "%s: %s", x->report, e.msg);
            else
                CHECKF(prc == 0, "%s: %s", x->report, e.msg);
            tl_policy_free(p);
        }
        /* evidence that carries its certificates: report || certificate table */
        tl_snp_cert_entry ce = {x->signer ? TL_SNP_CERT_VLEK : TL_SNP_CERT_VCEK, NULL, 0};
        X509 *leaf = NULL;
        if (contains(x->leaf, ".pem")) {
            STACK_OF(X509) *sk = tl_pem_chain(certs[0].d, certs[0].n, 1, "vcek", &e);
            leaf = sk ? X509_dup(sk_X509_value(sk, 0)) : NULL;
            sk_X509_pop_free(sk, X509_free);
        } else {
            leaf = tl_x509_from_der(certs[0].d, certs[0].n);
        }
        uint8_t *der = NULL;
        int dl = leaf ? i2d_X509(leaf, &der) : -1;
        X509_free(leaf);
        uint8_t *tab = NULL;
        size_t tl = 0;
        if (dl > 0) {
            ce.der = der;
            ce.len = (size_t)dl;
            CHECK(tl_snp_certtable_build(&ce, 1, &tab, &tl, &e) == 0);
        }
        uint8_t *ev = malloc(r.n + tl);
        if (ev && tab) {
            memcpy(ev, r.d, r.n);
            memcpy(ev + r.n, tab, tl);
            CHECKF(verify(ev, r.n + tl, NULL, 0, x->when, NULL, &id, &e) == 0, "%s with table: %s", x->report, e.msg);
            tl_identity pid;
            CHECK(tl_evidence_parse(ev, r.n + tl, &pid, &e) == 0 && pid.kind == TL_TEE_KIND_SEV_SNP);
            /* the table with garbage after it, or cut */
            CHECK(verify(ev, r.n + tl - 1, NULL, 0, x->when, NULL, &id, &e) != 0);
        }
        free(ev);
        free(tab);
        OPENSSL_free(der);

        /* one byte flipped in each field group: refused, with the check named */
        static const struct {
            int off;
            const char *vcek_msg; /* NULL: "signature" */
        } flips[] = {
            {0x000, "version"}, {0x004, NULL}, {0x008, NULL}, {0x010, NULL}, {0x020, NULL}, {0x030, NULL},
            {0x034, "signature_algo"}, {0x038, NULL}, {0x040, NULL}, {0x04C, NULL}, {0x050, NULL}, {0x090, NULL},
            {0x0C0, NULL}, {0x0E0, NULL}, {0x110, NULL}, {0x140, NULL}, {0x160, NULL}, {0x180, "SPL"}, {0x186, "SPL"},
            {0x187, "SPL"}, {0x18B, NULL}, {0x1A0, "hwID"}, {0x1DF, "hwID"}, {0x1E0, NULL}, {0x1E8, NULL}, {0x1F0, NULL},
            {0x1F8, NULL}, {0x208, NULL}, {0x29F, NULL}, {0x2A0, NULL}, {0x2CF, NULL}, {0x2D0, "not zero"},
            {0x2E8, NULL}, {0x330, "reserved"}, {0x49F, "reserved"},
        };
        for (size_t i = 0; i < sizeof flips / sizeof *flips; i++) {
            uint8_t *m = malloc(r.n);
            memcpy(m, r.d, r.n);
            m[flips[i].off] ^= 0x01;
            int rc = verify(m, r.n, certs, 2, x->when, NULL, &id, &e);
            const char *want = flips[i].vcek_msg ? flips[i].vcek_msg : "signature";
            if (x->signer && (!strcmp(want, "hwID")))
                want = "signature"; /* a VLEK has no hwID: the signature catches it */
            if (flips[i].off == 0x000)
                want = "version"; /* 2 -> 3 and 3 -> 2 are versions too: then the signature */
            int ok = rc != 0 && (contains(e.msg, want) || (flips[i].off == 0 && contains(e.msg, "signature")) ||
                                 (flips[i].off == 0 && contains(e.msg, "CPUID")));
            CHECKF(ok, "%s byte 0x%03X flipped: rc %d \"%s\" (wanted \"%s\")", x->report, flips[i].off, rc, e.msg, want);
            CHECK(id.kind == 0); /* nothing trusted */
            free(m);
        }
        /* truncated and padded */
        CHECK(verify(r.d, r.n - 1, certs, 2, x->when, NULL, &id, &e) != 0);
        CHECK(verify(r.d, 600, certs, 2, x->when, NULL, &id, &e) != 0);
        uint8_t *pad = calloc(1, r.n + 64);
        memcpy(pad, r.d, r.n);
        CHECKF(verify(pad, r.n + 1, certs, 2, x->when, NULL, &id, &e) != 0 && contains(e.msg, "certificate table"), "%s", e.msg);
        CHECKF(verify(pad, r.n + 24, certs, 2, x->when, NULL, &id, &e) != 0 && contains(e.msg, "no entries"), "%s", e.msg);
        memset(pad + r.n, 0xA5, 64);
        CHECK(verify(pad, r.n + 64, certs, 2, x->when, NULL, &id, &e) != 0);
        free(pad);
        /* R and S swapped, and each byte-reversed (big-endian where little-endian belongs) */
        uint8_t *sw = malloc(r.n);
        memcpy(sw, r.d, r.n);
        memcpy(sw + 0x2A0, r.d + 0x2E8, 72);
        memcpy(sw + 0x2E8, r.d + 0x2A0, 72);
        CHECKF(verify(sw, r.n, certs, 2, x->when, NULL, &id, &e) == TL_ECRYPTO && contains(e.msg, "report signature"), "%s", e.msg);
        memcpy(sw, r.d, r.n);
        for (int k = 0; k < 48; k++) {
            sw[0x2A0 + k] = r.d[0x2A0 + 47 - k];
            sw[0x2E8 + k] = r.d[0x2E8 + 47 - k];
        }
        CHECKF(verify(sw, r.n, certs, 2, x->when, NULL, &id, &e) == TL_ECRYPTO && contains(e.msg, "report signature"), "%s", e.msg);
        /* signer "none" */
        memcpy(sw, r.d, r.n);
        sw[0x48] |= 7 << 2;
        CHECKF(verify(sw, r.n, certs, 2, x->when, NULL, &id, &e) != 0 && contains(e.msg, "none"), "%s", e.msg);
        free(sw);
        /* no leaf certificate at all: says where AMD serves the VCEK */
        CHECKF(verify(r.d, r.n, certs + 1, 1, x->when, NULL, &id, &e) == TL_ENOTFOUND &&
                   (x->signer || contains(e.msg, "kdsintf.amd.com/vcek/v1/")),
               "%s", e.msg);
        free(r.d);
        free(certs[0].d);
        free(certs[1].d);
    }

    /* the VLEK expired on 2025-12-10: at a later date it is refused as expired */
    blob vr = load("milan_vlek_v3_trustee.report"), vl[2] = {load("milan_vlek_v3_trustee.vlek.der"), load("milan_ask_ark_asvk.pem")};
    tl_identity id;
    tl_err e;
    CHECKF(verify(vr.d, vr.n, vl, 2, T("2026-12-03T00:00:00Z"), NULL, &id, &e) == TL_ESTATE && contains(e.msg, "expired"), "%s", e.msg);
    CHECKF(verify(vr.d, vr.n, vl, 2, T("2024-12-01T00:00:00Z"), NULL, &id, &e) == TL_ESTATE && contains(e.msg, "not yet valid"), "%s", e.msg);
    /* a VLEK-signed report with only a VCEK, and the reverse */
    blob gv = load("milan_v2_trustee.vcek.der");
    CHECK(verify(vr.d, vr.n, &gv, 1, T("2025-06-01T00:00:00Z"), NULL, &id, &e) == TL_ENOTFOUND && contains(e.msg, "VLEK"));
    free(vr.d);
    free(vl[0].d);
    free(vl[1].d);

    /* a VCEK from another chip (same TCB, different chip) */
    blob v = load("milan_v2_virtee.report"), tv = gv;
    CHECKF(verify(v.d, v.n, &tv, 1, T("2025-06-01T00:00:00Z"), NULL, &id, &e) == TL_ECRYPTO && contains(e.msg, "another chip"), "%s", e.msg);
    /* the two hwID encodings in the wild: parsed either way, and neither is this chip */
    blob hl = load("milan_vcek_hwid_legacy_encoding.der"), hn = load("milan_vcek_hwid_new_encoding.der");
    X509 *cl = tl_x509_from_der(hl.d, hl.n), *cn = tl_x509_from_der(hn.d, hn.n);
    tl_snp_certext xl, xn;
    CHECK(cl && tl_snp_certext_parse(cl, &xl, &e) == 0 && xl.hwid_len == 64 && !xl.hwid_wrapped);
    CHECK(cn && tl_snp_certext_parse(cn, &xn, &e) == 0 && xn.hwid_len == 64 && xn.hwid_wrapped);
    CHECK(!memcmp(xl.hwid, xn.hwid, 64) && xl.hwid[0] == 0x00 && xl.hwid[63] == 0x3F); /* the same chip id 00 01 .. 3F */
    CHECK(xl.has_spl[TL_SPL_UCODE] && xl.spl[TL_SPL_UCODE] == 0xA9);                    /* 02 02 00 A9: leading zero */
    CHECK(!strcmp(xl.product_name, "Milan-B0"));
    X509_free(cl);
    X509_free(cn);
    CHECK(verify(v.d, v.n, &hl, 1, T("2025-06-01T00:00:00Z"), NULL, &id, &e) != 0);
    CHECK(verify(v.d, v.n, &hn, 1, T("2025-06-01T00:00:00Z"), NULL, &id, &e) != 0);
    free(hl.d);
    free(hn.d);
    /* a chain from another product: the Genoa report with a Milan VCEK */
    blob g = load("genoa_v3_azure.report"), mv = load("milan_v2_virtee.vcek.der");
    CHECKF(verify(g.d, g.n, &mv, 1, T("2025-06-01T00:00:00Z"), NULL, &id, &e) == TL_ECRYPTO && contains(e.msg, "CPUID"), "%s", e.msg);
    free(g.d);
    free(mv.d);
    free(gv.d);
    free(v.d);
}

/* ---------------- an own PKI ---------------- */

static EVP_PKEY *g_ark, *g_ask; /* RSA-4096 keys, generated once (a few seconds each) */

static int sign_pss(X509 *c, EVP_PKEY *k, const EVP_MD *md, int salt)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    int ok = m && EVP_DigestSignInit(m, &pc, md, NULL, k) == 1 && EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, salt) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(pc, md) == 1 && X509_sign_ctx(c, m) > 0;
    EVP_MD_CTX_free(m);
    return ok;
}

static void add_ext(X509 *c, const char *oid, const uint8_t *v, int n)
{
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(os, v, n);
    X509_EXTENSION *x = X509_EXTENSION_create_by_OBJ(NULL, o, 0, os);
    X509_add_ext(c, x, -1);
    X509_EXTENSION_free(x);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(o);
}

static X509 *mkcert(const char *cn, const char *issuer_cn, EVP_PKEY *pub, long from, long to, long serial)
{
    X509 *c = X509_new();
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
    X509_NAME *s = X509_NAME_new(), *i = X509_NAME_new();
    X509_NAME_add_entry_by_txt(s, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(i, "CN", MBSTRING_ASC, (const unsigned char *)issuer_cn, -1, -1, 0);
    X509_set_subject_name(c, s);
    X509_set_issuer_name(c, i);
    X509_NAME_free(s);
    X509_NAME_free(i);
    X509_time_adj_ex(X509_getm_notBefore(c), 0, from, NULL);
    X509_time_adj_ex(X509_getm_notAfter(c), 0, to, NULL);
    X509_set_pubkey(c, pub);
    return c;
}

typedef struct {
    int turin, wrapped_hwid;
    uint8_t spl[5]; /* bl tee snp ucode fmc for the certificate */
    const char *product_name;
    const EVP_MD *md;
    int salt;
    long vcek_days;
} pki_opts;

typedef struct {
    EVP_PKEY *ark, *ask, *vcek;
    X509 *ark_c, *ask_c, *vcek_c;
    uint8_t *spki;
    int spki_len;
} pki;

static void pki_free(pki *p)
{
    X509_free(p->ark_c);
    X509_free(p->ask_c);
    X509_free(p->vcek_c);
    EVP_PKEY_free(p->vcek);
    OPENSSL_free(p->spki);
}

static const uint8_t CHIP[64] = {0xC1, 0x1F, 0x00, 0x42, 0x99, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60};

static void make_pki(pki *p, const pki_opts *o)
{
    memset(p, 0, sizeof *p);
    const char *prod = o->turin ? "Turin" : "Milan";
    char ark_cn[32], ask_cn[32];
    snprintf(ark_cn, sizeof ark_cn, "ARK-%s", prod);
    snprintf(ask_cn, sizeof ask_cn, "SEV-%s", prod);
    if (!g_ark) {
        g_ark = EVP_RSA_gen(4096);
        g_ask = EVP_RSA_gen(4096);
    }
    p->ark = g_ark;
    p->ask = g_ask;
    p->vcek = EVP_EC_gen("P-384");
    const EVP_MD *md = o->md ? o->md : EVP_sha384();
    int salt = o->salt ? o->salt : 48;
    p->ark_c = mkcert(ark_cn, ark_cn, p->ark, -86400, 86400L * 3650, 1);
    sign_pss(p->ark_c, p->ark, EVP_sha384(), 48);
    p->ask_c = mkcert(ask_cn, ark_cn, p->ask, -86400, 86400L * 3650, 2);
    sign_pss(p->ask_c, p->ark, EVP_sha384(), 48);
    p->vcek_c = mkcert("SEV-VCEK", ask_cn, p->vcek, o->vcek_days < 0 ? -2 * 86400L : -86400,
                       86400L * (o->vcek_days ? o->vcek_days : 365), 3);
    char pn[40];
    snprintf(pn, sizeof pn, "%s", o->product_name ? o->product_name : (o->turin ? "Turin-B0" : "Milan-B0"));
    uint8_t v[80];
    v[0] = 0x16;
    v[1] = (uint8_t)strlen(pn);
    memcpy(v + 2, pn, strlen(pn));
    add_ext(p->vcek_c, "1.3.6.1.4.1.3704.1.2", v, 2 + (int)strlen(pn));
    static const char *const spl_oid[5] = {"1.3.6.1.4.1.3704.1.3.1", "1.3.6.1.4.1.3704.1.3.2", "1.3.6.1.4.1.3704.1.3.3",
                                           "1.3.6.1.4.1.3704.1.3.8", "1.3.6.1.4.1.3704.1.3.9"};
    for (int i = 0; i < (o->turin ? 5 : 4); i++) {
        uint8_t iv[4] = {0x02, 0x01, o->spl[i]};
        int n = 3;
        if (o->spl[i] >= 0x80) {
            iv[1] = 2;
            iv[2] = 0;
            iv[3] = o->spl[i];
            n = 4;
        }
        add_ext(p->vcek_c, spl_oid[i], iv, n);
    }
    int hl = o->turin ? 8 : 64;
    uint8_t hw[70];
    if (o->wrapped_hwid) {
        hw[0] = 0x04;
        hw[1] = (uint8_t)hl;
        memcpy(hw + 2, CHIP, (size_t)hl);
        add_ext(p->vcek_c, "1.3.6.1.4.1.3704.1.4", hw, hl + 2);
    } else {
        add_ext(p->vcek_c, "1.3.6.1.4.1.3704.1.4", CHIP, hl);
    }
    sign_pss(p->vcek_c, p->ask, md, salt);
    p->spki_len = i2d_PUBKEY(p->ark, &p->spki);
}

/* A v3 report for the PKI's chip with this reported TCB, signed by its VCEK. */
static void make_report(const pki *p, int turin, uint64_t tcb, uint8_t r[TL_SNP_REPORT_LEN])
{
    memset(r, 0, TL_SNP_REPORT_LEN);
    r[0] = 3;
    r[0x08] = 0x00;
    r[0x0A] = 0x03; /* policy 0x30000 */
    r[0x34] = 1;
    for (int i = 0; i < 8; i++)
        r[0x180 + i] = (uint8_t)(tcb >> (8 * i));
    r[0x188] = turin ? 0x1A : 0x19;
    r[0x189] = turin ? 0x02 : 0x01;
    memcpy(r + 0x1A0, CHIP, turin ? 8 : 64);
    for (int i = 0; i < 48; i++)
        r[0x90 + i] = (uint8_t)(0xA0 + i);
    uint8_t der[128];
    size_t dl = sizeof der;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (EVP_DigestSignInit(m, NULL, EVP_sha384(), NULL, p->vcek) == 1 && EVP_DigestSign(m, der, &dl, r, TL_SNP_SIGNED_LEN) == 1) {
        const uint8_t *q = der;
        ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &q, (long)dl);
        const BIGNUM *br, *bs;
        ECDSA_SIG_get0(s, &br, &bs);
        uint8_t be[48];
        BN_bn2binpad(br, be, 48);
        for (int i = 0; i < 48; i++)
            r[0x2A0 + i] = be[47 - i];
        BN_bn2binpad(bs, be, 48);
        for (int i = 0; i < 48; i++)
            r[0x2E8 + i] = be[47 - i];
        ECDSA_SIG_free(s);
    }
    EVP_MD_CTX_free(m);
}

static blob der_of(X509 *c)
{
    blob b = {0};
    int n = i2d_X509(c, &b.d);
    b.n = n > 0 ? (size_t)n : 0;
    return b;
}

static int pki_verify(const pki *p, const uint8_t *r, int with_seam, tl_identity *id, tl_err *e, X509_CRL *crl)
{
    blob c[3] = {der_of(p->vcek_c), der_of(p->ask_c), {0}};
    int nc = 2;
    if (crl) {
        int n = i2d_X509_CRL(crl, &c[2].d);
        c[2].n = n > 0 ? (size_t)n : 0;
        nc = 3;
    }
    tl_verify_opts o = {0};
    if (with_seam) {
        o.snp_test_ark_spki = p->spki;
        o.snp_test_ark_spki_len = (size_t)p->spki_len;
    }
    int rc = verify(r, TL_SNP_REPORT_LEN, c, nc, time(NULL), &o, id, e);
    for (int i = 0; i < nc; i++)
        OPENSSL_free(c[i].d);
    return rc;
}

static void own_pki(void)
{
    uint8_t r[TL_SNP_REPORT_LEN];
    tl_identity id;
    tl_err e;
    pki p;
    /* Milan: bl 3, tee 0, snp 8, ucode 0xA9 (a leading-zero SPL) = 0xA908000000000003 */
    pki_opts mo = {.spl = {3, 0, 8, 0xA9, 0}};
    make_pki(&p, &mo);
    make_report(&p, 0, 0xA908000000000003ull, r);
    CHECKF(pki_verify(&p, r, 1, &id, &e, NULL) == 0, "%s", e.msg);
    CHECK(id.snp_product == TL_SNP_MILAN && id.snp_reported_tcb == 0xA908000000000003ull);
    /* without the seam this chain is not AMD's */
    CHECKF(pki_verify(&p, r, 0, &id, &e, NULL) == TL_ECRYPTO && contains(e.msg, "ASK SEV-Milan"), "%s", e.msg);
    /* a non-AMD ARK given with the evidence is compared with the pinned key and refused */
    {
        blob c[3] = {der_of(p.vcek_c), der_of(p.ask_c), der_of(p.ark_c)};
        CHECKF(verify(r, sizeof r, c, 3, time(NULL), NULL, &id, &e) == TL_ECRYPTO && contains(e.msg, "not AMD's"), "%s", e.msg);
        for (int i = 0; i < 3; i++)
            OPENSSL_free(c[i].d);
    }
    /* SPLs lower and higher than the report, per component */
    const uint64_t other[] = {0xA908000000000002ull, 0xA908000000000004ull, 0xA907000000000003ull, 0xA909000000000003ull,
                              0xA808000000000003ull, 0xAA08000000000003ull, 0xA908000000000103ull};
    const char *names[] = {"blSPL", "blSPL", "snpSPL", "snpSPL", "ucodeSPL", "ucodeSPL", "teeSPL"};
    for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
        make_report(&p, 0, other[i], r);
        CHECKF(pki_verify(&p, r, 1, &id, &e, NULL) == TL_ECRYPTO && contains(e.msg, names[i]) && contains(e.msg, "another TCB"),
               "tcb %llx: %s", (unsigned long long)other[i], e.msg);
    }
    /* CRLs: one signed by the ARK revoking the ASK; one signed by someone else */
    make_report(&p, 0, 0xA908000000000003ull, r);
    X509_CRL *crl = X509_CRL_new();
    X509_NAME *nm = X509_NAME_new();
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"ARK-Milan", -1, -1, 0);
    X509_CRL_set_issuer_name(crl, nm);
    X509_NAME_free(nm);
    ASN1_TIME *t0 = ASN1_TIME_adj(NULL, time(NULL), -1, 0), *t1 = ASN1_TIME_adj(NULL, time(NULL), 30, 0);
    X509_CRL_set1_lastUpdate(crl, t0);
    X509_CRL_set1_nextUpdate(crl, t1);
    ASN1_TIME_free(t0);
    ASN1_TIME_free(t1);
    X509_CRL_set_version(crl, 1);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    EVP_DigestSignInit(m, &pc, EVP_sha384(), NULL, p.ark);
    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 48);
    X509_CRL_sign_ctx(crl, m);
    EVP_MD_CTX_free(m);
    CHECKF(pki_verify(&p, r, 1, &id, &e, crl) == 0, "empty CRL: %s", e.msg);
    X509_REVOKED *rv = X509_REVOKED_new();
    X509_REVOKED_set_serialNumber(rv, X509_get_serialNumber(p.ask_c));
    ASN1_TIME *rt = ASN1_TIME_set(NULL, time(NULL) - 10);
    X509_REVOKED_set_revocationDate(rv, rt);
    ASN1_TIME_free(rt);
    X509_CRL_add0_revoked(crl, rv);
    m = EVP_MD_CTX_new();
    EVP_DigestSignInit(m, &pc, EVP_sha384(), NULL, p.ark);
    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 48);
    X509_CRL_sign_ctx(crl, m);
    EVP_MD_CTX_free(m);
    CHECKF(pki_verify(&p, r, 1, &id, &e, crl) == TL_ESTATE && contains(e.msg, "revoked"), "%s", e.msg);
    m = EVP_MD_CTX_new();
    EVP_DigestSignInit(m, &pc, EVP_sha384(), NULL, p.ask); /* not the ARK */
    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
    X509_CRL_sign_ctx(crl, m);
    EVP_MD_CTX_free(m);
    CHECKF(pki_verify(&p, r, 1, &id, &e, crl) == TL_ECRYPTO && contains(e.msg, "CRL"), "%s", e.msg);
    X509_CRL_free(crl);
    pki_free(&p);

    /* wrapped hwID, a productName of another product, wrong PSS parameters, an expired VCEK */
    pki_opts wo = {.spl = {3, 0, 8, 0x20, 0}, .wrapped_hwid = 1};
    make_pki(&p, &wo);
    make_report(&p, 0, 0x2008000000000003ull, r);
    CHECKF(pki_verify(&p, r, 1, &id, &e, NULL) == 0, "wrapped hwID: %s", e.msg);
    pki_free(&p);
    pki_opts po = {.spl = {3, 0, 8, 0x20, 0}, .product_name = "Genoa-B1"};
    make_pki(&p, &po);
    make_report(&p, 0, 0x2008000000000003ull, r);
    CHECKF(pki_verify(&p, r, 1, &id, &e, NULL) == TL_ECRYPTO && contains(e.msg, "productName"), "%s", e.msg);
    pki_free(&p);
    pki_opts so = {.spl = {3, 0, 8, 0x20, 0}, .salt = 32};
    make_pki(&p, &so);
    make_report(&p, 0, 0x2008000000000003ull, r);
    CHECKF(pki_verify(&p, r, 1, &id, &e, NULL) == TL_ECRYPTO && contains(e.msg, "salt length is 32"), "%s", e.msg);
    pki_free(&p);
    pki_opts ho = {.spl = {3, 0, 8, 0x20, 0}, .md = EVP_sha256(), .salt = 48};
    make_pki(&p, &ho);
    make_report(&p, 0, 0x2008000000000003ull, r);
    CHECKF(pki_verify(&p, r, 1, &id, &e, NULL) == TL_ECRYPTO && contains(e.msg, "hash is not SHA-384"), "%s", e.msg);
    pki_free(&p);
    pki_opts xo = {.spl = {3, 0, 8, 0x20, 0}, .vcek_days = -1};
    make_pki(&p, &xo);
    make_report(&p, 0, 0x2008000000000003ull, r);
    CHECKF(pki_verify(&p, r, 1, &id, &e, NULL) == TL_ESTATE && contains(e.msg, "VCEK has expired"), "%s", e.msg);
    pki_free(&p);

    /* Turin: byte0 FMC, byte1 bootloader, byte2 TEE, byte3 SNP, byte7 microcode; 8-byte chip id */
    pki_opts to = {.turin = 1, .spl = {2, 1, 5, 0x33, 7}};
    make_pki(&p, &to);
    uint64_t tt = 0x3300000005010207ull;
    tl_snp_tcb d;
    tl_snp_tcb_decode(tt, 1, &d);
    CHECK(d.fmc == 7 && d.bootloader == 2 && d.tee == 1 && d.snp == 5 && d.microcode == 0x33);
    make_report(&p, 1, tt, r);
    CHECKF(pki_verify(&p, r, 1, &id, &e, NULL) == 0, "Turin: %s", e.msg);
    CHECK(id.snp_product == TL_SNP_TURIN);
    make_report(&p, 1, 0x3300000005010208ull, r); /* fmcSPL 8 vs the certificate's 7 */
    CHECKF(pki_verify(&p, r, 1, &id, &e, NULL) == TL_ECRYPTO && contains(e.msg, "fmcSPL"), "%s", e.msg);
    make_report(&p, 1, tt, r);
    r[0x1A8] = 1; /* Turin's chip id is 8 bytes; the rest must be zero */
    CHECK(pki_verify(&p, r, 1, &id, &e, NULL) != 0);
    pki_free(&p);
}

/* ---------------- policy ---------------- */

static void policy(void)
{
    blob r = load("milan_v2_virtee.report"), c = load("milan_v2_virtee.vcek.der");
    tl_identity id;
    tl_err e;
    if (verify(r.d, r.n, &c, 1, T("2025-06-01T00:00:00Z"), NULL, &id, &e)) {
        CHECKF(0, "%s", e.msg);
        return;
    }
    char m[97];
    for (int i = 0; i < 48; i++)
        snprintf(m + 2 * i, 3, "%02x", id.snp_measurement[i]);
    const struct {
        const char *extra;
        int want;
        const char *msg;
    } cases[] = {
        {"", 0, NULL},
        {",\"allow_smt\":false", TL_EPOLICY, "SMT"},
        {",\"require_single_socket\":true", TL_EPOLICY, "single socket"},
        {",\"vmpl\":[1,2]", TL_EPOLICY, "vmpl 0"},
        {",\"vmpl\":0", 0, NULL},
        {",\"products\":[\"Genoa\",\"Turin\"]", TL_EPOLICY, "product Milan"},
        {",\"products\":\"Milan\"", 0, NULL},
        {",\"signers\":[\"vlek\"]", TL_EPOLICY, "signer vcek"},
        {",\"min_tcb\":{\"bootloader\":3,\"tee\":0,\"snp\":8,\"microcode\":115}", 0, NULL},
        {",\"min_tcb\":{\"microcode\":116}", TL_EPOLICY, "microcode 115"},
        {",\"min_tcb\":{\"fmc\":9}", 0, NULL}, /* no FMC before Turin */
        {",\"host_data\":\"0000000000000000000000000000000000000000000000000000000000000001\"", TL_EPOLICY, "host_data"},
        {",\"id_key_digest\":\"" "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001\"", TL_EPOLICY, "id_key_digest"},
        {",\"author_key_digest\":\"" "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001\"", TL_EPOLICY, "author_key_digest"},
        {",\"report_data\":\"" "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\"", TL_EPOLICY, "report_data"},
        {",\"min_tcb\":{\"speed\":1}", TL_EINVAL, "min_tcb.speed"},
        {",\"vmpl\":4", TL_EINVAL, "vmpl"},
        {",\"colour\":1", TL_EINVAL, "sev_snp.colour"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char pol[1000];
        snprintf(pol, sizeof pol, "{\"version\":1,\"sev_snp\":{\"measurement\":\"%s\"%s}}", m, cases[i].extra);
        tl_policy *p = tl_policy_parse(pol, &e);
        int rc = p ? tl_policy_check(p, &id, &e) : e.code;
        CHECKF(rc == cases[i].want && (!cases[i].msg || contains(e.msg, cases[i].msg)), "case %zu (%s): rc %d %s", i, cases[i].extra, rc,
               e.msg);
        tl_policy_free(p);
    }
    /* the migration agent bit */
    id.snp_policy |= 1ull << TL_SNP_POLICY_MIGRATE_MA;
    char pol[400];
    snprintf(pol, sizeof pol, "{\"version\":1,\"sev_snp\":{\"measurement\":\"%s\"}}", m);
    tl_policy *p = tl_policy_parse(pol, &e);
    CHECK(p && tl_policy_check(p, &id, &e) == TL_EPOLICY && contains(e.msg, "migration agent"));
    tl_policy_free(p);
    free(r.d);
    free(c.d);
}

int main(void)
{
    real_fixtures();
    policy();
    own_pki();
    EVP_PKEY_free(g_ark);
    EVP_PKEY_free(g_ask);
    return test_finish();
}
