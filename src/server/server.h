/* The confidential inference server (docs/api.md): an OpenAI-style HTTPS API over src/net, with
 * TLS terminated by an RA-TLS certificate (docs/ra-tls.md) and completions decoded in batches by
 * the scheduler (sched.h). Stateless: every request stands alone, so replicas scale out behind a
 * TCP pass-through balancer (docs/scale-out.md). */
#ifndef TEELM_SERVER_SERVER_H
#define TEELM_SERVER_SERVER_H

#include "model/checkpoint.h"
#include "server/apikeys.h"
#include "server/ratls.h"
#include "tokenizer/tokenizer.h"
#include "util/err.h"

typedef struct {
    const char *listen;          /* HOST:PORT; port 0 picks one (tl_server_port) */
    const char *model_id;        /* the name /v1/models reports and requests may give */
    const char *warning;         /* sent as X-Teelm-Warning on every response, or NULL */
    int max_body;                /* bytes (default 1 MiB) */
    int max_prompt_tokens;       /* default 4096 */
    int max_tokens;              /* upper bound of max_tokens (default 1024) */
    int default_max_tokens;      /* when a request gives none (default 16, as OpenAI) */
    double request_timeout;      /* seconds from arrival to the last token (default 120) */
    int io_timeout;              /* seconds a connection may stay idle (default 30) */
    int recv_timeout;            /* seconds to send one whole request, however slowly (default 20) */
    int max_connections;         /* default 64 */
    int max_connections_per_peer;/* per client address (IPv4, IPv6 /64); 0 = max(4, max_connections / 2) */
    int handshake_timeout;       /* seconds from accept to a finished TLS handshake (default 5) */
    int max_queue;               /* completions waiting for the batch (default 256) */
    int max_batch;               /* sequences per forward pass (default 8) */
    int threads;                 /* compute threads (0 = the engine's default, tensor/pool.h) */
    int ctx;                     /* Hugging Face families: key/value cache positions per slot, the
                                  * longest prompt + completion (0 = min(max_position_embeddings,
                                  * TL_SERVER_DEFAULT_CTX)); the seed family keeps its sliding window */
    const tl_apikeys *keys;      /* NULL: no authentication */
    int max_n;                   /* upper bound of a request's n (default 8, at most 64) */
    /* chat: the template source (NULL: no /v1/chat/completions), its name for /v1/models, the
     * strings bos_token / eos_token render as, and a stop sequence the template implies (NULL) */
    const char *chat_template;
    size_t chat_template_len;
    const char *chat_template_name;
    const char *bos_token, *eos_token;
    const char *chat_stop;
    struct tl_receipts *receipts; /* signs every completion's receipt (server/receipt.h); NULL: none */
} tl_server_opts;

#define TL_SERVER_DEFAULT_CTX 4096

/* Fills the defaults above. */
void tl_server_defaults(tl_server_opts *o);

typedef struct tl_server tl_server;

/* Serves ck with tok over TLS with ratls's key and certificate (all borrowed: they must outlive
 * the server). Binds at once; tl_server_port tells the port. */
tl_server *tl_server_new(const tl_server_opts *o, const tl_checkpoint *ck, const tl_tokenizer *tok,
                         const tl_ratls *ratls, tl_err *err);
int tl_server_port(const tl_server *s);
/* Serves until SIGINT/SIGTERM or tl_server_stop. */
int tl_server_run(tl_server *s);
void tl_server_stop(tl_server *s);
void tl_server_free(tl_server *s);

#endif
