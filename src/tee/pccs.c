/* Collateral from a PCCS or Intel PCS (API v4) with libcurl, cached on disk in the directory layout.
 * Nothing fetched is trusted on its own: every document is verified against the pinned Intel root
 * by tl_evidence_verify, so the fetch path only needs to be robust, not authenticated. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tee/certs.h"
#include "tee/collateral.h"
#include "tee/pccs.h"
#include "tee/quote.h"
#include "tee/sgx_ext.h"
#include "tee/tcbinfo.h"
#include "util/codec.h"
#include "util/secmem.h"

#define MAX_BODY (8 << 20)

typedef struct {
    char *data;
    size_t n;
    int overflow;
    const char *want_header; /* the issuer-chain header this request expects (NULL = none) */
    const char *alt_header;  /* its older name */
    char *header;            /* its raw (URL-encoded) value */
} response;

static size_t on_body(char *p, size_t size, size_t nmemb, void *u)
{
    response *r = u;
    size_t n = size * nmemb;
    if (r->n + n > MAX_BODY) {
        r->overflow = 1;
        return 0;
    }
    char *d = realloc(r->data, r->n + n + 1);
    if (!d)
        return 0;
    memcpy(d + r->n, p, n);
    r->n += n;
    d[r->n] = 0;
    r->data = d;
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *u)
{
    response *r = u;
    size_t n = size * nmemb;
    const char *names[2] = {r->want_header, r->alt_header};
    for (int i = 0; i < 2; i++) {
        size_t hl = names[i] ? strlen(names[i]) : 0;
        if (!hl || n <= hl + 1 || strncasecmp(p, names[i], hl) || p[hl] != ':' || r->header)
            continue;
        const char *v = p + hl + 1;
        size_t vl = n - hl - 1;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        r->header = malloc(vl + 1);
        if (r->header) {
            memcpy(r->header, v, vl);
            r->header[vl] = 0;
        }
    }
    return n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* GET url; 0 with r filled on HTTP 200. */
static int get(const char *url, response *r, tl_err *err)
{
    pthread_once(&curl_once, curl_init);
    CURL *c = curl_easy_init();
    if (!c)
        return tl_errf(err, TL_ENOMEM, "PCCS: cannot start a request");
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (r->overflow)
        return tl_errf(err, TL_EINVAL, "PCCS: %s: response larger than %d bytes", url, MAX_BODY);
    if (rc != CURLE_OK)
        return tl_errf(err, TL_EIO, "PCCS: %s: %s", url, ebuf[0] ? ebuf : curl_easy_strerror(rc));
    if (status != 200)
        return tl_errf(err, status == 404 ? TL_ENOTFOUND : TL_EIO, "PCCS: %s: HTTP status %ld", url, status);
    if (!r->data)
        return tl_errf(err, TL_EINVAL, "PCCS: %s: empty response", url);
    if (r->want_header && !r->header)
        return tl_errf(err, TL_EINVAL, "PCCS: %s: response lacks the %s header", url, r->want_header);
    return 0;
}

int tl_http_get(const char *url, uint8_t **body, size_t *n, tl_err *err)
{
    response r = {0};
    int rc = get(url, &r, err);
    free(r.header);
    if (rc) {
        free(r.data);
        return rc;
    }
    *body = (uint8_t *)r.data;
    *n = r.n;
    return 0;
}

static char *unescape(const char *s)
{
    int n = 0;
    char *u = curl_easy_unescape(NULL, s, 0, &n);
    char *out = u ? tl_sec_strndup(u, (size_t)n) : NULL;
    curl_free(u);
    return out;
}

/* What the quote needs: TEE kind, FMSPC, which PCK CA issued its PCK certificate. */
static int quote_needs(const uint8_t *quote, size_t len, int *tdx, char fmspc[13], const char **ca, tl_err *err)
{
    tl_quote q;
    STACK_OF(X509) *chain = tl_quote_pck_chain(quote, len, &q, err);
    if (!chain)
        return err->code;
    tl_pck_ext ext;
    int rc = tl_pck_ext_from_cert(sk_X509_value(chain, 0), &ext, err);
    char cn[128] = "";
    X509_NAME_get_text_by_NID(X509_get_issuer_name(sk_X509_value(chain, 0)), NID_commonName, cn, sizeof cn);
    sk_X509_pop_free(chain, X509_free);
    if (rc)
        return rc;
    if (strstr(cn, "Processor"))
        *ca = "processor";
    else if (strstr(cn, "Platform"))
        *ca = "platform";
    else
        return tl_errf(err, TL_EINVAL, "PCK certificate issuer \"%s\" is neither the Processor nor the Platform CA", cn);
    *tdx = q.version == 4;
    tl_hex(ext.fmspc, 6, fmspc);
    for (int i = 0; fmspc[i]; i++)
        if (fmspc[i] >= 'a')
            fmspc[i] = (char)(fmspc[i] - 'a' + 'A');
    return 0;
}

/* Cached collateral is reused while every document in it is still current at `now`. */
static int fresh(const tl_collateral *c, time_t now)
{
    tl_tcb_info *t = malloc(sizeof *t);
    tl_qe_identity *q = malloc(sizeof *q);
    int ok = t && q && !tl_tcb_info_parse(c->tcb_info, c->tcb_info_len, t, NULL) &&
             !tl_qe_identity_parse(c->qe_identity, c->qe_identity_len, q, NULL) && now >= t->issue && now < t->next &&
             now >= q->issue && now < q->next;
    free(t);
    free(q);
    const uint8_t *crls[2] = {c->pck_crl, c->root_ca_crl};
    size_t lens[2] = {c->pck_crl_len, c->root_ca_crl_len};
    for (int i = 0; ok && i < 2; i++) {
        X509_CRL *x = tl_crl_parse(crls[i], lens[i]);
        time_t next;
        ok = x && X509_CRL_get0_nextUpdate(x) && !tl_asn1_time_t(X509_CRL_get0_nextUpdate(x), &next) && now < next;
        X509_CRL_free(x);
    }
    return ok;
}

static tl_collateral *fetch(const char *base, int tdx, const char *fmspc, const char *ca, tl_err *err)
{
    char url[2048];
    const char *tee = tdx ? "tdx" : "sgx";
    response r[4];
    memset(r, 0, sizeof r);
    r[0].want_header = "TCB-Info-Issuer-Chain";
    r[0].alt_header = "SGX-TCB-Info-Issuer-Chain";
    r[1].want_header = "SGX-Enclave-Identity-Issuer-Chain";
    r[1].alt_header = "Enclave-Identity-Issuer-Chain";
    r[2].want_header = "SGX-PCK-CRL-Issuer-Chain";
    tl_collateral *c = calloc(1, sizeof *c);
    int rc = c ? 0 : tl_errf(err, TL_ENOMEM, "out of memory");
    if (!rc) {
        snprintf(url, sizeof url, "%s/%s/certification/v4/tcb?fmspc=%s", base, tee, fmspc);
        rc = get(url, &r[0], err);
    }
    if (!rc) {
        snprintf(url, sizeof url, "%s/%s/certification/v4/qe/identity", base, tee);
        rc = get(url, &r[1], err);
    }
    if (!rc) {
        snprintf(url, sizeof url, "%s/sgx/certification/v4/pckcrl?ca=%s&encoding=der", base, ca);
        rc = get(url, &r[2], err);
    }
    if (!rc) {
        snprintf(url, sizeof url, "%s/sgx/certification/v4/rootcacrl", base);
        rc = get(url, &r[3], err);
    }
    if (!rc && tl_pcs_body_split(r[0].data, r[0].n, "tcbInfo", &c->tcb_info, &c->tcb_info_len, c->tcb_info_sig, err))
        rc = tl_err_prefix(err, "PCCS TCB info");
    if (!rc && tl_pcs_body_split(r[1].data, r[1].n, "enclaveIdentity", &c->qe_identity, &c->qe_identity_len,
                                 c->qe_identity_sig, err))
        rc = tl_err_prefix(err, "PCCS QE identity");
    if (!rc) {
        c->tcb_info_issuer_chain = unescape(r[0].header);
        c->qe_identity_issuer_chain = unescape(r[1].header);
        c->pck_crl_issuer_chain = unescape(r[2].header);
        if (!c->tcb_info_issuer_chain || !c->qe_identity_issuer_chain || !c->pck_crl_issuer_chain ||
            tl_crl_bytes((uint8_t *)r[2].data, r[2].n, &c->pck_crl, &c->pck_crl_len) ||
            tl_crl_bytes((uint8_t *)r[3].data, r[3].n, &c->root_ca_crl, &c->root_ca_crl_len))
            rc = tl_errf(err, TL_ENOMEM, "out of memory");
    }
    for (int i = 0; i < 4; i++) {
        free(r[i].data);
        free(r[i].header);
    }
    if (rc) {
        tl_collateral_free(c);
        return NULL;
    }
    return c;
}

tl_collateral *tl_pccs_collateral_for(const char *base_url, const char *cache_dir, const uint8_t *quote, size_t len,
                                      time_t now, tl_err *err)
{
    tl_err local = {0};
    if (!err)
        err = &local;
    int tdx = 0;
    char fmspc[13];
    const char *ca = "processor";
    if (quote_needs(quote, len, &tdx, fmspc, &ca, err))
        return NULL;
    char base[1024];
    size_t bl = strlen(base_url);
    while (bl && base_url[bl - 1] == '/')
        bl--;
    if (bl == 0 || bl >= sizeof base || (strncmp(base_url, "http://", 7) && strncmp(base_url, "https://", 8))) {
        tl_errf(err, TL_EINVAL, "PCCS URL must start with http:// or https:// (got \"%.100s\")", base_url);
        return NULL;
    }
    memcpy(base, base_url, bl);
    base[bl] = 0;
    char dir[4096] = "";
    if (cache_dir) {
        snprintf(dir, sizeof dir, "%s/%s-%s-%s", cache_dir, tdx ? "tdx" : "sgx", fmspc, ca);
        tl_collateral *c = tl_collateral_load_dir(dir, NULL);
        if (c && fresh(c, now))
            return c;
        tl_collateral_free(c);
    }
    tl_collateral *c = fetch(base, tdx, fmspc, ca, err);
    if (c && cache_dir && tl_collateral_save_dir(c, dir, err)) {
        tl_err_prefix(err, "PCCS cache");
        tl_collateral_free(c);
        return NULL;
    }
    return c;
}
