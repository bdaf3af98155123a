/* The parameter table of the seed family (llm.c style): one static list from which the arena
 * order, the names, the shapes, the offsets, the arena size, the engine's offset map (pmap.h) and
 * the initialization all follow. A new architecture adds a table like seed_family, not edits in
 * five places. */
#include "model/params.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/pmap.h"
#include "model/rng.h"

typedef enum { PER_MODEL, PER_BLOCK, PER_HEAD } scope;       /* PER_HEAD: inside a block, one per head */
typedef enum { ALWAYS, IF_LEARNED_POS, IF_PRENORM, IF_UNTIED, IF_QKV_BIAS, IF_O_BIAS } when;
/* DIM_HS: head size d_model / n_head (seed); DIM_QH, DIM_KVH: n_head, n_kv_head times head_dim;
 * DIM_3D: 3 * d_model (GPT-2's fused c_attn); DIM_P: max_pos (GPT-2's position table) */
typedef enum { DIM_NONE, DIM_V, DIM_C, DIM_D, DIM_F, DIM_HS, DIM_QH, DIM_KVH, DIM_3D, DIM_P } dim;
typedef enum { INIT_NORMAL, INIT_ONES, INIT_ZEROS, INIT_LINEAR } init;

typedef struct {
    const char *name; /* printf format: PER_BLOCK takes the block index, PER_HEAD block and head */
    scope scope;
    when when;
    dim d0, d1;       /* d1 = DIM_NONE: a vector */
    init init;        /* INIT_NORMAL: N(0,1) (nn.Embedding); INIT_LINEAR: U(-1/sqrt(fan_in), +1/sqrt(fan_in))
                         (nn.Linear weight and bias); INIT_ONES/ZEROS: nn.LayerNorm weight/bias */
    dim fan_in;
    int fused;        /* the next entry follows without padding (and heads never pad between them), so the
                         q, k, v heads of a block form one gap-free [3*d_model, d_model] matrix */
    ptrdiff_t slot;   /* offsetof in tl_pmap (PER_MODEL) or tl_layer_off (other scopes) that receives the
                         offset (of head 0 for PER_HEAD); -1: none */
    ptrdiff_t instead; /* PER_MODEL entries whose `when` fails: slot takes this slot's offset, or -1 */
    int conv1d;        /* a matrix stored [in, out] (GPT-2's Conv1D) rather than nn.Linear's [out, in] */
} spec;

#define MODEL_SLOT(f) offsetof(tl_pmap, f)
#define LAYER_SLOT(f) offsetof(tl_layer_off, f)
#define HEADS "transformer_blocks.%d.attention.attention_heads.%d."
#define BLOCK "transformer_blocks.%d."

/* Arena order = table order; PER_BLOCK/PER_HEAD runs repeat for every block. */
static const spec seed_family[] = {
    {"token_embedding_table.weight", PER_MODEL, ALWAYS, DIM_V, DIM_D, INIT_NORMAL, DIM_NONE, 0, MODEL_SLOT(wte), -1},
    {"position_embedding_table.weight", PER_MODEL, IF_LEARNED_POS, DIM_C, DIM_D, INIT_NORMAL, DIM_NONE, 0,
     MODEL_SLOT(wpe), -1},
    {HEADS "q_lin.weight", PER_HEAD, ALWAYS, DIM_HS, DIM_D, INIT_LINEAR, DIM_D, 1, LAYER_SLOT(wqkv), -1},
    {HEADS "k_lin.weight", PER_HEAD, ALWAYS, DIM_HS, DIM_D, INIT_LINEAR, DIM_D, 1, -1, -1},
    {HEADS "v_lin.weight", PER_HEAD, ALWAYS, DIM_HS, DIM_D, INIT_LINEAR, DIM_D, 0, -1, -1},
    {BLOCK "attention.projection_layer.weight", PER_BLOCK, ALWAYS, DIM_D, DIM_D, INIT_LINEAR, DIM_D, 0,
     LAYER_SLOT(wproj), -1},
    {BLOCK "attention.projection_layer.bias", PER_BLOCK, ALWAYS, DIM_D, DIM_NONE, INIT_LINEAR, DIM_D, 0,
     LAYER_SLOT(bproj), -1},
    {BLOCK "feed_forward.linear1.weight", PER_BLOCK, ALWAYS, DIM_F, DIM_D, INIT_LINEAR, DIM_D, 0, LAYER_SLOT(w1), -1},
    {BLOCK "feed_forward.linear1.bias", PER_BLOCK, ALWAYS, DIM_F, DIM_NONE, INIT_LINEAR, DIM_D, 0, LAYER_SLOT(b1), -1},
    {BLOCK "feed_forward.linear2.weight", PER_BLOCK, ALWAYS, DIM_D, DIM_F, INIT_LINEAR, DIM_F, 0, LAYER_SLOT(w2), -1},
    {BLOCK "feed_forward.linear2.bias", PER_BLOCK, ALWAYS, DIM_D, DIM_NONE, INIT_LINEAR, DIM_F, 0, LAYER_SLOT(b2), -1},
    {BLOCK "layer_norm1.weight", PER_BLOCK, ALWAYS, DIM_D, DIM_NONE, INIT_ONES, DIM_NONE, 0, LAYER_SLOT(ln1w), -1},
    {BLOCK "layer_norm1.bias", PER_BLOCK, ALWAYS, DIM_D, DIM_NONE, INIT_ZEROS, DIM_NONE, 0, LAYER_SLOT(ln1b), -1},
    {BLOCK "layer_norm2.weight", PER_BLOCK, ALWAYS, DIM_D, DIM_NONE, INIT_ONES, DIM_NONE, 0, LAYER_SLOT(ln2w), -1},
    {BLOCK "layer_norm2.bias", PER_BLOCK, ALWAYS, DIM_D, DIM_NONE, INIT_ZEROS, DIM_NONE, 0, LAYER_SLOT(ln2b), -1},
    {"final_layer_norm.weight", PER_MODEL, IF_PRENORM, DIM_D, DIM_NONE, INIT_ONES, DIM_NONE, 0, MODEL_SLOT(lnfw), -1},
    {"final_layer_norm.bias", PER_MODEL, IF_PRENORM, DIM_D, DIM_NONE, INIT_ZEROS, DIM_NONE, 0, MODEL_SLOT(lnfb), -1},
    /* tied: the output layer reads the token embedding */
    {"final_linear_layer.weight", PER_MODEL, IF_UNTIED, DIM_V, DIM_D, INIT_LINEAR, DIM_D, 0, MODEL_SLOT(wout),
     MODEL_SLOT(wte)},
    {"final_linear_layer.bias", PER_MODEL, ALWAYS, DIM_V, DIM_NONE, INIT_LINEAR, DIM_D, 0, MODEL_SLOT(bout), -1},
};
#define NSPEC_SEED ((int)(sizeof seed_family / sizeof seed_family[0]))

/* The Llama family (Llama, Mistral, Qwen2) with Hugging Face's names (docs/architectures.md).
 * nn.Linear weights are [out, in]. Offsets are those of an F32 arena; the engine reads these
 * models through tl_wref tables (model/weights.h), in this order. */
#define LBLOCK "model.layers.%d."
static const spec llama_family[] = {
    {"model.embed_tokens.weight", PER_MODEL, ALWAYS, DIM_V, DIM_D, INIT_NORMAL, DIM_NONE, 0, -1, -1},
    {LBLOCK "input_layernorm.weight", PER_BLOCK, ALWAYS, DIM_D, DIM_NONE, INIT_ONES, DIM_NONE, 0, -1, -1},
    {LBLOCK "self_attn.q_proj.weight", PER_BLOCK, ALWAYS, DIM_QH, DIM_D, INIT_LINEAR, DIM_D, 0, -1, -1},
    {LBLOCK "self_attn.q_proj.bias", PER_BLOCK, IF_QKV_BIAS, DIM_QH, DIM_NONE, INIT_LINEAR, DIM_D, 0, -1, -1},
    {LBLOCK "self_attn.k_proj.weight", PER_BLOCK, ALWAYS, DIM_KVH, DIM_D, INIT_LINEAR, DIM_D, 0, -1, -1},
    {LBLOCK "self_attn.k_proj.bias", PER_BLOCK, IF_QKV_BIAS, DIM_KVH, DIM_NONE, INIT_LINEAR, DIM_D, 0, -1, -1},
    {LBLOCK "self_attn.v_proj.weight", PER_BLOCK, ALWAYS, DIM_KVH, DIM_D, INIT_LINEAR, DIM_D, 0, -1, -1},
    {LBLOCK "self_attn.v_proj.bias", PER_BLOCK, IF_QKV_BIAS, DIM_KVH, DIM_NONE, INIT_LINEAR, DIM_D, 0, -1, -1},
    {LBLOCK "self_attn.o_proj.weight", PER_BLOCK, ALWAYS, DIM_D, DIM_QH, INIT_LINEAR, DIM_QH, 0, -1, -1},
    {LBLOCK "self_attn.o_proj.bias", PER_BLOCK, IF_O_BIAS, DIM_D, DIM_NONE, INIT_LINEAR, DIM_QH, 0, -1, -1},
    {LBLOCK "post_attention_layernorm.weight", PER_BLOCK, ALWAYS, DIM_D, DIM_NONE, INIT_ONES, DIM_NONE, 0, -1, -1},
    {LBLOCK "mlp.gate_proj.weight", PER_BLOCK, ALWAYS, DIM_F, DIM_D, INIT_LINEAR, DIM_D, 0, -1, -1},
    {LBLOCK "mlp.up_proj.weight", PER_BLOCK, ALWAYS, DIM_F, DIM_D, INIT_LINEAR, DIM_D, 0, -1, -1},
    {LBLOCK "mlp.down_proj.weight", PER_BLOCK, ALWAYS, DIM_D, DIM_F, INIT_LINEAR, DIM_F, 0, -1, -1},
    {"model.norm.weight", PER_MODEL, ALWAYS, DIM_D, DIM_NONE, INIT_ONES, DIM_NONE, 0, -1, -1},
    {"lm_head.weight", PER_MODEL, IF_UNTIED, DIM_V, DIM_D, INIT_LINEAR, DIM_D, 0, -1, -1},
};

/* GPT-2 with the names of the original OpenAI conversion (no "transformer." prefix; the loader
 * accepts files with it). Conv1D weights are [in, out]; the head is wte unless untied. */
#define GBLOCK "h.%d."
static const spec gpt2_family[] = {
    {"wte.weight", PER_MODEL, ALWAYS, DIM_V, DIM_D, INIT_NORMAL, DIM_NONE, 0, -1, -1},
    {"wpe.weight", PER_MODEL, ALWAYS, DIM_P, DIM_D, INIT_NORMAL, DIM_NONE, 0, -1, -1},
    {GBLOCK "ln_1.weight", PER_BLOCK, ALWAYS, DIM_D, DIM_NONE, INIT_ONES, DIM_NONE, 0, -1, -1},
    {GBLOCK "ln_1.bias", PER_BLOCK, ALWAYS, DIM_D, DIM_NONE, INIT_ZEROS, DIM_NONE, 0, -1, -1},
    {GBLOCK "attn.c_attn.weight", PER_BLOCK, ALWAYS, DIM_D, DIM_3D, INIT_LINEAR, DIM_D, 0, -1, -1, 1},
    {GBLOCK "attn.c_attn.bias", PER_BLOCK, ALWAYS, DIM_3D, DIM_NONE, INIT_LINEAR, DIM_D, 0, -1, -1},
    {GBLOCK "attn.c_proj.weight", PER_BLOCK, ALWAYS, DIM_D, DIM_D, INIT_LINEAR, DIM_D, 0, -1, -1, 1},
    {GBLOCK "attn.c_proj.bias", PER_BLOCK, ALWAYS, DIM_D, DIM_NONE, INIT_LINEAR, DIM_D, 0, -1, -1},
    {GBLOCK "ln_2.weight", PER_BLOCK, ALWAYS, DIM_D, DIM_NONE, INIT_ONES, DIM_NONE, 0, -1, -1},
    {GBLOCK "ln_2.bias", PER_BLOCK, ALWAYS, DIM_D, DIM_NONE, INIT_ZEROS, DIM_NONE, 0, -1, -1},
    {GBLOCK "mlp.c_fc.weight", PER_BLOCK, ALWAYS, DIM_D, DIM_F, INIT_LINEAR, DIM_D, 0, -1, -1, 1},
    {GBLOCK "mlp.c_fc.bias", PER_BLOCK, ALWAYS, DIM_F, DIM_NONE, INIT_LINEAR, DIM_D, 0, -1, -1},
    {GBLOCK "mlp.c_proj.weight", PER_BLOCK, ALWAYS, DIM_F, DIM_D, INIT_LINEAR, DIM_F, 0, -1, -1, 1},
    {GBLOCK "mlp.c_proj.bias", PER_BLOCK, ALWAYS, DIM_D, DIM_NONE, INIT_LINEAR, DIM_F, 0, -1, -1},
    {"ln_f.weight", PER_MODEL, ALWAYS, DIM_D, DIM_NONE, INIT_ONES, DIM_NONE, 0, -1, -1},
    {"ln_f.bias", PER_MODEL, ALWAYS, DIM_D, DIM_NONE, INIT_ZEROS, DIM_NONE, 0, -1, -1},
    /* GGUF files whose output.weight is not a copy of token_embd (llama.cpp's Q4_K_M quantizes the
     * head to Q6_K); nn.Linear [V, d] */
    {"lm_head.weight", PER_MODEL, IF_UNTIED, DIM_V, DIM_D, INIT_LINEAR, DIM_D, 0, -1, -1},
};

typedef struct {
    const spec *s;
    int n;
} family;

static family family_of(const tl_config *c)
{
    switch (c->arch) {
    case TL_ARCH_LLAMA:
    case TL_ARCH_MISTRAL:
    case TL_ARCH_QWEN2: return (family){llama_family, (int)(sizeof llama_family / sizeof llama_family[0])};
    case TL_ARCH_GPT2: return (family){gpt2_family, (int)(sizeof gpt2_family / sizeof gpt2_family[0])};
    case TL_ARCH_SEED: break;
    }
    return (family){seed_family, NSPEC_SEED};
}

static int64_t dim_value(const tl_config *c, dim d)
{
    switch (d) {
    case DIM_V: return c->vocab_size;
    case DIM_C: return c->context_length;
    case DIM_D: return c->d_model;
    case DIM_F: return c->d_ff;
    case DIM_HS: return c->d_model / c->n_head;
    case DIM_QH: return (int64_t)c->n_head * c->head_dim;
    case DIM_KVH: return (int64_t)c->n_kv_head * c->head_dim;
    case DIM_3D: return 3 * (int64_t)c->d_model;
    case DIM_P: return c->max_pos;
    case DIM_NONE: break;
    }
    return 0;
}

static int present(const tl_config *c, when w)
{
    return w == ALWAYS || (w == IF_LEARNED_POS && c->learned_pos) || (w == IF_PRENORM && c->prenorm) ||
           (w == IF_UNTIED && !c->tie_embeddings) || (w == IF_QKV_BIAS && c->qkv_bias) || (w == IF_O_BIAS && c->o_bias);
}

/* Called for every tensor in arena order; p->name is filled only when the walk wants names. */
typedef void (*visit_fn)(void *ctx, const spec *s, int block, int head, const tl_param *p);

typedef struct {
    const tl_config *c;
    int names;
    visit_fn visit;
    void *ctx;
    int n;
    size_t off;
    size_t numel; /* without padding */
} walk;

static void emit(walk *w, const spec *s, int block, int head, int pad)
{
    tl_param p = {.ndim = s->d1 == DIM_NONE ? 1 : 2, .offset = w->off, .in_dim = !s->conv1d};
    p.shape[0] = dim_value(w->c, s->d0);
    p.shape[1] = s->d1 == DIM_NONE ? 0 : dim_value(w->c, s->d1);
    p.numel = (size_t)p.shape[0] * (size_t)(p.ndim == 2 ? p.shape[1] : 1);
    if (w->names) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        if (s->scope == PER_HEAD)
            snprintf(p.name, sizeof p.name, s->name, block, head);
        else if (s->scope == PER_BLOCK)
            snprintf(p.name, sizeof p.name, s->name, block);
        else
            snprintf(p.name, sizeof p.name, "%s", s->name);
#pragma GCC diagnostic pop
    }
    if (w->visit)
        w->visit(w->ctx, s, block, head, &p);
    w->n++;
    w->numel += p.numel;
    w->off += pad ? (p.numel + TL_PARAM_ALIGN - 1) / TL_PARAM_ALIGN * TL_PARAM_ALIGN : p.numel;
}

static void emit_spec(walk *w, const spec *s, int block)
{
    if (!present(w->c, s->when))
        return;
    if (s->scope != PER_HEAD) {
        emit(w, s, block, 0, 1);
        return;
    }
    for (int h = 0; h < w->c->n_head; h++)
        emit(w, s, block, h, !s->fused && h == w->c->n_head - 1);
}

static void run(walk *w)
{
    const family f = family_of(w->c);
    for (int i = 0; i < f.n;) {
        if (f.s[i].scope == PER_MODEL) {
            emit_spec(w, &f.s[i++], 0);
            continue;
        }
        int end = i;
        while (end < f.n && f.s[end].scope != PER_MODEL)
            end++;
        for (int b = 0; b < w->c->n_layer; b++)
            for (int k = i; k < end; k++)
                emit_spec(w, &f.s[k], b);
        i = end;
    }
}

int tl_params_count(const tl_config *cfg)
{
    walk w = {.c = cfg};
    run(&w);
    return w.n;
}

static void visit_list(void *ctx, const spec *s, int block, int head, const tl_param *p)
{
    tl_param **out = ctx;
    *(*out)++ = *p;
}

int tl_params_list(const tl_config *cfg, tl_param *out)
{
    walk w = {.c = cfg, .names = 1, .visit = visit_list, .ctx = &out};
    run(&w);
    return w.n;
}

size_t tl_params_arena_floats(const tl_config *cfg)
{
    walk w = {.c = cfg};
    run(&w);
    return w.off;
}

size_t tl_params_numel(const tl_config *cfg)
{
    walk w = {.c = cfg};
    run(&w);
    return w.numel;
}

const tl_param *tl_params_find(const tl_param *list, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0)
            return &list[i];
    return NULL;
}

static int cmp_index(const void *a, const void *b, void *list)
{
    const tl_param *p = list;
    return strcmp(p[*(const int *)a].name, p[*(const int *)b].name);
}

void tl_params_index(const tl_param *list, int n, int *index)
{
    for (int i = 0; i < n; i++)
        index[i] = i;
    qsort_r(index, (size_t)n, sizeof *index, cmp_index, (void *)list);
}

int tl_params_index_find(const tl_param *list, const int *index, int n, const char *name)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(list[index[mid]].name, name);
        if (!c)
            return index[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

static void visit_map(void *ctx, const spec *s, int block, int head, const tl_param *p)
{
    tl_pmap *pm = ctx;
    if (s->slot < 0 || head != 0)
        return;
    char *base = s->scope == PER_MODEL ? (char *)pm : (char *)&pm->layers[block];
    *(size_t *)(base + s->slot) = p->offset;
}

void tl_params_map(const tl_config *cfg, tl_pmap *pm)
{
    walk w = {.c = cfg, .visit = visit_map, .ctx = pm};
    run(&w);
    const family f = family_of(cfg);
    for (int i = 0; i < f.n; i++) {
        const spec *s = &f.s[i];
        if (s->scope == PER_MODEL && s->instead >= 0 && !present(cfg, s->when))
            *(size_t *)((char *)pm + s->slot) = *(size_t *)((char *)pm + s->instead);
    }
}

typedef struct {
    const tl_config *c;
    float *params;
    tl_rng rng;
} init_ctx;

static void visit_init(void *ctx, const spec *s, int block, int head, const tl_param *p)
{
    init_ctx *ic = ctx;
    float *x = ic->params + p->offset;
    if (s->init == INIT_NORMAL) {
        for (size_t j = 0; j < p->numel; j++)
            x[j] = (float)tl_rng_normal(&ic->rng);
    } else if (s->init == INIT_ONES || s->init == INIT_ZEROS) {
        float v = s->init == INIT_ONES ? 1.0f : 0.0f;
        for (size_t j = 0; j < p->numel; j++)
            x[j] = v;
    } else {
        float bound = (float)(1.0 / sqrt((double)dim_value(ic->c, s->fan_in)));
        for (size_t j = 0; j < p->numel; j++)
            x[j] = (float)((2.0 * tl_rng_double(&ic->rng) - 1.0) * bound);
    }
}

void tl_params_init(const tl_config *cfg, float *params, uint64_t seed)
{
    memset(params, 0, tl_params_arena_floats(cfg) * sizeof(float));
    init_ctx ic = {.c = cfg, .params = params, .rng = tl_rng_seed(seed)};
    walk w = {.c = cfg, .visit = visit_init, .ctx = &ic};
    run(&w);
}
