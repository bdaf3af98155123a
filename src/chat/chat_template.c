/* Public side of the chat-template renderer: compile with limits, render into tagged segments,
 * the built-in templates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "chat/chat_template.h"
#include "chat/jinja_internal.h"

void tl_chat_limits_default(tl_chat_limits *l)
{
    l->max_source = 1u << 20;
    l->max_output = 8u << 20;
    l->max_iterations = 1000000;
    l->max_depth = 64;
    l->max_work = 256ull << 20;
}

tl_chat_template *tl_chat_template_compile(const char *src, size_t len, const char *name,
                                           const tl_chat_limits *lim, tl_err *err)
{
    tl_chat_limits d;
    tl_chat_limits_default(&d);
    if (lim) {
        if (lim->max_source) d.max_source = lim->max_source;
        if (lim->max_output) d.max_output = lim->max_output;
        if (lim->max_iterations) d.max_iterations = lim->max_iterations;
        if (lim->max_depth > 0) d.max_depth = lim->max_depth;
        if (lim->max_work) d.max_work = lim->max_work;
    }
    if (!name)
        name = "template";
    if (!src && len) {
        tl_errf(err, TL_EINVAL, "%s: no template source", name);
        return NULL;
    }
    if (len > d.max_source || len > UINT32_MAX - 1) {
        tl_errf(err, TL_EINVAL, "%s: template is %zu bytes, more than the limit of %zu", name, len, d.max_source);
        return NULL;
    }
    tl_chat_template *t = calloc(1, sizeof *t);
    if (!t) {
        tl_errf(err, TL_ENOMEM, "%s: out of memory", name);
        return NULL;
    }
    t->lim = d;
    snprintf(t->name, sizeof t->name, "%s", name);
    /* tokens, strings and nodes: bounded by a multiple of the source size */
    t->arena.max = 64 * (len + 1024) + (1u << 20);
    jtok *toks = NULL;
    size_t ntoks = 0;
    tl_err local = {0};
    if (!err)
        err = &local;
    err->code = 0;
    if (jinja_lex(src ? src : "", len, &t->arena, &toks, &ntoks, t->name, err) ||
        jinja_parse(toks, ntoks, &t->arena, d.max_depth, &t->body, &t->nbody, t->name, err)) {
        free(toks);
        tl_chat_template_free(t);
        return NULL;
    }
    free(toks);
    return t;
}

void tl_chat_template_free(tl_chat_template *t)
{
    if (!t)
        return;
    tl_arena_free(&t->arena);
    free(t);
}

int tl_chat_template_render(const tl_chat_template *t, const tl_chat_input *in, tl_chat_prompt *out,
                            tl_err *err)
{
    memset(out, 0, sizeof *out);
    if (!t || !in || (in->n_messages && !in->messages))
        return tl_errf(err, TL_EINVAL, "chat template: no template or no input");
    jbuf b = {0};
    int rc = jinja_render(t, in, &b, err);
    if (rc)
        return rc;
    /* segments: the gaps between content spans are template text */
    size_t nseg = 2 * b.nspans + 1;
    tl_chat_segment *segs = malloc(nseg * sizeof *segs);
    if (!segs) {
        jbuf_free(&b);
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", t->name);
    }
    size_t k = 0, pos = 0;
    for (size_t i = 0; i < b.nspans; i++) {
        if (b.spans[i].off > pos)
            segs[k++] = (tl_chat_segment){pos, b.spans[i].off - pos, TL_CHAT_SEG_TEMPLATE};
        if (k && segs[k - 1].kind == TL_CHAT_SEG_CONTENT && segs[k - 1].off + segs[k - 1].len == b.spans[i].off)
            segs[k - 1].len += b.spans[i].len;
        else
            segs[k++] = (tl_chat_segment){b.spans[i].off, b.spans[i].len, TL_CHAT_SEG_CONTENT};
        pos = b.spans[i].off + b.spans[i].len;
    }
    if (b.len > pos)
        segs[k++] = (tl_chat_segment){pos, b.len - pos, TL_CHAT_SEG_TEMPLATE};
    /* output dropped by break/continue may linger past the end: wipe it before handing out */
    if (b.s && b.cap > b.len + 1)
        OPENSSL_cleanse(b.s + b.len + 1, b.cap - b.len - 1);
    out->text = b.s ? b.s : calloc(1, 1);
    if (!out->text) {
        free(segs);
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", t->name);
    }
    out->len = b.len;
    out->segs = segs;
    out->n_segs = k;
    free(b.spans);
    return 0;
}

void tl_chat_prompt_free(tl_chat_prompt *p)
{
    if (!p)
        return;
    if (p->text)
        OPENSSL_cleanse(p->text, p->len);
    free(p->text);
    free(p->segs);
    memset(p, 0, sizeof *p);
}

/* "plain": for models without a template and without chat special tokens (the seed model):
 *   [bos]System: ...\n\nUser: ...\n\nAssistant: ...\n\n ... Assistant:
 * "chatml": the ChatML layout (<|im_start|>role\ncontent<|im_end|>\n), transformers' old default. */
static const struct { const char *name, *src; } builtins[] = {
    {"plain",
     "{{- bos_token }}"
     "{%- for message in messages %}"
     "{{- message['role'] | capitalize + ': ' + message['content'] + '\\n\\n' }}"
     "{%- endfor %}"
     "{%- if add_generation_prompt %}{{- 'Assistant:' }}{%- endif %}"},
    {"chatml",
     "{% for message in messages %}"
     "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
     "{% endfor %}"
     "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"},
};

const char *tl_chat_template_builtin(const char *name)
{
    for (size_t i = 0; name && i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return builtins[i].src;
    return NULL;
}

const char *const *tl_chat_template_builtin_names(void)
{
    static const char *const names[] = {"plain", "chatml", NULL};
    return names;
}
