/* The tokenizer embedded in a GGUF file (tokenizer.ggml.*) as the tokenizer.json that makes teelm's
 * Hugging Face tokenizer (tokenizer/hf_*.c) behave as llama.cpp's does (docs/gguf.md "Tokenizer"):
 *   gpt2:  byte-level BPE with the file's merges; the pre-tokenizer regex of tokenizer.ggml.pre
 *          (gpt-2, llama-bpe, qwen2), ignore_merges for llama-bpe as llama.cpp sets it
 *   llama: SentencePiece. llama.cpp merges adjacent symbols whose concatenation is a token, best score
 *          first; the same result comes from BPE merges (a, b) for every token a+b, ranked by the
 *          score of a+b (a and b tokens or single characters), with byte fallback, "▁" for spaces and
 *          a "▁" prefix (add_space_prefix).
 * CONTROL and UNKNOWN tokens become special added tokens (parsed only when special tokens are),
 * USER_DEFINED ones non-special added tokens (always parsed, as llama.cpp does); add_bos_token /
 * add_eos_token a TemplateProcessing post-processor. */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf_model.h"

enum { TT_NORMAL = TL_GGUF_TT_NORMAL, TT_UNKNOWN = TL_GGUF_TT_UNKNOWN, TT_CONTROL = TL_GGUF_TT_CONTROL,
       TT_USER = TL_GGUF_TT_USER, TT_UNUSED = TL_GGUF_TT_UNUSED, TT_BYTE = TL_GGUF_TT_BYTE };
#define GPT2_RE TL_GGUF_RE_GPT2
#define LLAMA3_RE TL_GGUF_RE_LLAMA3
#define QWEN2_RE TL_GGUF_RE_QWEN2

typedef struct {
    const tl_gguf *g;
    tl_err *err;
} tctx;

static const tl_gguf_kv *arr(tctx *c, const char *key, uint32_t et, uint64_t n, int required, int *rc)
{
    const tl_gguf_kv *kv = tl_gguf_find(c->g, key);
    *rc = 0;
    if (!kv) {
        if (required)
            *rc = tl_errf(c->err, TL_EINVAL, "%s: metadata %s is missing", c->g->label, key);
        return NULL;
    }
    int num_ok = et == TL_GGUF_F32 ? kv->arr_type == TL_GGUF_F32 || kv->arr_type == TL_GGUF_F64
                                   : kv->arr_type == TL_GGUF_I32 || kv->arr_type == TL_GGUF_U32 || kv->arr_type == TL_GGUF_U8 ||
                                         kv->arr_type == TL_GGUF_I8 || kv->arr_type == TL_GGUF_I16 || kv->arr_type == TL_GGUF_U16;
    if (kv->type != TL_GGUF_ARR || (et == TL_GGUF_STR ? kv->arr_type != TL_GGUF_STR : !num_ok) ||
        (n != UINT64_MAX && kv->arr_n != n)) {
        *rc = tl_errf(c->err, TL_EINVAL, "%s: metadata %s must be an array of %" PRIu64 " %s", c->g->label, key,
                      n == UINT64_MAX ? kv->arr_n : n, et == TL_GGUF_STR ? "strings" : "numbers");
        return NULL;
    }
    return kv;
}

static json_t *added(int id, const char *s, size_t n, int special)
{
    return json_pack("{s:i, s:s%, s:b, s:b, s:b, s:b, s:b}", "id", id, "content", s, n, "single_word", 0, "lstrip", 0,
                     "rstrip", 0, "normalized", 0, "special", special);
}

static json_t *template(json_t *vocab_tokens, int bos, int eos, int add_bos, int add_eos, tctx *c)
{
    if (!add_bos && !add_eos)
        return json_null();
    json_t *single = json_array(), *sp = json_object();
    int ids[2] = {add_bos ? bos : -1, add_eos ? eos : -1};
    for (int k = 0; k < 2; k++) {
        if (k == 1)
            json_array_append_new(single, json_pack("{s:{s:s, s:i}}", "Sequence", "id", "A", "type_id", 0));
        if (ids[k] < 0)
            continue;
        json_t *t = json_array_get(vocab_tokens, (size_t)ids[k]);
        const char *s = json_string_value(t);
        json_array_append_new(single, json_pack("{s:{s:s, s:i}}", "SpecialToken", "id", s, "type_id", 0));
        json_object_set_new(sp, s, json_pack("{s:s, s:[i], s:[s]}", "id", s, "ids", ids[k], "tokens", s));
    }
    (void)c;
    return json_pack("{s:s, s:o, s:[], s:o}", "type", "TemplateProcessing", "single", single, "pair", "special_tokens", sp);
}

static size_t utf8_len(unsigned char b) { return b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4; }

typedef struct {
    double score;
    int id;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* SentencePiece scores to ranked BPE merges (see the top of the file). */
static int spm_merges(tctx *c, json_t *toks, json_t *vocab, const tl_gguf_kv *scores, const tl_gguf_kv *types,
                      json_t *merges)
{
    const size_t n = json_array_size(toks);
    ranked *r = malloc((n ? n : 1) * sizeof *r);
    if (!r)
        return tl_errf(c->err, TL_ENOMEM, "out of memory");
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        double ty = types ? tl_gguf_arr_num(types, i) : TT_NORMAL; /* double: a hostile float must not overflow a cast */
        if (ty == TT_NORMAL || ty == TT_USER) {
            double sc = tl_gguf_arr_num(scores, i);
            /* NaN would make the comparator non-transitive, which qsort may not survive */
            r[m++] = (ranked){sc == sc ? sc : -HUGE_VAL, (int)i};
        }
    }
    qsort(r, m, sizeof *r, cmp_ranked);
    int rc = 0;
    for (size_t k = 0; k < m && !rc; k++) {
        json_t *t = json_array_get(toks, (size_t)r[k].id);
        const char *s = json_string_value(t);
        size_t len = json_string_length(t);
        for (size_t at = utf8_len((unsigned char)s[0]); at < len; at += utf8_len((unsigned char)s[at])) {
            int la = utf8_len((unsigned char)s[0]) == at, lb = at + utf8_len((unsigned char)s[at]) == len;
            if ((la || json_object_getn(vocab, s, at)) && (lb || json_object_getn(vocab, s + at, len - at)))
                if (json_array_append_new(merges, json_pack("[s%, s%]", s, at, s + at, len - at))) {
                    rc = tl_errf(c->err, TL_ENOMEM, "out of memory");
                    break;
                }
        }
    }
    free(r);
    return rc;
}

int tl_gguf_tokenizer_json(const tl_gguf *g, char **out, size_t *out_len, tl_err *err)
{
    *out = NULL;
    *out_len = 0;
    tctx c = {g, err};
    tl_gguf_str model;
    int r = tl_gguf_get_str(g, "tokenizer.ggml.model", &model, err);
    if (r < 0)
        return TL_EINVAL;
    if (r == 1)
        return 0;
    const int spm = model.n == 5 && !memcmp(model.p, "llama", 5), bpe = model.n == 4 && !memcmp(model.p, "gpt2", 4);
    if (!spm && !bpe)
        return tl_errf(err, TL_EUNSUPPORTED, "%s: tokenizer.ggml.model '%.*s' is not supported (gpt2 and llama are)",
                       g->label, (int)(model.n > 40 ? 40 : model.n), model.p);
    int rc;
    const tl_gguf_kv *tk = arr(&c, "tokenizer.ggml.tokens", TL_GGUF_STR, UINT64_MAX, 1, &rc);
    if (!tk)
        return rc;
    const uint64_t n = tk->arr_n;
    if (n == 0 || n > (1u << 24))
        return tl_errf(err, TL_EINVAL, "%s: tokenizer.ggml.tokens holds %" PRIu64 " tokens (1..2^24)", g->label, n);
    const tl_gguf_kv *types = arr(&c, "tokenizer.ggml.token_type", TL_GGUF_I32, n, 0, &rc);
    if (rc)
        return rc;
    const tl_gguf_kv *scores = arr(&c, "tokenizer.ggml.scores", TL_GGUF_F32, n, spm, &rc);
    if (rc)
        return rc;
    const tl_gguf_kv *mk = bpe ? arr(&c, "tokenizer.ggml.merges", TL_GGUF_STR, UINT64_MAX, 1, &rc) : NULL;
    if (rc)
        return rc;
    tl_gguf_str pre = {"default", 7};
    if (bpe && tl_gguf_get_str(g, "tokenizer.ggml.pre", &pre, err) < 0)
        return TL_EINVAL;
    const char *re = NULL;
    int llama3 = 0;
    if (bpe) {
        if (pre.n == 5 && !memcmp(pre.p, "gpt-2", 5))
            re = GPT2_RE;
        else if (pre.n == 9 && !memcmp(pre.p, "llama-bpe", 9))
            re = LLAMA3_RE, llama3 = 1;
        else if (pre.n == 5 && !memcmp(pre.p, "qwen2", 5))
            re = QWEN2_RE;
        else
            return tl_errf(err, TL_EUNSUPPORTED, "%s: tokenizer.ggml.pre '%.*s' is not supported (gpt-2, llama-bpe and "
                           "qwen2 are)", g->label, (int)(pre.n > 40 ? 40 : pre.n), pre.p);
    }
    int bos = -1, eos = -1, unk = -1;
    uint64_t v;
    if ((r = tl_gguf_get_u64(g, "tokenizer.ggml.bos_token_id", n - 1, &v, err)) < 0)
        return TL_EINVAL;
    bos = r ? -1 : (int)v;
    if ((r = tl_gguf_get_u64(g, "tokenizer.ggml.eos_token_id", n - 1, &v, err)) < 0)
        return TL_EINVAL;
    eos = r ? -1 : (int)v;
    if ((r = tl_gguf_get_u64(g, "tokenizer.ggml.unknown_token_id", n - 1, &v, err)) < 0)
        return TL_EINVAL;
    unk = r ? -1 : (int)v;
    /* llama.cpp's defaults: SentencePiece adds BOS, byte-level BPE only for llama-bpe */
    int add_bos = spm || llama3, add_eos = 0, space_prefix = spm;
    if (tl_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos, err) < 0 ||
        tl_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &add_eos, err) < 0 ||
        tl_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &space_prefix, err) < 0)
        return TL_EINVAL;
    if ((add_bos && bos < 0) || (add_eos && eos < 0))
        return tl_errf(err, TL_EINVAL, "%s: tokenizer.ggml.add_%s_token is set but the token id is missing", g->label,
                       add_bos && bos < 0 ? "bos" : "eos");

    rc = 0;
    json_t *toks = json_array(), *vocab = json_object(), *addl = json_array(), *merges = json_array();
    json_t *root = NULL;
    for (uint64_t i = 0; i < n && !rc; i++) {
        tl_gguf_str s = tl_gguf_arr_str(tk, i);
        json_t *js = json_stringn(s.p, (size_t)s.n);
        if (!js) {
            rc = tl_errf(err, TL_EINVAL, "%s: tokenizer.ggml.tokens[%" PRIu64 "] is not valid UTF-8", g->label, i);
            break;
        }
        json_array_append_new(toks, js);
        if (!json_object_getn(vocab, s.p, (size_t)s.n))
            json_object_setn_new(vocab, s.p, (size_t)s.n, json_integer((json_int_t)i));
        double ty = types ? tl_gguf_arr_num(types, i) : TT_NORMAL;
        if (ty == TT_CONTROL || ty == TT_UNKNOWN || ty == TT_USER || (int64_t)i == bos || (int64_t)i == eos)
            json_array_append_new(addl, added((int)i, s.p, (size_t)s.n, ty != TT_USER));
    }
    if (rc)
        goto out;
    json_t *pre_tok = json_null(), *norm = json_null(), *dec;
    json_t *m = json_pack("{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b}", "type", "BPE", "dropout", "continuing_subword_prefix",
                          "end_of_word_suffix", "unk_token", "fuse_unk", spm, "byte_fallback", spm, "ignore_merges", llama3);
    if (spm && unk >= 0)
        json_object_set(m, "unk_token", json_array_get(toks, (size_t)unk));
    if (bpe) {
        for (uint64_t i = 0; i < mk->arr_n && !rc; i++) {
            tl_gguf_str s = tl_gguf_arr_str(mk, i);
            json_t *js = json_stringn(s.p, (size_t)s.n);
            if (!js)
                rc = tl_errf(err, TL_EINVAL, "%s: tokenizer.ggml.merges[%" PRIu64 "] is not valid UTF-8", g->label, i);
            else
                json_array_append_new(merges, js);
        }
        pre_tok = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b, s:b}]}", "type", "Sequence",
                            "pretokenizers", "type", "Split", "pattern", "Regex", re, "behavior", "Isolated", "invert", 0,
                            "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 0);
        dec = json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
                        "use_regex", 1);
    } else {
        rc = spm_merges(&c, toks, vocab, scores, types, merges);
        json_t *nl = json_array();
        if (space_prefix)
            json_array_append_new(nl, json_pack("{s:s, s:s}", "type", "Prepend", "prepend", "\xe2\x96\x81"));
        json_array_append_new(nl, json_pack("{s:s, s:{s:s}, s:s}", "type", "Replace", "pattern", "String", " ", "content",
                                            "\xe2\x96\x81"));
        norm = json_pack("{s:s, s:o}", "type", "Sequence", "normalizers", nl);
        json_t *dl = json_array();
        json_array_append_new(dl, json_pack("{s:s, s:{s:s}, s:s}", "type", "Replace", "pattern", "String", "\xe2\x96\x81",
                                            "content", " "));
        json_array_append_new(dl, json_pack("{s:s}", "type", "ByteFallback"));
        json_array_append_new(dl, json_pack("{s:s}", "type", "Fuse"));
        if (space_prefix)
            json_array_append_new(dl, json_pack("{s:s, s:s, s:i, s:i}", "type", "Strip", "content", " ", "start", 1, "stop", 0));
        dec = json_pack("{s:s, s:o}", "type", "Sequence", "decoders", dl);
    }
    json_object_set(m, "vocab", vocab);
    json_object_set(m, "merges", merges);
    if (!rc)
        root = json_pack("{s:s, s:n, s:n, s:O, s:o, s:o, s:o, s:o, s:O}", "version", "1.0", "truncation", "padding",
                         "added_tokens", addl, "normalizer", norm, "pre_tokenizer", pre_tok, "post_processor",
                         template(toks, bos, eos, add_bos, add_eos, &c), "decoder", dec, "model", m);
    else {
        json_decref(pre_tok);
        json_decref(norm);
        json_decref(dec);
    }
    if (!rc && !root)
        rc = tl_errf(err, TL_ENOMEM, "%s: out of memory building the tokenizer", g->label);
    if (!rc) {
        *out = json_dumps(root, JSON_COMPACT);
        if (!*out)
            rc = tl_errf(err, TL_ENOMEM, "%s: out of memory building the tokenizer", g->label);
        else
            *out_len = strlen(*out);
    }
    json_decref(m);
out:
    json_decref(root);
    json_decref(toks);
    json_decref(vocab);
    json_decref(addl);
    json_decref(merges);
    return rc;
}

/* A token's text from tokenizer.ggml.tokens as a JSON string, or NULL (no such id, bad UTF-8). */
static json_t *token_text(const tl_gguf *g, const char *id_key)
{
    const tl_gguf_kv *tk = tl_gguf_find(g, "tokenizer.ggml.tokens");
    uint64_t id;
    tl_err ignore = {0};
    if (!tk || tk->type != TL_GGUF_ARR || tk->arr_type != TL_GGUF_STR ||
        tl_gguf_get_u64(g, id_key, UINT64_MAX, &id, &ignore) != 0 || id >= tk->arr_n)
        return NULL;
    tl_gguf_str s = tl_gguf_arr_str(tk, id);
    return json_stringn(s.p, (size_t)s.n);
}

int tl_gguf_tokenizer_config(const tl_gguf *g, char **out, size_t *out_len, tl_err *err)
{
    *out = NULL;
    *out_len = 0;
    tl_gguf_str t;
    int r = tl_gguf_get_str(g, "tokenizer.chat_template", &t, err);
    if (r < 0)
        return TL_EINVAL;
    if (r == 1)
        return 0;
    json_t *tmpl = json_stringn(t.p, (size_t)t.n);
    if (!tmpl)
        return tl_errf(err, TL_EINVAL, "%s: tokenizer.chat_template is not UTF-8 text", g->label);
    json_t *root = json_pack("{s:o}", "chat_template", tmpl);
    json_t *bos = token_text(g, "tokenizer.ggml.bos_token_id"), *eos = token_text(g, "tokenizer.ggml.eos_token_id");
    if (root && bos)
        json_object_set_new(root, "bos_token", bos);
    else
        json_decref(bos);
    if (root && eos)
        json_object_set_new(root, "eos_token", eos);
    else
        json_decref(eos);
    *out = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!*out)
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", g->label);
    *out_len = strlen(*out);
    return 0;
}
