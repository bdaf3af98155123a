/* Signed receipts of completions (docs/receipts.md). At start the server holds an Ed25519 key that
 * the RA-TLS evidence binds (ratls.h, receipt_key); every completion response carries a receipt:
 * RFC 8785 canonical JSON of hashes and settings, never prompt or output text, signed with that
 * key. A receipt proves, to anyone holding the evidence, which request this TEE answered with
 * which response, model, sampling parameters and configuration. This file is the issuing side and
 * the hashes both sides compute; receipt_check.h verifies. */
#ifndef TEELM_SERVER_RECEIPT_H
#define TEELM_SERVER_RECEIPT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "model/checkpoint.h"
#include "server/ratls.h"
#include "util/err.h"

#define TL_RECEIPT_TYPE "teelm.receipt"
#define TL_RECEIPT_VERSION 1
#define TL_RECEIPT_DOMAIN "teelm/receipt/v1" /* signed: this, one NUL byte, then the canonical receipt */

typedef struct tl_receipts tl_receipts;

/* SHA-256 of the model's plaintext weights as the engine holds them (docs/receipts.md, "Model
 * identity"): for each tensor of tl_params_list(&ck->cfg), in table order, its numel elements as
 * stored (Hugging Face families: ck->w[i] in its dtype; the seed family: float32 from the arena). */
int tl_receipt_weights_sha256(const tl_checkpoint *ck, uint8_t out[32], tl_err *err);

/* The issuer: the key and evidence of ra (borrowed, must outlive it), the model identity from the
 * configuration document (ra->config: model.kind, model.model_id) and the given weights hash. */
tl_receipts *tl_receipts_new(const tl_ratls *ra, const char *model_name, const uint8_t weights_sha256[32],
                             time_t started, tl_err *err);
void tl_receipts_free(tl_receipts *r);

typedef struct {
    const char *text;          /* the choice's whole text (echoed prompt included), UTF-8 */
    size_t len;
    const char *finish_reason; /* "stop", "length", ... */
} tl_receipt_choice;

typedef struct {
    double temperature, top_p; /* as the sampler used them: float32 */
    int top_k, max_tokens, n;
    int logprobs;              /* -1: none */
    int echo;
    uint64_t seed;             /* choice 0's seed (choice i: seed + i * 0x9E3779B97F4A7C15) */
    int seed_from_server;      /* 1: the request gave none, the server drew it */
} tl_receipt_sampling;

typedef struct {
    const char *endpoint;          /* "/v1/completions", "/v1/chat/completions" */
    const uint8_t *request_sha256; /* SHA-256 of the exact request body received */
    const tl_receipt_choice *choices;
    int n;
    int prompt_tokens, completion_tokens;
    const tl_receipt_sampling *sampling;
} tl_receipt_in;

/* The response hash both sides compute: SHA-256 of the canonical JSON
 * {"choices":[{"finish_reason":F,"index":I,"text_sha256":HEX}...],"usage":{"completion_tokens":C,
 *  "prompt_tokens":P,"total_tokens":P+C}}, choices in index order. -1 when out of memory. */
int tl_receipt_response_sha256(const tl_receipt_choice *ch, int n, int prompt_tokens, int completion_tokens,
                               uint8_t out[32]);

/* Issues the next receipt (counter + 1, time now): the text of the teelm_receipt value,
 * {"receipt":{...},"signature":BASE64} (malloc'd), or NULL when out of memory. Thread-safe. */
char *tl_receipt_issue(tl_receipts *r, const tl_receipt_in *in);

/* body (a JSON object's text, or one server-sent event "data: {...}\n\n") with
 * ,"teelm_receipt":receipt added as its last member: tl_sec_malloc'd; body is tl_sec_free'd.
 * NULL (body freed) when out of memory or body has no closing brace. */
char *tl_receipt_attach(char *body, const char *receipt);

/* The shortest decimal form ("%.Ng", N = 1..9) that reads back as the float32 f: how receipts
 * write temperature and top_p (out: 32 bytes). */
void tl_receipt_float(float f, char out[32]);

#endif
