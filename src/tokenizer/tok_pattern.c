/* The standard encodings' pre-tokenizer patterns and special tokens, and their translation to PCRE2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "tokenizer/tok_text.h"
#include "tokenizer/unicode_extra.h"

#define PAT_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define PAT_CL100K "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define O200K_C "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
#define PAT_O200K "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" O200K_C \
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" O200K_C \
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

#define EOT "<|endoftext|>"
#define FIM_P "<|fim_prefix|>"
#define FIM_M "<|fim_middle|>"
#define FIM_S "<|fim_suffix|>"

/* Digests: the .tiktoken ones are those tiktoken itself checks (openai_public.py); the JSON ones are
 * of the files npm tiktoken 1.0.22 ships. gpt2 and r50k_base share their ranks. */
const tok_spec tok_specs[] = {
    {"cl100k", "cl100k_base", PAT_CL100K,
     "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
     "49a4e05dea02c8fafbd50cc4725c4aab8f39386c0afedef118e0dfebc2fe523a",
     {{EOT, 100257}, {FIM_P, 100258}, {FIM_M, 100259}, {FIM_S, 100260}, {"<|endofprompt|>", 100276}}},
    {"o200k", "o200k_base", PAT_O200K,
     "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
     "df53e1a5f146e33a1b144d12ad9d685ee1b54dbc8b0950791ed45c933b119dc1",
     {{EOT, 199999}, {"<|endofprompt|>", 200018}}},
    {"p50k", "p50k_base", PAT_GPT2,
     "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
     "f1f1f3a216c670d53b56cd3077e16e2e60644482584521881e95996d9310034e",
     {{EOT, 50256}}},
    {"p50k_edit", "p50k_edit", PAT_GPT2,
     "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
     "82d4585313a5846f40c1718b7c11d837e8526267582810312720c8489d5485f1",
     {{EOT, 50256}, {FIM_P, 50281}, {FIM_M, 50282}, {FIM_S, 50283}}},
    {"r50k", "r50k_base", PAT_GPT2,
     "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
     "199cf7ee5013d4cd95015d672fdc9d9d8ebf942f69fc5ed424148add1f533493",
     {{EOT, 50256}}},
    {"gpt2", "gpt2", PAT_GPT2,
     "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
     "199cf7ee5013d4cd95015d672fdc9d9d8ebf942f69fc5ed424148add1f533493",
     {{EOT, 50256}}},
    {0},
};

const tok_spec *tok_spec_find(const char *name)
{
    for (const tok_spec *s = tok_specs; s->name; s++)
        if (strcmp(name, s->name) == 0 || strcmp(name, s->encoding) == 0)
            return s;
    return NULL;
}

const tok_spec *tok_spec_by_pat(const char *pat)
{
    for (const tok_spec *s = tok_specs; s->name; s++)
        if (strcmp(pat, s->pat) == 0)
            return s;
    return NULL;
}

/* Walks the pattern tracking whether we are inside a character class, so \p{X} can become
 * "\p{X}<ranges>" inside a class and "[\p{X}<ranges>]" outside one. Everything else is copied. */
char *tok_translate_pattern(const char *pat)
{
    tl_strbuf b = {0};
    int in_class = 0;
    size_t n = strlen(pat);
    tl_strbuf_put(&b, "", 0);
    for (size_t i = 0; i < n; i++) {
        char c = pat[i];
        if (c == '\\' && i + 1 < n) {
            char d = pat[i + 1];
            if (d == 's' || d == 'S') {
                tok_sb_puts(&b, d == 's' ? "\\p{White_Space}" : "\\P{White_Space}");
                i++;
                continue;
            }
            if (d == 'Q') {  /* \Q...\E: literal text, copied as is */
                const char *e = strstr(pat + i + 2, "\\E");
                size_t end = e ? (size_t)(e - pat) + 2 : n;
                tl_strbuf_put(&b, pat + i, end - i);
                i = end - 1;
                continue;
            }
            if ((d == 'p' || d == 'P') && i + 2 < n) {
                const char *name = pat + i + 2;
                size_t nl = 1, skip = 3;
                if (*name == '{') {
                    const char *close = strchr(name, '}');
                    if (close) {
                        name++;
                        nl = (size_t)(close - name);
                        skip = 2 + nl + 2;
                    }
                }
                const tl_ucat_extra *e = tok_ucat_find(tl_ucat_extras, name, nl);
                /* \P{X} inside a class cannot take a union; it stays as PCRE2 reads it */
                if (e && e->n && !(d == 'P' && in_class)) {
                    if (!in_class)
                        tok_sb_puts(&b, d == 'P' ? "[^" : "[");
                    tok_sb_puts(&b, "\\p{");
                    tl_strbuf_put(&b, name, nl);
                    tok_sb_puts(&b, "}");
                    tok_sb_ranges(&b, e);
                    if (!in_class)
                        tok_sb_puts(&b, "]");
                    i += skip - 1;
                    continue;
                }
            }
            tl_strbuf_put(&b, pat + i, 2);
            i++;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = 1;
            tl_strbuf_putc(&b, '[');
            if (i + 1 < n && pat[i + 1] == '^')
                tl_strbuf_put(&b, pat + ++i, 1);
            if (i + 1 < n && pat[i + 1] == ']')  /* a leading ] is literal */
                tl_strbuf_put(&b, pat + ++i, 1);
            continue;
        }
        if (in_class && c == '[' && i + 1 < n && pat[i + 1] == ':') {  /* [:alpha:] */
            const char *e = strstr(pat + i + 2, ":]");
            size_t end = e ? (size_t)(e - pat) + 2 : i + 1;
            tl_strbuf_put(&b, pat + i, end - i);
            i = end - 1;
            continue;
        }
        if (in_class && c == ']')
            in_class = 0;
        tl_strbuf_put(&b, &c, 1);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

int tok_compile_pattern(tl_tokenizer *t, const char *pat, const char *what, tl_err *err)
{
    char *tp = tok_translate_pattern(pat);
    if (!tp)
        return tl_errf(err, TL_ENOMEM, "%s: out of memory compiling the pre-tokenizer pattern", what);
    int ec;
    PCRE2_SIZE eo;
    t->re = pcre2_compile((PCRE2_SPTR)tp, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    free(tp);
    if (!t->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return tl_errf(err, TL_EINVAL, "%s: pre-tokenizer pattern does not compile: %s", what, (char *)msg);
    }
    /* Without JIT (e.g. no executable memory in an enclave) pcre2_match interprets: slower, same result. */
    t->jit = pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE) == 0;
    const tok_spec *s = tok_spec_by_pat(pat);
    t->fast = !s ? NULL : strcmp(s->name, "cl100k") == 0 ? tok_fast_cl100k : strcmp(s->name, "o200k") == 0 ? tok_fast_o200k : NULL;
    return 0;
}
