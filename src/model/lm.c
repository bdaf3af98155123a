/* The Hugging Face families' inference workspace (model/lm.h; the equations are
 * docs/architectures.md, the memory layout and kernels docs/engine.md "The Hugging Face engine").
 *
 * A call's rows (every sequence's positions after its reusable cached prefix) are processed in
 * chunks of up to CH rows; a chunk runs through every layer with all its rows together: each
 * projection is one blocked product over the chunk's rows (tensor/wlinear.h, weights in their
 * stored dtype), attention is one item per (row, query head) against the slot's cache, and every
 * step runs on the worker pool. A decoding step of several sequences is one chunk of one row each.
 * Chunking never changes a row's arithmetic (products, norms and attention are row by row in a
 * fixed order), so a sequence's logits are bit-for-bit the same alone, batched or chunked. A
 * GGUF model follows llama.cpp, whose arithmetic depends on its batch (a repacked Q4_K's gemm
 * rows, a float matrix's single row, the attention's prompt rows): teelm takes a sequence's rows
 * of one step as that batch (r_gemm), so its logits still do not depend on what else is batched,
 * but do on whether its rows come at once or one by one, as llama.cpp's do. The last layer past
 * attention computes only the rows whose logits are asked for (keep_output_rows), as llama.cpp.
 *
 * Cache: slot s, layer l, keys then values, KV head g: ctx rows of hd floats, contiguous, so one
 * query head's attention reads two contiguous arrays. Keys are cached after RoPE. */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "model/lm.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/params.h"
#include "model/pmap.h"
#include "tensor/gelu_tanh.h"
#include "tensor/kvattn.h"
#include "tensor/layernorm.h"
#include "tensor/rmsnorm.h"
#include "tensor/rope.h"
#include "tensor/wlinear.h"
#include "util/harden.h"
#include "util/pool.h"
#include "util/secmem.h"

#define CHUNK_ROWS 128    /* rows per chunk (at least max_batch) */
#define ATT_PAR_MIN (1L << 21) /* multiply-adds of a chunk's attention below which it runs on the caller
                                   (a decoding row at ~2000 positions; below, waking workers costs more) */

typedef struct {
    tl_wref q, k, v, o, gate, up, down;     /* Llama family, nn.Linear [out, in] */
    tl_wref attn, proj, fc, mproj;          /* GPT-2, Conv1D [in, out] ([out, in] in a block type) */
    const float *bq, *bk, *bv, *bo;         /* F32 copies in `small`, or NULL */
    const float *battn, *bproj, *bfc, *bmproj;
    const float *ln1, *ln1b, *ln2, *ln2b;
} lm_layer;

struct tl_lm {
    tl_config cfg;
    int gpt2, B, ctx, CH, nt;
    int pairs;          /* 1: q and k in llama.cpp's rotary order (to_pairs) */
    float *pt;          /* [hd] to_pairs' scratch */
    int d, H, KV, hd, qd, kvd, ff, V, L;
    float scale;
    lm_layer *ly;
    tl_wref emb, wpe, head;
    const float *lnf, *lnfb;
    float *small;       /* norm weights and biases widened to float32 */
    float *inv;         /* [hd/2] RoPE frequencies */
    float *kc;          /* the caches: [B][L][2][KV][ctx][hd] */
    size_t plane;       /* ctx * hd */
    uint32_t *ctok;     /* [B][ctx] tokens each slot's cache was computed from */
    int *cn, *hw;       /* per slot: rows valid; rows ever written since the last forget */
    /* one chunk's activations */
    float *h, *x, *qkv, *att, *f, *cs; /* [CH][d], [CH][d], [CH][qd+2kvd], [CH][qd], [CH][ff], [CH][hd] */
    float *sc;          /* [nt][ctx + 16 + 64 hd] attention scratch per pool slot (tl_kvattn_row_ggml's) */
    float *last;        /* [B][d] final-norm rows for the head */
    float *rowmax;      /* [B] */
    int *r_seq, *r_pos; /* [CH] */
    unsigned char *r_gemm; /* [CH] tl_wlin.gemm bits: TL_ROW_GEMM, the row is in one of its sequence's
                              whole groups of four rows this step (llama.cpp's gemm rows of a repacked
                              Q4_K matrix, tensor/qdot8.h); TL_ROW_ALONE, a GGUF model's sequence has
                              this one row in the product (llama.cpp's float products of one row) */
    int *start;         /* [B] first computed row of each sequence */
    int rows;
    /* the current call */
    const uint32_t *const *tok;
    const int *lens, *slots;
    float *all_logits;
};

/* floats of attention scratch per pool slot (sizes() reserves nt of them) */
static size_t sc_stride(const tl_lm *m) { return (size_t)m->ctx + 16 + 64 * (size_t)m->hd; }

typedef struct { /* sizes, shared by tl_lm_new and tl_lm_bytes */
    size_t small, cache, tok, act, sc, last;
} lm_sizes;

/* a * b, or SIZE_MAX when it overflows */
static size_t mul(size_t a, size_t b) { return b && a > SIZE_MAX / b ? SIZE_MAX : a * b; }
static size_t add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

static int chunk_rows(int B) { return B > CHUNK_ROWS ? B : CHUNK_ROWS; }

static lm_sizes sizes(const tl_config *c, int B, int nt)
{
    const size_t d = (size_t)c->d_model, L = (size_t)c->n_layer, hd = (size_t)c->head_dim;
    const size_t qd = (size_t)c->n_head * hd, kvd = (size_t)c->n_kv_head * hd, ff = (size_t)c->d_ff;
    const size_t ctx = (size_t)c->context_length, CH = (size_t)chunk_rows(B);
    lm_sizes s;
    s.small = L * (4 * d + qd + 2 * kvd + d + 3 * d + ff + d) + 2 * d + hd; /* generous for both families */
    s.cache = mul(mul(mul((size_t)B, L), 2 * kvd), ctx);
    s.tok = mul((size_t)B, ctx);
    s.act = CH * (2 * d + (qd + 2 * kvd > 3 * d ? qd + 2 * kvd : 3 * d) + qd + ff + hd);
    s.sc = mul((size_t)nt, add(add(ctx, 16), 64 * hd));
    s.last = (size_t)B * d + hd; /* and to_pairs' row */
    return s;
}

size_t tl_lm_bytes(const tl_config *cfg, int max_batch, int threads)
{
    const int B = max_batch > 0 ? max_batch : 1, nt = threads < 1 ? 1 : threads > 256 ? 256 : threads;
    const lm_sizes s = sizes(cfg, B, nt);
    size_t f = add(add(add(s.small, s.cache), add(s.act, s.sc)), add(s.last, (size_t)B));
    size_t bytes = add(mul(f, sizeof(float)), mul(s.tok, sizeof(uint32_t)));
    return add(bytes, sizeof(tl_lm) + (size_t)cfg->n_layer * sizeof(lm_layer) +
                          (size_t)tl_params_count(cfg) * sizeof(tl_param) + (3 * (size_t)B + 2 * (size_t)chunk_rows(B)) * sizeof(int) +
                          (size_t)chunk_rows(B));
}

static void *zalloc(size_t n, size_t size, int *fail)
{
    if (n == SIZE_MAX || size == 0) {
        *fail = 1;
        return NULL;
    }
    void *p = calloc(n ? n : 1, size);
    if (!p)
        *fail = 1;
    return p;
}

void tl_lm_free(tl_lm *m)
{
    if (!m)
        return;
    void *b[] = {m->ly, m->small, m->inv, m->kc, m->ctok, m->cn, m->hw, m->h, m->x, m->qkv, m->att, m->f, m->cs,
                 m->sc, m->last, m->rowmax, m->r_seq, m->r_pos, m->r_gemm, m->start, m->pt};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++)
        tl_sec_free(b[i]);
    tl_sec_free(m);
}

/* Widens w (n elements) into the next n floats of m->small. */
static const float *widen(tl_lm *m, size_t *used, tl_wref w, size_t n, int *bad)
{
    float *dst = m->small + *used;
    *bad |= tl_dtype_is_block(w.dtype); /* norms and biases: element types only */
    tl_dtype_to_f32(w.dtype, w.data, dst, n);
    *used += n;
    return dst;
}

/* Resolves the weight table (tl_params_list order) into per-layer references, checking the
 * names so that a table that ever changes order fails loudly instead of computing garbage. */
static int bind_weights(tl_lm *m, const tl_wref *w, tl_err *err)
{
    const tl_config *c = &m->cfg;
    const int n = tl_params_count(c);
    tl_param *p = calloc((size_t)n, sizeof *p);
    if (!p)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    tl_params_list(c, p);
    for (int i = 0; i < n; i++) {
        const tl_dtype dt = w[i].dtype;
        const int plain = dt == TL_DT_F32 || dt == TL_DT_F16 || dt == TL_DT_BF16;
        const int quant = dt == TL_DT_Q8_0 || dt == TL_DT_Q4_0 || dt == TL_DT_Q4_K || dt == TL_DT_Q6_K;
        /* block types: matrices whose rows (along the input dimension) are whole blocks */
        const int blocks_ok = quant && p[i].ndim == 2 && tl_param_row_len(&p[i]) % (int64_t)tl_dtype_block(dt) == 0;
        if (!w[i].data || !(plain || blocks_ok)) {
            if (quant)
                tl_errf(err, TL_EINVAL, "weight %s: dtype %s needs a matrix whose rows are whole blocks of %zu",
                        p[i].name, tl_dtype_name(dt), tl_dtype_block(dt));
            else
                tl_errf(err, TL_EINVAL, "weight %s: no data or a dtype other than F32/F16/BF16/Q8_0/Q4_0/Q4_K/Q6_K",
                        p[i].name);
            free(p);
            return err->code;
        }
    }
    int i = 0, bad = 0;
    size_t used = 0;
    char want[TL_PARAM_NAME_MAX];
#define TAKE(fmt, ...) (snprintf(want, sizeof want, fmt, __VA_ARGS__), \
                        bad |= i >= n || strcmp(p[i].name, want), w[i < n ? i++ : 0])
#define VEC(fmt, len, ...) widen(m, &used, TAKE(fmt, __VA_ARGS__), (size_t)(len), &bad)
    const size_t d = (size_t)m->d;
    if (m->gpt2) {
        m->emb = TAKE("%s", "wte.weight");
        m->wpe = TAKE("%s", "wpe.weight");
        for (int l = 0; l < m->L; l++) {
            lm_layer *y = &m->ly[l];
            y->ln1 = VEC("h.%d.ln_1.weight", d, l);
            y->ln1b = VEC("h.%d.ln_1.bias", d, l);
            y->attn = TAKE("h.%d.attn.c_attn.weight", l);
            y->battn = VEC("h.%d.attn.c_attn.bias", 3 * d, l);
            y->proj = TAKE("h.%d.attn.c_proj.weight", l);
            y->bproj = VEC("h.%d.attn.c_proj.bias", d, l);
            y->ln2 = VEC("h.%d.ln_2.weight", d, l);
            y->ln2b = VEC("h.%d.ln_2.bias", d, l);
            y->fc = TAKE("h.%d.mlp.c_fc.weight", l);
            y->bfc = VEC("h.%d.mlp.c_fc.bias", m->ff, l);
            y->mproj = TAKE("h.%d.mlp.c_proj.weight", l);
            y->bmproj = VEC("h.%d.mlp.c_proj.bias", d, l);
        }
        m->lnf = VEC("%s", d, "ln_f.weight");
        m->lnfb = VEC("%s", d, "ln_f.bias");
        m->head = c->tie_embeddings ? m->emb : TAKE("%s", "lm_head.weight");
    } else {
        m->emb = TAKE("%s", "model.embed_tokens.weight");
        for (int l = 0; l < m->L; l++) {
            lm_layer *y = &m->ly[l];
            y->ln1 = VEC("model.layers.%d.input_layernorm.weight", d, l);
            y->q = TAKE("model.layers.%d.self_attn.q_proj.weight", l);
            if (c->qkv_bias)
                y->bq = VEC("model.layers.%d.self_attn.q_proj.bias", m->qd, l);
            y->k = TAKE("model.layers.%d.self_attn.k_proj.weight", l);
            if (c->qkv_bias)
                y->bk = VEC("model.layers.%d.self_attn.k_proj.bias", m->kvd, l);
            y->v = TAKE("model.layers.%d.self_attn.v_proj.weight", l);
            if (c->qkv_bias)
                y->bv = VEC("model.layers.%d.self_attn.v_proj.bias", m->kvd, l);
            y->o = TAKE("model.layers.%d.self_attn.o_proj.weight", l);
            if (c->o_bias)
                y->bo = VEC("model.layers.%d.self_attn.o_proj.bias", d, l);
            y->ln2 = VEC("model.layers.%d.post_attention_layernorm.weight", d, l);
            y->gate = TAKE("model.layers.%d.mlp.gate_proj.weight", l);
            y->up = TAKE("model.layers.%d.mlp.up_proj.weight", l);
            y->down = TAKE("model.layers.%d.mlp.down_proj.weight", l);
            /* gate and up are read in one pass (tl_wlin.w2): they must share a dtype */
            bad |= y->gate.dtype != y->up.dtype;
        }
        m->lnf = VEC("%s", d, "model.norm.weight");
        m->head = c->tie_embeddings ? m->emb : TAKE("%s", "lm_head.weight");
    }
#undef VEC
#undef TAKE
    bad |= i != n;
    free(p);
    if (bad)
        return tl_errf(err, TL_EINVAL, "weight table does not match the parameter list of this config "
                                       "(or gate_proj and up_proj differ in dtype, or a norm or bias has a block type)");
    return 0;
}

tl_lm *tl_lm_new(const tl_config *cfg, const tl_wref *w, int max_batch, tl_err *err)
{
    if (!tl_config_is_hf(cfg)) {
        tl_errf(err, TL_EINVAL, "tl_lm runs the Hugging Face families only (the seed model: tl_infer)");
        return NULL;
    }
    if (tl_config_validate(cfg, err))
        return NULL;
    if (max_batch < 1 || max_batch > 4096) {
        tl_errf(err, TL_EINVAL, "max_batch %d is outside 1..4096", max_batch);
        return NULL;
    }
    tl_lm *m = tl_zalloc(sizeof *m, err);
    if (!m)
        return NULL;
    m->cfg = *cfg;
    m->gpt2 = cfg->arch == TL_ARCH_GPT2;
    m->pairs = cfg->ggml_numerics && cfg->arch == TL_ARCH_LLAMA;
    m->B = max_batch;
    m->ctx = cfg->context_length;
    m->CH = chunk_rows(max_batch);
    m->nt = tl_parallel_slots(256);
    m->d = cfg->d_model;
    m->H = cfg->n_head;
    m->KV = cfg->n_kv_head;
    m->hd = cfg->head_dim;
    m->qd = m->H * m->hd;
    m->kvd = m->KV * m->hd;
    m->ff = cfg->d_ff;
    m->V = cfg->vocab_size;
    m->L = cfg->n_layer;
    /* llama.cpp's kq_scale is 1.0f / sqrtf(head_dim) */
    m->scale = cfg->ggml_numerics ? 1.0f / sqrtf((float)m->hd) : (float)(1.0 / sqrt((double)m->hd));
    m->plane = (size_t)m->ctx * (size_t)m->hd;
    const lm_sizes s = sizes(cfg, m->B, m->nt);
    const size_t CH = (size_t)m->CH;
    int fail = 0;
    m->ly = zalloc((size_t)m->L, sizeof *m->ly, &fail);
    m->small = zalloc(s.small, sizeof(float), &fail);
    m->inv = zalloc((size_t)m->hd, sizeof(float), &fail);
    m->kc = zalloc(s.cache, sizeof(float), &fail);
    m->ctok = zalloc(s.tok, sizeof(uint32_t), &fail);
    m->cn = zalloc((size_t)m->B, sizeof(int), &fail);
    m->hw = zalloc((size_t)m->B, sizeof(int), &fail);
    m->h = zalloc(CH * (size_t)m->d, sizeof(float), &fail);
    m->x = zalloc(CH * (size_t)m->d, sizeof(float), &fail);
    m->qkv = zalloc(CH * (size_t)(m->qd + 2 * m->kvd > 3 * m->d ? m->qd + 2 * m->kvd : 3 * m->d), sizeof(float), &fail);
    m->att = zalloc(CH * (size_t)m->qd, sizeof(float), &fail);
    m->f = zalloc(CH * (size_t)m->ff, sizeof(float), &fail);
    m->cs = zalloc(CH * (size_t)m->hd, sizeof(float), &fail);
    m->sc = zalloc(s.sc, sizeof(float), &fail);
    m->last = zalloc(s.last, sizeof(float), &fail);
    m->rowmax = zalloc((size_t)m->B, sizeof(float), &fail);
    m->r_seq = zalloc(CH, sizeof(int), &fail);
    m->r_pos = zalloc(CH, sizeof(int), &fail);
    m->r_gemm = zalloc(CH, 1, &fail);
    m->start = zalloc((size_t)m->B, sizeof(int), &fail);
    m->pt = zalloc((size_t)m->hd, sizeof(float), &fail);
    if (fail) {
        tl_lm_free(m);
        tl_errf(err, TL_ENOMEM, "out of memory for a %d-slot workspace of %d positions (%zu MB of caches)", max_batch,
                m->ctx, s.cache == SIZE_MAX ? SIZE_MAX : s.cache * sizeof(float) >> 20);
        return NULL;
    }
    if (bind_weights(m, w, err)) {
        tl_lm_free(m);
        return NULL;
    }
    /* widened weights: out of core dumps */
    tl_secret_protect(m->small, s.small * sizeof(float), TL_SECRET_DONTDUMP);
    if (!m->gpt2)
        tl_rope_inv_freq(m->inv, m->hd, cfg->rope_theta, (int)cfg->rope_type, cfg->rope_factor, cfg->rope_low_freq,
                         cfg->rope_high_freq, cfg->rope_orig_ctx);
    return m;
}

static float *cache_k(const tl_lm *m, int slot, int l, int g)
{
    return m->kc + (((size_t)slot * m->L + l) * 2 * m->KV + g) * m->plane;
}

static float *cache_v(const tl_lm *m, int slot, int l, int g)
{
    return cache_k(m, slot, l, g) + (size_t)m->KV * m->plane;
}

static void wipe_activations(tl_lm *m)
{
    const size_t CH = (size_t)m->CH;
    explicit_bzero(m->h, CH * m->d * sizeof(float));
    explicit_bzero(m->x, CH * m->d * sizeof(float));
    explicit_bzero(m->qkv, CH * (size_t)(m->qd + 2 * m->kvd > 3 * m->d ? m->qd + 2 * m->kvd : 3 * m->d) * sizeof(float));
    explicit_bzero(m->att, CH * m->qd * sizeof(float));
    explicit_bzero(m->f, CH * m->ff * sizeof(float));
    explicit_bzero(m->cs, CH * m->hd * sizeof(float));
    explicit_bzero(m->sc, (size_t)m->nt * sc_stride(m) * sizeof(float));
    explicit_bzero(m->last, (size_t)m->B * m->d * sizeof(float));
    explicit_bzero(m->rowmax, (size_t)m->B * sizeof(float));
}

void tl_lm_forget(tl_lm *m, int slot)
{
    if (!m || slot < 0 || slot >= m->B)
        return;
    const size_t used = (size_t)m->hw[slot] * m->hd;
    for (int l = 0; l < m->L; l++)
        for (int g = 0; g < m->KV; g++) {
            explicit_bzero(cache_k(m, slot, l, g), used * sizeof(float));
            explicit_bzero(cache_v(m, slot, l, g), used * sizeof(float));
        }
    explicit_bzero(m->ctok + (size_t)slot * m->ctx, (size_t)m->ctx * sizeof *m->ctok);
    m->cn[slot] = m->hw[slot] = 0;
    wipe_activations(m);
}

/* ---- one chunk ---- */

typedef struct {
    tl_lm *m;
    int n, l;
} att_job;

static void att_chunk(void *arg, int slot, long i0, long i1)
{
    const att_job *j = arg;
    tl_lm *m = j->m;
    const int H = m->H, grp = H / m->KV;
    const int qs = m->gpt2 ? 3 * m->d : m->qd; /* row stride of q in m->qkv */
    float *sc = m->sc + (size_t)slot * sc_stride(m);
    for (long i = i0; i < i1; i++) {
        const int r = (int)(i / H), h = (int)(i % H), g = h / grp, s = m->r_seq[r];
        const int cs = m->slots[s], p = m->r_pos[r];
        float *out = m->att + (size_t)r * m->qd + (size_t)h * m->hd;
        const float *q = m->qkv + (size_t)r * qs + (size_t)h * m->hd;
        if (m->cfg.ggml_numerics) /* a prompt's rows (not its sequence's only row this step) as llama.cpp's */
            tl_kvattn_row_ggml(out, q, cache_k(m, cs, j->l, g), cache_v(m, cs, j->l, g), p + 1, m->hd, m->scale,
                               !(m->r_gemm[r] & TL_ROW_ALONE), sc);
        else
            tl_kvattn_row(out, q, cache_k(m, cs, j->l, g), cache_v(m, cs, j->l, g), p + 1, m->hd, m->scale, sc);
    }
}

static void norm_rows(const tl_lm *m, float *out, const float *in, const float *w, const float *b, int n)
{
    if (m->gpt2)
        (m->cfg.ggml_numerics ? tl_layernorm_rows_ggml : tl_layernorm_rows)(out, in, w, b, n, m->d, m->cfg.ln_eps);
    else if (m->cfg.ggml_numerics)
        tl_rmsnorm_rows_ggml(out, in, w, n, m->d, m->cfg.ln_eps);
    else
        tl_rmsnorm_rows(out, in, w, n, m->d, m->cfg.ln_eps);
}

/* A GPT-2 Conv1D layer out[n][O] (+)= x[n][C]·W + bias: W [C][O] in F32/F16/BF16, or [O][C]
 * in a block type (model/weights.h), whose products run as llama.cpp's do. */
static void conv1d(tl_wref w, const float *bias, float *out, int O, int add, const float *x, int n, int C, int xr,
                   const unsigned char *gm)
{
    const tl_wlin op = {w.data, w.dtype, bias, out, O, add, NULL, xr, .gemm = gm};
    if (tl_dtype_is_block(w.dtype))
        tl_wlin_nt(&op, 1, x, n, C);
    else
        tl_wlin_nn(&op, x, n, C);
}

/* Each head's dimensions from Hugging Face's order (the rotary pairs are i and i + hd/2) to
 * llama.cpp's for a GGUF Llama (pairs 2i, 2i + 1: its converter permutes the q/k rows for that
 * "normal" rotary, which model/gguf_model.c undoes at load). The values are the same; the order
 * is that of the sums q·k over the head's dimensions, so it decides their rounding. */
static void to_pairs(float *x, int heads, int hd, float *t)
{
    const int half = hd / 2;
    for (int h = 0; h < heads; h++, x += hd) {
        memcpy(t, x, (size_t)hd * sizeof *x);
        for (int i = 0; i < half; i++) {
            x[2 * i] = t[i];
            x[2 * i + 1] = t[i + half];
        }
    }
}

/* q, k, v of the chunk's rows (rotated), keys and values into the cache */
static void qkv_forward(tl_lm *m, const lm_layer *y, int n, int l)
{
    const int d = m->d;
    if (m->gpt2) {
        conv1d(y->attn, y->battn, m->qkv, 3 * d, 0, m->x, n, d, m->cfg.round_half_acts, m->r_gemm);
    } else {
        float *q = m->qkv, *k = q + (size_t)n * m->qd, *v = k + (size_t)n * m->kvd;
        const int xr = m->cfg.round_half_acts;
        const tl_wlin ops[3] = {{y->q.data, y->q.dtype, y->bq, q, m->qd, 0, NULL, xr, .gemm = m->r_gemm},
                                {y->k.data, y->k.dtype, y->bk, k, m->kvd, 0, NULL, xr, .gemm = m->r_gemm},
                                {y->v.data, y->v.dtype, y->bv, v, m->kvd, 0, NULL, xr, .gemm = m->r_gemm}};
        tl_wlin_nt(ops, 3, m->x, n, d);
    }
    const size_t hb = (size_t)m->hd * sizeof(float);
    for (int r = 0; r < n; r++) {
        const int cs = m->slots[m->r_seq[r]], p = m->r_pos[r];
        float *k, *v;
        if (m->gpt2) {
            k = m->qkv + (size_t)r * 3 * d + d;
            v = k + d;
        } else {
            float *q = m->qkv + (size_t)r * m->qd;
            k = m->qkv + (size_t)n * m->qd + (size_t)r * m->kvd;
            v = m->qkv + (size_t)n * (m->qd + m->kvd) + (size_t)r * m->kvd;
            void (*rot)(float *, int, int, const float *) =
                m->cfg.ggml_numerics ? tl_rope_apply_ggml : tl_rope_apply;
            rot(q, m->H, m->hd, m->cs + (size_t)r * m->hd);
            rot(k, m->KV, m->hd, m->cs + (size_t)r * m->hd);
            if (m->pairs) {
                to_pairs(q, m->H, m->hd, m->pt);
                to_pairs(k, m->KV, m->hd, m->pt);
            }
        }
        for (int g = 0; g < m->KV; g++) {
            memcpy(cache_k(m, cs, l, g) + (size_t)p * m->hd, k + (size_t)g * m->hd, hb);
            memcpy(cache_v(m, cs, l, g) + (size_t)p * m->hd, v + (size_t)g * m->hd, hb);
        }
    }
}

/* The head for rows x[0..n) into out[n][V], and their maxima into rowmax (may be NULL); gm: the
 * rows' TL_ROW_* bits (tl_wlin.gemm) or NULL. */
static void head_rows(tl_lm *m, float *out, float *rowmax, const float *x, int n, const unsigned char *gm)
{
    /* a tied head too: llama.cpp repacks its duplicate of the embedding for the product */
    const tl_wlin op = {m->head.data, m->head.dtype, NULL, out, m->V, 0, NULL, m->cfg.round_half_acts, .gemm = gm};
    tl_wlin_nt(&op, 1, x, n, m->d);
    for (int r = 0; rowmax && r < n; r++) {
        const float *lg = out + (size_t)r * m->V;
        float mx = lg[0];
        for (int v = 1; v < m->V; v++)
            mx = lg[v] > mx ? lg[v] : mx;
        rowmax[r] = mx;
    }
}

/* TL_ROW_ALONE for a GGUF model's row when its sequence has cnt = 1 rows in the product */
static unsigned char row_alone(const tl_lm *m, int cnt)
{
    return m->cfg.ggml_numerics && cnt == 1 ? TL_ROW_ALONE : 0;
}

/* The last layer past attention needs only the rows whose logits are asked for (llama.cpp cuts
 * them out there too, so its products see that many rows): the last row of each sequence that
 * ends in this chunk, moved to the front with their r_seq and r_pos. Returns their count. */
static int keep_output_rows(tl_lm *m, int n)
{
    int k = 0;
    for (int r = 0; r < n; r++) {
        const int s = m->r_seq[r];
        if (m->r_pos[r] != m->lens[s] - 1)
            continue;
        if (k != r)
            memcpy(m->h + (size_t)k * m->d, m->h + (size_t)r * m->d, (size_t)m->d * sizeof(float));
        m->r_seq[k] = s;
        m->r_pos[k] = m->r_pos[r];
        m->r_gemm[k] = row_alone(m, 1); /* one row per sequence: gemv */
        k++;
    }
    return k;
}

static void chunk_forward(tl_lm *m, int n)
{
    const int d = m->d;
    const size_t erow = tl_dtype_bytes(m->emb.dtype, (size_t)d); /* bind_weights: whole blocks */
    for (int r = 0; r < n; r++) {
        const uint32_t t = m->tok[m->r_seq[r]][m->r_pos[r]];
        /* llama.cpp computes a batch's rows in groups of four (gemm) and the last rows % 4 one by
           one (gemv); a sequence's rows of this step are its batch, whatever else is batched */
        const int s = m->r_seq[r], cnt = m->lens[s] - m->start[s];
        m->r_gemm[r] = (unsigned char)((m->r_pos[r] - m->start[s] < cnt - cnt % 4 ? TL_ROW_GEMM : 0) | row_alone(m, cnt));
        float *h = m->h + (size_t)r * d;
        tl_dtype_to_f32(m->emb.dtype, (const char *)m->emb.data + (size_t)t * erow, h, (size_t)d);
        if (m->gpt2) {
            float *x = m->x; /* scratch row */
            tl_dtype_to_f32(m->wpe.dtype, (const char *)m->wpe.data + tl_dtype_bytes(m->wpe.dtype, (size_t)m->r_pos[r] * d),
                            x, (size_t)d);
            for (int i = 0; i < d; i++)
                h[i] += x[i];
        } else {
            if (m->cfg.ggml_numerics && m->cfg.rope_type != TL_ROPE_LLAMA3)
                tl_rope_table_ggml(m->cs + (size_t)r * m->hd, m->hd, m->r_pos[r], m->cfg.rope_theta,
                                   m->cfg.rope_type == TL_ROPE_LINEAR ? 1.0f / m->cfg.rope_factor : 1.0f);
            else
                tl_rope_table(m->cs + (size_t)r * m->hd, m->inv, m->hd, m->r_pos[r]);
        }
    }
    long att_work = 0;
    for (int r = 0; r < n; r++)
        att_work += (long)(m->r_pos[r] + 1) * m->qd * 2;
    for (int l = 0; l < m->L; l++) {
        const lm_layer *y = &m->ly[l];
        norm_rows(m, m->x, m->h, y->ln1, y->ln1b, n);
        qkv_forward(m, y, n, l);
        att_job aj = {m, n, l};
        const long items = (long)n * m->H;
        long g = items / (8L * tl_get_threads());
        /* at most m->nt slots: the attention scratch was sized for the threads at tl_lm_new */
        tl_parallel_for(items, g < 1 ? 1 : g, att_work > ATT_PAR_MIN ? m->nt : 1, att_chunk, &aj);
        const int xr = m->cfg.round_half_acts;
        if (m->gpt2)
            conv1d(y->proj, y->bproj, m->h, d, 1, m->att, n, m->qd, xr, m->r_gemm);
        else {
            const tl_wlin o = {y->o.data, y->o.dtype, y->bo, m->h, d, 1, NULL, xr, .gemm = m->r_gemm};
            tl_wlin_nt(&o, 1, m->att, n, m->qd);
        }
        if (l == m->L - 1 && !m->all_logits && !(n = keep_output_rows(m, n)))
            break;
        if (m->gpt2) {
            norm_rows(m, m->x, m->h, y->ln2, y->ln2b, n);
            conv1d(y->fc, y->bfc, m->f, m->ff, 0, m->x, n, d, xr, m->r_gemm);
            if (m->cfg.gelu == 2)
                tl_gelu_tanh_ggml(m->f, (size_t)n * m->ff);
            else
                tl_gelu_tanh(m->f, (size_t)n * m->ff);
            conv1d(y->mproj, y->bmproj, m->h, d, 1, m->f, n, m->ff, xr, m->r_gemm);
        } else {
            norm_rows(m, m->x, m->h, y->ln2, NULL, n);
            const tl_wlin gu = {y->gate.data, y->gate.dtype, NULL, m->f, m->ff, 0, y->up.data, xr,
                                m->cfg.ggml_numerics, m->r_gemm};
            tl_wlin_nt(&gu, 1, m->x, n, d);
            const tl_wlin dn = {y->down.data, y->down.dtype, NULL, m->h, d, 1, NULL, xr, .gemm = m->r_gemm};
            tl_wlin_nt(&dn, 1, m->f, n, m->ff);
        }
    }
    /* final norm: every row for all_logits, else the last row of each sequence */
    if (m->all_logits) {
        norm_rows(m, m->x, m->h, m->lnf, m->lnfb, n);
        const int off = m->r_pos[0] - m->start[0];
        head_rows(m, m->all_logits + (size_t)off * m->V, NULL, m->x, n, m->r_gemm);
    }
    for (int r = 0; r < n; r++) {
        const int s = m->r_seq[r];
        if (m->r_pos[r] == m->lens[s] - 1)
            norm_rows(m, m->last + (size_t)s * d, m->h + (size_t)r * d, m->lnf, m->lnfb, 1);
    }
}

/* Rows of the longest common prefix of slot's cached tokens and tok, leaving the last row to compute. */
static int reusable(const tl_lm *m, int slot, const uint32_t *tok, int len)
{
    const uint32_t *ct = m->ctok + (size_t)slot * m->ctx;
    const int n = m->cn[slot] < len - 1 ? m->cn[slot] : len - 1;
    int i = 0;
    while (i < n && ct[i] == tok[i])
        i++;
    return i;
}

int tl_lm_step(tl_lm *m, const uint32_t *const *tokens, const int *lens, const int *slots, int nb, float *logits,
               float *all_logits, tl_err *err)
{
    if (nb < 1 || nb > m->B)
        return tl_errf(err, TL_EINVAL, "batch of %d sequences does not fit the workspace (1..%d)", nb, m->B);
    if (all_logits && nb != 1)
        return tl_errf(err, TL_EINVAL, "all_logits needs a batch of one sequence, got %d", nb);
    if (!slots)
        return tl_errf(err, TL_EINVAL, "no cache slots given");
    unsigned char seen[4096] = {0};
    for (int s = 0; s < nb; s++) {
        if (lens[s] < 1 || lens[s] > m->ctx)
            return tl_errf(err, TL_EINVAL, "sequence %d has %d tokens; the context holds 1..%d", s, lens[s], m->ctx);
        if (tl_check_tokens(&m->cfg, tokens[s], (size_t)lens[s], "token", err))
            return err->code;
        if (slots[s] < 0 || slots[s] >= m->B)
            return tl_errf(err, TL_EINVAL, "sequence %d: cache slot %d is outside 0..%d", s, slots[s], m->B - 1);
        if (seen[slots[s]]++)
            return tl_errf(err, TL_EINVAL, "cache slot %d is given to two sequences", slots[s]);
    }
    m->tok = tokens;
    m->lens = lens;
    m->slots = slots;
    m->all_logits = all_logits;
    int total = 0;
    for (int s = 0; s < nb; s++) {
        m->start[s] = reusable(m, slots[s], tokens[s], lens[s]);
        total += lens[s] - m->start[s];
        /* the cache rows past the reused prefix are about to be overwritten */
        m->cn[slots[s]] = m->start[s];
    }
    m->rows = total;
    int n = 0;
    for (int s = 0; s < nb; s++)
        for (int p = m->start[s]; p < lens[s]; p++) {
            m->r_seq[n] = s;
            m->r_pos[n] = p;
            if (++n == m->CH) {
                chunk_forward(m, n);
                n = 0;
            }
        }
    if (n)
        chunk_forward(m, n);
    for (int s = 0; s < nb; s++) {
        const int sl = slots[s];
        memcpy(m->ctok + (size_t)sl * m->ctx, tokens[s], (size_t)lens[s] * sizeof(uint32_t));
        m->cn[sl] = lens[s];
        if (lens[s] > m->hw[sl])
            m->hw[sl] = lens[s];
    }
    for (int s = 0; s < nb; s++) /* one row per sequence (CH >= B) */
        m->r_gemm[s] = row_alone(m, 1);
    head_rows(m, logits, m->rowmax, m->last, nb, m->r_gemm);
    m->tok = NULL;
    m->lens = m->slots = NULL;
    m->all_logits = NULL;
    return 0;
}

const float *tl_lm_row_max(const tl_lm *m) { return m->rowmax; }

int tl_lm_rows(const tl_lm *m) { return m->rows; }

int tl_lm_shared_prefix(const tl_lm *m, int src, const uint32_t *tok, int len)
{
    if (!m || src < 0 || src >= m->B || len < 1)
        return 0;
    return reusable(m, src, tok, len);
}

int tl_lm_copy_prefix(tl_lm *m, int dst, int src, int n)
{
    if (!m || dst < 0 || dst >= m->B || src < 0 || src >= m->B || dst == src || n < 0 || n > m->cn[src])
        return -1;
    if (!n)
        return 0;
    /* rows past n that dst held before stay counted in hw, so tl_lm_forget still wipes them */
    for (int l = 0; l < m->L; l++)
        for (int g = 0; g < m->KV; g++) {
            memcpy(cache_k(m, dst, l, g), cache_k(m, src, l, g), (size_t)n * m->hd * sizeof(float));
            memcpy(cache_v(m, dst, l, g), cache_v(m, src, l, g), (size_t)n * m->hd * sizeof(float));
        }
    memcpy(m->ctok + (size_t)dst * m->ctx, m->ctok + (size_t)src * m->ctx, (size_t)n * sizeof *m->ctok);
    m->cn[dst] = n;
    if (m->hw[dst] < n)
        m->hw[dst] = n;
    return 0;
}

const tl_config *tl_lm_config(const tl_lm *m) { return &m->cfg; }
