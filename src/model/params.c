#include "model/params.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    tl_param *out;
    int n;
    size_t off;
} builder;

__attribute__((format(printf, 5, 0))) static void add_packed(builder *b, int ndim, int64_t d0, int64_t d1, const char *fmt, int i, int h, int align)
{
    size_t numel = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
    if (b->out) {
        tl_param *p = &b->out[b->n];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(p->name, sizeof p->name, fmt, i, h);
#pragma GCC diagnostic pop
        p->ndim = ndim;
        p->shape[0] = d0;
        p->shape[1] = ndim == 2 ? d1 : 0;
        p->offset = b->off;
        p->numel = numel;
    }
    b->n++;
    b->off += align ? (numel + TL_PARAM_ALIGN - 1) / TL_PARAM_ALIGN * TL_PARAM_ALIGN : numel;
}

#define add(b, ndim, d0, d1, fmt, i, h) add_packed(b, ndim, d0, d1, fmt, i, h, 1)

static void build(const tl_config *c, builder *b)
{
    const int64_t V = c->vocab_size, C = c->context_length, D = c->d_model, F = c->d_ff;
    const int64_t hs = D / c->n_head;
    add(b, 2, V, D, "token_embedding_table.weight", 0, 0);
    if (c->learned_pos)
        add(b, 2, C, D, "position_embedding_table.weight", 0, 0);
    for (int i = 0; i < c->n_layer; i++) {
        static const char *qkv[3] = {"q_lin", "k_lin", "v_lin"};
        for (int m = 0; m < 3; m++)
            for (int h = 0; h < c->n_head; h++) {
                char fmt[128];
                snprintf(fmt, sizeof fmt, "transformer_blocks.%%d.attention.attention_heads.%%d.%s.weight", qkv[m]);
                /* packed back to back: q, k, v heads form one gap-free [3D, D] matrix */
                add_packed(b, 2, hs, D, fmt, i, h, m == 2 && h == c->n_head - 1);
            }
        add(b, 2, D, D, "transformer_blocks.%d.attention.projection_layer.weight", i, 0);
        add(b, 1, D, 0, "transformer_blocks.%d.attention.projection_layer.bias", i, 0);
        add(b, 2, F, D, "transformer_blocks.%d.feed_forward.linear1.weight", i, 0);
        add(b, 1, F, 0, "transformer_blocks.%d.feed_forward.linear1.bias", i, 0);
        add(b, 2, D, F, "transformer_blocks.%d.feed_forward.linear2.weight", i, 0);
        add(b, 1, D, 0, "transformer_blocks.%d.feed_forward.linear2.bias", i, 0);
        add(b, 1, D, 0, "transformer_blocks.%d.layer_norm1.weight", i, 0);
        add(b, 1, D, 0, "transformer_blocks.%d.layer_norm1.bias", i, 0);
        add(b, 1, D, 0, "transformer_blocks.%d.layer_norm2.weight", i, 0);
        add(b, 1, D, 0, "transformer_blocks.%d.layer_norm2.bias", i, 0);
    }
    if (c->prenorm) {
        add(b, 1, D, 0, "final_layer_norm.weight", 0, 0);
        add(b, 1, D, 0, "final_layer_norm.bias", 0, 0);
    }
    if (!c->tie_embeddings)
        add(b, 2, V, D, "final_linear_layer.weight", 0, 0);
    add(b, 1, V, 0, "final_linear_layer.bias", 0, 0);
}

int tl_params_count(const tl_config *cfg)
{
    builder b = {0};
    build(cfg, &b);
    return b.n;
}

int tl_params_list(const tl_config *cfg, tl_param *out)
{
    builder b = {.out = out};
    build(cfg, &b);
    return b.n;
}

size_t tl_params_arena_floats(const tl_config *cfg)
{
    builder b = {0};
    build(cfg, &b);
    return b.off;
}

size_t tl_params_numel(const tl_config *cfg)
{
    const size_t V = cfg->vocab_size, C = cfg->context_length, D = cfg->d_model, F = cfg->d_ff;
    size_t block = 3 * D * D + D * D + D + F * D + F + D * F + D + 4 * D;
    return V * D + (cfg->learned_pos ? C * D : 0) + cfg->n_layer * block + (cfg->prenorm ? 2 * D : 0) +
           (cfg->tie_embeddings ? 0 : V * D) + V;
}

const tl_param *tl_params_find(const tl_param *list, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0)
            return &list[i];
    return NULL;
}
