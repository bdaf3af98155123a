/* Request bodies of the HTTP API (docs/api.md): strict parsing and validation into plain structs.
 * Every refusal names the field. Strings that carry user text are tl_sec_malloc'd copies and are
 * wiped by the matching *_free. */
#ifndef TEELM_SERVER_REQUEST_H
#define TEELM_SERVER_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "server/api_error.h"

#define TL_MAX_STOP 4            /* OpenAI's limit */
#define TL_MAX_STOP_BYTES 256    /* per stop sequence */
#define TL_MAX_MODEL_NAME 128

/* Limits the parser enforces (the server's flags). */
typedef struct {
    int max_tokens;          /* upper bound of max_tokens */
    int default_max_tokens;  /* when max_tokens is absent or null (OpenAI: 16) */
    const char *model_id;    /* the one model served; a request naming another gets 404 */
    int max_n;               /* upper bound of n (--max-n) */
} tl_req_limits;

#define TL_MAX_LOGPROBS 20       /* top alternatives per token (chat's top_logprobs bound) */
#define TL_MAX_LOGPROBS_LEGACY 5 /* completions' logprobs bound, as OpenAI */

typedef struct {
    char *prompt;            /* UTF-8, no NUL bytes; tl_sec_malloc'd */
    size_t prompt_len;
    int max_tokens;          /* 1..limits.max_tokens */
    int has_max_tokens;      /* given by the request (not the default): never capped, refused if too long */
    double temperature;      /* [0,2]; 0 = greedy */
    double top_p;            /* (0,1] */
    int top_k;               /* 0 = off (extension, as in vLLM) */
    uint64_t seed;
    int has_seed;            /* 0: the server draws a random seed */
    char *stop[TL_MAX_STOP]; /* tl_sec_malloc'd, non-empty */
    size_t stop_len[TL_MAX_STOP];
    int nstop;
    int stream;
    int include_usage;       /* stream_options.include_usage */
    int n;                   /* choices, 1..limits.max_n */
    int logprobs;            /* -1: none; else top alternatives per token (0..TL_MAX_LOGPROBS) */
    int echo;                /* completions: the prompt is part of the text */
} tl_completion_req;

typedef struct {
    char role[33];           /* validated as tl_chat_msg wants: 1..32 of [A-Za-z0-9_-] */
    char *content;           /* tl_sec_malloc'd; text parts joined */
    size_t content_len;
} tl_chat_req_msg;

/* POST /v1/chat/completions: the sampling fields in .c (max_tokens from max_completion_tokens
 * or max_tokens), the conversation in msgs. */
typedef struct {
    tl_completion_req c;     /* prompt unused (NULL) */
    tl_chat_req_msg *msgs;   /* malloc'd array */
    size_t n_msgs;
} tl_chat_req;

int tl_chat_parse(const char *body, size_t len, const tl_req_limits *lim, tl_chat_req *out, tl_api_error *e);
void tl_chat_req_free(tl_chat_req *r);

/* Parses a POST /v1/completions body. Returns 0, or -1 with *e filled (400 naming the field, 404
 * for another model). *out must be released with tl_completion_req_free in both cases. */
int tl_completion_parse(const char *body, size_t len, const tl_req_limits *lim, tl_completion_req *out,
                        tl_api_error *e);
void tl_completion_req_free(tl_completion_req *r);

/* POST /tokenize: {"prompt": "text"[, "model": id]} → *text (tl_sec_malloc'd). */
int tl_tokenize_parse(const char *body, size_t len, const tl_req_limits *lim, char **text, size_t *text_len,
                      tl_api_error *e);
/* POST /detokenize: {"tokens": [ids][, "model": id]}; ids must be < vocab. *ids is tl_sec_malloc'd. */
int tl_detokenize_parse(const char *body, size_t len, const tl_req_limits *lim, uint32_t vocab, size_t max_ids,
                        uint32_t **ids, size_t *n, tl_api_error *e);

#endif
