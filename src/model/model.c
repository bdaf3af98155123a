/* Forward and backward passes of the transformer (docs/engine.md; the seed model and its variants:
 * docs/model-config.md).
 * Activations are rows of packed sequences (tensor/attention.h); training keeps every layer's
 * activations for the backward pass, inference lets all layers share one set of buffers. */
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/params.h"
#include "model/pmap.h"
#include "tensor/activations.h"
#include "tensor/attention.h"
#include "tensor/layernorm.h"
#include "tensor/lmhead.h"
#include "tensor/matmul.h"
#include "util/pool.h"

/* Activations for up to maxN rows in up to maxseq sequences. */
typedef struct {
    tl_config cfg;
    tl_pmap pm;
    int maxN, maxseq, keep;
    int N, nseq;
    int *off;            /* nseq+1 row offsets */
    float scale;         /* attention score multiplier */
    float *pe;           /* sinusoidal table [context_length, D] */
    float *emb;          /* [N,D] block 0 input */
    /* per layer (stride s* when keep, 0 otherwise) */
    float *ln1, *ln1m, *ln1r, *qkv, *att, *atty, *ao, *mask1, *res1, *ln2, *ln2m, *ln2r, *h, *g, *mo,
        *mask2, *res2;
    float *lnf, *lnfm, *lnfr;
    float *wt;           /* tl_linear_forward scratch */
    size_t sND, sNF, sN3D, sATT, sN;
    int dropped;         /* masks were applied in the last forward */
} acts;

struct tl_model {
    acts a;
    int B, T, nthreads;
    uint32_t *tokens, *targets;
    float *logitsT, *lse, *lmscratch;
    float *dX, *bA, *bB, *bC, *bD, *bF1, *bF2, *bQKV;
    int has_targets;
};

static void acts_free(acts *a)
{
    float **bufs[] = {&a->pe, &a->emb, &a->ln1, &a->ln1m, &a->ln1r, &a->qkv, &a->att, &a->atty, &a->ao,
                      &a->mask1, &a->res1, &a->ln2, &a->ln2m, &a->ln2r, &a->h, &a->g, &a->mo, &a->mask2,
                      &a->res2, &a->lnf, &a->lnfm, &a->lnfr, &a->wt};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
    free(a->off);
    tl_pmap_free(&a->pm);
    a->off = NULL;
}

static int acts_init(acts *a, const tl_config *cfg, int maxN, int maxseq, int maxlen, int keep, tl_err *err)
{
    memset(a, 0, sizeof *a);
    if (tl_config_validate(cfg, err))
        return err->code;
    a->cfg = *cfg;
    a->maxN = maxN;
    a->maxseq = maxseq;
    a->keep = keep;
    if (tl_pmap_init(cfg, &a->pm, err)) {
        acts_free(a);
        return err->code;
    }
    const size_t N = (size_t)maxN, D = (size_t)cfg->d_model, F = (size_t)cfg->d_ff, L = (size_t)cfg->n_layer;
    const size_t H = (size_t)cfg->n_head, att = H * (size_t)maxseq * (size_t)maxlen * (size_t)maxlen;
    const size_t nl = keep ? L : 1;
    a->sND = keep ? N * D : 0;
    a->sNF = keep ? N * F : 0;
    a->sN3D = keep ? N * 3 * D : 0;
    a->sATT = keep ? att : 0;
    a->sN = keep ? N : 0;
    const float hs = (float)(cfg->d_model / cfg->n_head);
    a->scale = cfg->attn_inv_sqrt ? (float)(1.0 / sqrt(hs)) : (float)(1.0 / (1.0 / sqrt(hs)));
    int fail = 0;
    a->off = calloc((size_t)maxseq + 1, sizeof *a->off);
    fail |= !a->off;
    a->pe = tl_falloc((size_t)cfg->context_length * D, &fail);
    a->emb = tl_falloc(N * D, &fail);
    a->ln1 = tl_falloc(nl * N * D, &fail);
    a->ln1m = tl_falloc(nl * N, &fail);
    a->ln1r = tl_falloc(nl * N, &fail);
    a->qkv = tl_falloc(nl * N * 3 * D, &fail);
    a->att = tl_falloc(nl * att, &fail);
    a->atty = tl_falloc(nl * N * D, &fail);
    a->ao = tl_falloc(nl * N * D, &fail);
    a->res1 = tl_falloc(nl * N * D, &fail);
    a->ln2 = tl_falloc(nl * N * D, &fail);
    a->ln2m = tl_falloc(nl * N, &fail);
    a->ln2r = tl_falloc(nl * N, &fail);
    a->h = tl_falloc(nl * N * F, &fail);
    a->g = tl_falloc(nl * N * F, &fail);
    a->mo = tl_falloc(nl * N * D, &fail);
    a->res2 = tl_falloc(nl * N * D, &fail);
    if (keep) {
        a->mask1 = tl_falloc(L * N * D, &fail);
        a->mask2 = tl_falloc(L * N * D, &fail);
    }
    a->lnf = tl_falloc(N * D, &fail);
    a->lnfm = tl_falloc(N, &fail);
    a->lnfr = tl_falloc(N, &fail);
    size_t ws = tl_linear_scratch((int)D, (int)(3 * D));
    size_t w2 = tl_linear_scratch((int)D, (int)F), w3 = tl_linear_scratch((int)F, (int)D);
    ws = ws > w2 ? ws : w2;
    ws = ws > w3 ? ws : w3;
    a->wt = tl_falloc(ws, &fail);
    if (fail) {
        acts_free(a);
        return tl_errf(err, TL_ENOMEM, "out of memory for activations (%d rows)", maxN);
    }
    if (!cfg->learned_pos)
        tl_sinusoid_fill(a->pe, cfg->context_length, cfg->d_model);
    return 0;
}

static float *blockout(const acts *a, int l)
{
    return a->cfg.prenorm ? a->res2 + l * a->sND : a->ln2 + l * a->sND;
}

static void make_mask(float *mask, size_t n, float p, tl_rng *rng)
{
    const float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++)
        mask[i] = tl_rng_float(rng) < p ? 0.0f : keep;
}

/* Runs every block over a->N rows; returns the input of the output layer ([N,D]). */
static const float *body_forward(acts *a, const float *P, const uint32_t *tokens, int train, tl_rng *rng)
{
    const tl_config *c = &a->cfg;
    const int N = a->N, D = c->d_model, F = c->d_ff, H = c->n_head;
    const float eps = c->ln_eps;
    const size_t ND = (size_t)N * D;
    const tl_pmap *pm = &a->pm;
    for (int s = 0; s < a->nseq; s++)
        for (int n = a->off[s]; n < a->off[s + 1]; n++) {
            int pos = n - a->off[s];
            const float *te = P + pm->wte + (size_t)tokens[n] * D;
            const float *pe = c->learned_pos ? P + pm->wpe + (size_t)pos * D : a->pe + (size_t)pos * D;
            for (int i = 0; i < D; i++)
                a->emb[(size_t)n * D + i] = te[i] + pe[i];
        }
    const int drop = train && c->dropout > 0;
    a->dropped = drop;
    for (int l = 0; l < c->n_layer; l++) {
        const tl_layer_off *lo = &pm->layers[l];
        const float *xin = l == 0 ? a->emb : blockout(a, l - 1);
        float *ln1 = a->ln1 + l * a->sND, *qkv = a->qkv + l * a->sN3D, *att = a->att + l * a->sATT;
        float *atty = a->atty + l * a->sND, *ao = a->ao + l * a->sND, *res1 = a->res1 + l * a->sND;
        float *ln2 = a->ln2 + l * a->sND, *h = a->h + l * a->sNF, *g = a->g + l * a->sNF;
        float *mo = a->mo + l * a->sND, *res2 = a->res2 + l * a->sND;
        float *ln1m = a->ln1m + l * a->sN, *ln1r = a->ln1r + l * a->sN;
        float *ln2m = a->ln2m + l * a->sN, *ln2r = a->ln2r + l * a->sN;
        const float *attn_in = xin;
        if (c->prenorm) {
            tl_layernorm_forward(ln1, ln1m, ln1r, xin, P + lo->ln1w, P + lo->ln1b, N, D, eps);
            attn_in = ln1;
        }
        tl_linear_forward(qkv, attn_in, P + lo->wqkv, NULL, N, D, 3 * D, a->wt);
        tl_attention_forward(atty, att, qkv, a->off, a->nseq, D, H, a->scale);
        tl_linear_forward(ao, atty, P + lo->wproj, P + lo->bproj, N, D, D, a->wt);
        if (drop) {
            make_mask(a->mask1 + l * a->sND, ND, c->dropout, rng);
            tl_mul_inplace(ao, a->mask1 + l * a->sND, ND);
        }
        tl_add(res1, xin, ao, ND);
        const float *mlp_in;
        if (c->prenorm) {
            tl_layernorm_forward(ln2, ln2m, ln2r, res1, P + lo->ln2w, P + lo->ln2b, N, D, eps);
            mlp_in = ln2;
        } else {
            tl_layernorm_forward(ln1, ln1m, ln1r, res1, P + lo->ln1w, P + lo->ln1b, N, D, eps);
            mlp_in = ln1;
        }
        tl_linear_forward(h, mlp_in, P + lo->w1, P + lo->b1, N, D, F, a->wt);
        tl_act_forward(g, h, (size_t)N * F, c->gelu);
        tl_linear_forward(mo, g, P + lo->w2, P + lo->b2, N, F, D, a->wt);
        if (drop) {
            make_mask(a->mask2 + l * a->sND, ND, c->dropout, rng);
            tl_mul_inplace(mo, a->mask2 + l * a->sND, ND);
        }
        if (c->prenorm) {
            tl_add(res2, res1, mo, ND);
        } else {
            tl_add(res2, ln1, mo, ND);
            tl_layernorm_forward(ln2, ln2m, ln2r, res2, P + lo->ln2w, P + lo->ln2b, N, D, eps);
        }
    }
    const float *out = blockout(a, c->n_layer - 1);
    if (c->prenorm) {
        tl_layernorm_forward(a->lnf, a->lnfm, a->lnfr, out, P + pm->lnfw, P + pm->lnfb, N, D, eps);
        out = a->lnf;
    }
    return out;
}

/* ---------------- initialization ---------------- */

void tl_model_init(const tl_config *cfg, float *params, uint64_t seed)
{
    tl_params_init(cfg, params, seed);
}

/* ---------------- training workspace ---------------- */

tl_model *tl_model_new(const tl_config *cfg, int B, int T, tl_err *err)
{
    if (B < 1 || T < 1 || T > cfg->context_length) {
        tl_errf(err, TL_EINVAL, "batch %d x %d tokens does not fit the model (context_length %d)", B, T,
                cfg->context_length);
        return NULL;
    }
    tl_model *m = tl_zalloc(sizeof *m, err);
    if (!m)
        return NULL;
    const int N = B * T;
    if (acts_init(&m->a, cfg, N, B, T, 1, err)) {
        free(m);
        return NULL;
    }
    m->B = B;
    m->T = T;
    m->a.N = N;
    m->a.nseq = B;
    for (int s = 0; s <= B; s++)
        m->a.off[s] = s * T;
    m->nthreads = tl_get_threads();
    const size_t D = (size_t)cfg->d_model, F = (size_t)cfg->d_ff, V = (size_t)cfg->vocab_size;
    int fail = 0;
    m->targets = calloc((size_t)N, sizeof *m->targets);
    m->tokens = calloc((size_t)N, sizeof *m->tokens);
    fail |= !m->targets || !m->tokens;
    m->logitsT = tl_falloc(V * tl_lmhead_np(N), &fail);
    m->lse = tl_falloc(tl_lmhead_np(N), &fail);
    m->lmscratch = tl_falloc(tl_lmhead_scratch(N, (int)D, m->nthreads), &fail);
    float **nd[] = {&m->dX, &m->bA, &m->bB, &m->bC, &m->bD};
    for (int i = 0; i < 5; i++)
        *nd[i] = tl_falloc((size_t)N * D, &fail);
    m->bF1 = tl_falloc((size_t)N * F, &fail);
    m->bF2 = tl_falloc((size_t)N * F, &fail);
    m->bQKV = tl_falloc((size_t)N * 3 * D, &fail);
    if (fail) {
        tl_model_free(m);
        tl_errf(err, TL_ENOMEM, "out of memory for a %dx%d training batch", B, T);
        return NULL;
    }
    return m;
}

void tl_model_free(tl_model *m)
{
    if (!m)
        return;
    acts_free(&m->a);
    free(m->targets);
    free(m->tokens);
    float *bufs[] = {m->logitsT, m->lse, m->lmscratch, m->dX, m->bA, m->bB, m->bC, m->bD, m->bF1, m->bF2, m->bQKV};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(m);
}

int tl_model_forward(tl_model *m, const float *params, const uint32_t *tokens, const uint32_t *targets,
                     int train, tl_rng *rng, double *loss, tl_err *err)
{
    acts *a = &m->a;
    const tl_config *c = &a->cfg;
    const int N = a->N;
    if (tl_check_tokens(c, tokens, (size_t)N, "token", err))
        return err->code;
    if (targets && tl_check_tokens(c, targets, (size_t)N, "target", err))
        return err->code;
    memcpy(m->tokens, tokens, (size_t)N * sizeof *tokens);
    const float *x = body_forward(a, params, tokens, train, rng);
    const float *wout = params + a->pm.wout, *bout = params + a->pm.bout;
    int nt = tl_get_threads();
    if (nt > m->nthreads)
        nt = m->nthreads;
    tl_lmhead_forward(m->logitsT, targets ? m->lse : NULL, x, wout, bout, N, c->d_model, c->vocab_size,
                      m->lmscratch, nt);
    m->has_targets = targets != NULL;
    if (targets) {
        memcpy(m->targets, targets, (size_t)N * sizeof *targets);
        double l = tl_xent_loss(m->logitsT, m->lse, targets, N);
        if (loss)
            *loss = l;
    }
    return 0;
}

void tl_model_get_logits(const tl_model *m, float *logits)
{
    const int N = m->a.N, V = m->a.cfg.vocab_size;
    const size_t Np = tl_lmhead_np(N);
    for (int n = 0; n < N; n++)
        for (int v = 0; v < V; v++)
            logits[(size_t)n * V + v] = m->logitsT[(size_t)v * Np + n];
}

static void copy_masked(float *dst, const float *src, const float *mask, size_t n)
{
    if (mask)
        for (size_t i = 0; i < n; i++)
            dst[i] = src[i] * mask[i];
    else
        memcpy(dst, src, n * sizeof(float));
}

void tl_model_backward(tl_model *m, const float *P, float *G)
{
    acts *a = &m->a;
    const tl_config *c = &a->cfg;
    const tl_pmap *pm = &a->pm;
    const int N = a->N, D = c->d_model, F = c->d_ff, H = c->n_head, L = c->n_layer;
    const size_t ND = (size_t)N * D, NF = (size_t)N * F;
    /* every gradient starts at zero except the output layer's, which its backward overwrites */
    for (int i = 0; i < pm->nparams; i++) {
        const tl_param *p = &pm->list[i];
        if (p->offset == pm->wout || p->offset == pm->bout)
            continue;
        memset(G + p->offset, 0, p->numel * sizeof(float));
    }
    const float *xfinal = c->prenorm ? a->lnf : blockout(a, L - 1);
    float *dX = m->dX, *bA = m->bA, *bB = m->bB, *bC = m->bC, *bD = m->bD;
    memset(dX, 0, ND * sizeof(float));
    int nt = tl_get_threads();
    if (nt > m->nthreads)
        nt = m->nthreads;
    tl_lmhead_backward(dX, G + pm->wout, G + pm->bout, m->logitsT, m->lse, m->targets, xfinal, P + pm->wout,
                       N, D, c->vocab_size, m->lmscratch, nt);
    if (c->prenorm) {
        memset(bA, 0, ND * sizeof(float));
        tl_layernorm_backward(bA, G + pm->lnfw, G + pm->lnfb, dX, blockout(a, L - 1), P + pm->lnfw, a->lnfm,
                              a->lnfr, N, D);
        float *t = dX; dX = bA; bA = t;
    }
    for (int l = L - 1; l >= 0; l--) {
        const tl_layer_off *lo = &pm->layers[l];
        const float *xin = l == 0 ? a->emb : blockout(a, l - 1);
        const float *ln1 = a->ln1 + l * a->sND, *qkv = a->qkv + l * a->sN3D, *att = a->att + l * a->sATT;
        const float *atty = a->atty + l * a->sND, *res1 = a->res1 + l * a->sND, *ln2 = a->ln2 + l * a->sND;
        const float *h = a->h + l * a->sNF, *g = a->g + l * a->sNF, *res2 = a->res2 + l * a->sND;
        const float *ln1m = a->ln1m + l * a->sN, *ln1r = a->ln1r + l * a->sN;
        const float *ln2m = a->ln2m + l * a->sN, *ln2r = a->ln2r + l * a->sN;
        const float *mask1 = a->dropped ? a->mask1 + l * a->sND : NULL;
        const float *mask2 = a->dropped ? a->mask2 + l * a->sND : NULL;
        if (!c->prenorm) {
            /* out = LN2(res2), res2 = ln1 + drop(mlp(ln1)), ln1 = LN1(res1), res1 = xin + drop(attn(xin)) */
            memset(bA, 0, ND * sizeof(float));
            tl_layernorm_backward(bA, G + lo->ln2w, G + lo->ln2b, dX, res2, P + lo->ln2w, ln2m, ln2r, N, D);
            memcpy(bB, bA, ND * sizeof(float));
            copy_masked(bC, bA, mask2, ND);
            memset(m->bF1, 0, NF * sizeof(float));
            tl_linear_backward(m->bF1, G + lo->w2, G + lo->b2, bC, g, P + lo->w2, N, F, D);
            tl_act_backward(m->bF2, m->bF1, h, NF, c->gelu);
            tl_linear_backward(bB, G + lo->w1, G + lo->b1, m->bF2, ln1, P + lo->w1, N, D, F);
            memset(bA, 0, ND * sizeof(float));
            tl_layernorm_backward(bA, G + lo->ln1w, G + lo->ln1b, bB, res1, P + lo->ln1w, ln1m, ln1r, N, D);
            memcpy(bD, bA, ND * sizeof(float));
            copy_masked(bC, bA, mask1, ND);
            memset(bB, 0, ND * sizeof(float));
            tl_linear_backward(bB, G + lo->wproj, G + lo->bproj, bC, atty, P + lo->wproj, N, D, D);
            tl_attention_backward(m->bQKV, bB, qkv, att, a->off, a->nseq, D, H, a->scale);
            tl_linear_backward(bD, G + lo->wqkv, NULL, m->bQKV, xin, P + lo->wqkv, N, D, 3 * D);
        } else {
            /* out = res2 = res1 + drop(mlp(LN2(res1))), res1 = xin + drop(attn(LN1(xin))) */
            memcpy(bD, dX, ND * sizeof(float));
            copy_masked(bC, dX, mask2, ND);
            memset(m->bF1, 0, NF * sizeof(float));
            tl_linear_backward(m->bF1, G + lo->w2, G + lo->b2, bC, g, P + lo->w2, N, F, D);
            tl_act_backward(m->bF2, m->bF1, h, NF, c->gelu);
            memset(bB, 0, ND * sizeof(float));
            tl_linear_backward(bB, G + lo->w1, G + lo->b1, m->bF2, ln2, P + lo->w1, N, D, F);
            tl_layernorm_backward(bD, G + lo->ln2w, G + lo->ln2b, bB, res1, P + lo->ln2w, ln2m, ln2r, N, D);
            memcpy(bA, bD, ND * sizeof(float));
            copy_masked(bC, bD, mask1, ND);
            memset(bB, 0, ND * sizeof(float));
            tl_linear_backward(bB, G + lo->wproj, G + lo->bproj, bC, atty, P + lo->wproj, N, D, D);
            tl_attention_backward(m->bQKV, bB, qkv, att, a->off, a->nseq, D, H, a->scale);
            memset(bB, 0, ND * sizeof(float));
            tl_linear_backward(bB, G + lo->wqkv, NULL, m->bQKV, ln1, P + lo->wqkv, N, D, 3 * D);
            tl_layernorm_backward(bA, G + lo->ln1w, G + lo->ln1b, bB, xin, P + lo->ln1w, ln1m, ln1r, N, D);
            float *t = bD; bD = bA; bA = t;
        }
        float *t = dX; dX = bD; bD = t;
    }
    /* embeddings: scatter-add, serially because ids repeat */
    for (int s = 0; s < a->nseq; s++)
        for (int n = a->off[s]; n < a->off[s + 1]; n++) {
            float *ge = G + pm->wte + (size_t)m->tokens[n] * D;
            const float *d = dX + (size_t)n * D;
            for (int i = 0; i < D; i++)
                ge[i] += d[i];
            if (c->learned_pos) {
                float *gp = G + pm->wpe + (size_t)(n - a->off[s]) * D;
                for (int i = 0; i < D; i++)
                    gp[i] += d[i];
            }
        }
}

int tl_model_logits(const tl_config *cfg, const float *params, const uint32_t *tokens, int B, int T,
                    float *logits, tl_err *err)
{
    tl_model *m = tl_model_new(cfg, B, T, err);
    if (!m)
        return err->code;
    int rc = tl_model_forward(m, params, tokens, NULL, 0, NULL, NULL, err);
    if (!rc)
        tl_model_get_logits(m, logits);
    tl_model_free(m);
    return rc;
}
