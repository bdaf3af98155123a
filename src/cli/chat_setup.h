/* Which chat template a command uses, and the bos/eos texts it renders with (serve, tokenize --chat). */
#ifndef TEELM_CLI_CHAT_SETUP_H
#define TEELM_CLI_CHAT_SETUP_H

#include <stddef.h>
#include <stdint.h>

#include "model/checkpoint.h"
#include "util/err.h"

typedef struct {
    char *src;          /* the template (malloc'd) */
    size_t len;
    char name[64];      /* "plain", "chatml", "model" or "file:NAME", for /v1/models */
    char *bos, *eos;    /* tokenizer_config.json's, or NULL */
    const char *stop;   /* a stop sequence the template implies */
} tl_cli_chat;

/* arg: --chat-template NAME (a built-in) or FILE, or NULL. Else the chat_template of the
 * tokenizer_config.json text cfg (cfg_name labels errors; NULL: none), else the plain built-in. */
int tl_cli_chat_setup(const char *arg, const uint8_t *cfg, size_t cfg_len, const char *cfg_name, tl_cli_chat *cs,
                      tl_err *err);
/* The same with the tokenizer_config.json that belongs to a model: the one beside --tokenizer
 * FILE when given, else the one the model carries (sealed, GGUF), else its directory's. */
int tl_cli_chat_setup_model(const char *arg, const tl_checkpoint *ck, const char *tokenizer, tl_cli_chat *cs,
                            tl_err *err);
void tl_cli_chat_free(tl_cli_chat *cs);

#endif
