/* A rendered chat prompt (chat_template.h) to token ids, the way the model's own tooling
 * tokenizes it (transformers' apply_chat_template: the whole rendered string, special tokens
 * matched, no post-processor tokens), without letting message content become control tokens.
 * Layer: chat/, above tokenizer/. */
#ifndef TEELM_CHAT_CHAT_ENCODE_H
#define TEELM_CHAT_CHAT_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "chat/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "util/err.h"

/* Encodes p. The whole text is encoded as one string when that yields exactly the special tokens
 * the TEMPLATE segments hold, in order (always so unless content spells a special token, alone or
 * together with the template text around it); else each segment is encoded on its own, TEMPLATE
 * with special tokens matched and CONTENT as plain text, so typed "<|im_start|>" stays text.
 * *ids comes from tl_sec_malloc (a prompt is a secret: free with tl_sec_free). *whole (may be
 * NULL) tells which way was taken. */
int tl_chat_encode(const tl_tokenizer *tok, const tl_chat_prompt *p, uint32_t **ids, size_t *n, int *whole,
                   tl_err *err);

#endif
