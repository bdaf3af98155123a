/* teelm proxy (see proxy.h, docs/proxy.md).
 *
 * The listener is tl_net_server in plain mode; its handler runs on the loop thread and queues each
 * request for a worker thread (started as needed, at most max_inflight, kept until shutdown: a
 * thread per request cost more than the forwarding), which forwards it with libcurl on a pooled
 * easy handle. A handle keeps at most one upstream connection alive between requests, and
 * every new connection's TLS handshake calls verify_cb, which replaces OpenSSL's certificate
 * verification with tl_client_check_leaf: a refusal aborts the handshake, so curl has written
 * nothing of the request. Session resumption is off, so each connection shows its certificate.
 *
 * Responses with a Content-Length are collected and replied in one piece (with the same length);
 * chunked ones (server-sent events) are streamed, each piece as it arrives. The request thread
 * notices the application leaving through tl_net_req_cancelled (polled by curl's progress callback
 * and checked by every streamed write) and aborts the transfer; its handle is then discarded,
 * which closes the upstream connection, so the server cancels the completion. */
#include "server/proxy.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/server.h"
#include "server/api_error.h"
#include "server/client.h"
#include "util/codec.h"
#include "util/log.h"
#include "util/grow.h"
#include "util/fifo.h"
#include "util/secmem.h"

#define LOGC "proxy"

typedef struct xfer xfer;

/* One pooled curl handle. The SSL_CTX of each of its connections points here, not at a request,
 * so a handshake always reports to the request the handle is serving now. */
typedef struct {
    CURL *h;
    xfer *cur;
    tl_client_peer peer;         /* what its last handshake established (16 KiB: kept per handle, not
                                    per request; the server's public identity, nothing secret) */
} uconn;

struct tl_proxy {
    tl_proxy_opts o;
    char base[512];              /* https://host:port, no trailing slash */
    tl_client_opts co;           /* what tl_client_check_leaf needs */
    tl_net_server *net;
    pthread_mutex_t lock;
    pthread_cond_t work_cv;      /* a request was queued, or stopping */
    int inflight;                /* queued + being forwarded */
    struct xfer *q_head, *q_tail;/* queued requests */
    int nqueued, nidle, stopping;
    pthread_t *threads;          /* the workers, max_inflight slots */
    int nthreads;
    uconn **pool;                /* idle handles (under lock) */
    int npool;
    uint8_t last_key[32];        /* public key hash of the last certificate that verified */
    int have_last;
    char *busy_json;             /* the 503 body */
};

struct xfer {
    tl_proxy *p;
    struct xfer *next;           /* queue link */
    tl_net_req *r;
    uconn *u;
    int refused;                 /* the handshake check refused the server */
    tl_err check;
    char **hdr;                  /* response headers to forward: name0, value0, ... */
    int nhdr;
    char ctype[256];
    int have_len, chunked;
    int decided, streaming;      /* the first body byte decided how the reply goes out */
    uint8_t *buf;                /* collected body (not streaming) */
    size_t len, cap;
    int too_big, client_gone;
};

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---------------- addresses ---------------- */

int tl_proxy_is_loopback(const char *listen)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon || colon == listen)
        return 0;
    char host[128];
    size_t n = (size_t)(colon - listen);
    const char *h = listen;
    if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof host)
        return 0;
    memcpy(host, h, n);
    host[n] = 0;
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) ||
               (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return 0;
}

/* https://HOST[:PORT] with nothing after it (a trailing '/' is dropped). */
static int parse_server(const char *url, char *base, size_t n, tl_err *err)
{
    if (!url || strncasecmp(url, "https://", 8) != 0)
        return tl_errf(err, TL_EINVAL, "--server %s: must be an https:// URL (the attestation is in the TLS certificate)",
                       url ? url : "(none)");
    size_t len = strlen(url);
    while (len > 8 && url[len - 1] == '/')
        len--;
    if (len == 8 || len >= n)
        return tl_errf(err, TL_EINVAL, "--server: '%s' has no host or is too long", url);
    for (size_t i = 8; i < len; i++)
        if (url[i] == '/' || url[i] == '?' || url[i] == '#' || url[i] == '@' || (unsigned char)url[i] <= 0x20 ||
            (unsigned char)url[i] >= 0x7f)
            return tl_errf(err, TL_EINVAL, "--server: '%s' must be https://HOST:PORT (no path, user or query)", url);
    memcpy(base, url, len);
    base[len] = 0;
    return 0;
}

/* ---------------- errors in OpenAI's shape ---------------- */

static void reply_api(tl_net_req *r, int status, const char *type, const char *param, const char *code, const char *msg)
{
    tl_api_error e;
    tl_api_errorf(&e, status, type, param, code, "%s", msg);
    char *j = tl_api_error_json(&e);
    tl_net_reply_json(r, status, j ? j : "{\"error\":{\"message\":\"internal error\",\"type\":\"server_error\"}}");
    tl_sec_free(j);
}

/* The field a policy refusal names: the word after "policy: " when it reads as a field name
 * (tl_policy_check messages start "policy: FIELD ..."), e.g. "mrenclave", "tdx.rtmr3". */
static void policy_field(const tl_err *e, char *out, size_t n)
{
    out[0] = 0;
    static const char pre[] = "policy: ";
    if (e->code != TL_EPOLICY || strncmp(e->msg, pre, sizeof pre - 1) != 0)
        return;
    const char *w = e->msg + sizeof pre - 1;
    size_t k = 0;
    while (w[k] && w[k] != ' ' && ((w[k] >= 'a' && w[k] <= 'z') || (w[k] >= '0' && w[k] <= '9') || w[k] == '_' ||
                                   w[k] == '.'))
        k++;
    if (k == 0 || k >= n || (w[k] && w[k] != ' '))
        return;
    static const char *const not_fields[] = {"has", "the", "no", "admits", "must"};
    for (size_t i = 0; i < sizeof not_fields / sizeof *not_fields; i++)
        if (strlen(not_fields[i]) == k && !memcmp(w, not_fields[i], k))
            return;
    memcpy(out, w, k);
    out[k] = 0;
}

/* ---------------- the handshake check ---------------- */

static const char *kind_name(const tl_identity *id)
{
    return id->kind == TL_TEE_KIND_SGX ? "sgx" : id->kind == TL_TEE_KIND_TDX ? "tdx" : "sev-snp";
}

/* A certificate passed: say so when it is not the one seen last (first connection, or the server
 * restarted with a new key), and warn about simulated evidence with each such change. */
static void note_verified(tl_proxy *p, const tl_client_peer *peer)
{
    pthread_mutex_lock(&p->lock);
    int changed = !p->have_last || CRYPTO_memcmp(p->last_key, peer->pubkey_sha256, 32) != 0;
    int first = !p->have_last;
    memcpy(p->last_key, peer->pubkey_sha256, 32);
    p->have_last = 1;
    pthread_mutex_unlock(&p->lock);
    char key[65], cfg[65];
    tl_hex(peer->pubkey_sha256, 32, key);
    tl_hex(peer->config_sha256, 32, cfg);
    if (!changed) {
        tl_log(TL_LOG_DEBUG, LOGC, "new connection to %s verified (same certificate, key %.16s...)", p->base, key);
        return;
    }
    tl_log(TL_LOG_INFO, LOGC, "%s verified%s: tee %s (%s), tcb %s, key %.16s..., configuration %.16s...", p->base,
           first ? "" : " again: its certificate changed", peer->tee, kind_name(&peer->id), peer->id.tcb_status, key,
           cfg);
    if (peer->id.simulated)
        tl_log(TL_LOG_WARN, LOGC, "the server runs in SIMULATION mode: its evidence proves nothing (accepted because "
                                  "the policy sets allow_simulation)");
}

static int verify_cb(X509_STORE_CTX *sctx, void *arg)
{
    uconn *u = arg;
    xfer *x = u->cur;
    tl_proxy *p = x->p;
    tl_err e = {0};
    if (tl_client_check_leaf(&p->co, X509_STORE_CTX_get0_cert(sctx), &u->peer, &e)) {
        x->refused = 1;
        x->check = e;
        tl_log(TL_LOG_WARN, LOGC, "refused %s (no request sent): %s", p->base, e.msg);
        X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    note_verified(p, &u->peer);
    X509_STORE_CTX_set_error(sctx, X509_V_OK);
    return 1;
}

static CURLcode ssl_ctx_cb(CURL *curl, void *sslctx, void *arg)
{
    (void)curl;
    /* curl was told not to verify (so it loads no CA bundle for each connection); the handshake
     * still requires the peer's certificate and verify_cb's yes: a no aborts it */
    SSL_CTX_set_verify((SSL_CTX *)sslctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_cert_verify_callback((SSL_CTX *)sslctx, verify_cb, arg);
    tl_net_tls_policy((SSL_CTX *)sslctx, 0, NULL); /* TLS 1.2+, AEAD suites only */
    return CURLE_OK;
}

/* ---------------- curl callbacks ---------------- */

static int hop_by_hop(const char *name, size_t n)
{
    static const char *const h[] = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
                                    "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
                                    "content-length", "expect", "host"};
    for (size_t i = 0; i < sizeof h / sizeof *h; i++)
        if (strlen(h[i]) == n && strncasecmp(name, h[i], n) == 0)
            return 1;
    return 0;
}

static void drop_headers(xfer *x)
{
    for (int i = 0; i < 2 * x->nhdr; i++)
        free(x->hdr[i]);
    free(x->hdr);
    x->hdr = NULL;
    x->nhdr = 0;
}

static size_t header_cb(char *line, size_t sz, size_t nitems, void *arg)
{
    xfer *x = arg;
    size_t n = sz * nitems, len = n;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len >= 5 && !memcmp(line, "HTTP/", 5)) { /* a status line: a new response (after a retry) */
        drop_headers(x);
        x->ctype[0] = 0;
        x->have_len = x->chunked = 0;
        return n;
    }
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return n; /* the blank line, or not a header */
    size_t nl = (size_t)(colon - line);
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vl = (size_t)(end - v);
    if (nl == 14 && !strncasecmp(line, "content-length", 14)) {
        x->have_len = 1;
        return n;
    }
    if (nl == 17 && !strncasecmp(line, "transfer-encoding", 17)) {
        x->chunked = 1;
        return n;
    }
    if (nl == 12 && !strncasecmp(line, "content-type", 12)) {
        snprintf(x->ctype, sizeof x->ctype, "%.*s", (int)vl, v);
        return n;
    }
    if (hop_by_hop(line, nl) || x->nhdr >= 64)
        return n;
    char **nh = realloc(x->hdr, (size_t)(2 * x->nhdr + 2) * sizeof *nh);
    if (!nh)
        return 0;
    x->hdr = nh;
    nh[2 * x->nhdr] = strndup(line, nl);
    nh[2 * x->nhdr + 1] = strndup(v, vl);
    if (!nh[2 * x->nhdr] || !nh[2 * x->nhdr + 1]) {
        free(nh[2 * x->nhdr]);
        free(nh[2 * x->nhdr + 1]);
        return 0;
    }
    x->nhdr++;
    return n;
}

static long status_of(xfer *x)
{
    long st = 0;
    curl_easy_getinfo(x->u->h, CURLINFO_RESPONSE_CODE, &st);
    return st >= 100 && st <= 599 ? st : 502;
}

static void set_reply_headers(xfer *x)
{
    for (int i = 0; i < x->nhdr; i++)
        tl_net_set_header(x->r, x->hdr[2 * i], x->hdr[2 * i + 1]);
}

static size_t write_cb(char *data, size_t sz, size_t nitems, void *arg)
{
    xfer *x = arg;
    size_t n = sz * nitems;
    if (!x->decided) {
        x->decided = 1;
        x->streaming = x->chunked || !x->have_len;
        if (x->streaming) {
            set_reply_headers(x);
            tl_net_stream_start(x->r, (int)status_of(x), x->ctype[0] ? x->ctype : NULL);
        }
    }
    if (x->streaming) {
        if (tl_net_stream_send(x->r, data, n)) {
            x->client_gone = 1;
            return 0; /* aborts the transfer */
        }
        return n;
    }
    size_t max = x->p->o.max_response;
    if (n > max - x->len) {
        x->too_big = 1;
        return 0;
    }
    if (TL_GROW_SECRET(x->buf, &x->cap, x->len + n, 16384))
        return 0;
    memcpy(x->buf + x->len, data, n);
    x->len += n;
    return n;
}

/* Called while curl waits and works: the application leaving stops the transfer. */
static int progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt; (void)dn; (void)ut; (void)un;
    xfer *x = arg;
    if (tl_net_req_cancelled(x->r)) {
        x->client_gone = 1;
        return 1;
    }
    return 0;
}

/* ---------------- handles ---------------- */

static uconn *take_handle(tl_proxy *p)
{
    pthread_mutex_lock(&p->lock);
    uconn *u = p->npool ? p->pool[--p->npool] : NULL;
    pthread_mutex_unlock(&p->lock);
    if (u)
        return u;
    if (!(u = calloc(1, sizeof *u)) || !(u->h = curl_easy_init())) {
        free(u);
        return NULL;
    }
    CURL *h = u->h;
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    /* identity comes from the evidence, not from a CA or a host name: verify_cb alone decides,
     * installed by ssl_ctx_cb (as net/client.c's verify hook) */
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
    curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
    curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, u);
    /* every connection gets a full handshake, hence the check: no session resumption */
    curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)p->o.connect_timeout_s);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, p->o.timeout_s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    return u;
}

static void drop_handle(uconn *u)
{
    if (!u)
        return;
    curl_easy_cleanup(u->h); /* closes its connection */
    free(u);
}

static void give_back(tl_proxy *p, uconn *u)
{
    u->cur = NULL;
    pthread_mutex_lock(&p->lock);
    int kept = p->npool < p->o.max_inflight;
    if (kept)
        p->pool[p->npool++] = u;
    pthread_mutex_unlock(&p->lock);
    if (!kept)
        drop_handle(u);
}

/* ---------------- one request ---------------- */

static struct curl_slist *request_headers(const tl_net_req *r)
{
    struct curl_slist *l = NULL, *t;
    int have_ct = 0, have_accept = 0;
    for (int i = 0; i < tl_net_req_nheaders(r); i++) {
        const char *name, *val = tl_net_req_header_at(r, i, &name);
        if (hop_by_hop(name, strlen(name)))
            continue;
        have_ct |= !strcasecmp(name, "content-type");
        have_accept |= !strcasecmp(name, "accept");
        size_t n = strlen(name) + strlen(val) + 3;
        char *line = tl_sec_malloc(n);
        if (!line)
            goto oom;
        /* "Name;" is curl's way to send a header with an empty value ("Name:" removes one) */
        snprintf(line, n, val[0] ? "%s: %s" : "%s;%s", name, val);
        t = curl_slist_append(l, line);
        tl_sec_free(line);
        if (!t)
            goto oom;
        l = t;
    }
    /* headers curl would otherwise invent: none that the application did not send */
    if (!(t = curl_slist_append(l, "Expect:")))
        goto oom;
    l = t;
    if (!have_ct) {
        if (!(t = curl_slist_append(l, "Content-Type:")))
            goto oom;
        l = t;
    }
    if (!have_accept) {
        if (!(t = curl_slist_append(l, "Accept:")))
            goto oom;
        l = t;
    }
    return l;
oom:
    for (t = l; t; t = t->next)
        OPENSSL_cleanse(t->data, strlen(t->data));
    curl_slist_free_all(l);
    return NULL;
}

static void free_headers(struct curl_slist *l)
{
    for (struct curl_slist *t = l; t; t = t->next)
        OPENSSL_cleanse(t->data, strlen(t->data)); /* Authorization: Bearer KEY */
    curl_slist_free_all(l);
}

static void forward(xfer *x)
{
    tl_proxy *p = x->p;
    tl_net_req *r = x->r;
    const char *path = tl_net_req_path(r), *query = tl_net_req_query(r), *method = tl_net_req_method(r);
    size_t body_len = 0;
    const uint8_t *body = tl_net_req_body(r, &body_len);
    size_t ul = strlen(p->base) + strlen(path) + (query ? strlen(query) + 1 : 0) + 1;
    char *url = malloc(ul);
    struct curl_slist *hdr = request_headers(r);
    x->u = url && hdr ? take_handle(p) : NULL;
    if (!x->u) {
        free(url);
        free_headers(hdr);
        reply_api(r, 500, "server_error", NULL, "internal", "teelm proxy: out of memory");
        return;
    }
    snprintf(url, ul, "%s%s%s%s", p->base, path, query ? "?" : "", query ? query : "");
    CURL *h = x->u->h;
    x->u->cur = x;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    /* the method as sent: HEAD without a body, a body with whatever method carried it */
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
    if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (body_len || !strcmp(method, "POST") || !strcmp(method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)body); /* not copied: r outlives the transfer */
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        if (strcmp(method, "POST"))
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        if (strcmp(method, "GET"))
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    free_headers(hdr);
    free(url);
    int keep = rc == CURLE_OK && !x->client_gone;
    if (x->refused) {
        char field[48], msg[640];
        policy_field(&x->check, field, sizeof field);
        snprintf(msg, sizeof msg, "teelm proxy: server attestation refused, no request was sent: %s", x->check.msg);
        reply_api(r, 502, "attestation_error", field[0] ? field : NULL, "attestation_failed", msg);
    } else if (x->streaming) {
        if (rc != CURLE_OK && !x->client_gone)
            tl_log(TL_LOG_WARN, LOGC, "%s %s: the upstream stream broke off: %s", method, path,
                   cerr[0] ? cerr : curl_easy_strerror(rc));
        tl_net_stream_end(r); /* dropped when the application has gone */
    } else if (x->client_gone) {
        reply_api(r, 499, "server_error", NULL, "cancelled", "cancelled"); /* dropped: nobody reads it */
    } else if (rc == CURLE_OK) {
        set_reply_headers(x);
        tl_net_reply(r, (int)status_of(x), x->ctype[0] ? x->ctype : NULL, x->buf, x->len);
    } else {
        char msg[1200]; /* base (512) + curl's message (256): cut to 400 in the reply */
        const char *why = x->too_big ? "the response is over the limit" : cerr[0] ? cerr : curl_easy_strerror(rc);
        tl_log(TL_LOG_WARN, LOGC, "%s %s: %s", method, path, why); /* before the reply: r is gone after it */
        if (x->too_big) {
            snprintf(msg, sizeof msg, "teelm proxy: the server's response is larger than %zu bytes", p->o.max_response);
            reply_api(r, 502, "server_error", NULL, "upstream_error", msg);
        } else if (rc == CURLE_OPERATION_TIMEDOUT) {
            snprintf(msg, sizeof msg, "teelm proxy: %s did not answer in time: %s", p->base, why);
            reply_api(r, 504, "server_error", NULL, "upstream_timeout", msg);
        } else {
            int conn = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST;
            snprintf(msg, sizeof msg, "teelm proxy: %s %s: %s", p->base, conn ? "is unreachable" : "failed", why);
            reply_api(r, 502, "server_error", NULL, conn ? "upstream_unreachable" : "upstream_error", msg);
        }
    }
    if (keep)
        give_back(p, x->u);
    else
        drop_handle(x->u); /* an aborted or broken transfer: close its connection */
    x->u = NULL;
}

static void xfer_free(xfer *x)
{
    drop_headers(x);
    if (x->buf)
        tl_sec_free(x->buf);
    free(x);
}

static void *worker(void *arg)
{
    tl_proxy *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->q_head && !p->stopping) {
            p->nidle++;
            pthread_cond_wait(&p->work_cv, &p->lock);
            p->nidle--;
        }
        xfer *x;
        TL_FIFO_POP(p->q_head, p->q_tail, x);
        if (!x)
            break; /* stopping, nothing left */
        p->nqueued--;
        pthread_mutex_unlock(&p->lock);
        if (tl_net_req_cancelled(x->r)) /* the application left while it waited */
            reply_api(x->r, 499, "server_error", NULL, "cancelled", "cancelled");
        else
            forward(x);
        xfer_free(x);
        pthread_mutex_lock(&p->lock);
        p->inflight--;
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

static void handle(tl_net_req *r, void *arg)
{
    tl_proxy *p = arg;
    const char *m = tl_net_req_method(r), *path = tl_net_req_path(r), *q = tl_net_req_query(r);
    if (!strcmp(m, "OTHER")) {
        reply_api(r, 405, "invalid_request_error", NULL, "method_not_allowed", "teelm proxy: method not supported");
        return;
    }
    if (path[0] != '/' || !printable(path) || (q && !printable(q))) {
        reply_api(r, 400, "invalid_request_error", NULL, "invalid_path", "teelm proxy: the request path is not printable ASCII");
        return;
    }
    xfer *x = calloc(1, sizeof *x);
    if (!x) {
        reply_api(r, 500, "server_error", NULL, "internal", "teelm proxy: out of memory");
        return;
    }
    x->p = p;
    x->r = r;
    pthread_mutex_lock(&p->lock);
    int ok = p->inflight < p->o.max_inflight;
    if (ok) {
        p->inflight++;
        TL_FIFO_PUSH(p->q_head, p->q_tail, x);
        p->nqueued++;
        /* a worker for every queued request: start one when the idle ones are all spoken for */
        if (p->nidle < p->nqueued && p->nthreads < p->o.max_inflight &&
            pthread_create(&p->threads[p->nthreads], NULL, worker, p) == 0)
            p->nthreads++;
        if (p->nthreads == 0) { /* no worker at all (thread creation failed): take it back */
            p->q_head = p->q_tail = NULL;
            p->nqueued--;
            p->inflight--;
            ok = -1;
        } else {
            pthread_cond_signal(&p->work_cv);
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (ok == 1)
        return;
    free(x);
    if (ok == 0) {
        tl_net_set_header(r, "Retry-After", "1");
        tl_net_reply_json(r, 503, p->busy_json);
    } else {
        reply_api(r, 503, "server_error", NULL, "overloaded", "teelm proxy: cannot start a worker thread");
    }
}

/* ---------------- lifecycle ---------------- */

tl_proxy *tl_proxy_new(const tl_proxy_opts *o, tl_err *err)
{
    pthread_once(&g_curl_once, curl_init);
    if (!o->policy) {
        tl_errf(err, TL_EINVAL, "proxy: a policy is required");
        return NULL;
    }
    if (!o->listen || (!o->allow_remote && !tl_proxy_is_loopback(o->listen))) {
        tl_errf(err, TL_EINVAL,
                "--listen %s: not a loopback address (127.0.0.0/8, ::1, localhost): the proxy speaks plain HTTP, so "
                "prompts would cross the network unencrypted; give --allow-remote to do it anyway",
                o->listen ? o->listen : "(none)");
        return NULL;
    }
    tl_proxy *p = tl_zalloc(sizeof *p, err);
    if (!p)
        return NULL;
    p->o = *o;
    if (p->o.max_inflight <= 0)
        p->o.max_inflight = 64;
    if (!p->o.max_body)
        p->o.max_body = 1u << 20;
    if (!p->o.max_response)
        p->o.max_response = 64u << 20;
    if (p->o.timeout_s <= 0)
        p->o.timeout_s = 600;
    if (p->o.connect_timeout_s <= 0)
        p->o.connect_timeout_s = 30;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    if (parse_server(o->server, p->base, sizeof p->base, err))
        goto fail;
    p->o.server = p->base;
    p->co = (tl_client_opts){.server = p->base, .policy = o->policy, .col = o->col,
                             .expect_config_sha256 = o->expect_config_sha256};
    p->pool = calloc((size_t)p->o.max_inflight, sizeof *p->pool);
    p->threads = calloc((size_t)p->o.max_inflight, sizeof *p->threads);
    tl_api_error busy;
    tl_api_errorf(&busy, 503, "server_error", NULL, "overloaded", "teelm proxy: %d requests in flight (--max-inflight)",
                  p->o.max_inflight);
    p->busy_json = tl_api_error_json(&busy);
    tl_api_error big;
    tl_api_errorf(&big, 413, "invalid_request_error", NULL, "body_too_large", "request body is larger than %zu bytes",
                  p->o.max_body);
    char *big_json = tl_api_error_json(&big);
    if (!p->pool || !p->threads || !p->busy_json || !big_json) {
        tl_sec_free(big_json);
        tl_errf(err, TL_ENOMEM, "out of memory");
        goto fail;
    }
    tl_net_server_opts no = {.listen = o->listen, .plain = 1, .max_body = p->o.max_body, .timeout_s = o->io_timeout_s,
                             .no_signals = o->no_signals, .too_large_json = big_json, .name = LOGC};
    p->net = tl_net_server_new(&no, handle, p, err);
    tl_sec_free(big_json);
    if (!p->net)
        goto fail;
    if (o->allow_remote && !tl_proxy_is_loopback(o->listen))
        tl_log(TL_LOG_WARN, LOGC, "listening on %s, not a loopback address: requests and completions cross that "
                                  "network in plaintext (--allow-remote)", o->listen);
    return p;
fail:
    tl_proxy_free(p);
    return NULL;
}

int tl_proxy_port(const tl_proxy *p)
{
    return tl_net_server_port(p->net);
}

int tl_proxy_run(tl_proxy *p)
{
    tl_net_server_run(p->net); /* returns once stopped; requests still in flight were cancelled */
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->work_cv);
    int n = p->nthreads;
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < n; i++)
        pthread_join(p->threads[i], NULL); /* each sees the cancel within curl's progress interval */
    pthread_mutex_lock(&p->lock);
    p->nthreads = 0;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void tl_proxy_stop(tl_proxy *p)
{
    tl_net_server_stop(p->net);
}

void tl_proxy_free(tl_proxy *p)
{
    if (!p)
        return;
    /* after tl_proxy_run: no request thread is left */
    tl_net_server_free(p->net);
    for (int i = 0; i < p->npool; i++)
        drop_handle(p->pool[i]);
    free(p->pool);
    tl_sec_free(p->busy_json);
    free(p->threads);
    pthread_cond_destroy(&p->work_cv);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
