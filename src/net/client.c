/* libcurl client (see client.h). Trust is replaced, not extended: with ca_file the SSL_CTX gets a
 * fresh X509_STORE holding only those certificates, so a pin cannot be bypassed by a certificate
 * from some public CA in the system store. */
#include "net/client.h"
#include "net/server.h" /* tl_net_tls12_ciphers */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <strings.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "util/grow.h"
#include "util/secmem.h"

typedef struct {
    const tl_http_opts *o;
    tl_err hook_err; /* why the hook refused, if it did */
    int hook_failed;
    uint8_t *buf;
    size_t len, cap, max;
    int too_big;
    char *cookie; /* where a captured Set-Cookie value goes (resp->cookie) */
} ctx_t;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_data(char *p, size_t sz, size_t n, void *arg)
{
    ctx_t *c = arg;
    size_t add = sz * n;
    if (add > c->max - c->len) {
        c->too_big = 1;
        return 0;
    }
    if (TL_GROW_SECRET(c->buf, &c->cap, c->len + add + 1, 4096))
        return 0;
    memcpy(c->buf + c->len, p, add);
    c->len += add;
    return add;
}

/* Set-Cookie: NAME=VALUE[; attributes] for the one cookie the caller asked for. A value that does
 * not fit, or holds characters RFC 6265 does not allow in a cookie value, is not captured. */
static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    ctx_t *c = arg;
    size_t len = sz * n, name_len = strlen(c->o->capture_cookie);
    static const char key[] = "set-cookie:";
    if (len < sizeof key - 1 || strncasecmp(p, key, sizeof key - 1) != 0)
        return len;
    size_t i = sizeof key - 1;
    while (i < len && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (len - i <= name_len || memcmp(p + i, c->o->capture_cookie, name_len) != 0 || p[i + name_len] != '=')
        return len;
    i += name_len + 1;
    size_t j = i;
    while (j < len && p[j] != ';' && p[j] != '\r' && p[j] != '\n') {
        unsigned char ch = (unsigned char)p[j];
        if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == ',' || ch == '\\')
            return len;
        j++;
    }
    if (j - i > 0 && j - i < 256) {
        memcpy(c->cookie, p + i, j - i);
        c->cookie[j - i] = 0;
    }
    return len;
}

/* Runs inside the handshake: default chain verification (when a CA is pinned), then the hook. */
static int verify_cb(X509_STORE_CTX *xs, void *arg)
{
    ctx_t *c = arg;
    if (c->o->ca_file && X509_verify_cert(xs) != 1)
        return 0;
    X509 *leaf = X509_STORE_CTX_get0_cert(xs);
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_untrusted(xs);
    memset(&c->hook_err, 0, sizeof c->hook_err);
    if (c->o->verify_peer(leaf, chain, c->o->verify_arg, &c->hook_err) != 0) {
        c->hook_failed = 1;
        X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    return 1;
}

static CURLcode on_ssl_ctx(CURL *curl, void *sslctx, void *arg)
{
    (void)curl;
    ctx_t *c = arg;
    SSL_CTX *ctx = sslctx;
    if (c->o->ca_file) {
        X509_STORE *st = X509_STORE_new();
        if (!st || X509_STORE_load_file(st, c->o->ca_file) != 1) {
            X509_STORE_free(st);
            return CURLE_SSL_CACERT_BADFILE;
        }
        SSL_CTX_set_cert_store(ctx, st); /* takes ownership; drops the system store */
    }
    if (c->o->verify_peer) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_cert_verify_callback(ctx, verify_cb, c);
    }
    return CURLE_OK;
}

int tl_http_request(const tl_http_opts *o, const char *method, const char *url, const char *content_type,
                    const void *body, size_t len, tl_http_resp *resp, tl_err *err)
{
    pthread_once(&g_once, global_init);
    memset(resp, 0, sizeof *resp);
    if (strncasecmp(url, "https://", 8) != 0)
        return tl_errf(err, TL_EINVAL, "%s: only https:// URLs are allowed", url);
    /* Checked here so a wrong path is named, not reported as a failed TLS handshake. */
    if (o->ca_file && access(o->ca_file, R_OK) != 0)
        return tl_errf(err, TL_ENOTFOUND, "%s: cannot read the certificate to pin: %s", o->ca_file, strerror(errno));
    ctx_t c = {.o = o, .max = o->max_response ? o->max_response : 8u << 20};
    CURL *h = curl_easy_init();
    if (!h)
        return tl_errf(err, TL_ENOMEM, "cannot create an HTTP client");
    char errbuf[CURL_ERROR_SIZE] = "", auth[512];
    struct curl_slist *hdr = NULL;
    if (content_type) {
        char ct[256];
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        hdr = curl_slist_append(hdr, ct);
    }
    if (o->bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->bearer);
        hdr = curl_slist_append(hdr, auth);
        OPENSSL_cleanse(auth, sizeof auth);
    }
    hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip */
    if (o->cookie) {
        char ck[400];
        if (snprintf(ck, sizeof ck, "Cookie: %s", o->cookie) >= (int)sizeof ck || strpbrk(o->cookie, "\r\n")) {
            curl_slist_free_all(hdr);
            curl_easy_cleanup(h);
            return tl_errf(err, TL_EINVAL, "%s: cookie too long or not one line", url);
        }
        hdr = curl_slist_append(hdr, ck);
    }
    if (o->capture_cookie) {
        c.cookie = resp->cookie;
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &c);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 30000L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(h, CURLOPT_SSL_CIPHER_LIST, (const char *)tl_net_tls12_ciphers); /* AEAD only, as the servers */
    if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (o->ca_file) {
        curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    }
    if (o->verify_peer && !o->ca_file) {
        /* the hook is the whole trust decision (e.g. RA-TLS self-signed certificates) */
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (o->ca_file || o->verify_peer) {
        curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
        curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, &c);
        curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L); /* every connection is verified afresh */
    }
    CURLcode rc = curl_easy_perform(h);
    int ret = 0;
    if (rc != CURLE_OK) {
        if (c.hook_failed)
            ret = tl_errf(err, c.hook_err.code ? c.hook_err.code : TL_ECRYPTO, "%s: server refused: %s", url,
                          c.hook_err.msg);
        else if (c.too_big)
            ret = tl_errf(err, TL_EINVAL, "%s: response larger than %zu bytes", url, c.max);
        else
            ret = tl_errf(err, rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ? TL_ECRYPTO : TL_EIO,
                          "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        tl_sec_free(c.buf);
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        curl_off_t ra = 0;
        if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
            resp->retry_after_s = ra > 3600 ? 3600 : (long)ra;
        if (!c.buf)
            c.buf = calloc(1, 1);
        else
            c.buf[c.len] = 0;
        resp->body = c.buf;
        resp->len = c.len;
        if (!resp->body)
            ret = tl_errf(err, TL_ENOMEM, "out of memory");
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    ERR_clear_error();
    return ret;
}

void tl_http_resp_free(tl_http_resp *r)
{
    if (r && r->body) {
        tl_sec_free(r->body);
    }
    if (r)
        memset(r, 0, sizeof *r);
}

int tl_http_json(const tl_http_opts *o, const char *method, const char *url, json_t *req, long *status, json_t **out,
                 tl_err *err)
{
    *out = NULL;
    char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    if (req && !text)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    tl_http_resp r;
    int rc = tl_http_request(o, method, url, req ? "application/json" : NULL, text, text ? strlen(text) : 0, &r, err);
    tl_sec_free(text);
    if (rc)
        return rc;
    *status = r.status;
    json_error_t je;
    *out = json_loadb((const char *)r.body, r.len, 0, &je);
    if (!*out)
        rc = tl_errf(err, TL_EINVAL, "%s: HTTP %ld with a body that is not JSON (%s)", url, r.status, je.text);
    tl_http_resp_free(&r);
    return rc;
}
