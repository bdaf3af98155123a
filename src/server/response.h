/* Response bodies of the HTTP API in OpenAI's shapes (docs/api.md). Every function returns a
 * tl_sec_malloc'd NUL-terminated string (NULL when out of memory); text is valid UTF-8 already. */
#ifndef TEELM_SERVER_RESPONSE_H
#define TEELM_SERVER_RESPONSE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct {
    const char *id;      /* "cmpl-<hex>" */
    time_t created;
    const char *model;
} tl_resp_meta;

/* {"id","object":"text_completion","created","model","choices":[{"text","index":0,"logprobs":null,
 *  "finish_reason"}],"usage":{"prompt_tokens","completion_tokens","total_tokens"}} */
char *tl_resp_completion(const tl_resp_meta *m, const char *text, size_t len, const char *finish_reason,
                         int prompt_tokens, int completion_tokens);
/* One server-sent event "data: {...}\n\n" with the same shape, finish_reason null unless given,
 * and no usage; with usage = 1 the event carries usage and an empty choices list (OpenAI's
 * stream_options.include_usage). */
char *tl_resp_chunk(const tl_resp_meta *m, const char *text, size_t len, const char *finish_reason);
char *tl_resp_usage_chunk(const tl_resp_meta *m, int prompt_tokens, int completion_tokens);
/* "data: {"error":{...}}\n\n" from an error body */
char *tl_resp_sse_data(const char *json);

/* GET /v1/models */
char *tl_resp_models(const char *model, time_t created);
/* POST /tokenize and /detokenize */
char *tl_resp_tokens(const uint32_t *ids, size_t n, int max_model_len);
char *tl_resp_detokenized(const char *text, size_t len);

/* A fresh completion id: "cmpl-" + 24 random hex digits (out: 32 bytes). */
void tl_resp_new_id(char out[32]);

#endif

/* ---- the general shapes: n choices, chat, logprobs (docs/api.md) ---- */
#include <jansson.h>

#include "server/sched.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    const char *text;          /* completions: text; chat: message content / delta content */
    size_t len;
    int index;
    const char *finish_reason; /* NULL: null */
    json_t *logprobs;          /* stolen; NULL: null */
    int role;                  /* chat chunk: the delta carries role "assistant" */
    int no_content;            /* chat chunk: the delta has no content (the final, empty delta) */
} tl_resp_choice;

/* A response object (chunk = 0) or one server-sent event (chunk = 1) of text completions
 * (chat = 0: "text_completion") or chat ("chat.completion" / "chat.completion.chunk"), with
 * choices[0..nch) and usage when usage != NULL ({prompt, completion}). */
char *tl_resp_build(const tl_resp_meta *m, int chat, int chunk, tl_resp_choice *ch, int nch, const int *usage);
/* Logprobs of recs[0..n): completions' legacy shape {"tokens","token_logprobs","top_logprobs",
 * "text_offset"} (offsets from *offset, advanced), or chat's {"content":[{"token","logprob","bytes",
 * "top_logprobs"}],"refusal":null}. ntop: alternatives to show. */
json_t *tl_resp_logprobs_legacy(const tl_tokenizer *tok, const tl_lp_rec *recs, int n, int ntop, size_t *offset);
json_t *tl_resp_logprobs_chat(const tl_tokenizer *tok, const tl_lp_rec *recs, int n, int ntop);
