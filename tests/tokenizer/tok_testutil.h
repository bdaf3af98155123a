/* Helpers shared by the tokenizer tests: the npm tiktoken reference driver and a boundary-heavy
 * random text generator. */
#ifndef TEELM_TOK_TESTUTIL_H
#define TEELM_TOK_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

/* Skips the test (exit 77) unless node and node_modules/tiktoken are present. */
void tt_require_node(void);
/* Batch of commands for tests/reference/tiktoken_encode.js; tt_run sends them all to one node
 * process and returns the answer lines (tt_answer(i) for command i). */
void tt_cmd_encode(const char *encoding, int allow_special, const uint8_t *text, size_t len);
void tt_cmd_file(const char *encoding, const char *path);
void tt_cmd_sanitize(const uint8_t *text, size_t len);
int tt_run(void);
const char *tt_answer(size_t i);
size_t tt_ncmds(void);
void tt_reset(void);

/* Parses "1 2 3" into ids; returns the count or -1 if the line is "ERR". *ids is malloc'd. */
long tt_parse_ids(const char *line, uint32_t **ids);
/* Base64 for messages and the reference protocol; malloc'd. */
char *tt_b64(const uint8_t *d, size_t n);
long tt_unb64(const char *s, uint8_t *out);

/* xorshift generator and random text. kind bits: 1 = may contain invalid UTF-8, 2 = may contain
 * special tokens of cl100k/o200k. Returns the length written to buf (cap bytes). */
uint64_t tt_rand(void);
void tt_seed(uint64_t s);
size_t tt_random_text(uint8_t *buf, size_t cap, int kind);
size_t tt_put_utf8(uint8_t *o, uint32_t c);

#endif
