/* GGUF model files to tl_checkpoint (see gguf_model.h, docs/gguf.md). */
#include "formats/gguf_model.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/hf_config.h"
#include "model/params.h"

/* ---- configuration ---- */

typedef struct {
    const tl_gguf *g;
    const char *arch;
    tl_err *err;
} cctx;

/* {arch}.NAME as an integer in [1, max]; dflt < 0: required. */
static int get_dim(cctx *c, const char *name, int64_t dflt, uint64_t max, int *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", c->arch, name);
    uint64_t v;
    int r = tl_gguf_get_u64(c->g, key, max, &v, c->err);
    if (r < 0)
        return TL_EINVAL;
    if (r == 1) {
        if (dflt < 0)
            return tl_errf(c->err, TL_EINVAL, "%s: metadata %s is missing", c->g->label, key);
        v = (uint64_t)dflt;
    }
    if (v < 1)
        return tl_errf(c->err, TL_EINVAL, "%s: metadata %s is 0", c->g->label, key);
    *out = (int)v;
    return 0;
}

static int get_real(cctx *c, const char *name, double dflt, float *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", c->arch, name);
    double v = dflt;
    int r = tl_gguf_get_f64(c->g, key, &v, c->err);
    if (r < 0)
        return TL_EINVAL;
    if (r == 1 && isnan(dflt))
        return tl_errf(c->err, TL_EINVAL, "%s: metadata %s is missing", c->g->label, key);
    if (!isfinite(v) || v <= 0 || v > 1e30)
        return tl_errf(c->err, TL_EINVAL, "%s: metadata %s is %g (a positive finite number is needed)", c->g->label, key, v);
    *out = (float)v;
    return 0;
}

static int token_id(cctx *c, const char *key, int vocab, int *out)
{
    uint64_t v;
    int r = tl_gguf_get_u64(c->g, key, UINT32_MAX, &v, c->err);
    if (r < 0)
        return TL_EINVAL;
    if (r == 1)
        return 1;
    if (v >= (uint64_t)vocab)
        return -tl_errf(c->err, TL_EINVAL, "%s: %s %" PRIu64 " is outside the vocabulary of %d", c->g->label, key, v, vocab);
    *out = (int)v;
    return 0;
}

/* GPT-2: output.weight absent, or byte for byte token_embd.weight (same type and dims). */
static int gpt2_head_is_copy(const tl_gguf *g)
{
    const tl_gguf_tensor *t = tl_gguf_tensor_find(g, "output.weight"), *e = tl_gguf_tensor_find(g, "token_embd.weight");
    if (!t)
        return 1;
    return e && e->type == t->type && e->nbytes == t->nbytes && t->ndim == e->ndim && t->dims[0] == e->dims[0] &&
           (t->ndim < 2 || t->dims[1] == e->dims[1]) && !memcmp(e->data, t->data, (size_t)e->nbytes);
}

int tl_gguf_config(const tl_gguf *g, tl_config *cfg, tl_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    tl_gguf_str a;
    int r = tl_gguf_get_str(g, "general.architecture", &a, err);
    if (r < 0)
        return TL_EINVAL;
    if (r == 1)
        return tl_errf(err, TL_EINVAL, "%s: metadata general.architecture is missing", g->label);
    char arch[32];
    if (a.n >= sizeof arch || memchr(a.p, 0, a.n))
        return tl_errf(err, TL_EUNSUPPORTED, "%s: architecture '%.40s' is not supported (llama, qwen2, gpt2 are)",
                       g->label, a.n > 40 ? "(long name)" : a.p);
    memcpy(arch, a.p, a.n);
    arch[a.n] = 0;
    if (!strcmp(arch, "llama"))
        cfg->arch = TL_ARCH_LLAMA;
    else if (!strcmp(arch, "qwen2"))
        cfg->arch = TL_ARCH_QWEN2;
    else if (!strcmp(arch, "gpt2"))
        cfg->arch = TL_ARCH_GPT2;
    else
        return tl_errf(err, TL_EUNSUPPORTED, "%s: architecture '%s' is not supported (llama, qwen2, gpt2 are)", g->label,
                       arch);
    cctx c = {g, arch, err};
    const tl_gguf_tensor *emb = tl_gguf_tensor_find(g, "token_embd.weight");
    if (!emb || emb->ndim != 2)
        return tl_errf(err, TL_EINVAL, "%s: tensor token_embd.weight is missing or not 2-D", g->label);
    if (emb->dims[1] > TL_HF_MAX_DIM)
        return tl_errf(err, TL_EINVAL, "%s: token_embd.weight has %" PRIu64 " rows (at most %d)", g->label, emb->dims[1],
                       TL_HF_MAX_DIM);
    cfg->vocab_size = (int)emb->dims[1];
    const tl_gguf_kv *toks = tl_gguf_find(g, "tokenizer.ggml.tokens");
    if (toks && (toks->type != TL_GGUF_ARR || toks->arr_n != (uint64_t)cfg->vocab_size))
        return tl_errf(err, TL_EINVAL, "%s: tokenizer.ggml.tokens holds %" PRIu64 " tokens, token_embd.weight %d rows",
                       g->label, toks->type == TL_GGUF_ARR ? toks->arr_n : 0, cfg->vocab_size);
    int rc;
    if ((rc = get_dim(&c, "embedding_length", -1, TL_HF_MAX_DIM, &cfg->d_model)) ||
        (rc = get_dim(&c, "block_count", -1, TL_HF_MAX_LAYERS, &cfg->n_layer)) ||
        (rc = get_dim(&c, "feed_forward_length", -1, TL_HF_MAX_DIM, &cfg->d_ff)) ||
        (rc = get_dim(&c, "attention.head_count", -1, TL_HF_MAX_DIM, &cfg->n_head)) ||
        (rc = get_dim(&c, "context_length", -1, TL_HF_MAX_DIM, &cfg->max_pos)))
        return rc;
    cfg->context_length = cfg->max_pos;
    cfg->tie_embeddings = !tl_gguf_tensor_find(g, "output.weight");
    cfg->attn_inv_sqrt = 1;
    cfg->prenorm = 1;
    cfg->round_half_acts = 1; /* F16/BF16 products as llama.cpp's (model/config.h) */
    cfg->ggml_numerics = 1;   /* and its norms, rotary embeddings, SiLU and attention */
    if (cfg->arch == TL_ARCH_GPT2) {
        if ((rc = get_real(&c, "attention.layer_norm_epsilon", NAN, &cfg->ln_eps)))
            return rc;
        cfg->n_kv_head = cfg->n_head;
        if (cfg->d_model % cfg->n_head)
            return tl_errf(err, TL_EINVAL, "%s: gpt2.embedding_length %d is not a multiple of the %d heads", g->label,
                           cfg->d_model, cfg->n_head);
        cfg->head_dim = cfg->d_model / cfg->n_head;
        /* llama.cpp's converter stores GPT-2's tied head as a copy of token_embd; a quantizer may
         * give it another type (Q4_K_M: Q6_K), which makes it a head of its own */
        cfg->tie_embeddings = gpt2_head_is_copy(g);
        cfg->learned_pos = 1;
        cfg->gelu = 2; /* llama.cpp's table GELU (tensor/gelu_tanh.h): its tokens are the reference */
    } else {
        if ((rc = get_dim(&c, "attention.head_count_kv", cfg->n_head, TL_HF_MAX_DIM, &cfg->n_kv_head)) ||
            (rc = get_real(&c, "attention.layer_norm_rms_epsilon", NAN, &cfg->ln_eps)) ||
            (rc = get_real(&c, "rope.freq_base", 10000.0, &cfg->rope_theta)))
            return rc;
        int kl, vl, rd;
        const int hd0 = cfg->d_model % cfg->n_head ? 0 : cfg->d_model / cfg->n_head;
        if ((rc = get_dim(&c, "attention.key_length", hd0 ? hd0 : -1, TL_HF_MAX_DIM, &kl)) ||
            (rc = get_dim(&c, "attention.value_length", kl, TL_HF_MAX_DIM, &vl)) ||
            (rc = get_dim(&c, "rope.dimension_count", kl, TL_HF_MAX_DIM, &rd)))
            return rc;
        if (kl != vl || rd != kl || kl % 2)
            return tl_errf(err, TL_EUNSUPPORTED, "%s: %s.attention.key_length %d, value_length %d, rope.dimension_count "
                           "%d: teelm needs them equal and even (partial rotary is not supported)", g->label, arch, kl,
                           vl, rd);
        if (cfg->n_head % cfg->n_kv_head)
            return tl_errf(err, TL_EINVAL, "%s: %s.attention.head_count %d is not a multiple of head_count_kv %d",
                           g->label, arch, cfg->n_head, cfg->n_kv_head);
        if ((int64_t)cfg->n_head * kl > TL_HF_MAX_DIM)
            return tl_errf(err, TL_EINVAL, "%s: head_count x key_length exceeds %d", g->label, TL_HF_MAX_DIM);
        cfg->head_dim = kl;
        cfg->qkv_bias = cfg->arch == TL_ARCH_QWEN2 || tl_gguf_tensor_find(g, "blk.0.attn_q.bias");
        cfg->o_bias = cfg->arch == TL_ARCH_LLAMA && tl_gguf_tensor_find(g, "blk.0.attn_output.bias");
        /* rope scaling: linear is Hugging Face's "linear"; others are refused by name */
        char key[128];
        snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
        tl_gguf_str st = {"none", 4};
        if (tl_gguf_get_str(g, key, &st, err) < 0)
            return TL_EINVAL;
        double f = 1.0;
        char fk[128];
        snprintf(fk, sizeof fk, "%s.rope.scaling.factor", arch);
        if (tl_gguf_get_f64(g, fk, &f, err) < 0)
            return TL_EINVAL;
        snprintf(fk, sizeof fk, "%s.rope.scale_linear", arch); /* older files */
        if (tl_gguf_find(g, fk)) {
            if (tl_gguf_get_f64(g, fk, &f, err) < 0)
                return TL_EINVAL;
            st = (tl_gguf_str){"linear", 6};
        }
        if (st.n == 6 && !memcmp(st.p, "linear", 6) && f != 1.0) {
            if (!isfinite(f) || f < 1.0 || f > 1e6)
                return tl_errf(err, TL_EINVAL, "%s: rope scaling factor %g is outside 1..1e6", g->label, f);
            cfg->rope_type = TL_ROPE_LINEAR;
            cfg->rope_factor = (float)f;
        } else if (!(st.n == 4 && !memcmp(st.p, "none", 4)) && !(st.n == 6 && !memcmp(st.p, "linear", 6)))
            return tl_errf(err, TL_EUNSUPPORTED, "%s: %s '%.*s' is not supported (none and linear are)", g->label, key,
                           (int)(st.n > 40 ? 40 : st.n), st.p);
        if (tl_gguf_tensor_find(g, "rope_freqs.weight"))
            return tl_errf(err, TL_EUNSUPPORTED, "%s: tensor rope_freqs.weight (per-frequency rope factors, e.g. "
                           "Llama 3.1's rope scaling) is not supported yet", g->label);
    }
    cfg->bos_id = -1;
    if ((r = token_id(&c, "tokenizer.ggml.bos_token_id", cfg->vocab_size, &cfg->bos_id)) < 0)
        return TL_EINVAL;
    static const char *const eos_keys[] = {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                                           "tokenizer.ggml.eom_token_id"};
    for (int i = 0; i < 3; i++) {
        int id;
        if ((r = token_id(&c, eos_keys[i], cfg->vocab_size, &id)) < 0)
            return TL_EINVAL;
        int dup = 0;
        for (int k = 0; k < cfg->n_eos; k++)
            dup |= cfg->eos_ids[k] == id;
        if (r == 0 && !dup)
            cfg->eos_ids[cfg->n_eos++] = id;
    }
    return tl_config_validate(cfg, err) ? tl_err_prefix(err, "%s", g->label) : 0;
}

/* ---- tensors ---- */

enum { X_NONE = TL_GGUF_X_NONE, X_PERM = TL_GGUF_X_PERM, X_TRANS = TL_GGUF_X_TRANS };

typedef struct {
    const tl_gguf_tensor *t;
    int x;      /* X_* */
    int heads;  /* X_PERM: heads of this projection */
} src_t;

/* llama.cpp's name (and the rearrangement) for entry p of tl_params_list. */
static int gguf_name(const tl_config *c, const char *hf, char *out, size_t n, int *x, int *heads)
{
    int b = 0, k = 0;
    char rest[96];
    *x = X_NONE;
    *heads = 0;
    if (c->arch == TL_ARCH_GPT2) {
        static const char *const top[][2] = {{"wte.weight", "token_embd.weight"}, {"wpe.weight", "position_embd.weight"},
                                             {"ln_f.weight", "output_norm.weight"}, {"ln_f.bias", "output_norm.bias"},
                                             {"lm_head.weight", "output.weight"}};
        for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
            if (!strcmp(hf, top[i][0]))
                return snprintf(out, n, "%s", top[i][1]) >= (int)n;
        if (sscanf(hf, "h.%d.%n", &b, &k) != 1 || !k)
            return -1;
        snprintf(rest, sizeof rest, "%s", hf + k);
        static const char *const blk[][3] = {
            {"ln_1.weight", "attn_norm.weight", ""}, {"ln_1.bias", "attn_norm.bias", ""},
            {"attn.c_attn.weight", "attn_qkv.weight", "T"}, {"attn.c_attn.bias", "attn_qkv.bias", ""},
            {"attn.c_proj.weight", "attn_output.weight", "T"}, {"attn.c_proj.bias", "attn_output.bias", ""},
            {"ln_2.weight", "ffn_norm.weight", ""}, {"ln_2.bias", "ffn_norm.bias", ""},
            {"mlp.c_fc.weight", "ffn_up.weight", "T"}, {"mlp.c_fc.bias", "ffn_up.bias", ""},
            {"mlp.c_proj.weight", "ffn_down.weight", "T"}, {"mlp.c_proj.bias", "ffn_down.bias", ""}};
        for (size_t i = 0; i < sizeof blk / sizeof blk[0]; i++)
            if (!strcmp(rest, blk[i][0])) {
                *x = blk[i][2][0] ? X_TRANS : X_NONE;
                return snprintf(out, n, "blk.%d.%s", b, blk[i][1]) >= (int)n;
            }
        return -1;
    }
    static const char *const top[][2] = {{"model.embed_tokens.weight", "token_embd.weight"},
                                         {"model.norm.weight", "output_norm.weight"}, {"lm_head.weight", "output.weight"}};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (!strcmp(hf, top[i][0]))
            return snprintf(out, n, "%s", top[i][1]) >= (int)n;
    if (sscanf(hf, "model.layers.%d.%n", &b, &k) != 1 || !k)
        return -1;
    snprintf(rest, sizeof rest, "%s", hf + k);
    /* "q"/"k": the rows llama.cpp's converter permuted for its interleaved rotary (llama only) */
    static const char *const blk[][3] = {
        {"input_layernorm.weight", "attn_norm.weight", ""}, {"self_attn.q_proj.weight", "attn_q.weight", "q"},
        {"self_attn.q_proj.bias", "attn_q.bias", "q"}, {"self_attn.k_proj.weight", "attn_k.weight", "k"},
        {"self_attn.k_proj.bias", "attn_k.bias", "k"}, {"self_attn.v_proj.weight", "attn_v.weight", ""},
        {"self_attn.v_proj.bias", "attn_v.bias", ""}, {"self_attn.o_proj.weight", "attn_output.weight", ""},
        {"self_attn.o_proj.bias", "attn_output.bias", ""}, {"post_attention_layernorm.weight", "ffn_norm.weight", ""},
        {"mlp.gate_proj.weight", "ffn_gate.weight", ""}, {"mlp.up_proj.weight", "ffn_up.weight", ""},
        {"mlp.down_proj.weight", "ffn_down.weight", ""}};
    for (size_t i = 0; i < sizeof blk / sizeof blk[0]; i++)
        if (!strcmp(rest, blk[i][0])) {
            if (c->arch == TL_ARCH_LLAMA && blk[i][2][0]) {
                *x = X_PERM;
                *heads = blk[i][2][0] == 'q' ? c->n_head : c->n_kv_head;
            }
            return snprintf(out, n, "blk.%d.%s", b, blk[i][1]) >= (int)n;
        }
    return -1;
}

int tl_gguf_tensor_name(const tl_config *c, const char *hf, char *out, size_t n, int *x, int *heads)
{
    return gguf_name(c, hf, out, n, x, heads);
}

static int dtype_of(uint32_t t)
{
    switch (t) {
    case TL_GGML_F32: return TL_DT_F32;
    case TL_GGML_F16: return TL_DT_F16;
    case TL_GGML_BF16: return TL_DT_BF16;
    case TL_GGML_Q8_0: return TL_DT_Q8_0; /* block types: tensor/quant.h, docs/quantization.md */
    case TL_GGML_Q4_0: return TL_DT_Q4_0;
    case TL_GGML_Q4_K: return TL_DT_Q4_K;
    case TL_GGML_Q6_K: return TL_DT_Q6_K;
    default: return -1;
    }
}

/* The alignment the kernels need: the element size; block types are read bytewise (1). */
static size_t elem_align(tl_dtype dt) { return tl_dtype_is_block(dt) ? 1 : tl_dtype_size(dt); }

/* Hugging Face row h*hd + j*hd/2 + i is llama.cpp's row h*hd + 2i + j (convert_hf_to_gguf.py's
 * permute: each head's first-half and second-half rows interleaved as pairs). */
static void unpermute(uint8_t *dst, const uint8_t *src, uint64_t rows, size_t row_bytes, int heads)
{
    const uint64_t hd = rows / (uint64_t)heads, half = hd / 2;
    for (uint64_t h = 0; h < (uint64_t)heads; h++)
        for (uint64_t j = 0; j < 2; j++)
            for (uint64_t i = 0; i < half; i++)
                memcpy(dst + (h * hd + j * half + i) * row_bytes, src + (h * hd + 2 * i + j) * row_bytes, row_bytes);
}

/* src: R rows of C elements (torch [out, in]); dst: C rows of R (Conv1D [in, out]). */
static void transpose(uint8_t *dst, const uint8_t *src, uint64_t R, uint64_t C, size_t es)
{
    for (uint64_t r = 0; r < R; r++)
        for (uint64_t c = 0; c < C; c++)
            memcpy(dst + (c * R + r) * es, src + (r * C + c) * es, es);
}

static int check_extra(const tl_gguf *g, const tl_config *cfg, const unsigned char *used, tl_err *err)
{
    for (uint64_t i = 0; i < g->nt; i++) {
        const tl_gguf_tensor *t = &g->t[i];
        if (used[i])
            continue;
        if (cfg->arch == TL_ARCH_GPT2 && cfg->tie_embeddings && t->name.n == 13 && !memcmp(t->name.p, "output.weight", 13))
            continue; /* a copy of token_embd (gpt2_head_is_copy) */
        return tl_errf(err, TL_EINVAL, "%s: tensor %.*s is not one of a %s model's (unexpected tensor)", g->label,
                       (int)t->name.n, t->name.p, cfg->arch == TL_ARCH_GPT2 ? "gpt2" : cfg->arch == TL_ARCH_QWEN2 ? "qwen2" : "llama");
    }
    return 0;
}

int tl_gguf_load(const char *path, tl_checkpoint *ck, tl_err *err)
{
    memset(ck, 0, sizeof *ck);
    tl_gguf g;
    int rc = tl_gguf_open(path, &g, err);
    if (rc)
        return rc;
    tl_config cfg;
    tl_param *p = NULL;
    src_t *s = NULL;
    unsigned char *used = NULL;
    if ((rc = tl_gguf_config(&g, &cfg, err)))
        goto out;
    const int np = tl_params_count(&cfg);
    p = calloc((size_t)np, sizeof *p);
    s = calloc((size_t)np, sizeof *s);
    used = calloc(g.nt ? g.nt : 1, 1);
    if (!p || !s || !used) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    tl_params_list(&cfg, p);
    size_t extra = 0;
    for (int i = 0; i < np && !rc; i++) {
        char nm[TL_GGUF_NAME_MAX + 1];
        int x, heads;
        if (gguf_name(&cfg, p[i].name, nm, sizeof nm, &x, &heads)) {
            rc = tl_errf(err, TL_EINVAL, "%s: no GGUF name for %s", path, p[i].name); /* a table out of step */
            break;
        }
        const tl_gguf_tensor *t = tl_gguf_tensor_find(&g, nm);
        if (!t) {
            rc = tl_errf(err, TL_EINVAL, "%s: tensor %s is missing", path, nm);
            break;
        }
        used[t - g.t] = 1;
        const int dt = dtype_of(t->type);
        if (dt < 0) {
            rc = tl_errf(err, TL_EUNSUPPORTED, "%s: tensor %s has type %s, which teelm does not run yet (F32, F16, "
                         "BF16, Q8_0, Q4_0, Q4_K and Q6_K are run)", path, nm, tl_ggml_type_name(t->type));
            break;
        }
        if (tl_dtype_is_block((tl_dtype)dt) && p[i].ndim != 2) {
            rc = tl_errf(err, TL_EUNSUPPORTED, "%s: tensor %s has type %s, which teelm runs only for matrices", path, nm,
                         tl_ggml_type_name(t->type));
            break;
        }
        /* GGUF dims are PyTorch's shape reversed; Conv1D [in, out] entries are stored as [out, in] */
        uint64_t want[2] = {(uint64_t)p[i].shape[0], (uint64_t)p[i].shape[1]};
        int ok = p[i].ndim == 1 ? t->ndim == 1 && t->dims[0] == want[0]
                 : x == X_TRANS ? t->ndim == 2 && t->dims[0] == want[0] && t->dims[1] == want[1]
                                : t->ndim == 2 && t->dims[0] == want[1] && t->dims[1] == want[0];
        if (!ok) {
            char got[96];
            int o = snprintf(got, sizeof got, "[%" PRIu64, t->dims[0]);
            for (uint32_t d = 1; d < t->ndim; d++)
                o += snprintf(got + o, sizeof got - (size_t)o, ", %" PRIu64, t->dims[d]);
            snprintf(got + o, sizeof got - (size_t)o, "]");
            if (p[i].ndim == 1)
                rc = tl_errf(err, TL_EINVAL, "%s: tensor %s has dims %s, expected [%" PRIu64 "]", path, nm, got, want[0]);
            else
                rc = tl_errf(err, TL_EINVAL, "%s: tensor %s has dims %s, expected [%" PRIu64 ", %" PRIu64 "]", path, nm,
                             got, x == X_TRANS ? want[0] : want[1], x == X_TRANS ? want[1] : want[0]);
            break;
        }
        /* a block-type Conv1D matrix stays as GGUF stores it, [out][in] (model/weights.h) */
        if (x == X_TRANS && tl_dtype_is_block((tl_dtype)dt))
            x = X_NONE;
        s[i] = (src_t){t, x, heads};
        if (x != X_NONE || (uintptr_t)t->data % elem_align((tl_dtype)dt))
            extra += ((size_t)t->nbytes + 63) / 64 * 64;
    }
    if (!rc)
        rc = check_extra(&g, &cfg, used, err);
    if (rc)
        goto out;
    ck->cfg = cfg;
    ck->w = calloc((size_t)np, sizeof *ck->w);
    ck->maps = calloc(1, sizeof *ck->maps);
    if (!ck->w || !ck->maps || (extra && !(ck->wbuf = aligned_alloc(64, extra)))) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory (%zu bytes of rearranged weights)", extra);
        goto out;
    }
    ck->wbuf_len = extra;
    ck->nw = np;
    ck->maps[0] = (struct tl_ck_map){(void *)g.base, g.len};
    ck->nmaps = 1;
    tl_gguf_release_map(&g);
    size_t at = 0;
    for (int i = 0; i < np; i++) {
        const tl_gguf_tensor *t = s[i].t;
        const tl_dtype dt = (tl_dtype)dtype_of(t->type);
        const size_t es = elem_align(dt);
        const void *src = t->data;
        if (s[i].x != X_NONE || (uintptr_t)t->data % es) {
            uint8_t *dst = (uint8_t *)ck->wbuf + at;
            at += ((size_t)t->nbytes + 63) / 64 * 64;
            if (s[i].x == X_PERM)
                unpermute(dst, t->data, t->ndim == 2 ? t->dims[1] : t->dims[0],
                          tl_dtype_bytes(dt, t->ndim == 2 ? t->dims[0] : 1), s[i].heads);
            else if (s[i].x == X_TRANS)
                transpose(dst, t->data, t->dims[1], t->dims[0], es);
            else
                memcpy(dst, t->data, (size_t)t->nbytes);
            src = dst;
        }
        ck->w[i] = (tl_wref){src, dt};
    }
    char *tj = NULL;
    size_t tl = 0;
    if ((rc = tl_gguf_tokenizer_json(&g, &tj, &tl, err)))
        goto out;
    ck->tokenizer_data = (uint8_t *)tj;
    ck->tokenizer_len = tl;
    if (!tj)
        snprintf(ck->note, sizeof ck->note, "%s holds no tokenizer (tokenizer.ggml.model absent)", path);
    char *tc = NULL;
    size_t tcl = 0;
    if ((rc = tl_gguf_tokenizer_config(&g, &tc, &tcl, err)))
        goto out;
    if (tc) {
        if (!(ck->files = calloc(1, sizeof *ck->files))) {
            free(tc);
            rc = tl_errf(err, TL_ENOMEM, "%s: out of memory", path);
            goto out;
        }
        snprintf(ck->files[0].name, sizeof ck->files[0].name, "tokenizer_config.json");
        ck->files[0].data = (uint8_t *)tc;
        ck->files[0].len = tcl;
        ck->nfiles = 1;
    }
out:
    free(p);
    free(s);
    free(used);
    tl_gguf_close(&g);
    if (rc)
        tl_checkpoint_free(ck);
    return rc;
}
