/* tl_net_server: evhttp + bufferevent_openssl (see server.h for the contract).
 *
 * Threading: everything that touches libevent objects runs on the loop thread. Replies from other
 * threads become `op`s in a mutex-protected queue and an event_active() wakes the loop
 * (evthread_use_pthreads makes that safe). A request snapshot (tl_net_req) is plain malloc'd data,
 * so workers never touch libevent. */
#include "net/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <jansson.h>
#include <openssl/err.h>

#include "net/peers.h"
#include "net/ratelog.h"
#include "util/log.h"
#include "util/secmem.h"

enum { OP_REPLY, OP_START, OP_CHUNK, OP_END };

/* Kinds of refused or dropped connections, each logged at most once a second (ratelog.h). */
enum { RL_PEER, RL_GLOBAL, RL_HANDSHAKE, RL_N };

typedef struct {
    struct tl_net_server *srv;
    int kind;
    tl_ratelog rl;
    struct event *flush; /* reports what was held back once the second is over */
} rl_slot;

typedef struct op {
    tl_net_req *r;
    int kind, status;
    char *ctype;
    uint8_t *data;
    size_t len;
    struct op *next;
} op;

struct tl_net_req {
    tl_net_server *srv;
    struct evhttp_request *ereq; /* loop thread only; NULL once libevent freed it */
    int detached;                /* connection gone but ereq alive: we must free it */
    int armed;                   /* close detection armed on the connection */
    int drained_once;            /* end_when_drained: the output was seen empty once */
    atomic_int cancelled;
    char *method, *path, *query, *peer;
    char **hdr; /* name0, value0, name1, ... */
    int nhdr;
    uint8_t *body;
    size_t body_len;
    char **out_hdr;
    int n_out;
    tl_net_req *prev, *next; /* outstanding list (under srv->lock) */
};

struct tl_net_server {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct event *wake, *sigint, *sigterm, *grace;
    SSL_CTX *ctx;
    tl_net_handler handler;
    void *arg;
    int port, max_conns, timeout_s, grace_ms, request_timeout_s, max_per_peer, handshake_timeout_s;
    tl_peers *peers;             /* admitted connections per client address (loop thread) */
    rl_slot rl[RL_N];
    size_t max_body;
    char *too_large_json;
    atomic_int conns;
    pthread_t loop_thread;
    int running;
    pthread_mutex_t lock;
    op *q_head, *q_tail;
    tl_net_req *outstanding;
    int n_outstanding;
    atomic_int stopping;
    int freeing;                 /* tl_net_server_free is running the loop one last time */
    int plain;                   /* plain HTTP: no SSL_CTX, no conn objects (see server.h) */
    tl_net_req *current; /* request whose handler is running */
    int current_done;
    char name[32];
};

static int g_ex_index = -1;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* Per accepted connection, hung on its SSL object (ex_data): admission, the deadline timer. */
typedef struct {
    tl_net_server *srv;
    struct bufferevent *bev;
    struct event *admit;         /* runs once, right after evhttp has given the socket to bev */
    struct event *deadline;      /* TLS handshake, then each complete request */
    tl_peer_key key;
    char addr[64];               /* the client's address (key) for log lines */
    int admitted;                /* counted in srv->conns and srv->peers */
    int handshaken;              /* TLS handshake finished */
    int nodelay;                 /* TCP_NODELAY set on the socket */
} conn;

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *const rl_what[RL_N] = {
    [RL_PEER] = "connections refused (per-address limit)",
    [RL_GLOBAL] = "connections refused (connection limit)",
    [RL_HANDSHAKE] = "connections closed (no TLS handshake in time)",
};

/* One refused or dropped connection: a line now, or counted for a summary line. */
static void rl_note(tl_net_server *s, int kind, const conn *c)
{
    rl_slot *r = &s->rl[kind];
    unsigned long held = 0;
    if (!tl_ratelog_event(&r->rl, mono_now(), 1.0, &held)) {
        if (r->flush && !evtimer_pending(r->flush, NULL)) {
            struct timeval tv = {1, 0};
            evtimer_add(r->flush, &tv);
        }
        return;
    }
    char more[80] = "";
    if (held)
        snprintf(more, sizeof more, " [%lu more since the last line]", held);
    if (kind == RL_PEER)
        tl_log(TL_LOG_WARN, s->name, "refused a connection from %s: it has %d open (limit per address %d)%s", c->addr,
               tl_peers_count(s->peers, &c->key), s->max_per_peer, more);
    else if (kind == RL_GLOBAL)
        tl_log(TL_LOG_WARN, s->name, "refused a connection from %s: %d connections open (limit %d)%s", c->addr,
               atomic_load(&s->conns), s->max_conns, more);
    else
        tl_log(TL_LOG_WARN, s->name, "closed a connection from %s: no TLS handshake within %d s%s", c->addr,
               s->handshake_timeout_s, more);
}

static void on_rl_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    rl_slot *r = arg;
    unsigned long n = tl_ratelog_take(&r->rl, mono_now());
    if (n)
        tl_log(TL_LOG_WARN, r->srv->name, "%s: %lu more since the last line", rl_what[r->kind], n);
}

static void conn_close(conn *c)
{
    evutil_socket_t s = bufferevent_getfd(c->bev);
    if (s >= 0)
        shutdown(s, SHUT_RDWR); /* evhttp sees EOF and frees the connection */
}

/* Called by OpenSSL when an SSL object of ours is freed (the connection closed). */
static void conn_freed(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
    conn *c = ptr;
    if (!c)
        return;
    if (c->admitted) {
        atomic_fetch_sub(&c->srv->conns, 1);
        tl_peers_del(c->srv->peers, &c->key);
    }
    if (c->admit)
        event_free(c->admit);
    if (c->deadline)
        event_free(c->deadline);
    free(c);
}

/* The client did not finish the TLS handshake, or a request, in time (idle sockets, slowloris,
 * idle keep-alive): close it. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    conn *c = arg;
    if (!c->handshaken)
        rl_note(c->srv, RL_HANDSHAKE, c);
    conn_close(c);
}

/* Admission, before any byte of the connection is read: evhttp's bufferevent callback is not told
 * the socket, so this runs as an event activated there, which libevent runs in the same pass,
 * after evhttp has set the socket and before it polls again. The per-address limit comes first,
 * so one address cannot fill the global limit; a refused socket is closed at once. */
static void on_admit(evutil_socket_t fd_, short what, void *arg)
{
    (void)fd_; (void)what;
    conn *c = arg;
    tl_net_server *s = c->srv;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0 ||
        tl_peer_key_of((struct sockaddr *)&ss, sl, &c->key) != 0 || atomic_load(&s->stopping)) {
        conn_close(c);
        return;
    }
    tl_peer_key_str(&c->key, c->addr);
    if (tl_peers_count(s->peers, &c->key) >= s->max_per_peer) {
        rl_note(s, RL_PEER, c);
        conn_close(c);
        return;
    }
    if (atomic_load(&s->conns) >= s->max_conns || tl_peers_add(s->peers, &c->key, s->max_per_peer) < 0) {
        rl_note(s, RL_GLOBAL, c);
        conn_close(c);
        return;
    }
    c->admitted = 1;
    atomic_fetch_add(&s->conns, 1);
    struct timeval tv = {s->handshake_timeout_s, 0};
    if (!c->deadline || evtimer_add(c->deadline, &tv) != 0)
        conn_close(c);
}

/* The handshake finished: from now the client has request_timeout_s for its first request. */
static void on_tls_info(const SSL *ssl, int where, int ret)
{
    (void)ret;
    if (!(where & SSL_CB_HANDSHAKE_DONE))
        return;
    conn *c = SSL_get_ex_data(ssl, g_ex_index);
    if (!c || c->handshaken)
        return;
    c->handshaken = 1;
    if (c->admitted && c->deadline) {
        struct timeval tv = {c->srv->request_timeout_s, 0};
        evtimer_add(c->deadline, &tv);
    }
}

static conn *conn_of(struct evhttp_request *er)
{
    struct evhttp_connection *ec = evhttp_request_get_connection(er);
    struct bufferevent *bev = ec ? evhttp_connection_get_bufferevent(ec) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    return ssl ? SSL_get_ex_data(ssl, g_ex_index) : NULL;
}

static void global_init(void)
{
    /* A client that disconnects must never kill the process through a write (process-wide). */
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    g_ex_index = SSL_get_ex_new_index(0, (void *)"teelm-net", NULL, NULL, conn_freed);
}

static int on_loop_thread(const tl_net_server *s)
{
    return s->running && pthread_equal(pthread_self(), s->loop_thread);
}

/* ---------------- request snapshots ---------------- */

static void req_free(tl_net_req *r)
{
    if (!r)
        return;
    free(r->method);
    free(r->path);
    free(r->query);
    free(r->peer);
    for (int i = 0; i < 2 * r->nhdr; i++)
        free(r->hdr[i]);
    free(r->hdr);
    for (int i = 0; i < 2 * r->n_out; i++)
        free(r->out_hdr[i]);
    free(r->out_hdr);
    tl_sec_free(r->body);
    free(r);
}

static void unlink_outstanding(tl_net_req *r)
{
    tl_net_server *s = r->srv;
    pthread_mutex_lock(&s->lock);
    if (r->prev)
        r->prev->next = r->next;
    else
        s->outstanding = r->next;
    if (r->next)
        r->next->prev = r->prev;
    s->n_outstanding--;
    pthread_mutex_unlock(&s->lock);
}

static tl_net_req *snapshot(tl_net_server *s, struct evhttp_request *er)
{
    tl_net_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->srv = s;
    r->ereq = er;
    const char *m = "OTHER";
    switch (evhttp_request_get_command(er)) {
    case EVHTTP_REQ_GET: m = "GET"; break;
    case EVHTTP_REQ_POST: m = "POST"; break;
    case EVHTTP_REQ_HEAD: m = "HEAD"; break;
    case EVHTTP_REQ_PUT: m = "PUT"; break;
    case EVHTTP_REQ_DELETE: m = "DELETE"; break;
    case EVHTTP_REQ_OPTIONS: m = "OPTIONS"; break;
    default: break;
    }
    r->method = strdup(m);
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(er);
    const char *path = u ? evhttp_uri_get_path(u) : NULL, *query = u ? evhttp_uri_get_query(u) : NULL;
    r->path = strdup(path && path[0] ? path : "/");
    r->query = query ? strdup(query) : NULL;
    struct evhttp_connection *ec = evhttp_request_get_connection(er);
    char *addr = NULL;
    ev_uint16_t port = 0;
    if (ec)
        evhttp_connection_get_peer(ec, &addr, &port);
    char peer[128];
    snprintf(peer, sizeof peer, "%s:%u", addr ? addr : "?", (unsigned)port);
    r->peer = strdup(peer);
    struct evkeyvalq *h = evhttp_request_get_input_headers(er);
    struct evkeyval *kv;
    int n = 0;
    TAILQ_FOREACH(kv, h, next) n++;
    r->hdr = calloc((size_t)(2 * n + 1), sizeof *r->hdr);
    int ok = r->method && r->path && r->peer && r->hdr && (!query || r->query);
    if (r->hdr)
        TAILQ_FOREACH(kv, h, next) {
            r->hdr[2 * r->nhdr] = strdup(kv->key);
            r->hdr[2 * r->nhdr + 1] = strdup(kv->value);
            r->nhdr++;
            ok = ok && r->hdr[2 * r->nhdr - 2] && r->hdr[2 * r->nhdr - 1];
        }
    struct evbuffer *in = evhttp_request_get_input_buffer(er);
    r->body_len = evbuffer_get_length(in);
    r->body = malloc(r->body_len + 1);
    ok = ok && r->body;
    if (r->body) {
        evbuffer_copyout(in, r->body, r->body_len);
        r->body[r->body_len] = 0;
        evbuffer_drain(in, r->body_len);
    }
    if (!ok) {
        req_free(r);
        return NULL;
    }
    pthread_mutex_lock(&s->lock);
    r->next = s->outstanding;
    if (s->outstanding)
        s->outstanding->prev = r;
    s->outstanding = r;
    s->n_outstanding++;
    pthread_mutex_unlock(&s->lock);
    return r;
}

const char *tl_net_req_method(const tl_net_req *r) { return r->method; }
const char *tl_net_req_path(const tl_net_req *r) { return r->path; }
const char *tl_net_req_query(const tl_net_req *r) { return r->query; }
const char *tl_net_req_peer(const tl_net_req *r) { return r->peer; }
int tl_net_req_cancelled(const tl_net_req *r) { return atomic_load(&((tl_net_req *)r)->cancelled); }

const char *tl_net_req_header(const tl_net_req *r, const char *name)
{
    for (int i = 0; i < r->nhdr; i++)
        if (strcasecmp(r->hdr[2 * i], name) == 0)
            return r->hdr[2 * i + 1];
    return NULL;
}

int tl_net_req_nheaders(const tl_net_req *r) { return r->nhdr; }

const char *tl_net_req_header_at(const tl_net_req *r, int i, const char **name)
{
    if (i < 0 || i >= r->nhdr)
        return NULL;
    if (name)
        *name = r->hdr[2 * i];
    return r->hdr[2 * i + 1];
}

const uint8_t *tl_net_req_body(const tl_net_req *r, size_t *len)
{
    if (len)
        *len = r->body_len;
    return r->body;
}

void tl_net_set_header(tl_net_req *r, const char *name, const char *value)
{
    char **nh = realloc(r->out_hdr, (size_t)(2 * r->n_out + 2) * sizeof *nh);
    if (!nh)
        return;
    r->out_hdr = nh;
    nh[2 * r->n_out] = strdup(name);
    nh[2 * r->n_out + 1] = strdup(value);
    if (nh[2 * r->n_out] && nh[2 * r->n_out + 1])
        r->n_out++;
    else {
        free(nh[2 * r->n_out]);
        free(nh[2 * r->n_out + 1]);
    }
}

/* ---------------- close detection while a request is handed off ---------------- */

static void on_conn_close(struct evhttp_connection *ec, void *arg)
{
    (void)ec;
    tl_net_req *r = arg;
    atomic_store(&r->cancelled, 1);
    if (r->ereq && evhttp_request_get_connection(r->ereq) == NULL)
        r->detached = 1; /* libevent detached it: still ours to free */
    else
        r->ereq = NULL;  /* libevent frees it right after this callback */
    r->armed = 0;
}

/* evhttp stops reading once a request is complete, so a client that leaves is not noticed until
 * we write. Re-enable reading (with no read callback, a small high-water mark and no read
 * timeout) so an EOF reaches evhttp's error callback, which detaches the request and closes. */
static void arm(tl_net_req *r)
{
    struct evhttp_connection *ec = r->ereq ? evhttp_request_get_connection(r->ereq) : NULL;
    if (!ec)
        return;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(ec);
    bufferevent_data_cb rcb, wcb;
    bufferevent_event_cb ecb;
    void *cbarg;
    bufferevent_getcb(bev, &rcb, &wcb, &ecb, &cbarg);
    bufferevent_setcb(bev, NULL, wcb, ecb, cbarg);
    bufferevent_setwatermark(bev, EV_READ, 0, 4096);
    struct timeval wtv = {r->srv->timeout_s, 0};
    bufferevent_set_timeouts(bev, NULL, &wtv);
    evhttp_connection_set_closecb(ec, on_conn_close, r);
    bufferevent_enable(bev, EV_READ);
    r->armed = 1;
}

static void disarm(tl_net_req *r)
{
    struct evhttp_connection *ec = r->ereq ? evhttp_request_get_connection(r->ereq) : NULL;
    if (!ec || !r->armed)
        return;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(ec);
    bufferevent_setwatermark(bev, EV_READ, 0, 0);
    struct timeval tv = {r->srv->timeout_s, 0};
    bufferevent_set_timeouts(bev, &tv, &tv);
    evhttp_connection_set_closecb(ec, NULL, NULL);
    r->armed = 0;
}

/* ---------------- carrying out replies (loop thread) ---------------- */

static void apply_headers(tl_net_req *r, const char *ctype)
{
    struct evkeyvalq *oh = evhttp_request_get_output_headers(r->ereq);
    if (ctype)
        evhttp_add_header(oh, "Content-Type", ctype);
    for (int i = 0; i < r->n_out; i++)
        evhttp_add_header(oh, r->out_hdr[2 * i], r->out_hdr[2 * i + 1]);
}

static void finish(tl_net_req *r)
{
    tl_net_server *s = r->srv;
    if (s->current == r)
        s->current_done = 1;
    unlink_outstanding(r);
    req_free(r);
}

static void do_op(op *o);

/* Ending a chunked reply while the connection still has output to write is not safe with
 * bufferevent_openssl: it defers its write callback, so a callback queued for the earlier chunks
 * can run after evhttp_send_reply_end has installed evhttp_send_done, finish the request early and
 * disable writing with the terminating chunk still unsent (the client then waits for it until the
 * idle timeout; seen with 20 concurrent SSE streams). So the end waits until the output has
 * drained and one more loop pass has run any deferred callback, then it is carried out. */
static void end_when_drained(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    tl_net_req *r = arg;
    if (r->srv->freeing)
        return;
    struct evhttp_connection *ec = r->ereq && !r->detached ? evhttp_request_get_connection(r->ereq) : NULL;
    struct bufferevent *bev = ec ? evhttp_connection_get_bufferevent(ec) : NULL;
    size_t pending = bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
    if (bev && (pending > 0 || !r->drained_once)) {
        r->drained_once = pending == 0;
        struct timeval tv = {0, 1000};
        if (event_base_once(r->srv->base, -1, EV_TIMEOUT, end_when_drained, r, &tv) == 0)
            return;
    }
    op o = {.r = r, .kind = OP_END, .status = -1}; /* -1: the end itself, no more waiting */
    do_op(&o);
}

static void do_op(op *o)
{
    tl_net_req *r = o->r;
    int alive = r->ereq && !r->detached;
    switch (o->kind) {
    case OP_REPLY:
    case OP_END:
        if (o->kind == OP_END && alive && o->status != -1) {
            r->drained_once = 0;
            end_when_drained(-1, 0, r);
            break;
        }
        if (alive) {
            disarm(r);
            if (o->kind == OP_REPLY) {
                struct evbuffer *b = evbuffer_new();
                apply_headers(r, o->ctype);
                if (b && o->len)
                    evbuffer_add(b, o->data, o->len);
                evhttp_send_reply(r->ereq, o->status, NULL, b);
                if (b)
                    evbuffer_free(b);
            } else {
                evhttp_send_reply_end(r->ereq);
            }
        } else if (r->ereq && r->detached) {
            evhttp_request_free(r->ereq);
        }
        finish(r);
        break;
    case OP_START:
        if (alive) {
            apply_headers(r, o->ctype);
            evhttp_send_reply_start(r->ereq, o->status, NULL);
        }
        break;
    case OP_CHUNK:
        if (alive && o->len) {
            struct evbuffer *b = evbuffer_new();
            if (b) {
                evbuffer_add(b, o->data, o->len);
                evhttp_send_reply_chunk(r->ereq, b);
                evbuffer_free(b);
            }
        }
        break;
    }
}

static void op_free(op *o)
{
    tl_sec_free(o->data);
    free(o->ctype);
    free(o);
}

static void submit(tl_net_req *r, int kind, int status, const char *ctype, const void *data, size_t len)
{
    tl_net_server *s = r->srv;
    op *o = calloc(1, sizeof *o);
    if (o && len) {
        o->data = malloc(len);
        if (o->data)
            memcpy(o->data, data, len);
    }
    if (o && ctype)
        o->ctype = strdup(ctype);
    if (!o || (len && !o->data) || (ctype && !o->ctype)) {
        /* Out of memory: a final op must still happen or the request leaks; send it without data. */
        if (o)
            op_free(o);
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        if (kind == OP_CHUNK || kind == OP_START)
            return;
        op fallback = {.r = r, .kind = kind, .status = 500};
        if (kind == OP_REPLY)
            fallback.data = (uint8_t *)oom, fallback.len = sizeof oom - 1;
        if (on_loop_thread(s))
            do_op(&fallback);
        return; /* off-thread OOM: the request is cancelled at shutdown */
    }
    o->r = r;
    o->kind = kind;
    o->status = status;
    o->len = len;
    if (on_loop_thread(s)) {
        do_op(o);
        op_free(o);
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (s->q_tail)
        s->q_tail->next = o;
    else
        s->q_head = o;
    s->q_tail = o;
    pthread_mutex_unlock(&s->lock);
    event_active(s->wake, EV_READ, 0);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    tl_net_server *s = arg;
    if (s->freeing)
        return;
    pthread_mutex_lock(&s->lock);
    op *o = s->q_head;
    s->q_head = s->q_tail = NULL;
    pthread_mutex_unlock(&s->lock);
    while (o) {
        op *next = o->next;
        do_op(o);
        op_free(o);
        o = next;
    }
    pthread_mutex_lock(&s->lock);
    int left = s->n_outstanding;
    pthread_mutex_unlock(&s->lock);
    if (atomic_load(&s->stopping) && left == 0)
        event_base_loopbreak(s->base);
}

void tl_net_reply(tl_net_req *r, int status, const char *content_type, const void *body, size_t len)
{
    submit(r, OP_REPLY, status, content_type, body, len);
}

void tl_net_reply_json(tl_net_req *r, int status, const char *json)
{
    submit(r, OP_REPLY, status, "application/json", json, strlen(json));
}

void tl_net_reply_error(tl_net_req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    tl_net_reply_json(r, status, text ? text : "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
    free(text);
}

void tl_net_stream_start(tl_net_req *r, int status, const char *content_type)
{
    submit(r, OP_START, status, content_type, NULL, 0);
}

int tl_net_stream_send(tl_net_req *r, const void *data, size_t len)
{
    if (tl_net_req_cancelled(r))
        return -1;
    submit(r, OP_CHUNK, 0, NULL, data, len);
    return 0;
}

void tl_net_stream_end(tl_net_req *r)
{
    submit(r, OP_END, 0, NULL, NULL, 0);
}

/* ---------------- connections and requests (loop thread) ---------------- */

/* evhttp asks for a bufferevent before it hands over the socket (so nothing can be decided here);
 * on_admit decides right after. Returning NULL would make evhttp serve plain HTTP on the socket:
 * if that happens (out of memory) on_request refuses every request that has no conn. */
static struct bufferevent *on_new_conn(struct event_base *base, void *arg)
{
    tl_net_server *s = arg;
    SSL *ssl = SSL_new(s->ctx);
    if (!ssl)
        return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                             BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    conn *c = calloc(1, sizeof *c);
    if (c) {
        c->srv = s;
        c->bev = bev;
        c->deadline = evtimer_new(base, on_deadline, c);
        c->admit = event_new(base, -1, 0, on_admit, c);
        SSL_set_ex_data(ssl, g_ex_index, c); /* freed with the SSL object (conn_freed) */
        if (c->admit)
            event_active(c->admit, EV_TIMEOUT, 1);
    }
    return bev;
}

/* A response went out: the next request on this connection gets a fresh deadline. */
static void on_complete(struct evhttp_request *er, void *arg)
{
    (void)arg;
    conn *c = conn_of(er);
    if (c && c->deadline) {
        struct timeval tv = {c->srv->request_timeout_s, 0};
        evtimer_add(c->deadline, &tv);
    }
}

static void on_request(struct evhttp_request *er, void *arg)
{
    tl_net_server *s = arg;
    conn *c = s->plain ? NULL : conn_of(er);
    if (s->plain) {
        /* no conn object to remember it on: setting it again on a kept-alive socket costs a syscall */
        struct evhttp_connection *ec = evhttp_request_get_connection(er);
        struct bufferevent *bev = ec ? evhttp_connection_get_bufferevent(ec) : NULL;
        evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
        int one = 1;
        if (fd >= 0)
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    } else if (!c || !c->admitted) {
        /* not a TLS connection we admitted (only after an allocation failure): never answer it */
        struct evhttp_connection *ec = evhttp_request_get_connection(er);
        struct bufferevent *bev = ec ? evhttp_connection_get_bufferevent(ec) : NULL;
        evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
        evhttp_add_header(evhttp_request_get_output_headers(er), "Connection", "close");
        evhttp_send_reply(er, 503, "Service Unavailable", NULL);
        return;
    }
    if (c && c->deadline)
        evtimer_del(c->deadline); /* the request is in: no deadline while it is being answered */
    if (c && !c->nodelay) {
        /* replies go out as several small TLS records (and streams as one per event): without
         * TCP_NODELAY, Nagle holds each behind the client's delayed ACK (tens of ms) */
        int one = 1;
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0)
            c->nodelay = 1;
    }
    evhttp_request_set_on_complete_cb(er, on_complete, NULL);
    if (evbuffer_get_length(evhttp_request_get_input_buffer(er)) > s->max_body) {
        /* evhttp itself answers (in HTML) only beyond twice the limit; between, answer in JSON */
        struct evbuffer *b = evbuffer_new();
        if (b && s->too_large_json)
            evbuffer_add(b, s->too_large_json, strlen(s->too_large_json));
        else if (b)
            evbuffer_add_printf(b, "{\"error\":{\"code\":\"body_too_large\",\"message\":\"request body larger "
                                   "than %zu bytes\"}}", s->max_body);
        evhttp_add_header(evhttp_request_get_output_headers(er), "Content-Type", "application/json");
        evhttp_add_header(evhttp_request_get_output_headers(er), "Connection", "close");
        evhttp_send_reply(er, 413, "Payload Too Large", b);
        if (b)
            evbuffer_free(b);
        return;
    }
    tl_net_req *r = snapshot(s, er);
    if (!r) {
        evhttp_send_error(er, 500, "Out of memory");
        return;
    }
    if (atomic_load(&s->stopping))
        atomic_store(&r->cancelled, 1);
    s->current = r;
    s->current_done = 0;
    s->handler(r, s->arg);
    if (!s->current_done)
        arm(r); /* handed off to another thread: watch for the client leaving */
    s->current = NULL;
}

/* ---------------- TLS ---------------- */

static SSL_CTX *make_ctx(const tl_net_server_opts *o, tl_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        tl_err_ssl(err, TL_ENOMEM, "TLS context");
        return NULL;
    }
    if (tl_net_tls_policy(ctx, 1, err)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    int ok;
    if (o->cert_file || o->key_file) {
        ok = o->cert_file && o->key_file && SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) == 1 &&
             SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) == 1;
        if (!ok) {
            tl_err_ssl(err, TL_EINVAL, "TLS certificate/key files");
            tl_err_prefix(err, "%s / %s", o->cert_file ? o->cert_file : "(no cert)", o->key_file ? o->key_file : "(no key)");
            SSL_CTX_free(ctx);
            return NULL;
        }
    } else {
        ok = o->cert && o->key && SSL_CTX_use_certificate(ctx, o->cert) == 1 && SSL_CTX_use_PrivateKey(ctx, o->key) == 1;
        for (int i = 0; ok && o->chain && i < sk_X509_num(o->chain); i++)
            ok = SSL_CTX_add1_chain_cert(ctx, sk_X509_value(o->chain, i)) == 1;
        if (!ok && o->cert && o->key && X509_check_private_key(o->cert, o->key) != 1) {
            ERR_clear_error();
            tl_errf(err, TL_EINVAL, "TLS private key does not match the certificate");
            SSL_CTX_free(ctx);
            return NULL;
        }
        if (!ok) {
            tl_err_ssl(err, TL_EINVAL, "TLS certificate/key (give cert_file+key_file or cert+key)");
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        tl_err_ssl(err, TL_EINVAL, "TLS private key does not match the certificate");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_info_callback(ctx, on_tls_info);
    return ctx;
}

/* ---------------- lifecycle ---------------- */

static int parse_listen(const char *listen, char *host, size_t hn, int *port, tl_err *err)
{
    const char *colon = strrchr(listen ? listen : "", ':');
    if (!listen || !colon || colon == listen)
        return tl_errf(err, TL_EINVAL, "listen address '%s' must be HOST:PORT", listen ? listen : "");
    const char *h = listen;
    size_t len = (size_t)(colon - listen);
    if (h[0] == '[' && len >= 2 && h[len - 1] == ']') {
        h++;
        len -= 2;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (len == 0 || len >= hn || *end || end == colon + 1 || p < 0 || p > 65535)
        return tl_errf(err, TL_EINVAL, "listen address '%s' must be HOST:PORT with a port 0-65535", listen);
    memcpy(host, h, len);
    host[len] = 0;
    *port = (int)p;
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    tl_net_server *s = arg;
    tl_log(TL_LOG_INFO, s->name, "signal %d: shutting down", (int)sig);
    tl_net_server_stop(s);
}

tl_net_server *tl_net_server_new(const tl_net_server_opts *o, tl_net_handler handler, void *arg, tl_err *err)
{
    pthread_once(&g_once, global_init);
    char host[256];
    int port = 0;
    if (parse_listen(o->listen, host, sizeof host, &port, err))
        return NULL;
    tl_net_server *s = tl_zalloc(sizeof *s, err);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    snprintf(s->name, sizeof s->name, "%s", o->name ? o->name : "net");
    s->handler = handler;
    s->arg = arg;
    s->max_conns = o->max_conns > 0 ? o->max_conns : 256;
    s->timeout_s = o->timeout_s > 0 ? o->timeout_s : 30;
    s->grace_ms = o->grace_ms > 0 ? o->grace_ms : 5000;
    s->request_timeout_s = o->request_timeout_s > 0 ? o->request_timeout_s : 20;
    s->handshake_timeout_s = o->handshake_timeout_s > 0 ? o->handshake_timeout_s : 5;
    s->max_per_peer = o->max_conns_per_peer > 0 ? o->max_conns_per_peer : tl_net_default_per_peer(s->max_conns);
    if (s->max_per_peer > s->max_conns)
        s->max_per_peer = s->max_conns;
    s->max_body = o->max_body ? o->max_body : 1u << 20;
    if (o->too_large_json && !(s->too_large_json = strdup(o->too_large_json))) {
        tl_errf(err, TL_ENOMEM, "out of memory");
        goto fail;
    }
    s->plain = o->plain;
    if (!s->plain && !(s->ctx = make_ctx(o, err)))
        goto fail;
    s->peers = tl_peers_new(s->max_conns);
    s->base = event_base_new();
    s->http = s->base ? evhttp_new(s->base) : NULL;
    s->wake = s->base ? event_new(s->base, -1, 0, on_wake, s) : NULL;
    int rl_ok = 1;
    for (int k = 0; k < RL_N; k++) {
        s->rl[k].srv = s;
        s->rl[k].kind = k;
        s->rl[k].flush = s->base ? evtimer_new(s->base, on_rl_flush, &s->rl[k]) : NULL;
        rl_ok = rl_ok && s->rl[k].flush;
    }
    if (!s->http || !s->wake || !s->peers || !rl_ok) {
        tl_errf(err, TL_ENOMEM, "cannot create the event loop");
        goto fail;
    }
    if (!o->no_signals) {
        s->sigint = evsignal_new(s->base, SIGINT, on_signal, s);
        s->sigterm = evsignal_new(s->base, SIGTERM, on_signal, s);
        if (!s->sigint || !s->sigterm || evsignal_add(s->sigint, NULL) || evsignal_add(s->sigterm, NULL)) {
            tl_errf(err, TL_EIO, "cannot install signal handlers");
            goto fail;
        }
    }
    if (!s->plain)
        evhttp_set_bevcb(s->http, on_new_conn, s); /* without it evhttp makes plain socket bufferevents */
    evhttp_set_gencb(s->http, on_request, s);
    evhttp_set_max_body_size(s->http, (ev_ssize_t)(2 * s->max_body));
    evhttp_set_max_headers_size(s->http, (ev_ssize_t)(o->max_headers ? o->max_headers : 16u << 10));
    evhttp_set_timeout(s->http, s->timeout_s);
    evhttp_set_default_content_type(s->http, "application/json");
    s->bound = evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port);
    if (!s->bound) {
        tl_errf(err, TL_EIO, "cannot listen on %s: %s", o->listen, strerror(errno));
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(evhttp_bound_socket_get_fd(s->bound), (struct sockaddr *)&ss, &sl) != 0) {
        tl_errf(err, TL_EIO, "getsockname: %s", strerror(errno));
        goto fail;
    }
    s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return s;
fail:
    tl_net_server_free(s);
    return NULL;
}

int tl_net_server_port(const tl_net_server *s) { return s->port; }
int tl_net_default_per_peer(int max_conns) { return max_conns / 2 > 4 ? max_conns / 2 : 4; }
int tl_net_server_connections(const tl_net_server *s) { return atomic_load(&((tl_net_server *)s)->conns); }

void tl_net_server_stop(tl_net_server *s)
{
    atomic_store(&s->stopping, 1);
    event_base_loopbreak(s->base);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    event_base_loopbreak(((tl_net_server *)arg)->base);
}

int tl_net_server_run(tl_net_server *s)
{
    s->loop_thread = pthread_self();
    s->running = 1;
    while (!atomic_load(&s->stopping))
        if (event_base_loop(s->base, 0) != 0)
            break;
    /* Graceful shutdown: stop accepting, cancel what is outstanding, deliver queued replies. */
    if (s->bound) {
        evhttp_del_accept_socket(s->http, s->bound);
        s->bound = NULL;
    }
    pthread_mutex_lock(&s->lock);
    for (tl_net_req *r = s->outstanding; r; r = r->next)
        atomic_store(&r->cancelled, 1);
    int left = s->n_outstanding;
    pthread_mutex_unlock(&s->lock);
    if (left) {
        struct timeval tv = {s->grace_ms / 1000, (s->grace_ms % 1000) * 1000};
        s->grace = evtimer_new(s->base, on_grace, s);
        if (s->grace && evtimer_add(s->grace, &tv) == 0) {
            event_active(s->wake, EV_READ, 0);
            event_base_loop(s->base, 0);
        }
    }
    s->running = 0;
    pthread_mutex_lock(&s->lock);
    left = s->n_outstanding;
    pthread_mutex_unlock(&s->lock);
    return left;
}

void tl_net_server_free(tl_net_server *s)
{
    if (!s)
        return;
    /* Requests libevent still holds are freed with their connections; forget our side of them. */
    pthread_mutex_lock(&s->lock);
    tl_net_req *r = s->outstanding;
    s->outstanding = NULL;
    op *o = s->q_head;
    s->q_head = s->q_tail = NULL;
    pthread_mutex_unlock(&s->lock);
    while (o) {
        op *next = o->next;
        op_free(o);
        o = next;
    }
    if (s->http) {
        /* disarm first so connection close callbacks do not touch freed snapshots */
        for (tl_net_req *x = r; x; x = x->next)
            if (x->ereq && !x->detached && x->armed)
                disarm(x);
        for (tl_net_req *x = r; x; x = x->next)
            if (x->ereq && x->detached)
                evhttp_request_free(x->ereq);
        evhttp_free(s->http);
        /* bufferevents with deferred callbacks still queued are finalized by the loop, not by
         * bufferevent_free: let it run those before the base goes, or their SSL objects leak */
        s->freeing = 1; /* our own callbacks stand still: the requests are freed below */
        for (int i = 0; i < 4; i++)
            event_base_loop(s->base, EVLOOP_NONBLOCK);
    }
    while (r) {
        tl_net_req *next = r->next;
        req_free(r);
        r = next;
    }
    if (s->wake)
        event_free(s->wake);
    if (s->grace)
        event_free(s->grace);
    if (s->sigint)
        event_free(s->sigint);
    if (s->sigterm)
        event_free(s->sigterm);
    for (int k = 0; k < RL_N; k++)
        if (s->rl[k].flush)
            event_free(s->rl[k].flush);
    if (s->base)
        event_base_free(s->base);
    SSL_CTX_free(s->ctx);
    tl_peers_free(s->peers);
    pthread_mutex_destroy(&s->lock);
    free(s->too_large_json);
    free(s);
}
