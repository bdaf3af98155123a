/* Batched inference (tl_infer_*): the decoding path of `teelm generate` and the server.
 *
 * Only the last position's logits are wanted, which allows three savings over the training pass:
 *  - sequences are split into groups that each run through every layer on one thread: no barrier
 *    per layer, and a group's activations stay in cache;
 *  - each sequence keeps its keys and values per layer in a cache slot, so while the window is
 *    still filling (positions unchanged) a call computes only the rows after the cached prefix;
 *  - the last block runs attention, projection and feed-forward for the last row only.
 * A workspace is bound to the params it last ran with: the weights are laid out once for them
 * (transposed linears, packed output layer) and only laid out again when other params come.
 * Every row goes through the same arithmetic however rows are grouped or cached (linear outputs are
 * bias + multiply-adds over the input in order; attention and LayerNorm work row by row), so a
 * sequence's logits are bit-for-bit the same alone, in any batch, with or without its cache. */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/pmap.h"
#include "tensor/activations.h"
#include "tensor/attention.h"
#include "tensor/layernorm.h"
#include "tensor/lmhead.h"
#include "tensor/matmul.h"
#include "util/harden.h"
#include "util/pool.h"
#include "util/secmem.h"

/* Rows a group aims at: enough for the register-tiled kernels, few enough that a batch makes
 * several groups per thread (a descheduled thread then holds back little). */
#define GROUP_ROWS 64

typedef struct { /* one thread's activations for a group of up to R rows */
    float *x, *ln, *qkv, *atty, *ao, *res, *h, *mo; /* [R,D] ([R,3D] qkv, [R,F] h) */
    float *p;                                       /* [ctx] one query's attention weights */
} tacts;

typedef struct { /* one sequence of the current call */
    const uint32_t *tok;
    int len, start, slot; /* rows start..len-1 are computed; keys/values live in cache slot `slot` */
} seqd;

struct tl_infer {
    tl_config cfg;
    tl_pmap pm;
    int max_batch, ctx, R, nt;
    float scale;
    float *pe;          /* [ctx, D] sinusoidal table (unused with learned positions) */
    tacts *t;           /* nt thread slots */
    float *kv;          /* [max_batch][L] attention caches (tl_attention_cache_put) */
    size_t kvn;         /* floats per cache */
    uint32_t *ctok;     /* [max_batch][ctx]: the tokens each cache slot was computed from */
    int *cn;            /* rows cached per slot */
    float *lin;         /* per layer: packed q|k|v, projection, linear1, linear2 (tl_linear_pack) */
    size_t lin_layer, o_proj, o_w1, o_w2;
    float *packed;      /* output weights for tl_lmhead_rows_packed */
    const float *bound; /* lin and packed hold these params (NULL: none yet) */
    float *last;        /* [max_batch, D]: the output layer's input rows */
    float *rowmax;      /* [max_batch]: largest logit of each row of the last call */
    seqd *sq;           /* [max_batch] */
    int *grp;           /* [max_batch+1]: group g is sequences grp[g]..grp[g+1]-1 */
    unsigned char *seen;
    const float *params; /* of the current call */
    int rows;            /* rows the last call computed */
};

/* Activations are derived from prompts: wiped on free (tl_sec_free). */
static void tacts_free(tacts *t)
{
    float **b[] = {&t->x, &t->ln, &t->qkv, &t->atty, &t->ao, &t->res, &t->h, &t->mo, &t->p};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        tl_sec_free(*b[i]);
        *b[i] = NULL;
    }
}

/* Zeroed floats as tl_falloc allocates them: whole cache lines, at least one. */
static size_t falloc_bytes(size_t n)
{
    size_t b = (n * sizeof(float) + 63) / 64 * 64;
    return b ? b : 64;
}

/* Rows of a group buffer and the floats of a layer's packed linears (and their offsets). */
static size_t group_rows(const tl_config *c)
{
    return (size_t)(c->context_length > GROUP_ROWS ? c->context_length : GROUP_ROWS);
}

static size_t cache_floats(const tl_config *c)
{
    return (tl_attention_cache_floats(c->context_length, c->d_model) + 15) / 16 * 16;
}

static size_t lin_offsets(const tl_config *c, size_t *o_proj, size_t *o_w1, size_t *o_w2)
{
    const int D = c->d_model, F = c->d_ff;
    *o_proj = tl_linear_packed_floats(D, 3 * D);
    *o_w1 = *o_proj + tl_linear_packed_floats(D, D);
    *o_w2 = *o_w1 + tl_linear_packed_floats(D, F);
    return (*o_w2 + tl_linear_packed_floats(F, D) + 15) / 16 * 16;
}

/* One thread's activation buffers, as tacts_init allocates them. */
static size_t tacts_bytes(size_t R, size_t D, size_t F, size_t ctx)
{
    return 6 * falloc_bytes(R * D) + falloc_bytes(R * 3 * D) + falloc_bytes(R * F) + falloc_bytes(ctx + 64);
}

size_t tl_infer_bytes(const tl_config *cfg, int max_batch, int threads)
{
    const size_t D = (size_t)cfg->d_model, F = (size_t)cfg->d_ff, L = (size_t)cfg->n_layer;
    const size_t ctx = (size_t)cfg->context_length, B = (size_t)(max_batch > 0 ? max_batch : 1);
    const size_t nt = (size_t)(threads < 1 ? 1 : threads > 256 ? 256 : threads);
    size_t o_proj, o_w1, o_w2, lin_layer = lin_offsets(cfg, &o_proj, &o_w1, &o_w2);
    return sizeof(tl_infer) + (size_t)tl_params_count(cfg) * sizeof(tl_param) + L * sizeof(tl_layer_off) +
           falloc_bytes(ctx * D) + falloc_bytes(B * L * cache_floats(cfg)) + falloc_bytes(L * lin_layer) +
           falloc_bytes(B * D) + falloc_bytes(B) +
           falloc_bytes(tl_lmhead_packed_floats(cfg->d_model, cfg->vocab_size)) + B * ctx * sizeof(uint32_t) +
           B * sizeof(int) + B * sizeof(seqd) + (B + 1) * sizeof(int) + B + nt * sizeof(tacts) +
           nt * tacts_bytes(group_rows(cfg), D, F, ctx);
}

static int tacts_init(tacts *t, size_t R, size_t D, size_t F, size_t ctx)
{
    int fail = 0;
    t->x = tl_falloc(R * D, &fail);
    t->ln = tl_falloc(R * D, &fail);
    t->qkv = tl_falloc(R * 3 * D, &fail);
    t->atty = tl_falloc(R * D, &fail);
    t->ao = tl_falloc(R * D, &fail);
    t->res = tl_falloc(R * D, &fail);
    t->h = tl_falloc(R * F, &fail);
    t->mo = tl_falloc(R * D, &fail);
    t->p = tl_falloc(ctx + 64, &fail); /* rounded up to whole vectors */
    return fail;
}

tl_infer *tl_infer_new(const tl_config *cfg, int max_batch, tl_err *err)
{
    if (max_batch < 1) {
        tl_errf(err, TL_EINVAL, "max_batch must be at least 1");
        return NULL;
    }
    if (tl_config_validate(cfg, err))
        return NULL;
    tl_infer *w = tl_zalloc(sizeof *w, err);
    if (!w)
        return NULL;
    w->cfg = *cfg;
    if (tl_pmap_init(cfg, &w->pm, err)) {
        tl_infer_free(w);
        return NULL;
    }
    const size_t D = (size_t)cfg->d_model, F = (size_t)cfg->d_ff, L = (size_t)cfg->n_layer;
    const size_t ctx = (size_t)cfg->context_length, B = (size_t)max_batch;
    w->max_batch = max_batch;
    w->ctx = cfg->context_length;
    w->R = (int)group_rows(cfg);
    w->nt = tl_parallel_slots(256);
    const float hs = (float)(cfg->d_model / cfg->n_head);
    w->scale = cfg->attn_inv_sqrt ? (float)(1.0 / sqrt(hs)) : (float)(1.0 / (1.0 / sqrt(hs)));
    w->lin_layer = lin_offsets(cfg, &w->o_proj, &w->o_w1, &w->o_w2);
    int fail = 0;
    w->pe = tl_falloc(ctx * D, &fail);
    w->kvn = cache_floats(cfg);
    w->kv = tl_falloc(B * L * w->kvn, &fail);
    w->lin = tl_falloc(L * w->lin_layer, &fail);
    if (w->lin) /* packed weights: out of core dumps (tl_infer_bind fills it) */
        tl_secret_protect(w->lin, L * w->lin_layer * sizeof(float), TL_SECRET_DONTDUMP);
    w->last = tl_falloc(B * D, &fail);
    w->rowmax = tl_falloc(B, &fail);
    w->packed = tl_falloc(tl_lmhead_packed_floats(cfg->d_model, cfg->vocab_size), &fail);
    if (w->packed) /* the packed output layer: out of core dumps too */
        tl_secret_protect(w->packed, tl_lmhead_packed_floats(cfg->d_model, cfg->vocab_size) * sizeof(float),
                          TL_SECRET_DONTDUMP);
    w->ctok = calloc(B * ctx, sizeof *w->ctok);
    w->cn = calloc(B, sizeof *w->cn);
    w->sq = calloc(B, sizeof *w->sq);
    w->grp = calloc(B + 1, sizeof *w->grp);
    w->seen = calloc(B, 1);
    w->t = calloc((size_t)w->nt, sizeof *w->t);
    fail |= !w->ctok || !w->cn || !w->sq || !w->grp || !w->seen || !w->t;
    for (int i = 0; !fail && i < w->nt; i++)
        fail |= tacts_init(&w->t[i], (size_t)w->R, D, F, ctx);
    if (fail) {
        tl_infer_free(w);
        tl_errf(err, TL_ENOMEM, "out of memory for an inference workspace (%d sequences)", max_batch);
        return NULL;
    }
    if (!cfg->learned_pos)
        tl_sinusoid_fill(w->pe, cfg->context_length, cfg->d_model);
    return w;
}

/* Everything here holds weights (the packed copies made at bind), or prompts and what was
 * computed from them (caches, tokens, activations, last rows): all of it is wiped on free
 * (tl_sec_free), the small bookkeeping arrays too, since that costs nothing. */
void tl_infer_free(tl_infer *w)
{
    if (!w)
        return;
    for (int i = 0; w->t && i < w->nt; i++)
        tacts_free(&w->t[i]);
    void *bufs[] = {w->t, w->pe, w->kv, w->lin, w->last, w->rowmax, w->ctok, w->cn, w->sq, w->grp, w->seen, w->packed};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        tl_sec_free(bufs[i]);
    tl_pmap_free(&w->pm);
    tl_sec_free(w);
}

void tl_infer_forget(tl_infer *w, int slot)
{
    if (!w || slot < 0 || slot >= w->max_batch)
        return;
    const size_t ctx = (size_t)w->ctx, L = (size_t)w->cfg.n_layer;
    explicit_bzero(w->kv + (size_t)slot * L * w->kvn, L * w->kvn * sizeof(float));
    explicit_bzero(w->ctok + (size_t)slot * ctx, ctx * sizeof *w->ctok);
    w->cn[slot] = 0;
}

static void pack_linears(tl_infer *w, const float *P)
{
    const tl_config *c = &w->cfg;
    const int D = c->d_model, F = c->d_ff;
    for (int l = 0; l < c->n_layer; l++) {
        const tl_layer_off *lo = &w->pm.layers[l];
        float *dst = w->lin + (size_t)l * w->lin_layer;
        tl_linear_pack(dst, P + lo->wqkv, NULL, D, 3 * D);
        tl_linear_pack(dst + w->o_proj, P + lo->wproj, P + lo->bproj, D, D);
        tl_linear_pack(dst + w->o_w1, P + lo->w1, P + lo->b1, D, F);
        tl_linear_pack(dst + w->o_w2, P + lo->w2, P + lo->b2, F, D);
    }
}

/* Lays the weights of params out for the kernels; what the caches hold came from other params
 * (or from these before they changed), so every slot is forgotten. */
static void bind(tl_infer *w, const float *params)
{
    const tl_config *c = &w->cfg;
    tl_lmhead_pack(w->packed, params + w->pm.wout, c->d_model, c->vocab_size);
    pack_linears(w, params);
    for (int s = 0; s < w->max_batch; s++)
        tl_infer_forget(w, s);
    w->bound = params;
}

int tl_infer_bind(tl_infer *w, const float *params, tl_err *err)
{
    bind(w, params);
    return 0;
}

/* Sequences s0..s1-1 through every block on one thread; their last rows go to w->last. */
static void group_forward(tl_infer *w, tacts *t, int s0, int s1)
{
    const tl_config *c = &w->cfg;
    const int D = c->d_model, F = c->d_ff, H = c->n_head, L = c->n_layer, D3 = 3 * D, ctx = w->ctx;
    const float eps = c->ln_eps, *P = w->params;
    const tl_pmap *pm = &w->pm;
    int R = 0;
    for (int s = s0; s < s1; s++)
        for (int p = w->sq[s].start; p < w->sq[s].len; p++, R++) {
            const float *te = P + pm->wte + (size_t)w->sq[s].tok[p] * D;
            const float *pe = c->learned_pos ? P + pm->wpe + (size_t)p * D : w->pe + (size_t)p * D;
            for (int i = 0; i < D; i++)
                t->x[(size_t)R * D + i] = te[i] + pe[i];
        }
    for (int l = 0; l < L; l++) {
        const tl_layer_off *lo = &pm->layers[l];
        const float *lw = w->lin + (size_t)l * w->lin_layer;
        const float *ain = t->x;
        if (c->prenorm) {
            tl_layernorm_rows(t->ln, t->x, P + lo->ln1w, P + lo->ln1b, R, D, eps);
            ain = t->ln;
        }
        tl_linear_forward_packed(t->qkv, ain, lw, R, D, D3);
        /* keys and values of the new rows join the cache; then attention for the rows whose
         * output is needed (in the last block: the last row of each sequence), compacting the
         * block's input rows to match */
        const int final = l == L - 1;
        int r = 0, nq = 0;
        for (int s = s0; s < s1; s++) {
            const seqd *q = &w->sq[s];
            float *kv = w->kv + ((size_t)q->slot * L + l) * w->kvn;
            for (int p = q->start; p < q->len; p++, r++) {
                tl_attention_cache_put(kv, ctx, D, p, t->qkv + (size_t)r * D3 + D);
                if (final && p != q->len - 1)
                    continue;
                tl_attention_row(t->atty + (size_t)nq * D, t->qkv + (size_t)r * D3, kv, ctx, p, D, H, w->scale,
                                 t->p);
                if (nq != r)
                    memcpy(t->x + (size_t)nq * D, t->x + (size_t)r * D, (size_t)D * sizeof(float));
                nq++;
            }
        }
        R = nq;
        const size_t RD = (size_t)R * D;
        tl_linear_forward_packed(t->ao, t->atty, lw + w->o_proj, R, D, D);
        tl_add(t->res, t->x, t->ao, RD);
        if (c->prenorm)
            tl_layernorm_rows(t->ln, t->res, P + lo->ln2w, P + lo->ln2b, R, D, eps);
        else
            tl_layernorm_rows(t->ln, t->res, P + lo->ln1w, P + lo->ln1b, R, D, eps);
        tl_linear_forward_packed(t->h, t->ln, lw + w->o_w1, R, D, F);
        tl_act_forward(t->h, t->h, (size_t)R * F, c->gelu);
        tl_linear_forward_packed(t->mo, t->h, lw + w->o_w2, R, F, D);
        if (c->prenorm) {
            tl_add(t->x, t->res, t->mo, RD);
        } else {
            tl_add(t->res, t->ln, t->mo, RD);
            tl_layernorm_rows(t->x, t->res, P + lo->ln2w, P + lo->ln2b, R, D, eps);
        }
    }
    const float *out = t->x;
    if (c->prenorm) {
        tl_layernorm_rows(t->ln, t->x, P + pm->lnfw, P + pm->lnfb, R, D, eps);
        out = t->ln;
    }
    memcpy(w->last + (size_t)s0 * D, out, (size_t)R * D * sizeof(float));
}

static void group_chunk(void *arg, int slot, long g0, long g1)
{
    tl_infer *w = arg;
    for (long g = g0; g < g1; g++)
        group_forward(w, &w->t[slot], w->grp[g], w->grp[g + 1]);
}

/* Rows of the longest common prefix of the cached tokens and tok, leaving at least the last row
 * to compute. Positions are absolute, so a cached row is valid exactly when every token up to it
 * is the same at the same position. */
static int reusable(const tl_infer *w, int slot, const uint32_t *tok, int len)
{
    const uint32_t *ct = w->ctok + (size_t)slot * w->ctx;
    int n = w->cn[slot] < len - 1 ? w->cn[slot] : len - 1, i = 0;
    while (i < n && ct[i] == tok[i])
        i++;
    return i;
}

int tl_infer_step(tl_infer *w, const float *params, const uint32_t *const *tokens, const int *lens,
                  const int *slots, int nb, float *logits, tl_err *err)
{
    const tl_config *c = &w->cfg;
    if (nb < 1 || nb > w->max_batch)
        return tl_errf(err, TL_EINVAL, "batch of %d sequences does not fit the workspace (max %d)", nb, w->max_batch);
    memset(w->seen, 0, (size_t)w->max_batch);
    for (int s = 0; s < nb; s++) {
        if (lens[s] < 1 || lens[s] > c->context_length)
            return tl_errf(err, TL_EINVAL, "sequence %d has %d tokens; it must have 1..%d", s, lens[s],
                           c->context_length);
        if (tl_check_tokens(c, tokens[s], (size_t)lens[s], "token", err))
            return err->code;
        if (slots) {
            if (slots[s] < 0 || slots[s] >= w->max_batch)
                return tl_errf(err, TL_EINVAL, "sequence %d: cache slot %d is outside 0..%d", s, slots[s],
                               w->max_batch - 1);
            if (w->seen[slots[s]]++)
                return tl_errf(err, TL_EINVAL, "cache slot %d is given to two sequences", slots[s]);
        }
    }
    if (params != w->bound)
        bind(w, params);
    int total = 0;
    for (int s = 0; s < nb; s++) {
        seqd *q = &w->sq[s];
        q->tok = tokens[s];
        q->len = lens[s];
        q->slot = slots ? slots[s] : s;
        q->start = slots ? reusable(w, q->slot, tokens[s], lens[s]) : 0;
        total += q->len - q->start;
    }
    /* groups of whole sequences, about total / (4 threads) rows each, at most R rows */
    int target = total / (4 * w->nt);
    target = target < 8 ? 8 : target > GROUP_ROWS ? GROUP_ROWS : target;
    int ng = 0, rows = 0;
    w->grp[0] = 0;
    for (int s = 0; s < nb; s++) {
        int n = w->sq[s].len - w->sq[s].start;
        if (rows > 0 && (rows >= target || rows + n > w->R)) {
            w->grp[++ng] = s;
            rows = 0;
        }
        rows += n;
    }
    w->grp[++ng] = nb;
    w->params = params;
    w->rows = total;
    tl_parallel_for(ng, 1, w->nt, group_chunk, w);
    for (int s = 0; s < nb; s++) {
        const seqd *q = &w->sq[s];
        if (slots) {
            memcpy(w->ctok + (size_t)q->slot * w->ctx, q->tok, (size_t)q->len * sizeof *q->tok);
            w->cn[q->slot] = q->len;
        } else {
            w->cn[q->slot] = 0;
        }
    }
    tl_lmhead_rows_packed(logits, w->rowmax, w->last, w->packed, params + w->pm.bout, nb, c->d_model, c->vocab_size);
    return 0;
}

const float *tl_infer_row_max(const tl_infer *w)
{
    return w->rowmax;
}

int tl_infer_rows(const tl_infer *w)
{
    return w->rows;
}

int tl_infer_last_logits(tl_infer *w, const float *params, const uint32_t *const *tokens, const int *lens,
                         int nb, float *logits, tl_err *err)
{
    /* no slots: every row is computed, through slots 0..nb-1, which then hold no usable cache */
    return tl_infer_step(w, params, tokens, lens, NULL, nb, logits, err);
}
