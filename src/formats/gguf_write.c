/* GGUF v3 writer: see gguf_write.h. The header (metadata and tensor infos) is built in memory; the
 * tensors are converted one at a time and streamed after it, each at an offset aligned to 32. */
#include "formats/gguf_write.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "formats/gguf_model.h"
#include "model/params.h"
#include "tensor/dtype.h"
#include "tensor/quant.h"
#include "util/secmem.h"
#include "util/strbuf.h"

#define ALIGN 32

typedef struct {
    tl_strbuf s; /* util/strbuf.h: out of memory is sticky, checked once before writing */
    uint64_t nkv;
} obuf;

static void put(obuf *b, const void *d, size_t n) { tl_strbuf_put(&b->s, d, n); }

/* GGUF is little-endian; so are the machines teelm runs on (x86-64). */
static void u32(obuf *b, uint32_t v) { put(b, &v, 4); }
static void u64(obuf *b, uint64_t v) { put(b, &v, 8); }
static void str(obuf *b, const char *s, size_t n)
{
    u64(b, n);
    put(b, s, n);
}
static void key(obuf *b, const char *k, uint32_t type)
{
    str(b, k, strlen(k));
    u32(b, type);
    b->nkv++;
}
static void kv_str(obuf *b, const char *k, const char *v, size_t n)
{
    key(b, k, TL_GGUF_STR);
    str(b, v, n);
}
static void kv_u32(obuf *b, const char *k, uint32_t v)
{
    key(b, k, TL_GGUF_U32);
    u32(b, v);
}
static void kv_f32(obuf *b, const char *k, float v)
{
    key(b, k, TL_GGUF_F32);
    put(b, &v, 4);
}
static void kv_bool(obuf *b, const char *k, int v)
{
    key(b, k, TL_GGUF_BOOL);
    uint8_t x = v != 0;
    put(b, &x, 1);
}
static void kv_arr(obuf *b, const char *k, uint32_t et, uint64_t n)
{
    key(b, k, TL_GGUF_ARR);
    u32(b, et);
    u64(b, n);
}

static void arch_kv(obuf *b, const char *arch, const char *k, uint32_t v)
{
    char full[96];
    snprintf(full, sizeof full, "%s.%s", arch, k);
    kv_u32(b, full, v);
}

static void arch_f32(obuf *b, const char *arch, const char *k, float v)
{
    char full[96];
    snprintf(full, sizeof full, "%s.%s", arch, k);
    kv_f32(b, full, v);
}

static int model_meta(obuf *b, const tl_config *c, const char *name, tl_err *err)
{
    const char *arch = c->arch == TL_ARCH_LLAMA ? "llama" : c->arch == TL_ARCH_QWEN2 ? "qwen2" : "gpt2";
    if (c->arch != TL_ARCH_LLAMA && c->arch != TL_ARCH_QWEN2 && c->arch != TL_ARCH_GPT2)
        return tl_errf(err, TL_EUNSUPPORTED, "GGUF: only the llama, qwen2 and gpt2 families can be written");
    if (c->rope_type == TL_ROPE_LLAMA3)
        return tl_errf(err, TL_EUNSUPPORTED, "GGUF: Llama 3.1 rope scaling (rope_freqs) is not written yet");
    kv_str(b, "general.architecture", arch, strlen(arch));
    if (name)
        kv_str(b, "general.name", name, strlen(name));
    kv_u32(b, "general.alignment", ALIGN);
    arch_kv(b, arch, "context_length", (uint32_t)c->max_pos);
    arch_kv(b, arch, "embedding_length", (uint32_t)c->d_model);
    arch_kv(b, arch, "block_count", (uint32_t)c->n_layer);
    arch_kv(b, arch, "feed_forward_length", (uint32_t)c->d_ff);
    arch_kv(b, arch, "attention.head_count", (uint32_t)c->n_head);
    if (c->arch == TL_ARCH_GPT2) {
        arch_f32(b, arch, "attention.layer_norm_epsilon", c->ln_eps);
        return 0;
    }
    arch_kv(b, arch, "attention.head_count_kv", (uint32_t)c->n_kv_head);
    arch_kv(b, arch, "attention.key_length", (uint32_t)c->head_dim);
    arch_kv(b, arch, "attention.value_length", (uint32_t)c->head_dim);
    arch_kv(b, arch, "rope.dimension_count", (uint32_t)c->head_dim);
    arch_f32(b, arch, "attention.layer_norm_rms_epsilon", c->ln_eps);
    arch_f32(b, arch, "rope.freq_base", c->rope_theta);
    if (c->rope_type == TL_ROPE_LINEAR) {
        char k[96];
        snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
        kv_str(b, k, "linear", 6);
        arch_f32(b, arch, "rope.scaling.factor", c->rope_factor);
    }
    return 0;
}

/* ---- the tokenizer ---------------------------------------------------------------------------- */

/* tokenizer.ggml.pre for a byte-level pre-tokenizer, or NULL. */
static const char *pre_name(json_t *pre)
{
    const char *type = json_string_value(json_object_get(pre, "type"));
    if (type && !strcmp(type, "ByteLevel"))
        return json_is_false(json_object_get(pre, "use_regex")) ? NULL : "gpt-2";
    json_t *seq = json_object_get(pre, "pretokenizers");
    if (!type || strcmp(type, "Sequence") || json_array_size(seq) != 2)
        return NULL;
    json_t *sp = json_array_get(seq, 0), *bl = json_array_get(seq, 1);
    const char *re = json_string_value(json_object_get(json_object_get(sp, "pattern"), "Regex"));
    if (!re || strcmp(json_string_value(json_object_get(sp, "type")) ? json_string_value(json_object_get(sp, "type")) : "",
                      "Split") ||
        strcmp(json_string_value(json_object_get(bl, "type")) ? json_string_value(json_object_get(bl, "type")) : "",
               "ByteLevel") ||
        !json_is_false(json_object_get(bl, "use_regex")))
        return NULL;
    return !strcmp(re, TL_GGUF_RE_LLAMA3) ? "llama-bpe" : !strcmp(re, TL_GGUF_RE_QWEN2) ? "qwen2"
         : !strcmp(re, TL_GGUF_RE_GPT2) ? "gpt-2" : NULL;
}

/* A SentencePiece-style BPE (Llama 2, Mistral: byte fallback, "▁" for spaces): 1 with *prefix
 * whether a "▁" goes before the text (a Prepend normalizer, or Metaspace prepending), else 0. */
static int spm_style(json_t *root, int *prefix)
{
    json_t *m = json_object_get(root, "model"), *norm = json_object_get(root, "normalizer");
    json_t *pre = json_object_get(root, "pre_tokenizer");
    *prefix = 0;
    if (!json_is_true(json_object_get(m, "byte_fallback")))
        return 0;
    const char *nt = json_string_value(json_object_get(norm, "type"));
    if (nt && !strcmp(nt, "Sequence")) {
        size_t i;
        json_t *x;
        int rep = 0;
        json_array_foreach(json_object_get(norm, "normalizers"), i, x) {
            const char *t = json_string_value(json_object_get(x, "type"));
            if (t && !strcmp(t, "Prepend") && json_is_string(json_object_get(x, "prepend")) &&
                !strcmp(json_string_value(json_object_get(x, "prepend")), "\xe2\x96\x81"))
                *prefix = 1;
            else if (t && !strcmp(t, "Replace"))
                rep = 1;
            else
                return 0;
        }
        return rep && (!pre || json_is_null(pre));
    }
    const char *pt = json_string_value(json_object_get(pre, "type"));
    if (!norm || json_is_null(norm)) {
        if (pt && !strcmp(pt, "Metaspace")) {
            const char *sch = json_string_value(json_object_get(pre, "prepend_scheme"));
            *prefix = !sch || strcmp(sch, "never") != 0;
            return 1;
        }
    }
    return 0;
}

/* Whether the post-processor puts a special token first (a BOS), as Llama 3's does. */
static int adds_bos(json_t *pp)
{
    const char *type = json_string_value(json_object_get(pp, "type"));
    if (type && !strcmp(type, "Sequence")) {
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(pp, "processors"), i, x) if (adds_bos(x)) return 1;
        return 0;
    }
    return type && !strcmp(type, "TemplateProcessing") &&
           json_object_get(json_array_get(json_object_get(pp, "single"), 0), "SpecialToken") != NULL;
}

/* The merged token of merges[i] ("a b" or [a, b]): its id in vocab, or -1. */
static json_int_t merge_result(json_t *vocab, json_t *mg)
{
    char buf[1024];
    if (json_is_string(mg)) {
        const char *s = json_string_value(mg), *sp = strchr(s, ' ');
        if (!sp || strlen(s) >= sizeof buf)
            return -1;
        size_t a = (size_t)(sp - s);
        memcpy(buf, s, a);
        strcpy(buf + a, sp + 1);
    } else {
        const char *x = json_string_value(json_array_get(mg, 0)), *y = json_string_value(json_array_get(mg, 1));
        if (!x || !y || snprintf(buf, sizeof buf, "%s%s", x, y) >= (int)sizeof buf)
            return -1;
    }
    json_t *id = json_object_get(vocab, buf);
    return json_is_integer(id) ? json_integer_value(id) : -1;
}

/* tokenizer.ggml.model "llama": llama.cpp merges the adjacent pair whose concatenation is a token
 * with the highest score first, so a token made by merge rank r scores -(r + 1) (earlier merges
 * first, as BPE applies them) and a token no merge makes scores below every merge. */
static int spm_meta(obuf *b, const tl_config *c, const char **toks, const size_t *len, const uint32_t *type,
                    json_t *merges, json_t *vocab, int prefix, tl_err *err)
{
    float *score = malloc((size_t)c->vocab_size * sizeof *score);
    if (!score)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    for (int t = 0; t < c->vocab_size; t++)
        score[t] = -1e9f;
    size_t i;
    json_t *mg;
    json_array_foreach(merges, i, mg) {
        json_int_t id = merge_result(vocab, mg);
        if (id >= 0 && id < c->vocab_size && score[id] == -1e9f)
            score[id] = -(float)(i + 1);
    }
    kv_str(b, "tokenizer.ggml.model", "llama", 5);
    kv_arr(b, "tokenizer.ggml.tokens", TL_GGUF_STR, (uint64_t)c->vocab_size);
    for (int t = 0; t < c->vocab_size; t++) {
        char pad[32];
        if (toks[t])
            str(b, toks[t], len[t]);
        else {
            snprintf(pad, sizeof pad, "[PAD%d]", t);
            str(b, pad, strlen(pad));
        }
    }
    kv_arr(b, "tokenizer.ggml.scores", TL_GGUF_F32, (uint64_t)c->vocab_size);
    put(b, score, (size_t)c->vocab_size * sizeof *score);
    kv_arr(b, "tokenizer.ggml.token_type", TL_GGUF_I32, (uint64_t)c->vocab_size);
    for (int t = 0; t < c->vocab_size; t++)
        u32(b, toks[t] ? type[t] : TL_GGUF_TT_UNUSED);
    kv_bool(b, "tokenizer.ggml.add_space_prefix", prefix);
    free(score);
    return 0;
}

static int tok_meta(obuf *b, const tl_config *c, const tl_gguf_write_opts *o, tl_err *err)
{
    json_error_t je;
    json_t *root = json_loadb((const char *)o->tokenizer_json, o->tokenizer_len, 0, &je);
    json_t *m = json_object_get(root, "model"), *vocab = json_object_get(m, "vocab");
    json_t *merges = json_object_get(m, "merges"), *added = json_object_get(root, "added_tokens");
    int rc = 0;
    const char *pre = pre_name(json_object_get(root, "pre_tokenizer"));
    int prefix = 0;
    const int spm = !pre && root && spm_style(root, &prefix);
    const char **toks = calloc((size_t)c->vocab_size, sizeof *toks);
    uint32_t *type = calloc((size_t)c->vocab_size, sizeof *type);
    size_t *len = calloc((size_t)c->vocab_size, sizeof *len);
    if (!root || !json_is_object(vocab) || !json_is_array(merges))
        rc = tl_errf(err, TL_EINVAL, "tokenizer.json: not a BPE tokenizer (model.vocab, model.merges)%s%s",
                     root ? "" : ": ", root ? "" : je.text);
    else if (!pre && !spm)
        rc = tl_errf(err, TL_EUNSUPPORTED, "tokenizer.json: neither a byte-level BPE with GPT-2's, Llama 3's or Qwen2's "
                     "pre-tokenizer (the ones tokenizer.ggml.pre names) nor a SentencePiece-style BPE (byte fallback, "
                     "a Prepend/Replace normalizer or a Metaspace pre-tokenizer)");
    else if (!toks || !type || !len)
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
    const char *k;
    json_t *v;
    json_object_foreach(vocab, k, v) {
        json_int_t id = json_integer_value(v);
        if (rc)
            break;
        if (!json_is_integer(v) || id < 0 || id >= c->vocab_size)
            rc = tl_errf(err, TL_EINVAL, "tokenizer.json: token '%.40s' has id %lld, outside the model's %d", k,
                         (long long)id, c->vocab_size);
        else {
            toks[id] = k;
            len[id] = strlen(k);
            type[id] = spm && strlen(k) == 6 && !strncmp(k, "<0x", 3) && k[5] == '>' ? TL_GGUF_TT_BYTE
                                                                                   : TL_GGUF_TT_NORMAL;
        }
    }
    size_t i;
    json_array_foreach(added, i, v) {
        json_int_t id = json_integer_value(json_object_get(v, "id"));
        json_t *ct = json_object_get(v, "content");
        if (rc)
            break;
        if (!json_is_string(ct) || id < 0 || id >= c->vocab_size)
            rc = tl_errf(err, TL_EINVAL, "tokenizer.json: added_tokens[%zu] has no content or an id outside the model's %d",
                         i, c->vocab_size);
        else {
            toks[id] = json_string_value(ct);
            len[id] = json_string_length(ct);
            type[id] = json_is_true(json_object_get(v, "special")) ? TL_GGUF_TT_CONTROL : TL_GGUF_TT_USER;
        }
    }
    const char *unk = json_string_value(json_object_get(m, "unk_token"));
    json_t *unk_id = unk ? json_object_get(vocab, unk) : NULL;
    if (!rc && spm && json_is_integer(unk_id))
        type[json_integer_value(unk_id)] = TL_GGUF_TT_UNKNOWN;
    if (!rc && spm)
        rc = spm_meta(b, c, toks, len, type, merges, vocab, prefix, err);
    if (!rc && spm && json_is_integer(unk_id))
        kv_u32(b, "tokenizer.ggml.unknown_token_id", (uint32_t)json_integer_value(unk_id));
    if (!rc && !spm) {
        kv_str(b, "tokenizer.ggml.model", "gpt2", 4);
        kv_str(b, "tokenizer.ggml.pre", pre, strlen(pre));
        kv_arr(b, "tokenizer.ggml.tokens", TL_GGUF_STR, (uint64_t)c->vocab_size);
        for (int t = 0; t < c->vocab_size; t++) {
            char pad[32];
            if (toks[t])
                str(b, toks[t], len[t]);
            else { /* an id no token has: llama.cpp needs a string for every row */
                snprintf(pad, sizeof pad, "[PAD%d]", t);
                str(b, pad, strlen(pad));
            }
        }
        kv_arr(b, "tokenizer.ggml.token_type", TL_GGUF_I32, (uint64_t)c->vocab_size);
        for (int t = 0; t < c->vocab_size; t++)
            u32(b, toks[t] ? type[t] : TL_GGUF_TT_UNUSED);
        kv_arr(b, "tokenizer.ggml.merges", TL_GGUF_STR, json_array_size(merges));
        json_array_foreach(merges, i, v) {
            if (json_is_string(v))
                str(b, json_string_value(v), json_string_length(v));
            else if (json_array_size(v) == 2 && json_is_string(json_array_get(v, 0)) &&
                     json_is_string(json_array_get(v, 1))) {
                char *s = NULL;
                int n = asprintf(&s, "%s %s", json_string_value(json_array_get(v, 0)),
                                 json_string_value(json_array_get(v, 1)));
                if (n < 0)
                    b->s.oom = 1;
                else
                    str(b, s, (size_t)n);
                free(s);
            } else {
                rc = tl_errf(err, TL_EINVAL, "tokenizer.json: model.merges[%zu] is not \"a b\" or [a, b]", i);
                break;
            }
        }
    }
    if (!rc) {
        if (c->bos_id >= 0)
            kv_u32(b, "tokenizer.ggml.bos_token_id", (uint32_t)c->bos_id);
        static const char *const eos_keys[] = {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                                               "tokenizer.ggml.eom_token_id"};
        for (int e = 0; e < c->n_eos && e < 3; e++)
            kv_u32(b, eos_keys[e], (uint32_t)c->eos_ids[e]);
        int bos = adds_bos(json_object_get(root, "post_processor"));
        if (bos && c->bos_id < 0)
            rc = tl_errf(err, TL_EINVAL, "tokenizer.json adds a BOS token but the config has no bos_token_id");
        kv_bool(b, "tokenizer.ggml.add_bos_token", bos);
        kv_bool(b, "tokenizer.ggml.add_eos_token", 0);
    }
    if (!rc && o->tokenizer_config) {
        json_t *tc = json_loadb((const char *)o->tokenizer_config, o->config_len, 0, &je);
        json_t *t = json_object_get(tc, "chat_template");
        if (json_is_string(t))
            kv_str(b, "tokenizer.chat_template", json_string_value(t), json_string_length(t));
        json_decref(tc);
    }
    free(toks);
    free(type);
    free(len);
    json_decref(root);
    return rc;
}

/* ---- tensors ------------------------------------------------------------------------------------ */

typedef struct {
    char name[TL_GGUF_NAME_MAX + 1];
    int x, heads;
    tl_dtype dt;              /* as written */
    uint64_t ne[2], bytes, off;
    int ndim;
} tinfo;

static uint32_t ggml_type(tl_dtype dt)
{
    switch (dt) {
    case TL_DT_F16: return TL_GGML_F16;
    case TL_DT_BF16: return TL_GGML_BF16;
    case TL_DT_Q8_0: return TL_GGML_Q8_0;
    case TL_DT_Q4_0: return TL_GGML_Q4_0;
    case TL_DT_Q4_K: return TL_GGML_Q4_K;
    case TL_DT_Q6_K: return TL_GGML_Q6_K;
    default: return TL_GGML_F32;
    }
}

static int plan(const tl_checkpoint *ck, const tl_param *p, int i, int wtype, tinfo *t, tl_err *err)
{
    if (tl_gguf_tensor_name(&ck->cfg, p->name, t->name, sizeof t->name, &t->x, &t->heads))
        return tl_errf(err, TL_EINVAL, "GGUF: tensor %s has no llama.cpp name", p->name);
    const tl_dtype src = ck->w[i].dtype;
    t->ndim = p->ndim;
    t->dt = p->ndim == 1 ? TL_DT_F32 : wtype >= 0 ? (tl_dtype)wtype : src;
    if (p->ndim == 1)
        t->ne[0] = p->numel, t->ne[1] = 1;
    else if (t->x == TL_GGUF_X_TRANS) /* stored [out, in]: rows of in elements */
        t->ne[0] = (uint64_t)p->shape[0], t->ne[1] = (uint64_t)p->shape[1];
    else
        t->ne[0] = (uint64_t)p->shape[1], t->ne[1] = (uint64_t)p->shape[0];
    /* a Conv1D matrix already in a block type is stored [out, in], as GGUF wants it */
    if (t->x == TL_GGUF_X_TRANS && tl_dtype_is_block(src))
        t->x = TL_GGUF_X_NONE;
    if (tl_dtype_is_block(t->dt) && t->ne[0] % tl_dtype_block(t->dt))
        return tl_errf(err, TL_EINVAL, "GGUF: %s rows of %llu elements are not whole %zu-element %s blocks", p->name,
                       (unsigned long long)t->ne[0], tl_dtype_block(t->dt), tl_dtype_name(t->dt));
    size_t by = tl_dtype_bytes(t->dt, p->numel);
    if (by == SIZE_MAX)
        return tl_errf(err, TL_EINVAL, "GGUF: %s: size overflows", p->name);
    t->bytes = by;
    return 0;
}

/* HF row h*hd + j*half + i goes to llama.cpp row h*hd + 2i + j (convert_hf_to_gguf.py's permute). */
static void permute(uint8_t *dst, const uint8_t *src, uint64_t rows, size_t row_bytes, int heads)
{
    const uint64_t hd = rows / (uint64_t)heads, half = hd / 2;
    for (uint64_t h = 0; h < (uint64_t)heads; h++)
        for (uint64_t j = 0; j < 2; j++)
            for (uint64_t i = 0; i < half; i++)
                memcpy(dst + (h * hd + 2 * i + j) * row_bytes, src + (h * hd + j * half + i) * row_bytes, row_bytes);
}

/* The bytes of tensor i as written (t->bytes into out). */
static int convert(const tl_checkpoint *ck, const tl_param *p, int i, const tinfo *t, uint8_t *out, tl_err *err)
{
    const tl_dtype src = ck->w[i].dtype;
    const uint8_t *data = ck->w[i].data;
    const size_t n = p->numel;
    float *f = NULL;
    uint8_t *tmp = NULL;
    if (src != t->dt || t->x == TL_GGUF_X_TRANS) { /* through float32 */
        if (!(f = malloc(n * sizeof *f)) || (t->x == TL_GGUF_X_TRANS && !(tmp = malloc(n * sizeof *f)))) {
            tl_sec_free(f);
            return tl_errf(err, TL_ENOMEM, "GGUF: out of memory converting %s", p->name);
        }
        tl_dtype_to_f32(src, data, f, n);
        if (t->x == TL_GGUF_X_TRANS) { /* [in, out] -> [out, in] */
            const uint64_t in = (uint64_t)p->shape[0], o = (uint64_t)p->shape[1];
            float *g = (float *)tmp;
            for (uint64_t r = 0; r < in; r++)
                for (uint64_t c = 0; c < o; c++)
                    g[c * in + r] = f[r * o + c];
            memcpy(f, g, n * sizeof *f);
        }
        data = (const uint8_t *)f;
    }
    uint8_t *conv = NULL;
    if (f && t->dt != TL_DT_F32) {
        if (!(conv = malloc(t->bytes))) {
            tl_sec_free(f);
            tl_sec_free(tmp);
            return tl_errf(err, TL_ENOMEM, "GGUF: out of memory converting %s", p->name);
        }
        if (t->dt == TL_DT_F16 || t->dt == TL_DT_BF16) {
            tl_dtype_from_f32(t->dt, f, conv, n);
        } else if (tl_q_quantize_weights(t->dt, f, conv, n)) {
            tl_sec_free(f);
            tl_sec_free(tmp);
            tl_sec_free(conv);
            return tl_errf(err, TL_EUNSUPPORTED, "GGUF: cannot quantize %s to %s", p->name, tl_dtype_name(t->dt));
        }
        data = conv;
    }
    if (t->x == TL_GGUF_X_PERM)
        permute(out, data, t->ne[1], t->bytes / t->ne[1], t->heads);
    else
        memcpy(out, data, t->bytes);
    tl_sec_free(f);
    tl_sec_free(tmp);
    tl_sec_free(conv);
    return 0;
}

static int write_all(FILE *fp, const void *d, size_t n) { return fwrite(d, 1, n, fp) == n ? 0 : -1; }

int tl_gguf_write(const tl_checkpoint *ck, const tl_gguf_write_opts *o, const char *path, tl_err *err)
{
    const tl_config *c = &ck->cfg;
    if (!tl_config_is_hf(c) || !ck->w)
        return tl_errf(err, TL_EUNSUPPORTED, "GGUF: only Hugging Face family models (llama, qwen2, gpt2) can be "
                       "written; the seed model has no llama.cpp architecture");
    if (o->wtype >= 0 && o->wtype != TL_DT_F32 && o->wtype != TL_DT_F16 && o->wtype != TL_DT_Q8_0 &&
        o->wtype != TL_DT_Q4_0)
        return tl_errf(err, TL_EINVAL, "GGUF: weights can be written as F32, F16, Q8_0 or Q4_0");
    const int n = tl_params_count(c);
    tl_param *list = calloc((size_t)n, sizeof *list);
    tinfo *ti = calloc((size_t)n, sizeof *ti);
    obuf b = {0};
    int rc = 0;
    if (!list || !ti) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    tl_params_list(c, list);
    uint64_t off = 0;
    for (int i = 0; i < n && !rc; i++)
        if (!(rc = plan(ck, &list[i], i, o->wtype, &ti[i], err))) {
            ti[i].off = off;
            off += (ti[i].bytes + ALIGN - 1) / ALIGN * ALIGN;
        }
    if (rc)
        goto out;
    obuf kv = {0};
    if ((rc = model_meta(&kv, c, o->name, err)) || (o->tokenizer_json && (rc = tok_meta(&kv, c, o, err)))) {
        tl_strbuf_free(&kv.s);
        goto out;
    }
    put(&b, "GGUF", 4);
    u32(&b, 3);
    u64(&b, (uint64_t)n);
    u64(&b, kv.nkv);
    put(&b, kv.s.p, kv.s.n);
    b.s.oom |= kv.s.oom;
    tl_strbuf_free(&kv.s);
    for (int i = 0; i < n; i++) {
        str(&b, ti[i].name, strlen(ti[i].name));
        u32(&b, (uint32_t)ti[i].ndim);
        for (int d = 0; d < ti[i].ndim; d++)
            u64(&b, ti[i].ne[d]);
        u32(&b, ggml_type(ti[i].dt));
        u64(&b, ti[i].off);
    }
    static const uint8_t zeros[ALIGN] = {0};
    put(&b, zeros, (ALIGN - b.s.n % ALIGN) % ALIGN);
    if (b.s.oom) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        rc = tl_errf(err, TL_EIO, "%s: cannot create", tmp);
        goto out;
    }
    uint8_t *buf = NULL;
    rc = write_all(fp, b.s.p, b.s.n) ? tl_errf(err, TL_EIO, "%s: write failed", tmp) : 0;
    for (int i = 0; i < n && !rc; i++) {
        uint8_t *nb = realloc(buf, ti[i].bytes ? ti[i].bytes : 1);
        if (!nb) {
            rc = tl_errf(err, TL_ENOMEM, "out of memory");
            break;
        }
        buf = nb;
        if ((rc = convert(ck, &list[i], i, &ti[i], buf, err)))
            break;
        if (write_all(fp, buf, ti[i].bytes) || write_all(fp, zeros, (ALIGN - ti[i].bytes % ALIGN) % ALIGN))
            rc = tl_errf(err, TL_EIO, "%s: write failed", tmp);
    }
    tl_sec_free(buf); /* plaintext weights */
    if (fclose(fp) && !rc)
        rc = tl_errf(err, TL_EIO, "%s: write failed", tmp);
    if (!rc && rename(tmp, path))
        rc = tl_errf(err, TL_EIO, "%s: cannot rename to %s", tmp, path);
    if (rc)
        unlink(tmp);
out:
    tl_strbuf_free(&b.s);
    free(list);
    free(ti);
    return rc;
}
