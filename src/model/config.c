#include "model/config.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/io.h"

tl_config tl_config_seed(int vocab_size)
{
    tl_config c = {
        .vocab_size = vocab_size, .context_length = 16, .d_model = 64, .n_layer = 8, .n_head = 4,
        .d_ff = 256, .prenorm = 0, .attn_inv_sqrt = 0, .learned_pos = 0, .gelu = 0,
        .tie_embeddings = 0, .dropout = 0.1f, .ln_eps = 1e-5f,
    };
    return c;
}

/* Names of the enumerations in JSON; index = enum value. */
static const char *const arch_names[] = {"seed", "llama", "mistral", "qwen2", "gpt2"};
static const char *const rope_names[] = {"default", "linear", "llama3"};
#define HF_DIM_MAX (1 << 24)
#define HF_LAYER_MAX 4096
#define HF_PARAMS_MAX (1ull << 36)

static int validate_seed(const tl_config *c, tl_err *err)
{
#define RANGE(f, lo, hi) \
    if (c->f < (lo) || c->f > (hi)) \
        return tl_errf(err, TL_EINVAL, "config: %s = %d is outside %d..%d", #f, c->f, (lo), (hi));
    RANGE(vocab_size, 1, 1 << 24);
    RANGE(context_length, 1, 1 << 16);
    RANGE(d_model, 1, 1 << 14);
    RANGE(n_layer, 1, 1024);
    RANGE(n_head, 1, 1024);
    RANGE(d_ff, 1, 1 << 16);
#undef RANGE
    if (c->d_model % c->n_head)
        return tl_errf(err, TL_EINVAL, "config: d_model %d is not a multiple of n_head %d", c->d_model, c->n_head);
    if (!c->learned_pos && c->d_model % 2)
        return tl_errf(err, TL_EINVAL, "config: sinusoidal positions need an even d_model, got %d", c->d_model);
    if (!(c->dropout >= 0 && c->dropout < 1))
        return tl_errf(err, TL_EINVAL, "config: dropout must be in [0,1), got %g", c->dropout);
    if (!(c->ln_eps > 0 && c->ln_eps < 1))
        return tl_errf(err, TL_EINVAL, "config: ln_eps must be in (0,1), got %g", c->ln_eps);
    /* the Hugging Face fields stay zero, so a seed config serializes as it always has */
    if (c->n_kv_head || c->head_dim || c->max_pos || c->qkv_bias || c->o_bias || c->rope_theta != 0 ||
        c->rope_type || c->rope_factor != 0 || c->rope_low_freq != 0 || c->rope_high_freq != 0 ||
        c->rope_orig_ctx || c->bos_id || c->n_eos)
        return tl_errf(err, TL_EINVAL, "config: Hugging Face fields are set but arch is seed");
    return 0;
}

/* The number of scalars the config implies (docs/architectures.md's tensor tables), or 0 when it
 * exceeds HF_PARAMS_MAX. Dimensions are already <= 2^24 and layers <= 4096, so each term fits in
 * 64 bits: a product of two dimensions is < 2^48, a block's sum < 2^52, times the layers < 2^64. */
static uint64_t hf_params(const tl_config *c)
{
    const uint64_t V = (uint64_t)c->vocab_size, d = (uint64_t)c->d_model, ff = (uint64_t)c->d_ff;
    const uint64_t L = (uint64_t)c->n_layer;
    uint64_t model, block;
    if (c->arch == TL_ARCH_GPT2) {
        model = V * d + (uint64_t)c->max_pos * d + 2 * d;
        block = 4 * d + 3 * d * d + 3 * d + d * d + d + d * ff + ff + ff * d + d;
    } else {
        const uint64_t q = (uint64_t)c->n_head * (uint64_t)c->head_dim;
        const uint64_t kv = (uint64_t)c->n_kv_head * (uint64_t)c->head_dim;
        model = V * d + d + (c->tie_embeddings ? 0 : V * d);
        block = 2 * d + q * d + 2 * kv * d + d * q + 3 * ff * d;
        if (c->qkv_bias)
            block += q + 2 * kv;
        if (c->o_bias)
            block += d;
    }
    if (block > HF_PARAMS_MAX || model > HF_PARAMS_MAX || block * L > HF_PARAMS_MAX - model)
        return 0;
    return model + block * L;
}

static int finite_pos(float x) { return x > 0 && x < 3.0e38f; }

static int validate_hf(const tl_config *c, tl_err *err)
{
    if ((unsigned)c->arch >= sizeof arch_names / sizeof arch_names[0])
        return tl_errf(err, TL_EINVAL, "config: arch %d is unknown", (int)c->arch);
    const char *a = arch_names[c->arch];
#define RANGE(f, lo, hi) \
    if (c->f < (lo) || c->f > (hi)) \
        return tl_errf(err, TL_EINVAL, "config: %s = %d is outside %d..%d (%s)", #f, c->f, (lo), (hi), a);
    RANGE(vocab_size, 1, HF_DIM_MAX);
    RANGE(d_model, 1, HF_DIM_MAX);
    RANGE(n_layer, 1, HF_LAYER_MAX);
    RANGE(n_head, 1, HF_DIM_MAX);
    RANGE(n_kv_head, 1, HF_DIM_MAX);
    RANGE(head_dim, 1, HF_DIM_MAX);
    RANGE(d_ff, 1, HF_DIM_MAX);
    RANGE(max_pos, 1, HF_DIM_MAX);
    RANGE(context_length, 1, c->max_pos);
#undef RANGE
    if ((int64_t)c->n_head * c->head_dim > HF_DIM_MAX)
        return tl_errf(err, TL_EINVAL, "config: n_head %d x head_dim %d exceeds %d", c->n_head, c->head_dim, HF_DIM_MAX);
    if (c->n_head % c->n_kv_head)
        return tl_errf(err, TL_EINVAL, "config: n_head %d is not a multiple of n_kv_head %d", c->n_head, c->n_kv_head);
    if (c->head_dim % 2)
        return tl_errf(err, TL_EINVAL, "config: head_dim %d is not even", c->head_dim);
    if (!(c->ln_eps > 0 && c->ln_eps < 1))
        return tl_errf(err, TL_EINVAL, "config: ln_eps must be in (0,1), got %g", c->ln_eps);
    if (c->qkv_bias != !!c->qkv_bias || c->o_bias != !!c->o_bias || c->tie_embeddings != !!c->tie_embeddings)
        return tl_errf(err, TL_EINVAL, "config: qkv_bias, o_bias and tie_embeddings are 0 or 1");
    if (c->arch == TL_ARCH_GPT2) {
        if (c->d_model % c->n_head || c->head_dim != c->d_model / c->n_head || c->n_kv_head != c->n_head)
            return tl_errf(err, TL_EINVAL, "config: gpt2 needs head_dim = d_model / n_head and n_kv_head = n_head");
        if (c->qkv_bias || c->o_bias || c->rope_type != TL_ROPE_DEFAULT)
            return tl_errf(err, TL_EINVAL, "config: gpt2 has no qkv_bias/o_bias flags and no rope_type");
    } else {
        if (c->arch == TL_ARCH_QWEN2 && (!c->qkv_bias || c->o_bias))
            return tl_errf(err, TL_EINVAL, "config: qwen2 has q/k/v biases (qkv_bias 1) and no o_bias");
        if (c->arch == TL_ARCH_MISTRAL && (c->qkv_bias || c->o_bias))
            return tl_errf(err, TL_EINVAL, "config: mistral has no attention biases");
        if (c->arch == TL_ARCH_LLAMA && c->qkv_bias != c->o_bias)
            return tl_errf(err, TL_EINVAL, "config: llama's attention_bias sets qkv_bias and o_bias together");
        if (!finite_pos(c->rope_theta))
            return tl_errf(err, TL_EINVAL, "config: rope_theta must be a positive number, got %g", c->rope_theta);
        if ((unsigned)c->rope_type > TL_ROPE_LLAMA3)
            return tl_errf(err, TL_EINVAL, "config: rope_type %d is unknown", (int)c->rope_type);
        if (c->rope_type != TL_ROPE_DEFAULT && !finite_pos(c->rope_factor))
            return tl_errf(err, TL_EINVAL, "config: rope_factor must be a positive number, got %g", c->rope_factor);
        if (c->rope_type == TL_ROPE_LLAMA3) {
            if (!finite_pos(c->rope_low_freq) || !finite_pos(c->rope_high_freq) || !(c->rope_high_freq > c->rope_low_freq))
                return tl_errf(err, TL_EINVAL, "config: rope_high_freq %g must exceed rope_low_freq %g (both positive)",
                               c->rope_high_freq, c->rope_low_freq);
            if (c->rope_orig_ctx < 1 || c->rope_orig_ctx > HF_DIM_MAX)
                return tl_errf(err, TL_EINVAL, "config: rope_orig_ctx = %d is outside 1..%d", c->rope_orig_ctx, HF_DIM_MAX);
        }
    }
    if (c->bos_id < -1 || c->bos_id >= c->vocab_size)
        return tl_errf(err, TL_EINVAL, "config: bos_id %d is outside the vocabulary of %d", c->bos_id, c->vocab_size);
    if (c->n_eos < 0 || c->n_eos > TL_MAX_EOS)
        return tl_errf(err, TL_EINVAL, "config: n_eos %d is outside 0..%d", c->n_eos, TL_MAX_EOS);
    for (int i = 0; i < TL_MAX_EOS; i++) {
        if (i < c->n_eos && (c->eos_ids[i] < 0 || c->eos_ids[i] >= c->vocab_size))
            return tl_errf(err, TL_EINVAL, "config: eos id %d is outside the vocabulary of %d", c->eos_ids[i], c->vocab_size);
        if (i >= c->n_eos && c->eos_ids[i])
            return tl_errf(err, TL_EINVAL, "config: eos_ids beyond n_eos must be zero");
    }
    if (!hf_params(c))
        return tl_errf(err, TL_EINVAL, "config: dimensions imply more than %llu parameters",
                       (unsigned long long)HF_PARAMS_MAX);
    return 0;
}

int tl_config_validate(const tl_config *c, tl_err *err)
{
    return tl_config_is_hf(c) ? validate_hf(c, err) : validate_seed(c, err);
}

static int get_int(json_t *v, const char *key, int *out, tl_err *err)
{
    if (!json_is_integer(v))
        return tl_errf(err, TL_EINVAL, "config: field '%s' must be an integer", key);
    json_int_t x = json_integer_value(v);
    if (x < -2147483647 || x > 2147483647)
        return tl_errf(err, TL_EINVAL, "config: field '%s' is out of range", key);
    *out = (int)x;
    return 0;
}

static int get_choice(json_t *v, const char *key, const char *a, const char *b, int *out, tl_err *err)
{
    const char *s = json_string_value(v);
    if (s && strcmp(s, a) == 0)
        *out = 0;
    else if (s && strcmp(s, b) == 0)
        *out = 1;
    else
        return tl_errf(err, TL_EINVAL, "config: field '%s' must be \"%s\" or \"%s\"", key, a, b);
    return 0;
}

static int get_bool(json_t *v, const char *key, int *out, tl_err *err)
{
    if (!json_is_boolean(v))
        return tl_errf(err, TL_EINVAL, "config: field '%s' must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

static int get_float(json_t *v, const char *key, float *out, tl_err *err)
{
    if (!json_is_number(v))
        return tl_errf(err, TL_EINVAL, "config: field '%s' must be a number", key);
    double x = json_number_value(v);
    if (!(x >= -3.0e38 && x <= 3.0e38))
        return tl_errf(err, TL_EINVAL, "config: field '%s' is out of range", key);
    *out = (float)x;
    return 0;
}

/* Index of s in names[0..n), or -1. */
static int lookup(const char *s, const char *const *names, int n)
{
    for (int i = 0; s && i < n; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

static int get_eos(json_t *v, tl_config *c, tl_err *err)
{
    if (!json_is_array(v) || json_array_size(v) > TL_MAX_EOS)
        return tl_errf(err, TL_EINVAL, "config: field 'eos_ids' must be a list of at most %d integers", TL_MAX_EOS);
    c->n_eos = (int)json_array_size(v);
    for (int i = 0; i < c->n_eos; i++)
        if (get_int(json_array_get(v, (size_t)i), "eos_ids", &c->eos_ids[i], err))
            return err->code;
    return 0;
}

/* The fields only the Hugging Face families have; 1 when key was one of them (rc set). */
static int parse_hf_field(const char *key, json_t *v, tl_config *c, int *rc, tl_err *err)
{
    if (!strcmp(key, "n_kv_head")) *rc = get_int(v, key, &c->n_kv_head, err);
    else if (!strcmp(key, "head_dim")) *rc = get_int(v, key, &c->head_dim, err);
    else if (!strcmp(key, "max_pos")) *rc = get_int(v, key, &c->max_pos, err);
    else if (!strcmp(key, "qkv_bias")) *rc = get_bool(v, key, &c->qkv_bias, err);
    else if (!strcmp(key, "o_bias")) *rc = get_bool(v, key, &c->o_bias, err);
    else if (!strcmp(key, "rope_theta")) *rc = get_float(v, key, &c->rope_theta, err);
    else if (!strcmp(key, "rope_factor")) *rc = get_float(v, key, &c->rope_factor, err);
    else if (!strcmp(key, "rope_low_freq")) *rc = get_float(v, key, &c->rope_low_freq, err);
    else if (!strcmp(key, "rope_high_freq")) *rc = get_float(v, key, &c->rope_high_freq, err);
    else if (!strcmp(key, "rope_orig_ctx")) *rc = get_int(v, key, &c->rope_orig_ctx, err);
    else if (!strcmp(key, "bos_id")) *rc = get_int(v, key, &c->bos_id, err);
    else if (!strcmp(key, "eos_ids")) *rc = get_eos(v, c, err);
    else if (!strcmp(key, "half_acts")) *rc = get_choice(v, key, "f32", "rounded", &c->round_half_acts, err);
    else if (!strcmp(key, "numerics")) *rc = get_choice(v, key, "pytorch", "ggml", &c->ggml_numerics, err);
    else if (!strcmp(key, "rope_type")) {
        int t = lookup(json_string_value(v), rope_names, 3);
        if (t < 0)
            *rc = tl_errf(err, TL_EINVAL, "config: field 'rope_type' must be \"default\", \"linear\" or \"llama3\"");
        else
            c->rope_type = (tl_rope_type)t;
    } else
        return 0;
    return 1;
}

int tl_config_parse(const char *text, tl_config *c, tl_err *err)
{
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return tl_errf(err, TL_EINVAL, "config: bad JSON at line %d column %d: %s", je.line, je.column, je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return tl_errf(err, TL_EINVAL, "config: must be a JSON object");
    }
    *c = tl_config_seed(0);
    json_t *av = json_object_get(root, "arch");
    if (av) {
        int a = lookup(json_string_value(av), arch_names, (int)(sizeof arch_names / sizeof arch_names[0]));
        if (a < 0) {
            json_decref(root);
            return tl_errf(err, TL_EINVAL, "config: field 'arch' must be \"seed\", \"llama\", \"mistral\", \"qwen2\" or \"gpt2\"");
        }
        c->arch = (tl_arch)a;
    }
    const int hf = tl_config_is_hf(c);
    if (hf) { /* absent: transformers' defaults; 0 = derived below */
        c->rope_theta = 10000.0f;
        c->bos_id = -1;
    }
    int rc = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "arch")) continue;
        else if (!strcmp(key, "vocab_size")) rc = get_int(v, key, &c->vocab_size, err);
        else if (!strcmp(key, "context_length")) rc = get_int(v, key, &c->context_length, err);
        else if (!strcmp(key, "d_model")) rc = get_int(v, key, &c->d_model, err);
        else if (!strcmp(key, "n_layer")) rc = get_int(v, key, &c->n_layer, err);
        else if (!strcmp(key, "n_head")) rc = get_int(v, key, &c->n_head, err);
        else if (!strcmp(key, "d_ff")) rc = get_int(v, key, &c->d_ff, err);
        else if (!strcmp(key, "norm")) rc = get_choice(v, key, "post", "pre", &c->prenorm, err);
        else if (!strcmp(key, "attn_scale")) rc = get_choice(v, key, "sqrt", "inv_sqrt", &c->attn_inv_sqrt, err);
        else if (!strcmp(key, "pos")) rc = get_choice(v, key, "sinusoidal", "learned", &c->learned_pos, err);
        else if (!strcmp(key, "act") && hf && json_is_string(v) && !strcmp(json_string_value(v), "gelu_ggml")) c->gelu = 2;
        else if (!strcmp(key, "act")) rc = get_choice(v, key, "relu", "gelu", &c->gelu, err);
        else if (!strcmp(key, "tie_embeddings")) rc = get_bool(v, key, &c->tie_embeddings, err);
        else if (!strcmp(key, "dropout")) rc = get_float(v, key, &c->dropout, err);
        else if (!strcmp(key, "ln_eps")) rc = get_float(v, key, &c->ln_eps, err);
        else if (hf && parse_hf_field(key, v, c, &rc, err)) {
        } else if (!hf && parse_hf_field(key, v, &(tl_config){0}, &rc, err))
            rc = tl_errf(err, TL_EINVAL, "config: field '%s' needs a Hugging Face arch", key);
        else
            rc = tl_errf(err, TL_EINVAL, "config: unknown field '%s'", key);
        if (rc)
            break;
    }
    json_decref(root);
    if (rc)
        return rc;
    if (c->vocab_size == 0)
        return tl_errf(err, TL_EINVAL, "config: field 'vocab_size' is missing");
    if (hf) {
        if (!c->n_kv_head)
            c->n_kv_head = c->n_head;
        if (!c->head_dim && c->n_head > 0)
            c->head_dim = c->d_model / c->n_head;
        if (!c->max_pos)
            c->max_pos = c->context_length;
    }
    return tl_config_validate(c, err);
}

int tl_config_load(const char *seed_or_path, tl_config *c, tl_err *err)
{
    if (strcmp(seed_or_path, "seed") == 0) {
        /* vocab_size is filled in from the tokenized data by the caller */
        *c = tl_config_seed(0);
        return 0;
    }
    uint8_t *data;
    size_t len;
    if (tl_read_file(seed_or_path, 1 << 20, &data, &len, err))
        return err->code;
    int rc = tl_config_parse((const char *)data, c, err);
    free(data);
    if (rc)
        tl_err_prefix(err, "%s", seed_or_path);
    return rc;
}

char *tl_config_to_json(const tl_config *c)
{
    /* The seed family's document is the same as before the HF fields existed. */
    json_t *o = json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:s,s:s,s:s,s:s,s:b,s:f,s:f}",
        "vocab_size", c->vocab_size, "context_length", c->context_length, "d_model", c->d_model,
        "n_layer", c->n_layer, "n_head", c->n_head, "d_ff", c->d_ff,
        "norm", c->prenorm ? "pre" : "post", "attn_scale", c->attn_inv_sqrt ? "inv_sqrt" : "sqrt",
        "pos", c->learned_pos ? "learned" : "sinusoidal", "act", c->gelu == 2 ? "gelu_ggml" : c->gelu ? "gelu" : "relu",
        "tie_embeddings", c->tie_embeddings, "dropout", (double)c->dropout, "ln_eps", (double)c->ln_eps);
    if (o && tl_config_is_hf(c)) {
        /* arch first, then every field, so parse(to_json(c)) == c bit for bit */
        json_t *h = json_pack("{s:s}", "arch",
                              (unsigned)c->arch < sizeof arch_names / sizeof arch_names[0] ? arch_names[c->arch] : "?");
        json_t *eos = json_array();
        for (int i = 0; i < c->n_eos && i < TL_MAX_EOS; i++)
            json_array_append_new(eos, json_integer(c->eos_ids[i]));
        json_t *t = json_pack("{s:i,s:i,s:i,s:b,s:b,s:f,s:s,s:f,s:f,s:f,s:i,s:i,s:o}",
            "n_kv_head", c->n_kv_head, "head_dim", c->head_dim, "max_pos", c->max_pos,
            "qkv_bias", c->qkv_bias, "o_bias", c->o_bias, "rope_theta", (double)c->rope_theta,
            "rope_type", (unsigned)c->rope_type <= TL_ROPE_LLAMA3 ? rope_names[c->rope_type] : "?",
            "rope_factor", (double)c->rope_factor, "rope_low_freq", (double)c->rope_low_freq,
            "rope_high_freq", (double)c->rope_high_freq, "rope_orig_ctx", c->rope_orig_ctx, "bos_id", c->bos_id,
            "eos_ids", eos);
        /* written only when set: every other model's document stays as it was */
        if (t && c->round_half_acts && json_object_set_new(t, "half_acts", json_string("rounded"))) {
            json_decref(t);
            t = NULL;
        }
        if (t && c->ggml_numerics && json_object_set_new(t, "numerics", json_string("ggml"))) {
            json_decref(t);
            t = NULL;
        }
        if (!h || !t || json_object_update(h, o) || json_object_update(h, t)) {
            json_decref(h);
            h = NULL;
        }
        json_decref(t);
        json_decref(o);
        o = h;
    }
    if (!o)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    return s;
}
