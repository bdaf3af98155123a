/* SEV-SNP evidence assembly in a guest (snp_tsm.h). The certificates are not verified here — the
 * relying party does that — but each must parse as X.509, so the guest never ships junk. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee/snp.h"
#include "tee/snp_tsm.h"
#include "util/io.h"

#define MAX_CERT (64 << 10)

typedef struct {
    tl_snp_cert_entry e[TL_SNP_MAX_CERTS];
    uint8_t *owned[TL_SNP_MAX_CERTS];
    int n;
} certs;

static int have(const certs *c, tl_snp_cert_kind k)
{
    for (int i = 0; i < c->n; i++)
        if (c->e[i].kind == k)
            return 1;
    return 0;
}

/* Adds a DER certificate (copied) unless one of its kind is there already. */
static int add(certs *c, tl_snp_cert_kind k, const uint8_t *der, size_t n, tl_err *err)
{
    if (have(c, k) || k == TL_SNP_CERT_OTHER)
        return 0;
    if (c->n == TL_SNP_MAX_CERTS)
        return tl_errf(err, TL_EINVAL, "SEV-SNP: more than %d certificates", TL_SNP_MAX_CERTS);
    uint8_t *d = malloc(n);
    if (!d)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    memcpy(d, der, n);
    c->owned[c->n] = d;
    c->e[c->n++] = (tl_snp_cert_entry){k, d, n};
    return 0;
}

static tl_snp_cert_kind kind_of(X509 *x)
{
    char cn[128] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
    if (!strcmp(cn, "SEV-VCEK"))
        return TL_SNP_CERT_VCEK;
    if (!strcmp(cn, "SEV-VLEK"))
        return TL_SNP_CERT_VLEK;
    if (!strncmp(cn, "ARK-", 4))
        return TL_SNP_CERT_ARK;
    if (!strncmp(cn, "SEV-", 4))
        return TL_SNP_CERT_ASK; /* the table has one slot for ASK or ASVK */
    return TL_SNP_CERT_OTHER;
}

static int add_x509(certs *c, X509 *x, tl_err *err)
{
    uint8_t *der = NULL;
    int n = i2d_X509(x, &der);
    int rc = n > 0 ? add(c, kind_of(x), der, (size_t)n, err) : tl_errf(err, TL_EINVAL, "SEV-SNP: a certificate does not encode");
    OPENSSL_free(der);
    return rc;
}

static int add_file(certs *c, const char *path, tl_err *err)
{
    uint8_t *d;
    size_t n;
    if (tl_read_file(path, 1 << 20, &d, &n, err))
        return err->code;
    int rc = 0;
    if (n > 10 && !memcmp(d, "-----BEGIN", 10)) {
        BIO *b = BIO_new_mem_buf(d, (int)n);
        X509 *x;
        int got = 0;
        while (!rc && b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
            rc = add_x509(c, x, err);
            X509_free(x);
            got++;
        }
        BIO_free(b);
        if (!rc && !got)
            rc = tl_errf(err, TL_EINVAL, "%s: no PEM certificate in it", path);
    } else {
        const uint8_t *p = d;
        X509 *x = d2i_X509(NULL, &p, (long)n);
        if (!x || p != d + n)
            rc = tl_errf(err, TL_EINVAL, "%s: neither PEM certificates nor one DER certificate", path);
        else
            rc = add_x509(c, x, err);
        X509_free(x);
    }
    ERR_clear_error();
    free(d);
    return rc ? tl_err_prefix(err, "SEV-SNP certificates") : 0;
}

static int der_cert_ok(const uint8_t *d, size_t n)
{
    const uint8_t *p = d;
    X509 *x = d2i_X509(NULL, &p, (long)n);
    int ok = x && p == d + n && kind_of(x) == TL_SNP_CERT_VCEK;
    X509_free(x);
    ERR_clear_error();
    return ok;
}

/* The VCEK from the cache or AMD's KDS. */
static int find_vcek(certs *c, const tl_snp_report *r, const tl_snp_tsm_src *s, tl_err *err)
{
    /* a v2 report does not name its product: try each (KDS answers 404 for the wrong one) */
    int first = r->product >= 0 ? r->product : 0, last = r->product >= 0 ? r->product : TL_SNP_GENOA;
    char tried[700] = "";
    for (int p = first; p <= last; p++) {
        char url[400], file[700];
        if (tl_snp_kds_vcek_url_base(s->kds_url, r, p, url, sizeof url))
            return tl_errf(err, TL_EINVAL, "SEV-SNP: the KDS URL is too long");
        const char *q = strstr(url, "/vcek/v1/");
        if (s->cache_dir) {
            /* file name: vcek-PRODUCT-HWID-blSPL...: the URL path after /vcek/v1/, made file-safe */
            int w = snprintf(file, sizeof file, "%s/vcek-%s.der", s->cache_dir, q ? q + 9 : url);
            if (w < 0 || (size_t)w >= sizeof file)
                return tl_errf(err, TL_EINVAL, "SEV-SNP: VCEK cache path too long");
            for (char *f = file + strlen(s->cache_dir) + 1; *f; f++)
                if (*f == '/' || *f == '?' || *f == '&' || *f == '=')
                    *f = '-';
            uint8_t *d;
            size_t n;
            tl_err ig = {0};
            if (!tl_read_file(file, MAX_CERT, &d, &n, &ig)) {
                int ok = der_cert_ok(d, n);
                int rc = ok ? add(c, TL_SNP_CERT_VCEK, d, n, err) : 0;
                free(d);
                if (ok)
                    return rc;
            }
        }
        if (!s->kds_url)
            continue;
        uint8_t *d = NULL;
        size_t n = 0;
        tl_err fe = {0};
        if (s->fetch_fn(url, &d, &n, s->ctx, &fe)) {
            snprintf(tried + strlen(tried), sizeof tried - strlen(tried), "%s%s", tried[0] ? "; " : "", fe.msg);
            continue;
        }
        int ok = der_cert_ok(d, n);
        int rc = ok ? add(c, TL_SNP_CERT_VCEK, d, n, err) : tl_errf(err, TL_EINVAL, "SEV-SNP: %s did not return a DER VCEK certificate", url);
        if (ok && s->cache_dir) {
            tl_err ce = {0};
            tl_write_file_atomic(file, d, n, 0644, &ce); /* a cache: failing to write only costs a fetch next time */
        }
        free(d);
        return rc;
    }
    return tl_errf(err, TL_ENOTFOUND,
                   "SEV-SNP: the report is signed by a VCEK, but the host's certificate table has none, no --snp-certs file "
                   "holds one%s%s%s",
                   s->cache_dir ? ", the cache has none" : "", s->kds_url ? " and fetching failed: " : " and no --snp-vcek-url is set",
                   tried);
}

int tl_snp_tsm_evidence(const uint8_t *report, size_t n, const uint8_t *aux, size_t aux_len, const tl_snp_tsm_src *s,
                        uint8_t **ev, size_t *ev_len, tl_err *err)
{
    tl_snp_report r;
    if (tl_snp_report_parse(report, n, &r, err))
        return tl_err_prefix(err, "tee tsm: sev_guest outblob");
    certs c = {0};
    int rc = 0;
    /* a host table padded to a page: trailing zeros after the terminator are fine */
    if (aux && aux_len) {
        tl_snp_cert_entry t[TL_SNP_MAX_CERTS];
        int nt = 0;
        if ((rc = tl_snp_certtable_parse(aux, aux_len, t, &nt, err)))
            tl_err_prefix(err, "tee tsm: sev_guest auxblob");
        for (int i = 0; !rc && i < nt; i++)
            rc = add(&c, t[i].kind, t[i].der, t[i].len, err);
    }
    for (int i = 0; !rc && i < s->nfiles; i++)
        rc = add_file(&c, s->files[i], err);
    tl_snp_cert_kind leaf = r.signer == TL_SNP_SIGNER_VLEK ? TL_SNP_CERT_VLEK : TL_SNP_CERT_VCEK;
    if (!rc && !have(&c, leaf)) {
        if (leaf == TL_SNP_CERT_VLEK)
            rc = tl_errf(err, TL_ENOTFOUND, "SEV-SNP: the report is signed by a VLEK, and neither the host's certificate table nor --snp-certs holds one");
        else
            rc = find_vcek(&c, &r, s, err);
    }
    uint8_t *tab = NULL;
    size_t tl = 0;
    if (!rc)
        rc = tl_snp_certtable_build(c.e, c.n, &tab, &tl, err);
    if (!rc) {
        uint8_t *out = malloc(n + tl);
        if (!out) {
            rc = tl_errf(err, TL_ENOMEM, "out of memory");
        } else {
            memcpy(out, report, n);
            memcpy(out + n, tab, tl);
            *ev = out;
            *ev_len = n + tl;
        }
    }
    free(tab);
    for (int i = 0; i < c.n; i++)
        free(c.owned[i]);
    return rc;
}
