/* Chat templates: a strict, bounded Jinja subset that renders a model's chat template
 * (tokenizer.chat_template in GGUF, chat_template in tokenizer_config.json) the way
 * @huggingface/jinja (transformers.js apply_chat_template) does. No I/O, every limit enforced,
 * every error names the template line:column. Layer: above tokenizer/ and util/, below server/.
 *
 * The rendered prompt comes as segments: TEMPLATE bytes (template literals, bos/eos tokens, roles)
 * and CONTENT bytes (anything derived from a message's content). The caller tokenizes TEMPLATE
 * segments with special tokens matched and CONTENT segments as plain text, so a user who types
 * "<|im_start|>" gets text, never a control token. See docs/chat-templates.md. */
#ifndef TEELM_CHAT_CHAT_TEMPLATE_H
#define TEELM_CHAT_CHAT_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct tl_chat_template tl_chat_template;

typedef struct {
    size_t max_source;      /* template bytes (default 1 MiB) */
    size_t max_output;      /* bytes of the prompt and of any string built while rendering (8 MiB) */
    uint64_t max_iterations;/* for-loop iterations over the whole render (1,000,000) */
    int max_depth;          /* nesting of blocks/expressions and of values (64) */
    uint64_t max_work;      /* nodes evaluated + bytes built, bounds time (256 Mi units) */
} tl_chat_limits;

void tl_chat_limits_default(tl_chat_limits *l);

typedef struct {
    const char *role;       /* NUL-terminated; must be 1..32 of [A-Za-z0-9_-] */
    const char *content;    /* content_len bytes (UTF-8) */
    size_t content_len;
} tl_chat_msg;

typedef struct {
    const tl_chat_msg *messages;
    size_t n_messages;
    const char *bos_token;  /* NULL = "" */
    const char *eos_token;
    int add_generation_prompt;
    int64_t now;            /* Unix seconds (UTC) that strftime_now() formats: the caller's clock */
} tl_chat_input;

enum { TL_CHAT_SEG_TEMPLATE = 0, TL_CHAT_SEG_CONTENT = 1 };

typedef struct {
    size_t off, len;
    int kind;               /* TL_CHAT_SEG_* */
} tl_chat_segment;

typedef struct {
    char *text;             /* len bytes + NUL */
    size_t len;
    tl_chat_segment *segs;  /* cover text in order, no empty segment, kinds alternate */
    size_t n_segs;
} tl_chat_prompt;

/* Parses a template. name labels errors ("llama3.jinja:3:14: ..."). lim NULL = defaults. */
tl_chat_template *tl_chat_template_compile(const char *src, size_t len, const char *name,
                                           const tl_chat_limits *lim, tl_err *err);
/* Renders one conversation. A template's raise_exception() is TL_EPOLICY ("template refused the
 * conversation: MESSAGE"); other errors TL_EINVAL / TL_ENOMEM. On error out is left empty. */
int tl_chat_template_render(const tl_chat_template *t, const tl_chat_input *in, tl_chat_prompt *out,
                            tl_err *err);
void tl_chat_template_free(tl_chat_template *t);
/* Wipes (prompts are secrets) and frees. */
void tl_chat_prompt_free(tl_chat_prompt *p);

/* Built-in templates by name ("plain", "chatml"), or NULL. */
const char *tl_chat_template_builtin(const char *name);
/* Names of the built-ins, NULL-terminated. */
const char *const *tl_chat_template_builtin_names(void);

#endif
