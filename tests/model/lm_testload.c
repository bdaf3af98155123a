#include "lm_testload.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/tensor_file.h"
#include "model/params.h"

static int geti(json_t *o, const char *k, int def)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int)json_integer_value(v) : def;
}

static double getf(json_t *o, const char *k, double def)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : def;
}

static void eos_from(json_t *v, tl_config *c)
{
    if (json_is_integer(v)) {
        c->n_eos = 1;
        c->eos_ids[0] = (int)json_integer_value(v);
    } else if (json_is_array(v)) {
        c->n_eos = 0;
        for (size_t i = 0; i < json_array_size(v) && i < TL_MAX_EOS; i++)
            c->eos_ids[c->n_eos++] = (int)json_integer_value(json_array_get(v, i));
    }
}

static int read_config(const char *dir, int ctx, tl_config *c)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        fprintf(stderr, "%s: %s\n", path, je.text);
        return -1;
    }
    *c = tl_config_seed(0);
    const char *mt = json_string_value(json_object_get(j, "model_type"));
    c->bos_id = -1;
    if (mt && !strcmp(mt, "gpt2")) {
        c->arch = TL_ARCH_GPT2;
        c->d_model = geti(j, "n_embd", 0);
        c->n_head = c->n_kv_head = geti(j, "n_head", 0);
        c->n_layer = geti(j, "n_layer", 0);
        c->max_pos = geti(j, "n_positions", 1024);
        c->d_ff = geti(j, "n_inner", 4 * c->d_model);
        c->ln_eps = (float)getf(j, "layer_norm_epsilon", 1e-5);
        c->head_dim = c->n_head ? c->d_model / c->n_head : 0;
        c->tie_embeddings = !json_is_false(json_object_get(j, "tie_word_embeddings")); /* GPT2LMHeadModel's default */
        c->rope_theta = 10000.0f;
    } else {
        c->arch = mt && !strcmp(mt, "qwen2") ? TL_ARCH_QWEN2 : mt && !strcmp(mt, "mistral") ? TL_ARCH_MISTRAL : TL_ARCH_LLAMA;
        c->d_model = geti(j, "hidden_size", 0);
        c->d_ff = geti(j, "intermediate_size", 0);
        c->n_layer = geti(j, "num_hidden_layers", 0);
        c->n_head = geti(j, "num_attention_heads", 0);
        c->n_kv_head = geti(j, "num_key_value_heads", c->n_head);
        c->head_dim = geti(j, "head_dim", c->n_head ? c->d_model / c->n_head : 0);
        c->max_pos = geti(j, "max_position_embeddings", 2048);
        c->ln_eps = (float)getf(j, "rms_norm_eps", 1e-6);
        c->rope_theta = (float)getf(j, "rope_theta", 10000);
        c->tie_embeddings = json_is_true(json_object_get(j, "tie_word_embeddings"));
        c->qkv_bias = c->arch == TL_ARCH_QWEN2 || json_is_true(json_object_get(j, "attention_bias"));
        c->o_bias = c->arch == TL_ARCH_LLAMA && json_is_true(json_object_get(j, "attention_bias"));
        json_t *rs = json_object_get(j, "rope_scaling");
        if (json_is_object(rs)) {
            const char *t = json_string_value(json_object_get(rs, "rope_type"));
            if (!t)
                t = json_string_value(json_object_get(rs, "type"));
            c->rope_factor = (float)getf(rs, "factor", 0);
            if (t && !strcmp(t, "linear")) {
                c->rope_type = TL_ROPE_LINEAR;
            } else if (t && !strcmp(t, "llama3")) {
                c->rope_type = TL_ROPE_LLAMA3;
                c->rope_low_freq = (float)getf(rs, "low_freq_factor", 0);
                c->rope_high_freq = (float)getf(rs, "high_freq_factor", 0);
                c->rope_orig_ctx = geti(rs, "original_max_position_embeddings", 0);
            } else {
                c->rope_factor = 0;
            }
        }
    }
    c->vocab_size = geti(j, "vocab_size", 0);
    c->context_length = ctx > 0 ? ctx : c->max_pos;
    eos_from(json_object_get(j, "eos_token_id"), c);
    json_decref(j);
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    j = json_load_file(path, 0, &je);
    if (j) {
        json_t *e = json_object_get(j, "eos_token_id");
        if (e)
            eos_from(e, c);
        json_decref(j);
    }
    tl_err err = {0};
    if (tl_config_validate(c, &err)) {
        fprintf(stderr, "%s: %s\n", dir, err.msg);
        return -1;
    }
    return 0;
}

/* The shard file names: model.safetensors, or the index's distinct values. */
static int shard_list(const char *dir, char ***names, int *n)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "rb");
    *n = 0;
    *names = calloc(64, sizeof **names);
    if (f) {
        fclose(f);
        (*names)[(*n)++] = strdup("model.safetensors");
        return 0;
    }
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        return -1;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(j, "weight_map"), k, v) {
        const char *s = json_string_value(v);
        int dup = 0;
        for (int i = 0; i < *n; i++)
            dup |= !strcmp((*names)[i], s);
        if (!dup && *n < 64)
            (*names)[(*n)++] = strdup(s);
    }
    json_decref(j);
    return 0;
}

int lm_test_load(const char *dir, int ctx, lm_test_model *m)
{
    memset(m, 0, sizeof *m);
    if (read_config(dir, ctx, &m->cfg))
        return -1;
    m->nw = tl_params_count(&m->cfg);
    tl_param *p = calloc((size_t)m->nw, sizeof *p);
    tl_params_list(&m->cfg, p);
    m->w = calloc((size_t)m->nw, sizeof *m->w);
    m->bufs = calloc((size_t)m->nw, sizeof *m->bufs);
    char **shards;
    int ns, rc = shard_list(dir, &shards, &ns);
    for (int s = 0; !rc && s < ns; s++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, shards[s]);
        tl_tensor_file tf;
        tl_err err = {0};
        if (tl_tensor_file_open(path, TL_TF_SAFETENSORS, &tf, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            rc = -1;
            break;
        }
        for (int i = 0; i < m->nw; i++) {
            char alt[TL_PARAM_NAME_MAX + 16];
            snprintf(alt, sizeof alt, "transformer.%s", p[i].name);
            int t = tl_tensor_file_find(&tf, p[i].name);
            if (t < 0 && m->cfg.arch == TL_ARCH_GPT2)
                t = tl_tensor_file_find(&tf, alt);
            if (t < 0)
                continue;
            if (tf.t[t].numel != p[i].numel) {
                fprintf(stderr, "%s: %s has %llu elements, expected %zu\n", path, p[i].name,
                        (unsigned long long)tf.t[t].numel, p[i].numel);
                rc = -1;
                break;
            }
            m->bufs[i] = malloc(tl_tensor_file_bytes(&tf, t));
            if (!m->bufs[i] || tl_tensor_file_read_raw(&tf, t, m->bufs[i], &err)) {
                fprintf(stderr, "%s: %s\n", path, err.msg);
                rc = -1;
                break;
            }
            m->w[i].data = m->bufs[i];
            m->w[i].dtype = tf.t[t].dtype;
        }
        tl_tensor_file_close(&tf);
    }
    for (int i = 0; !rc && i < m->nw; i++)
        if (!m->w[i].data) {
            fprintf(stderr, "%s: tensor %s not found\n", dir, p[i].name);
            rc = -1;
        }
    for (int s = 0; s < ns; s++)
        free(shards[s]);
    free(shards);
    free(p);
    if (rc)
        lm_test_free(m);
    return rc;
}

void lm_test_free(lm_test_model *m)
{
    for (int i = 0; m->bufs && i < m->nw; i++)
        free(m->bufs[i]);
    free(m->bufs);
    free(m->w);
    memset(m, 0, sizeof *m);
}
