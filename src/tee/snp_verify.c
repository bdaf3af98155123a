/* SEV-SNP verification (docs/attestation-snp.md lists the checks in this order):
 *   1. the report parses (size, version 2/3/5, algorithm 1, signer VCEK or VLEK, zero padding);
 *   2. the certificates (evidence table + caller's files) sort into ARK / ASK / ASVK / VCEK / VLEK;
 *   3. the chain's product (the leaf's issuer) agrees with the report's CPUID (v3+);
 *   4. every ARK presented equals the pinned ARK key of its product (it is never trusted);
 *   5. ASK (VCEK) or ASVK (VLEK) is signed by the pinned ARK key, RSA-PSS SHA-384 salt 48, valid at
 *      now, and not revoked by an ARK-signed CRL when one is given;
 *   6. the leaf is signed by it the same way, valid at now, and holds a P-384 key;
 *   7. the leaf's extensions agree with the report: productName, hwID = CHIP_ID (VCEK), every SPL
 *      = reported_tcb (fmcSPL on Turin) — before the signature, so a VCEK of another chip or TCB
 *      is named as such;
 *   8. the report signature (ECDSA P-384 SHA-384 over 0x000..0x29F) verifies with the leaf key.
 * The first failure is returned with a message naming it. */
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee/certs.h"
#include "tee/ecdsa.h"
#include "tee/snp_internal.h"
#include "tee/verify_internal.h"
#include "util/codec.h"

#define MAX_CERTS 32

typedef struct {
    STACK_OF(X509) *certs;
    STACK_OF(X509_CRL) *crls;
} bag;

static void bag_free(bag *b)
{
    sk_X509_pop_free(b->certs, X509_free);
    sk_X509_CRL_pop_free(b->crls, X509_CRL_free);
}

static int bag_add(bag *b, X509 *c, tl_err *err)
{
    for (int i = 0; i < sk_X509_num(b->certs); i++)
        if (!X509_cmp(sk_X509_value(b->certs, i), c)) { /* the same certificate twice: keep one */
            X509_free(c);
            return 0;
        }
    if (sk_X509_num(b->certs) >= MAX_CERTS) {
        X509_free(c);
        return tl_errf(err, TL_EINVAL, "SEV-SNP: more than %d certificates", MAX_CERTS);
    }
    if (!sk_X509_push(b->certs, c)) {
        X509_free(c);
        return tl_errf(err, TL_ENOMEM, "out of memory");
    }
    return 0;
}

/* A blob: PEM (certificates and CRLs, any order) or one or more concatenated DER objects. */
static int bag_load(bag *b, const uint8_t *d, size_t n, int idx, tl_err *err)
{
    int pem = 0;
    for (size_t i = 0; i + 10 <= n && !pem; i++)
        pem = !memcmp(d + i, "-----BEGIN", 10);
    if (pem) {
        BIO *bio = BIO_new_mem_buf(d, (int)n);
        STACK_OF(X509_INFO) *inf = bio ? PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        ERR_clear_error();
        if (!inf || sk_X509_INFO_num(inf) == 0) {
            sk_X509_INFO_pop_free(inf, X509_INFO_free);
            return tl_errf(err, TL_EINVAL, "SEV-SNP certificate file %d: PEM without a readable certificate or CRL", idx + 1);
        }
        int rc = 0;
        for (int i = 0; i < sk_X509_INFO_num(inf) && !rc; i++) {
            X509_INFO *x = sk_X509_INFO_value(inf, i);
            if (x->x509) {
                rc = bag_add(b, x->x509, err);
                x->x509 = NULL;
            }
            if (x->crl && !rc) {
                if (sk_X509_CRL_num(b->crls) >= MAX_CERTS || !sk_X509_CRL_push(b->crls, x->crl))
                    rc = tl_errf(err, TL_EINVAL, "SEV-SNP: too many CRLs");
                else
                    x->crl = NULL;
            }
        }
        sk_X509_INFO_pop_free(inf, X509_INFO_free);
        return rc;
    }
    const uint8_t *p = d, *e = d + n;
    while (p < e) {
        const uint8_t *q = p;
        X509 *c = d2i_X509(NULL, &q, (long)(e - p));
        if (c) {
            p = q;
            if (bag_add(b, c, err))
                return err->code;
            continue;
        }
        q = p;
        X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long)(e - p));
        ERR_clear_error();
        if (!crl)
            return tl_errf(err, TL_EINVAL, "SEV-SNP certificate file %d: byte %zu starts neither a certificate nor a CRL (PEM or DER)",
                           idx + 1, (size_t)(p - d));
        p = q;
        if (sk_X509_CRL_num(b->crls) >= MAX_CERTS || !sk_X509_CRL_push(b->crls, crl)) {
            X509_CRL_free(crl);
            return tl_errf(err, TL_EINVAL, "SEV-SNP: too many CRLs");
        }
    }
    return 0;
}

static void cn_of(const X509_NAME *nm, char *buf, size_t n)
{
    buf[0] = 0;
    X509_NAME_get_text_by_NID((X509_NAME *)nm, NID_commonName, buf, (int)n);
}

/* The product a name like PREFIX "Milan" names, or -1. */
static int product_after(const char *cn, const char *prefix)
{
    size_t l = strlen(prefix);
    if (strncmp(cn, prefix, l))
        return -1;
    for (int p = 0; p < TL_SNP_NPRODUCTS; p++)
        if (!strcmp(cn + l, tl_snp_product_name(p)))
            return p;
    return -1;
}

typedef struct {
    X509 *ark[TL_SNP_NPRODUCTS], *ask[TL_SNP_NPRODUCTS], *asvk[TL_SNP_NPRODUCTS], *vcek, *vlek;
} roles;

static int sort_roles(bag *b, roles *r, tl_err *err)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < sk_X509_num(b->certs); i++) {
        X509 *c = sk_X509_value(b->certs, i);
        char cn[128];
        cn_of(X509_get_subject_name(c), cn, sizeof cn);
        X509 **slot = NULL;
        int p;
        if ((p = product_after(cn, "ARK-")) >= 0)
            slot = &r->ark[p];
        else if ((p = product_after(cn, "SEV-VLEK-")) >= 0)
            slot = &r->asvk[p];
        else if ((p = product_after(cn, "SEV-")) >= 0)
            slot = &r->ask[p];
        else if (!strcmp(cn, "SEV-VCEK"))
            slot = &r->vcek;
        else if (!strcmp(cn, "SEV-VLEK"))
            slot = &r->vlek;
        else
            return tl_errf(err, TL_EINVAL, "SEV-SNP: certificate \"%.60s\" is not part of an AMD chain (ARK-*, SEV-*, SEV-VLEK-*, SEV-VCEK, SEV-VLEK)",
                           cn);
        if (*slot)
            return tl_errf(err, TL_EINVAL, "SEV-SNP: two different \"%s\" certificates were given; give only the one for this report", cn);
        *slot = c;
    }
    return 0;
}

/* The DER of a built-in key or certificate (base64 in amd_roots.c); NULL when it does not decode. */
static uint8_t *builtin_der(const char *b64, size_t *n)
{
    uint8_t *der = NULL;
    if (tl_b64_decode(b64, &der, n, 0, 4096))
        return NULL;
    return der;
}

static EVP_PKEY *spki_key(const uint8_t *der, size_t n)
{
    const uint8_t *q = der;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &q, (long)n);
    ERR_clear_error();
    return k;
}

/* The pinned ARK key of product p (or, in tests only, opts->snp_test_ark_spki). */
static EVP_PKEY *pinned_ark(const tl_verify_opts *o, int p)
{
    if (o && o->snp_test_ark_spki)
        return spki_key(o->snp_test_ark_spki, o->snp_test_ark_spki_len);
    size_t n = 0;
    uint8_t *der = builtin_der(tl_amd_roots[p].ark_spki, &n);
    EVP_PKEY *k = der ? spki_key(der, n) : NULL;
    free(der);
    return k;
}

/* The built-in ASK (or ASVK when vlek) of product p, for evidence that omits it. */
static X509 *builtin_mid(int p, int vlek)
{
    size_t n = 0;
    uint8_t *der = builtin_der(vlek ? tl_amd_roots[p].asvk : tl_amd_roots[p].ask, &n);
    X509 *c = der ? tl_x509_from_der(der, n) : NULL;
    free(der);
    return c;
}

static int same_key(X509 *c, EVP_PKEY *k)
{
    EVP_PKEY *ck = X509_get0_pubkey(c);
    int r = ck && EVP_PKEY_eq(ck, k) == 1;
    ERR_clear_error();
    return r;
}

/* 1 when k is an EC key on P-384. */
static int is_p384(EVP_PKEY *k)
{
    char name[64];
    size_t n = 0;
    if (!k || !EVP_PKEY_is_a(k, "EC") || !EVP_PKEY_get_utf8_string_param(k, "group", name, sizeof name, &n))
        return 0;
    return !strcmp(name, "secp384r1") || !strcmp(name, "P-384");
}

static int report_sig_ok(EVP_PKEY *k, const uint8_t *report, const tl_snp_report *s)
{
    return tl_ecdsa_verify_rs(k, EVP_sha384(), s->sig_r, s->sig_s, 48, report, TL_SNP_SIGNED_LEN);
}

/* CRLs: each must be signed by the pinned ARK it names; the chain's own product's CRLs must be
 * current and must not list the intermediate. */
static int check_crls(const tl_verify_opts *o, bag *b, int prod, X509 *mid, const char *mid_name, time_t now, tl_err *err)
{
    for (int i = 0; i < sk_X509_CRL_num(b->crls); i++) {
        X509_CRL *crl = sk_X509_CRL_value(b->crls, i);
        char cn[128];
        cn_of(X509_CRL_get_issuer(crl), cn, sizeof cn);
        int p = product_after(cn, "ARK-");
        if (p < 0)
            return tl_errf(err, TL_ECRYPTO, "SEV-SNP: CRL %d is issued by \"%.60s\", not by an AMD ARK", i + 1, cn);
        EVP_PKEY *k = pinned_ark(o, p);
        int ok = k && X509_CRL_verify(crl, k) == 1;
        EVP_PKEY_free(k);
        ERR_clear_error();
        if (!ok)
            return tl_errf(err, TL_ECRYPTO, "SEV-SNP: CRL %d (\"%s\") signature does not verify with the pinned %s key", i + 1, cn, cn);
        if (p != prod)
            continue;
        time_t t0, t1;
        char a[32], n[32];
        tl_format_iso8601(now, n);
        if (tl_asn1_time_t(X509_CRL_get0_lastUpdate(crl), &t0) || !X509_CRL_get0_nextUpdate(crl) ||
            tl_asn1_time_t(X509_CRL_get0_nextUpdate(crl), &t1))
            return tl_errf(err, TL_EINVAL, "SEV-SNP: CRL \"%s\" has no readable thisUpdate/nextUpdate", cn);
        if (now < t0) {
            tl_format_iso8601(t0, a);
            return tl_errf(err, TL_ESTATE, "SEV-SNP: CRL \"%s\" is not yet valid: thisUpdate %s is after %s", cn, a, n);
        }
        if (now >= t1) {
            tl_format_iso8601(t1, a);
            return tl_errf(err, TL_ESTATE, "SEV-SNP: CRL \"%s\" has expired: nextUpdate %s is not after %s", cn, a, n);
        }
        X509_REVOKED *rev = NULL;
        if (X509_CRL_get0_by_cert(crl, &rev, mid) == 1)
            return tl_errf(err, TL_ESTATE, "SEV-SNP: %s is revoked by the CRL of %s", mid_name, cn);
    }
    return 0;
}

static int check_extensions(X509 *leaf, const char *leaf_name, int prod, const tl_snp_report *s, tl_err *err)
{
    tl_snp_certext x;
    if (tl_snp_certext_parse(leaf, &x, err))
        return tl_err_prefix(err, "SEV-SNP %s", leaf_name);
    const char *pn = tl_snp_product_name(prod);
    size_t pl = strlen(pn);
    if (!x.product_name[0])
        return tl_errf(err, TL_EINVAL, "SEV-SNP %s has no productName extension (1.3.6.1.4.1.3704.1.2)", leaf_name);
    if (strncmp(x.product_name, pn, pl) || (x.product_name[pl] && x.product_name[pl] != '-'))
        return tl_errf(err, TL_ECRYPTO, "SEV-SNP %s productName \"%s\" is not for %s, the product of its chain%s", leaf_name,
                       x.product_name, pn, s->version >= 3 ? " and of the report's CPUID" : "");
    int turin = prod == TL_SNP_TURIN;
    if (s->signer == TL_SNP_SIGNER_VCEK) {
        int want = turin ? 8 : 64;
        char g[129], w[129];
        if (x.hwid_len != want)
            return tl_errf(err, TL_ECRYPTO, "SEV-SNP VCEK hwID is %d bytes, a %s CHIP_ID has %d", x.hwid_len, pn, want);
        static const uint8_t zero[64];
        if (CRYPTO_memcmp(x.hwid, s->chip_id, (size_t)want) || (turin && memcmp(s->chip_id + 8, zero, 56))) {
            tl_hex(x.hwid, (size_t)want, g);
            tl_hex(s->chip_id, 64, w);
            return tl_errf(err, TL_ECRYPTO,
                           "SEV-SNP VCEK hwID %.32s... does not match the report's chip_id %.32s...%s: the VCEK is from another chip",
                           g, w, s->signer_info & 2 ? " (the guest masked its chip id: MASK_CHIP_ID is set)" : "");
        }
    }
    tl_snp_tcb t;
    tl_snp_tcb_decode(s->reported_tcb, turin, &t);
    static const char *const names[] = {"blSPL", "teeSPL", "snpSPL", "ucodeSPL", "fmcSPL"};
    const uint8_t rep[5] = {t.bootloader, t.tee, t.snp, t.microcode, t.fmc};
    for (int k = 0; k < (turin ? 5 : 4); k++) {
        if (!x.has_spl[k])
            return tl_errf(err, TL_EINVAL, "SEV-SNP %s has no %s extension", leaf_name, names[k]);
        if (x.spl[k] != rep[k])
            return tl_errf(err, TL_ECRYPTO,
                           "SEV-SNP %s %s %u differs from reported_tcb's %u (reported_tcb 0x%016llx): the certificate is for another TCB",
                           leaf_name, names[k], x.spl[k], rep[k], (unsigned long long)s->reported_tcb);
    }
    return 0;
}

int tl_verify_snp(const uint8_t *ev, size_t len, time_t now, const tl_verify_opts *o, tl_identity *id, tl_err *err)
{
    tl_snp_report s;
    if (len < TL_SNP_REPORT_LEN)
        return tl_errf(err, TL_EINVAL, "SEV-SNP evidence is %zu bytes, shorter than the %d-byte report", len, TL_SNP_REPORT_LEN);
    /* 1 */
    if (tl_snp_report_parse(ev, TL_SNP_REPORT_LEN, &s, err))
        return err->code;
    bag b = {sk_X509_new_null(), sk_X509_CRL_new_null()};
    EVP_PKEY *ark = NULL;
    int rc = 0;
#define CHECK_RC(x) do { if ((rc = (x))) goto out; } while (0)
    if (!b.certs || !b.crls)
        CHECK_RC(tl_errf(err, TL_ENOMEM, "out of memory"));
    /* 2 */
    if (len > TL_SNP_REPORT_LEN) {
        tl_snp_cert_entry t[TL_SNP_MAX_CERTS];
        int n;
        CHECK_RC(tl_snp_certtable_parse(ev + TL_SNP_REPORT_LEN, len - TL_SNP_REPORT_LEN, t, &n, err));
        for (int i = 0; i < n; i++) {
            if (t[i].kind == TL_SNP_CERT_OTHER)
                continue; /* e.g. a host's extra entries: not part of the chain */
            X509 *c = tl_x509_from_der(t[i].der, t[i].len);
            if (!c)
                CHECK_RC(tl_errf(err, TL_EINVAL, "SEV-SNP certificate table entry %d is not a DER certificate", i + 1));
            CHECK_RC(bag_add(&b, c, err));
        }
    }
    for (int i = 0; o && i < o->n_snp_blobs; i++)
        CHECK_RC(bag_load(&b, o->snp_blobs[i], o->snp_blob_lens[i], i, err));
    roles r;
    CHECK_RC(sort_roles(&b, &r, err));
    int vlek = s.signer == TL_SNP_SIGNER_VLEK;
    const char *leaf_name = vlek ? "VLEK" : "VCEK";
    X509 *leaf = vlek ? r.vlek : r.vcek;
    if (!leaf) {
        char url[300] = "";
        if (!vlek)
            tl_snp_kds_vcek_url(&s, s.product, url, sizeof url);
        CHECK_RC(tl_errf(err, TL_ENOTFOUND, "SEV-SNP: the report is signed by a %s and no %s certificate was given%s%s", leaf_name,
                         leaf_name, url[0] ? "; AMD KDS serves it at " : "", url));
    }
    /* 3 */
    char icn[128];
    cn_of(X509_get_issuer_name(leaf), icn, sizeof icn);
    int prod = product_after(icn, vlek ? "SEV-VLEK-" : "SEV-");
    if (prod < 0)
        CHECK_RC(tl_errf(err, TL_ECRYPTO, "SEV-SNP %s is issued by \"%.60s\", not by an AMD %s", leaf_name, icn,
                         vlek ? "ASVK (SEV-VLEK-Milan/Genoa/Turin)" : "ASK (SEV-Milan/Genoa/Turin)"));
    if (s.product >= 0 && s.product != prod)
        CHECK_RC(tl_errf(err, TL_ECRYPTO, "SEV-SNP: the report's CPUID (family 0x%02X model 0x%02X) says %s, but the %s chain is %s's",
                         s.cpuid_fam, s.cpuid_mod, tl_snp_product_name(s.product), leaf_name, tl_snp_product_name(prod)));
    /* 4 */
    for (int p = 0; p < TL_SNP_NPRODUCTS; p++) {
        if (!r.ark[p])
            continue;
        EVP_PKEY *k = pinned_ark(o, p);
        int same = k && same_key(r.ark[p], k);
        EVP_PKEY_free(k);
        if (!same)
            CHECK_RC(tl_errf(err, TL_ECRYPTO, "SEV-SNP: the ARK-%s certificate given is not AMD's: its public key differs from the pinned ARK-%s key",
                             tl_snp_product_name(p), tl_snp_product_name(p)));
    }
    if (!(ark = pinned_ark(o, prod)))
        CHECK_RC(tl_errf(err, TL_ECRYPTO, "SEV-SNP: the pinned ARK-%s key is unreadable", tl_snp_product_name(prod)));
    /* 5 */
    X509 *mid = vlek ? r.asvk[prod] : r.ask[prod], *builtin = NULL;
    if (!mid) {
        mid = builtin = builtin_mid(prod, vlek);
        if (!mid)
            CHECK_RC(tl_errf(err, TL_ECRYPTO, "SEV-SNP: the built-in %s certificate is unreadable", vlek ? "ASVK" : "ASK"));
    }
    char mid_name[64];
    snprintf(mid_name, sizeof mid_name, "%s SEV-%s%s", vlek ? "ASVK" : "ASK", vlek ? "VLEK-" : "", tl_snp_product_name(prod));
    rc = tl_snp_check_cert(mid, ark, now, mid_name, err);
    if (!rc)
        rc = check_crls(o, &b, prod, mid, mid_name, now, err);
    /* 6 */
    if (!rc)
        rc = tl_snp_check_cert(leaf, X509_get0_pubkey(mid), now, leaf_name, err);
    X509_free(builtin);
    if (rc)
        goto out;
    EVP_PKEY *lk = X509_get0_pubkey(leaf);
    if (!is_p384(lk))
        CHECK_RC(tl_errf(err, TL_ECRYPTO, "SEV-SNP %s key is not ECDSA P-384", leaf_name));
    /* 7 */
    CHECK_RC(check_extensions(leaf, leaf_name, prod, &s, err));
    /* 8 */
    if (!report_sig_ok(lk, ev, &s))
        CHECK_RC(tl_errf(err, TL_ECRYPTO,
                         "SEV-SNP report signature (0x2A0, ECDSA P-384 over 0x000..0x29F) does not verify with the %s key "
                         "(report altered, or signed by another key)",
                         leaf_name));

    tl_snp_identity(&s, id);
    id->snp_product = prod;
out:
    EVP_PKEY_free(ark);
    bag_free(&b);
    ERR_clear_error();
    return rc;
}
