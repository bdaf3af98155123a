/* Server metrics in the Prometheus text format (GET /metrics): request counts by endpoint and
 * status, tokens, latency and time-to-first-token histograms, queue depth, active sequences, batch
 * sizes. Counts and timings only — nothing about what a request said. Thread-safe. */
#ifndef TEELM_SERVER_METRICS_H
#define TEELM_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    TL_EP_COMPLETIONS, TL_EP_MODELS, TL_EP_HEALTH, TL_EP_METRICS, TL_EP_TOKENIZE, TL_EP_DETOKENIZE,
    TL_EP_ATTESTATION, TL_EP_OTHER, TL_EP_CHAT, TL_EP_COUNT
} tl_endpoint;

typedef struct tl_metrics tl_metrics;

tl_metrics *tl_metrics_new(void);
void tl_metrics_free(tl_metrics *m);

void tl_metrics_request(tl_metrics *m, tl_endpoint ep, int status, double seconds);
void tl_metrics_tokens(tl_metrics *m, uint64_t prompt, uint64_t completion);
void tl_metrics_first_token(tl_metrics *m, double seconds);
void tl_metrics_step(tl_metrics *m, int batch_size);            /* one batched decode step */
void tl_metrics_shared_rows(tl_metrics *m, int rows);           /* prompt rows copied, not computed */
void tl_metrics_queue(tl_metrics *m, int waiting, int active);  /* gauges */
void tl_metrics_connections(tl_metrics *m, int delta);
void tl_metrics_event(tl_metrics *m, const char *what);         /* "cancelled", "timeout", "queue_full" */

/* The exposition text (version 0.0.4); malloc'd, caller frees. */
char *tl_metrics_render(tl_metrics *m, size_t *len);

#endif
