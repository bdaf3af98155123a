/* config.json / generation_config.json -> tl_config (see hf_config.h). The checks run in the order
 * of tests/reference/hf_models.py parse_config, so a file with several faults is refused for the
 * same one by both. */
#include "formats/hf_config.h"

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/dtype.h"
#include "util/io.h"

typedef struct {
    const char *cls, *model_type;
    tl_arch arch;
    int max_pos; /* transformers' class default of max_position_embeddings / n_positions */
} arch_info;

static const arch_info ARCHS[] = { /* sorted by class name, as the message lists them */
    {"GPT2LMHeadModel", "gpt2", TL_ARCH_GPT2, 1024},
    {"LlamaForCausalLM", "llama", TL_ARCH_LLAMA, 2048},
    {"MistralForCausalLM", "mistral", TL_ARCH_MISTRAL, 4096 * 32},
    {"Qwen2ForCausalLM", "qwen2", TL_ARCH_QWEN2, 32768},
};
#define NARCH ((int)(sizeof ARCHS / sizeof ARCHS[0]))

const char *tl_hf_supported(void) { return "GPT2LMHeadModel, LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM"; }

/* A JSON value as a short text for messages ("absent" when the key is missing). */
static const char *show(const json_t *v, char *buf, size_t n)
{
    if (!v)
        return "absent";
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(buf, n, "%.60s%s", s ? s : "?", s && strlen(s) > 60 ? "..." : "");
    free(s);
    return buf;
}

typedef struct {
    json_t *root;
    tl_err *err;
    char buf[80];
} ctx;

/* An integer field in [lo, hi]; def >= 0 is the class default when the key is absent. */
static int get_int(ctx *c, const char *key, long long def, long long lo, long long hi, int *out)
{
    json_t *v = json_object_get(c->root, key);
    if (!v && def >= 0) {
        *out = (int)def;
        return 0;
    }
    if (!v)
        return tl_errf(c->err, TL_EINVAL, "config.json: %s is missing", key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return tl_errf(c->err, TL_EINVAL, "config.json: %s %s is not an integer in [%lld, %lld]", key,
                       show(v, c->buf, sizeof c->buf), lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

/* A positive finite number that survives the conversion to float. */
static int num_ok(const json_t *v, float *out)
{
    if (!json_is_number(v))
        return 0;
    double d = json_number_value(v);
    float f = (float)d;
    if (!(d > 0) || !isfinite(f) || !(f > 0))
        return 0;
    *out = f;
    return 1;
}

static int get_num(ctx *c, const char *key, double def, float *out)
{
    json_t *v = json_object_get(c->root, key);
    if (!v) {
        *out = (float)def;
        return 0;
    }
    if (!num_ok(v, out))
        return tl_errf(c->err, TL_EINVAL, "config.json: %s %s is not a positive number", key,
                       show(v, c->buf, sizeof c->buf));
    return 0;
}

/* An integer dimension of tl_config as config.json names it. Reading keeps the order of the
 * reference's checks, writing the order of the files written so far: two tables each. */
typedef struct {
    const char *key;
    size_t off;
    int class_pos; /* absent means the class default of the context (arch_info.max_pos) */
} dim_field;

static int *dim_at(tl_config *cfg, const dim_field *f) { return (int *)((char *)cfg + f->off); }

static int get_dims(ctx *c, const arch_info *a, const dim_field *f, int n, tl_config *cfg)
{
    int rc = 0;
    for (int i = 0; i < n && !rc; i++)
        rc = get_int(c, f[i].key, f[i].class_pos ? a->max_pos : -1, 1, TL_HF_MAX_DIM, dim_at(cfg, &f[i]));
    return rc;
}

static const dim_field GPT2_DIMS[] = {
    {"n_embd", offsetof(tl_config, d_model), 0},     {"n_head", offsetof(tl_config, n_head), 0},
    {"n_layer", offsetof(tl_config, n_layer), 0},    {"n_positions", offsetof(tl_config, max_pos), 1},
    {"vocab_size", offsetof(tl_config, vocab_size), 0},
};
/* Llama-family reads: the heads, then (after num_key_value_heads) the rest */
static const dim_field LLAMA_HEADS[] = {
    {"hidden_size", offsetof(tl_config, d_model), 0}, {"num_attention_heads", offsetof(tl_config, n_head), 0},
};
static const dim_field LLAMA_DIMS[] = {
    {"num_hidden_layers", offsetof(tl_config, n_layer), 0}, {"intermediate_size", offsetof(tl_config, d_ff), 0},
    {"vocab_size", offsetof(tl_config, vocab_size), 0},   {"max_position_embeddings", offsetof(tl_config, max_pos), 1},
};
/* what tl_hf_config_to_json writes, in its order */
static const dim_field GPT2_OUT[] = {
    {"n_embd", offsetof(tl_config, d_model), 0},      {"n_head", offsetof(tl_config, n_head), 0},
    {"n_layer", offsetof(tl_config, n_layer), 0},     {"n_positions", offsetof(tl_config, max_pos), 0},
    {"n_ctx", offsetof(tl_config, max_pos), 0},       {"n_inner", offsetof(tl_config, d_ff), 0},
    {"vocab_size", offsetof(tl_config, vocab_size), 0},
};
static const dim_field LLAMA_OUT[] = {
    {"hidden_size", offsetof(tl_config, d_model), 0},         {"intermediate_size", offsetof(tl_config, d_ff), 0},
    {"num_hidden_layers", offsetof(tl_config, n_layer), 0},   {"num_attention_heads", offsetof(tl_config, n_head), 0},
    {"num_key_value_heads", offsetof(tl_config, n_kv_head), 0}, {"head_dim", offsetof(tl_config, head_dim), 0},
    {"vocab_size", offsetof(tl_config, vocab_size), 0},       {"max_position_embeddings", offsetof(tl_config, max_pos), 0},
};
#define NDIMS(t) ((int)(sizeof(t) / sizeof(t)[0]))

/* GPT-2 attention variants: the one value of each that is supported (read and written). */
static const struct {
    const char *key;
    int want;
} GPT2_FLAGS[] = {{"scale_attn_weights", 1}, {"scale_attn_by_inverse_layer_idx", 0}, {"reorder_and_upcast_attn", 0}};

/* Python truthiness of a JSON value (absent and null are false). */
static int truthy(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return 0;
    if (json_is_integer(v))
        return json_integer_value(v) != 0;
    if (json_is_real(v))
        return json_real_value(v) != 0;
    if (json_is_string(v))
        return json_string_length(v) != 0;
    if (json_is_array(v))
        return json_array_size(v) != 0;
    if (json_is_object(v))
        return json_object_size(v) != 0;
    return 1;
}

static int parse_rope(ctx *c, tl_config *cfg)
{
    json_t *rs = json_object_get(c->root, "rope_scaling");
    cfg->rope_type = TL_ROPE_DEFAULT;
    if (!rs || json_is_null(rs))
        return 0;
    if (!json_is_object(rs))
        return tl_errf(c->err, TL_EINVAL, "config.json: rope_scaling %s is not an object", show(rs, c->buf, sizeof c->buf));
    /* transformers >= 4.45 writes "rope_type"; older files (and Llama 2 linear scaling) "type" */
    json_t *t = json_object_get(rs, "rope_type");
    if (!t)
        t = json_object_get(rs, "type");
    const char *ts = json_is_string(t) ? json_string_value(t) : NULL;
    if (ts && !strcmp(ts, "default"))
        return 0;
    if (!ts || (strcmp(ts, "linear") && strcmp(ts, "llama3"))) {
        if (ts)
            return tl_errf(c->err, TL_EINVAL, "config.json: rope_scaling type '%.40s' is not supported (only linear, llama3)", ts);
        return tl_errf(c->err, TL_EINVAL, "config.json: rope_scaling type %s is not supported (only linear, llama3)",
                       show(t, c->buf, sizeof c->buf));
    }
    static const char *keys[] = {"factor", "low_freq_factor", "high_freq_factor"};
    float vals[3];
    int nk = !strcmp(ts, "llama3") ? 3 : 1;
    for (int i = 0; i < nk; i++)
        if (!num_ok(json_object_get(rs, keys[i]), &vals[i]))
            return tl_errf(c->err, TL_EINVAL, "config.json: rope_scaling.%s %s is not a positive number", keys[i],
                           show(json_object_get(rs, keys[i]), c->buf, sizeof c->buf));
    cfg->rope_factor = vals[0];
    if (nk == 1) {
        cfg->rope_type = TL_ROPE_LINEAR;
        return 0;
    }
    json_t *o = json_object_get(rs, "original_max_position_embeddings");
    if (!json_is_integer(o) || json_integer_value(o) < 1 || json_integer_value(o) > TL_HF_MAX_DIM)
        return tl_errf(c->err, TL_EINVAL, "config.json: rope_scaling.original_max_position_embeddings %s is not an "
                       "integer in [1, %d]", show(o, c->buf, sizeof c->buf), TL_HF_MAX_DIM);
    if (!(vals[2] > vals[1]))
        return tl_errf(c->err, TL_EINVAL, "config.json: rope_scaling.high_freq_factor must exceed low_freq_factor");
    cfg->rope_type = TL_ROPE_LLAMA3;
    cfg->rope_low_freq = vals[1];
    cfg->rope_high_freq = vals[2];
    cfg->rope_orig_ctx = (int)json_integer_value(o);
    return 0;
}

static int parse_gpt2(ctx *c, const arch_info *a, tl_config *cfg)
{
    int rc, inner = 0;
    if ((rc = get_dims(c, a, GPT2_DIMS, NDIMS(GPT2_DIMS), cfg)))
        return rc;
    json_t *ni = json_object_get(c->root, "n_inner");
    if (!ni || json_is_null(ni))
        inner = 4 * cfg->d_model; /* at most 2^26: a dimension of its own, inside the parameter bound */
    else if ((rc = get_int(c, "n_inner", -1, 1, TL_HF_MAX_DIM, &inner)))
        return rc;
    cfg->d_ff = inner;
    if ((rc = get_num(c, "layer_norm_epsilon", 1e-5, &cfg->ln_eps)))
        return rc;
    if (cfg->d_model % cfg->n_head)
        return tl_errf(c->err, TL_EINVAL, "config.json: n_embd %d is not a multiple of n_head %d", cfg->d_model,
                       cfg->n_head);
    cfg->n_kv_head = cfg->n_head;
    cfg->head_dim = cfg->d_model / cfg->n_head;
    json_t *act = json_object_get(c->root, "activation_function");
    const char *as = !act ? "gelu_new" : json_is_string(act) ? json_string_value(act) : NULL;
    if (!as || (strcmp(as, "gelu_new") && strcmp(as, "gelu_pytorch_tanh")))
        return tl_errf(c->err, TL_EINVAL, "config.json: activation_function %s (only gelu_new / gelu_pytorch_tanh)",
                       show(act, c->buf, sizeof c->buf));
    for (int i = 0; i < NDIMS(GPT2_FLAGS); i++) {
        json_t *v = json_object_get(c->root, GPT2_FLAGS[i].key);
        if (v && !(GPT2_FLAGS[i].want ? json_is_true(v) : json_is_false(v)))
            return tl_errf(c->err, TL_EINVAL, "config.json: %s %s is not supported (only %s)", GPT2_FLAGS[i].key,
                           show(v, c->buf, sizeof c->buf), GPT2_FLAGS[i].want ? "true" : "false");
    }
    if (truthy(json_object_get(c->root, "add_cross_attention")))
        return tl_errf(c->err, TL_EINVAL, "config.json: add_cross_attention true is not supported");
    json_t *tie = json_object_get(c->root, "tie_word_embeddings");
    if (tie && !json_is_boolean(tie))
        return tl_errf(c->err, TL_EINVAL, "config.json: tie_word_embeddings %s is not a boolean", show(tie, c->buf, sizeof c->buf));
    cfg->tie_embeddings = !tie || json_is_true(tie); /* GPT2LMHeadModel ties unless told not to */
    cfg->learned_pos = 1;
    cfg->prenorm = 1;
    return 0;
}

static int parse_llama(ctx *c, const arch_info *a, tl_config *cfg)
{
    int rc;
    json_t *kv = json_object_get(c->root, "num_key_value_heads"), *hd = json_object_get(c->root, "head_dim");
    if ((rc = get_dims(c, a, LLAMA_HEADS, NDIMS(LLAMA_HEADS), cfg)))
        return rc;
    if (kv && !json_is_null(kv)) {
        if ((rc = get_int(c, "num_key_value_heads", -1, 1, TL_HF_MAX_DIM, &cfg->n_kv_head)))
            return rc;
    } else
        cfg->n_kv_head = cfg->n_head;
    if ((rc = get_dims(c, a, LLAMA_DIMS, NDIMS(LLAMA_DIMS), cfg)) || (rc = get_num(c, "rms_norm_eps", 1e-6, &cfg->ln_eps)) || (rc = get_num(c, "rope_theta", 10000.0, &cfg->rope_theta)))
        return rc;
    if (hd && !json_is_null(hd)) {
        if ((rc = get_int(c, "head_dim", -1, 1, TL_HF_MAX_DIM, &cfg->head_dim)))
            return rc;
    } else {
        if (cfg->d_model % cfg->n_head)
            return tl_errf(c->err, TL_EINVAL, "config.json: hidden_size %d is not a multiple of num_attention_heads %d",
                           cfg->d_model, cfg->n_head);
        cfg->head_dim = cfg->d_model / cfg->n_head;
    }
    if (cfg->head_dim % 2)
        return tl_errf(c->err, TL_EINVAL, "config.json: head_dim %d is odd (rotary needs pairs)", cfg->head_dim);
    if (cfg->n_head % cfg->n_kv_head)
        return tl_errf(c->err, TL_EINVAL, "config.json: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                       cfg->n_head, cfg->n_kv_head);
    /* the projections' widths are not config fields of their own; the engine holds them in an int */
    if ((long long)cfg->n_head * cfg->head_dim > TL_HF_MAX_DIM)
        return tl_errf(c->err, TL_EINVAL, "config.json: num_attention_heads x head_dim = %lld exceeds %d",
                       (long long)cfg->n_head * cfg->head_dim, TL_HF_MAX_DIM);
    json_t *act = json_object_get(c->root, "hidden_act");
    if (act && !(json_is_string(act) && !strcmp(json_string_value(act), "silu")))
        return tl_errf(c->err, TL_EINVAL, "config.json: hidden_act %s (only silu)", show(act, c->buf, sizeof c->buf));
    json_t *tie = json_object_get(c->root, "tie_word_embeddings");
    if (tie && !json_is_boolean(tie))
        return tl_errf(c->err, TL_EINVAL, "config.json: tie_word_embeddings %s is not a boolean", show(tie, c->buf, sizeof c->buf));
    cfg->tie_embeddings = tie && json_is_true(tie);
    json_t *prf = json_object_get(c->root, "partial_rotary_factor");
    if (prf && !(json_is_number(prf) && json_number_value(prf) == 1.0))
        return tl_errf(c->err, TL_EINVAL, "config.json: partial_rotary_factor %s (only 1.0)", show(prf, c->buf, sizeof c->buf));
    if (cfg->arch == TL_ARCH_MISTRAL) {
        json_t *sw = json_object_get(c->root, "sliding_window");
        if (!sw) /* MistralConfig's default is 4096 */
            return tl_errf(c->err, TL_EINVAL, "config.json: sliding_window 4096 (absent: MistralConfig's default; "
                           "sliding-window attention is not supported; null is)");
        if (!json_is_null(sw))
            return tl_errf(c->err, TL_EINVAL, "config.json: sliding_window %s (sliding-window attention is not "
                           "supported; null is)", show(sw, c->buf, sizeof c->buf));
    }
    if (cfg->arch == TL_ARCH_QWEN2) {
        json_t *u = json_object_get(c->root, "use_sliding_window");
        if (truthy(u)) {
            char b2[80];
            return tl_errf(c->err, TL_EINVAL, "config.json: use_sliding_window %s (sliding_window %s) is not supported",
                           show(u, c->buf, sizeof c->buf), show(json_object_get(c->root, "sliding_window"), b2, sizeof b2));
        }
    }
    json_t *ab = json_object_get(c->root, "attention_bias");
    if (cfg->arch == TL_ARCH_LLAMA && ab && !json_is_boolean(ab))
        return tl_errf(c->err, TL_EINVAL, "config.json: attention_bias %s is not a boolean", show(ab, c->buf, sizeof c->buf));
    int bias = cfg->arch == TL_ARCH_LLAMA && ab && json_is_true(ab);
    cfg->qkv_bias = cfg->arch == TL_ARCH_QWEN2 || bias;
    cfg->o_bias = bias;
    if (truthy(json_object_get(c->root, "mlp_bias")))
        return tl_errf(c->err, TL_EINVAL, "config.json: mlp_bias true is not supported");
    cfg->attn_inv_sqrt = 1;
    cfg->prenorm = 1;
    return parse_rope(c, cfg);
}

/* Parameters the config implies, exactly: every product below is of values <= 2^24 (2^26 for
 * GPT-2's default n_inner), times at most 4096 layers, so 128-bit arithmetic cannot overflow. */
static unsigned __int128 param_count(const tl_config *c)
{
    typedef unsigned __int128 u;
    u d = (u)c->d_model, ff = (u)c->d_ff, V = (u)c->vocab_size, L = (u)c->n_layer;
    if (c->arch == TL_ARCH_GPT2)
        return V * d * (c->tie_embeddings ? 1 : 2) + (u)c->max_pos * d + 2 * d +
               L * (4 * d + 3 * d * d + 3 * d + d * d + d + 2 * d * ff + ff + d);
    u q = (u)c->n_head * (u)c->head_dim, kv = (u)c->n_kv_head * (u)c->head_dim;
    u per = 2 * d + 2 * d * q + 2 * d * kv + 3 * d * ff + (c->qkv_bias ? q + 2 * kv : 0) + (c->o_bias ? d : 0);
    return V * d * (c->tie_embeddings ? 1 : 2) + d + L * per;
}

static void u128_str(unsigned __int128 v, char *out, size_t n)
{
    char tmp[48];
    int i = (int)sizeof tmp - 1;
    tmp[i] = 0;
    do {
        tmp[--i] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v && i > 0);
    snprintf(out, n, "%s", tmp + i);
}

/* eos_token_id (an int, a list of ints or null) of `src` into cfg; each id in [0, V). */
static int parse_eos(const char *src, json_t *eos, tl_config *cfg, tl_err *err)
{
    char buf[80];
    cfg->n_eos = 0;
    if (!eos || json_is_null(eos))
        return 0;
    size_t n = json_is_array(eos) ? json_array_size(eos) : 1;
    if (n > TL_MAX_EOS)
        return tl_errf(err, TL_EINVAL, "%s: eos_token_id lists %zu ids (at most %d)", src, n, TL_MAX_EOS);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_is_array(eos) ? json_array_get(eos, i) : eos;
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= cfg->vocab_size)
            return tl_errf(err, TL_EINVAL, "%s: eos_token_id %s is outside the vocabulary of %d", src,
                           show(v, buf, sizeof buf), cfg->vocab_size);
        cfg->eos_ids[cfg->n_eos++] = (int)json_integer_value(v);
    }
    return 0;
}

static int parse_bos(const char *src, json_t *bos, tl_config *cfg, tl_err *err)
{
    char buf[80];
    if (!bos || json_is_null(bos))
        return 0;
    if (!json_is_integer(bos) || json_integer_value(bos) < 0 || json_integer_value(bos) >= cfg->vocab_size)
        return tl_errf(err, TL_EINVAL, "%s: bos_token_id %s is outside the vocabulary of %d", src, show(bos, buf, sizeof buf),
                       cfg->vocab_size);
    cfg->bos_id = (int)json_integer_value(bos);
    return 0;
}

static json_t *load_json(const char *file, const char *text, size_t len, tl_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        tl_errf(err, TL_EINVAL, "%s: not JSON: %s (line %d)", file, je.text, je.line);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        tl_errf(err, TL_EINVAL, "%s: not a JSON object", file);
        return NULL;
    }
    return root;
}

static int parse_config(ctx *c, tl_hf_config *hc)
{
    tl_config *cfg = &hc->cfg;
    json_t *archs = json_object_get(c->root, "architectures");
    if (!json_is_array(archs) || json_array_size(archs) != 1 || !json_is_string(json_array_get(archs, 0)))
        return tl_errf(c->err, TL_EINVAL, "config.json: architectures %s must be a list of one class name",
                       show(archs, c->buf, sizeof c->buf));
    const char *name = json_string_value(json_array_get(archs, 0));
    const arch_info *a = NULL;
    for (int i = 0; i < NARCH; i++)
        if (!strcmp(ARCHS[i].cls, name))
            a = &ARCHS[i];
    if (!a)
        return tl_errf(c->err, TL_EINVAL, "config.json: architectures: unsupported %.80s (supported: %s)", name,
                       tl_hf_supported());
    json_t *mt = json_object_get(c->root, "model_type");
    if (!json_is_string(mt) || strcmp(json_string_value(mt), a->model_type))
        return tl_errf(c->err, TL_EINVAL, "config.json: model_type %s does not match architectures %s (expected '%s')",
                       show(mt, c->buf, sizeof c->buf), a->cls, a->model_type);
    hc->arch_name = a->cls;
    cfg->arch = a->arch;
    int rc = a->arch == TL_ARCH_GPT2 ? parse_gpt2(c, a, cfg) : parse_llama(c, a, cfg);
    if (rc)
        return rc;
    if (cfg->n_layer > TL_HF_MAX_LAYERS)
        return tl_errf(c->err, TL_EINVAL, "config.json: %s %d exceeds %d",
                       a->arch == TL_ARCH_GPT2 ? "n_layer" : "num_hidden_layers", cfg->n_layer, TL_HF_MAX_LAYERS);
    unsigned __int128 total = param_count(cfg);
    if (total > TL_HF_MAX_PARAMS) {
        char num[48];
        u128_str(total, num, sizeof num);
        return tl_errf(c->err, TL_EINVAL, "config.json: dimensions imply %s parameters (limit %llu)", num,
                       (unsigned long long)TL_HF_MAX_PARAMS);
    }
    hc->n_params = (uint64_t)total;
    json_t *td = json_object_get(c->root, "torch_dtype");
    hc->torch_dtype = -1;
    if (td && !json_is_null(td)) {
        const char *s = json_is_string(td) ? json_string_value(td) : "";
        hc->torch_dtype = !strcmp(s, "float32") ? TL_DT_F32 : !strcmp(s, "float16") ? TL_DT_F16
                        : !strcmp(s, "bfloat16") ? TL_DT_BF16 : -1;
        if (hc->torch_dtype < 0)
            return tl_errf(c->err, TL_EINVAL, "config.json: torch_dtype %s (only float32, float16, bfloat16)",
                           show(td, c->buf, sizeof c->buf));
    }
    cfg->context_length = cfg->max_pos;
    return 0;
}

int tl_hf_config_parse(const char *json, size_t len, const char *gen, size_t gen_len, tl_hf_config *hc, tl_err *err)
{
    memset(hc, 0, sizeof *hc);
    hc->torch_dtype = -1;
    hc->cfg.bos_id = -1;
    ctx c = {.err = err};
    if (!(c.root = load_json(TL_HF_CONFIG, json, len, err)))
        return err ? err->code : TL_EINVAL;
    int rc = parse_config(&c, hc);
    json_t *g = NULL;
    if (!rc && gen && !(g = load_json(TL_HF_GENERATION, gen, gen_len, err)))
        rc = err ? err->code : TL_EINVAL;
    if (!rc) {
        /* generation_config.json decides when it has the key (even null: no EOS), else config.json */
        json_t *ge = g ? json_object_get(g, "eos_token_id") : NULL;
        rc = ge ? parse_eos(TL_HF_GENERATION, ge, &hc->cfg, err)
                : parse_eos(TL_HF_CONFIG, json_object_get(c.root, "eos_token_id"), &hc->cfg, err);
    }
    if (!rc) {
        json_t *gb = g ? json_object_get(g, "bos_token_id") : NULL;
        rc = gb ? parse_bos(TL_HF_GENERATION, gb, &hc->cfg, err)
                : parse_bos(TL_HF_CONFIG, json_object_get(c.root, "bos_token_id"), &hc->cfg, err);
    }
    json_decref(g);
    json_decref(c.root);
    if (rc) {
        int code = err && err->code ? err->code : rc;
        memset(hc, 0, sizeof *hc);
        hc->torch_dtype = -1;
        return code;
    }
    return 0;
}

static int read_opt(const char *dir, const char *name, int required, uint8_t **data, size_t *len, tl_err *err)
{
    char p[4096];
    *data = NULL;
    *len = 0;
    if (tl_path_join(p, sizeof p, dir, name))
        return tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    if (!required && !tl_is_file(p))
        return 0;
    if (tl_read_file(p, TL_HF_JSON_MAX, data, len, err))
        return err ? err->code : TL_EIO;
    return 0;
}

int tl_hf_config_load(const char *dir, tl_hf_config *hc, tl_err *err)
{
    uint8_t *cj = NULL, *gj = NULL;
    size_t cl = 0, gl = 0;
    int rc = read_opt(dir, TL_HF_CONFIG, 1, &cj, &cl, err);
    if (!rc)
        rc = read_opt(dir, TL_HF_GENERATION, 0, &gj, &gl, err);
    if (!rc)
        rc = tl_hf_config_parse((const char *)cj, cl, (const char *)gj, gl, hc, err);
    free(cj);
    free(gj);
    return rc;
}

int tl_hf_is_model_dir(const char *dir)
{
    char p[4096];
    if (tl_path_join(p, sizeof p, dir, TL_HF_CONFIG) || !tl_is_file(p))
        return 0;
    uint8_t *data;
    size_t len;
    tl_err e = {0};
    if (tl_read_file(p, TL_HF_JSON_MAX, &data, &len, &e))
        return 1; /* unreadable: let the Hugging Face loader say why */
    /* broken JSON is the Hugging Face loader's to report: teelm's own directories have no config.json */
    json_t *root = json_loadb((const char *)data, len, 0, NULL);
    int yes = !root || (json_is_object(root) && json_object_get(root, "architectures") != NULL);
    json_decref(root);
    free(data);
    return yes;
}

const char *tl_hf_class_name(tl_arch arch)
{
    for (int i = 0; i < NARCH; i++)
        if (ARCHS[i].arch == arch)
            return ARCHS[i].cls;
    return NULL;
}

/* The shortest decimal that reads back as f (through double, as the parser reads it). */
static json_t *jfloat(float f)
{
    char s[32];
    for (int p = 6; p <= 9; p++) {
        snprintf(s, sizeof s, "%.*g", p, (double)f);
        if ((float)strtod(s, NULL) == f)
            break;
    }
    return json_real(strtod(s, NULL));
}

static void set_dims(json_t *o, const tl_config *c, const dim_field *f, int n)
{
    for (int i = 0; i < n; i++)
        json_object_set_new(o, f[i].key, json_integer(*(const int *)((const char *)c + f[i].off)));
}

static json_t *ids(const int *v, int n)
{
    if (n == 0)
        return json_null();
    if (n == 1)
        return json_integer(v[0]);
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

char *tl_hf_config_to_json(const tl_config *c, int torch_dtype)
{
    const arch_info *a = NULL;
    for (int i = 0; i < NARCH; i++)
        if (ARCHS[i].arch == c->arch)
            a = &ARCHS[i];
    if (!a)
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "architectures", json_pack("[s]", a->cls));
    json_object_set_new(o, "model_type", json_string(a->model_type));
    if (c->arch == TL_ARCH_GPT2) {
        set_dims(o, c, GPT2_OUT, NDIMS(GPT2_OUT));
        json_object_set_new(o, "layer_norm_epsilon", jfloat(c->ln_eps));
        json_object_set_new(o, "activation_function", json_string("gelu_new"));
        for (int i = 0; i < NDIMS(GPT2_FLAGS); i++)
            json_object_set_new(o, GPT2_FLAGS[i].key, json_boolean(GPT2_FLAGS[i].want));
        json_object_set_new(o, "add_cross_attention", json_false());
        json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_embeddings));
    } else {
        set_dims(o, c, LLAMA_OUT, NDIMS(LLAMA_OUT));
        json_object_set_new(o, "rms_norm_eps", jfloat(c->ln_eps));
        json_object_set_new(o, "rope_theta", jfloat(c->rope_theta));
        json_t *rs = json_null();
        if (c->rope_type == TL_ROPE_LINEAR)
            rs = json_pack("{s:s,s:o}", "rope_type", "linear", "factor", jfloat(c->rope_factor));
        else if (c->rope_type == TL_ROPE_LLAMA3)
            rs = json_pack("{s:s,s:o,s:o,s:o,s:i}", "rope_type", "llama3", "factor", jfloat(c->rope_factor),
                           "low_freq_factor", jfloat(c->rope_low_freq), "high_freq_factor", jfloat(c->rope_high_freq),
                           "original_max_position_embeddings", c->rope_orig_ctx);
        json_object_set_new(o, "rope_scaling", rs);
        json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_embeddings));
        json_object_set_new(o, "hidden_act", json_string("silu"));
        if (c->arch == TL_ARCH_LLAMA) {
            json_object_set_new(o, "attention_bias", json_boolean(c->o_bias));
            json_object_set_new(o, "mlp_bias", json_false());
        } else if (c->arch == TL_ARCH_MISTRAL)
            json_object_set_new(o, "sliding_window", json_null());
        else
            json_object_set_new(o, "use_sliding_window", json_false());
    }
    json_object_set_new(o, "bos_token_id", c->bos_id >= 0 ? json_integer(c->bos_id) : json_null());
    json_object_set_new(o, "eos_token_id", ids(c->eos_ids, c->n_eos));
    if (torch_dtype == TL_DT_F32 || torch_dtype == TL_DT_F16 || torch_dtype == TL_DT_BF16)
        json_object_set_new(o, "torch_dtype", json_string(torch_dtype == TL_DT_F32 ? "float32"
                                                          : torch_dtype == TL_DT_F16 ? "float16" : "bfloat16"));
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    return s;
}
