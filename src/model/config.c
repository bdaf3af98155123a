#include "model/config.h"

#include <jansson.h>
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

int tl_config_validate(const tl_config *c, tl_err *err)
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
    return 0;
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
    int rc = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "vocab_size")) rc = get_int(v, key, &c->vocab_size, err);
        else if (!strcmp(key, "context_length")) rc = get_int(v, key, &c->context_length, err);
        else if (!strcmp(key, "d_model")) rc = get_int(v, key, &c->d_model, err);
        else if (!strcmp(key, "n_layer")) rc = get_int(v, key, &c->n_layer, err);
        else if (!strcmp(key, "n_head")) rc = get_int(v, key, &c->n_head, err);
        else if (!strcmp(key, "d_ff")) rc = get_int(v, key, &c->d_ff, err);
        else if (!strcmp(key, "norm")) rc = get_choice(v, key, "post", "pre", &c->prenorm, err);
        else if (!strcmp(key, "attn_scale")) rc = get_choice(v, key, "sqrt", "inv_sqrt", &c->attn_inv_sqrt, err);
        else if (!strcmp(key, "pos")) rc = get_choice(v, key, "sinusoidal", "learned", &c->learned_pos, err);
        else if (!strcmp(key, "act")) rc = get_choice(v, key, "relu", "gelu", &c->gelu, err);
        else if (!strcmp(key, "tie_embeddings")) {
            if (!json_is_boolean(v))
                rc = tl_errf(err, TL_EINVAL, "config: field 'tie_embeddings' must be true or false");
            else
                c->tie_embeddings = json_is_true(v);
        } else if (!strcmp(key, "dropout") || !strcmp(key, "ln_eps")) {
            if (!json_is_number(v))
                rc = tl_errf(err, TL_EINVAL, "config: field '%s' must be a number", key);
            else if (!strcmp(key, "dropout"))
                c->dropout = (float)json_number_value(v);
            else
                c->ln_eps = (float)json_number_value(v);
        } else
            rc = tl_errf(err, TL_EINVAL, "config: unknown field '%s'", key);
        if (rc)
            break;
    }
    json_decref(root);
    if (rc)
        return rc;
    if (c->vocab_size == 0)
        return tl_errf(err, TL_EINVAL, "config: field 'vocab_size' is missing");
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
    json_t *o = json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:s,s:s,s:s,s:s,s:b,s:f,s:f}",
        "vocab_size", c->vocab_size, "context_length", c->context_length, "d_model", c->d_model,
        "n_layer", c->n_layer, "n_head", c->n_head, "d_ff", c->d_ff,
        "norm", c->prenorm ? "pre" : "post", "attn_scale", c->attn_inv_sqrt ? "inv_sqrt" : "sqrt",
        "pos", c->learned_pos ? "learned" : "sinusoidal", "act", c->gelu ? "gelu" : "relu",
        "tie_embeddings", c->tie_embeddings, "dropout", (double)c->dropout, "ln_eps", (double)c->ln_eps);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    return s;
}
