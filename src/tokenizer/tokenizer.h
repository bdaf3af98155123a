/* tiktoken-compatible byte-level BPE (docs/tokenizer.md). Thread-safe for concurrent encode/decode
 * on one loaded tokenizer. */
#ifndef TEELM_TOKENIZER_H
#define TEELM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct tl_tokenizer tl_tokenizer;

/* Loads a `.tiktoken` file, an npm-tiktoken `encoders/NAME.json` file, or a Hugging Face
 * `tokenizer.json` (told apart by content: JSON starts with '{'; a JSON object with a "model" field is
 * a tokenizer.json, read with the tokenizer_config.json next to it if there is one). pattern names the pre-tokenizer ("cl100k", "o200k", "p50k", "p50k_edit",
 * "r50k"/"gpt2", or the encoding names "cl100k_base", ...) or is NULL to infer it from the file
 * (known SHA-256 or JSON pat_str; otherwise cl100k). */
tl_tokenizer *tl_tokenizer_load(const char *path, const char *pattern, tl_err *err);
/* Same from bytes in memory (e.g. a tokenizer carried inside a sealed model); name is for messages
 * (and, like a path, its base name may claim a standard encoding: "cl100k_base.tiktoken"). */
tl_tokenizer *tl_tokenizer_load_mem(const uint8_t *data, size_t len, const char *name, const char *pattern, tl_err *err);
/* Loads DIR/tokenizer.tiktoken, else DIR/tokenizer.json (a trained model directory). */
tl_tokenizer *tl_tokenizer_load_model_dir(const char *dir, const char *pattern, tl_err *err);
/* A tokenizer.json from memory, with its tokenizer_config.json (config may be NULL). */
tl_tokenizer *tl_tokenizer_load_hf_mem(const uint8_t *json, size_t len, const uint8_t *config, size_t config_len,
                                       const char *name, tl_err *err);
void tl_tokenizer_free(tl_tokenizer *t);

/* tl_tokenizer_encode_ex flags. */
#define TL_TOK_ADD_SPECIAL 1u /* tokenizer.json: add the post-processor's tokens (e.g. BOS), as HF's encode() */
#define TL_TOK_PLAIN 2u       /* special tokens in the text are ordinary text (user content in a chat) */
#define TL_TOK_FORBID 4u      /* a special token in the text is an error (tl_tokenizer_encode's default) */
/* Encodes with flags. Without TL_TOK_PLAIN or TL_TOK_FORBID special tokens are recognized; for a
 * tokenizer.json, non-special added tokens are recognized in every mode. TL_TOK_ADD_SPECIAL does
 * nothing for tiktoken files. */
int tl_tokenizer_encode_ex(const tl_tokenizer *t, const char *text, size_t len, unsigned flags, uint32_t **ids,
                           size_t *n, tl_err *err);
/* 1 for a tokenizer.json tokenizer. */
int tl_tokenizer_is_hf(const tl_tokenizer *t);

/* Encodes text. Special tokens in the text are an error unless allow_special. (tokenizer.json: no
 * post-processor tokens are added; see tl_tokenizer_encode_ex.)
 * Invalid UTF-8 is first replaced by U+FFFD (one per maximal invalid subpart, like node's
 * TextDecoder), so the result equals npm tiktoken's encoding of Buffer.toString('utf8').
 * *ids is malloc'd (caller frees). */
int tl_tokenizer_encode(const tl_tokenizer *t, const char *text, size_t len, int allow_special,
                        uint32_t **ids, size_t *n, tl_err *err);
/* Decodes ids to bytes (not necessarily valid UTF-8); *out is malloc'd and NUL-terminated.
 * Special token ids decode to their text. A tokenizer.json decodes as Hugging Face's decode() does
 * (its decoder chain, then clean_up_tokenization_spaces; valid UTF-8, U+FFFD for broken bytes). */
int tl_tokenizer_decode(const tl_tokenizer *t, const uint32_t *ids, size_t n, char **out, size_t *len, tl_err *err);
/* The bytes of one token (NULL if the id is unknown); for streaming. tokenizer.json: byte-level tokens
 * their bytes, <0xNN> its byte, SentencePiece pieces with ▁ as a space, added tokens their text. */
const uint8_t *tl_tokenizer_token_bytes(const tl_tokenizer *t, uint32_t id, size_t *len);
/* One more than the largest id (ranks and special tokens). */
uint32_t tl_tokenizer_vocab_size(const tl_tokenizer *t);
/* "cl100k", "o200k", "p50k", "p50k_edit", "r50k", "gpt2", or "custom" (a JSON file's own pat_str). */
const char *tl_tokenizer_pattern_name(const tl_tokenizer *t);
/* "cl100k_base", ... when the file's SHA-256 is a published one's; otherwise "custom". */
const char *tl_tokenizer_encoding_name(const tl_tokenizer *t);
/* A message for the user, or NULL: set when a file named like a standard encoding does not match
 * its published SHA-256. The library never prints; callers show it. */
const char *tl_tokenizer_warning(const tl_tokenizer *t);
/* The id of a special token such as "<|endoftext|>", or -1. */
int64_t tl_tokenizer_special_id(const tl_tokenizer *t, const char *text);
/* 1 if id is a special token (a control token such as <|im_start|>; never a piece of text). */
int tl_tokenizer_id_is_special(const tl_tokenizer *t, uint32_t id);

#endif
