/* The server's configuration document (docs/bindings.md, "The configuration document"): canonical
 * JSON of every `teelm serve` setting that changes what a client should trust — backend, model
 * identity, key source, API keys on/off, limits, log level. Its SHA-256 is bound into the evidence
 * (the sim MRENCLAVE's configuration blob, the RA-TLS binding, RTMR3 on TDX), so a host that starts
 * the genuine binary with another model or key source gets another identity. Settings the host may
 * choose freely (listen address, compute threads) are deliberately not in it. */
#ifndef TEELM_SERVER_CONFIG_DOC_H
#define TEELM_SERVER_CONFIG_DOC_H

#include <stddef.h>

#include "server/server.h"
#include "util/err.h"

typedef struct {
    const char *tee;        /* --tee as given (sim|occlum|tsm|auto) */
    const char *model;      /* --model path: read for its identity, not recorded */
    const char *model_name; /* the API's model id */
    const char *tokenizer;  /* --tokenizer override file, or NULL (the model's own) */
    const char *kbs_url;    /* key source: exactly one of kbs_url / key_file, or neither */
    const char *kbs_ca;     /* with kbs_url: pinned broker certificate file (hashed), or NULL */
    const char *kbs_resource; /* with a trustee+https:// kbs_url: the key's resource REPO/TYPE/TAG */
    const char *key_file;
    int api_keys;           /* 1 when --api-key-file is given */
    const char *chat_template; /* --chat-template: a built-in's name or a file (hashed); NULL: the model's */
    int cert_days;
    int receipts;           /* 1: every completion carries a signed receipt (docs/receipts.md) */
    int log_level;          /* TL_LOG_* */
    const tl_server_opts *so; /* the limits */
} tl_config_in;

/* Builds the document: *doc is malloc'd NUL-terminated ASCII JSON of *len bytes (keys sorted,
 * no spaces, non-ASCII escaped as \uXXXX). Fails naming the file when the model header, the
 * tokenizer or the broker certificate cannot be read. */
int tl_config_doc_build(const tl_config_in *in, char **doc, size_t *len, tl_err *err);

#endif
