#include "tensor/lmhead.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/pool.h"
#include "tensor/simd.h"
#include "tensor/tile.h"
#include "util/secmem.h"

#define VB TL_LMHEAD_VB

size_t tl_lmhead_np(int N)
{
    return tl_round_up((size_t)N, VW);
}

/* The vocabulary is cut into NPART fixed ranges, each with its own partial sums (the forward
 * pass's log-sum-exp, the backward pass's dx), combined in range order: threads take whole ranges,
 * so which thread computed what never changes a bit, whatever the thread count and scheduling
 * (resumed training must give the same weights). 32 ranges also spread 2-16 threads well. */
#define NPART 32

size_t tl_lmhead_scratch(int N, int C, int nthreads)
{
    size_t Np = tl_lmhead_np(N), nt = nthreads < 1 ? 1 : (size_t)nthreads;
    size_t fwd = (size_t)C * Np + 6 * (size_t)NPART * Np + 2;
    size_t bwd = (size_t)NPART * N * C + nt * VB * Np + Np;
    return fwd > bwd ? fwd : bwd;
}

/* ---- forward: logitsT[v][n] = bias[v] + Σ_c w[v][c] xt[c][n], with a running log-sum-exp ---- */

/* Updates the running max m and sum s (of exp(logit - m)) of column vector j with a tile's rows. */
TL_INLINE void lse_update(float *m, float *s, vf acc[TILE_MR][TILE_MV], int j, const int R)
{
    vf mo = vload(m), mx = mo;
    for (int r = 0; r < R; r++)
        mx = vmax(mx, acc[r][j]);
    vf sum = vmul(vload(s), vexp_neg(vsub(mo, mx)));
    for (int r = 0; r < R; r++)
        sum = vadd(sum, vexp_neg(vsub(acc[r][j], mx)));
    vstore(m, mx);
    vstore(s, sum);
}

TL_INLINE void fwd_tile(float *L, float *m, float *s, const float *xt, const float *w, const float *bias, int C,
                        size_t Np, int v0, int n0, const int R, const int NV)
{
    vf acc[TILE_MR][TILE_MV];
    tile_set_rows(acc, bias + v0, R, NV);
    tile_fma(acc, w + (size_t)v0 * C, C, 1, xt + n0, Np, C, R, NV);
    tile_store(L + (size_t)v0 * Np + n0, Np, acc, R, NV);
    if (m) {
        /* unrolled, or the accumulators go through the stack to be indexed by j (4% slower) */
#pragma GCC unroll 16
        for (int j = 0; j < NV; j++)
            lse_update(m + n0 + j * VW, s + n0 + j * VW, acc, j, R);
    }
}

TL_EDGE void fwd_tile_edge(float *L, float *m, float *s, const float *xt, const float *w, const float *bias, int C,
                           size_t Np, int v0, int n0, int R, int NV)
{
    TILE_EDGE(fwd_tile, R, NV, L, m, s, xt, w, bias, C, Np, v0, n0);
}

typedef struct {
    float *L, *part;
    const float *xt, *w, *bias;
    int N, C, V;
    size_t Np;
} fwd_job;

/* Folds a thread's float running (max, sum) into its double one and restarts the float one: sums
 * of exponentials over 100k rows lose ~1e-5 in float, so float only accumulates short stretches. */
static void lse_flush(float *m, float *s, double *md, double *sd, size_t Np)
{
    for (size_t n = 0; n < Np; n++) {
        if (s[n] > 0) {
            double M = md[n] > m[n] ? md[n] : m[n];
            sd[n] = sd[n] * exp(md[n] - M) + (double)s[n] * exp((double)m[n] - M);
            md[n] = M;
        }
        m[n] = -INFINITY;
        s[n] = 0;
    }
}

#define FLUSH_TILES 64

/* vocabulary ranges q0..q1-1 (NPART ranges of tiles); a range's running sums fold into its double
 * ones every FLUSH_TILES tiles and at its end */
static void fwd_chunk(void *p, int slot, long q0, long q1)
{
    (void)slot;
    fwd_job *j = p;
    const size_t Np = j->Np;
    const int nvec = (int)(Np / VW);
    const long ntv = (j->V + TR - 1) / TR;
    for (long q = q0; q < q1; q++) {
        /* per range: float m[Np], s[Np], then double md[Np], sd[Np] */
        float *m = j->part ? j->part + (size_t)q * 6 * Np : NULL, *s = m ? m + Np : NULL;
        double *md = m ? (double *)(void *)(m + 2 * Np) : NULL, *sd = md ? md + Np : NULL;
        const long t0 = q * ntv / NPART, t1 = (q + 1) * ntv / NPART;
        for (long t = t0; t < t1; t++) {
        int v0 = (int)t * TR, R = j->V - v0 < TR ? j->V - v0 : TR;
        for (int k = 0; k < nvec; k += TNV) {
            int NV = nvec - k < TNV ? nvec - k : TNV;
            if (R == TR && NV == TNV)
                fwd_tile(j->L, m, s, j->xt, j->w, j->bias, j->C, Np, v0, k * VW, TR, TNV);
            else
                fwd_tile_edge(j->L, m, s, j->xt, j->w, j->bias, j->C, Np, v0, k * VW, R, NV);
        }
        if (m && ((t - t0) % FLUSH_TILES == FLUSH_TILES - 1 || t == t1 - 1))
            lse_flush(m, s, md, sd, Np);
        }
    }
}

void tl_lmhead_forward(float *logitsT, float *lse, const float *x, const float *w, const float *bias,
                       int N, int C, int V, float *scratch, int nthreads)
{
    const size_t Np = tl_lmhead_np(N);
    float *xt = scratch, *part = scratch + tl_round_up((size_t)C * Np, 2); /* doubles inside: 8-byte aligned */
    for (int c = 0; c < C; c++) {
        for (int n = 0; n < N; n++)
            xt[(size_t)c * Np + n] = x[(size_t)n * C + c];
        for (size_t n = (size_t)N; n < Np; n++)
            xt[(size_t)c * Np + n] = 0;
    }
    const int want = (long)V * N * C < (1 << 22) ? 1 : nthreads;
    if (lse)
        for (int t = 0; t < NPART; t++) {
            float *m = part + (size_t)t * 6 * Np, *s = m + Np;
            double *md = (double *)(void *)(m + 2 * Np), *sd = md + Np;
            for (size_t n = 0; n < Np; n++) {
                m[n] = -INFINITY;
                s[n] = 0;
                md[n] = -INFINITY;
                sd[n] = 0;
            }
        }
    fwd_job j = {logitsT, lse ? part : NULL, xt, w, bias, N, C, V, Np};
    tl_parallel_for(NPART, 1, want, fwd_chunk, &j);
    if (!lse)
        return;
    /* combine the ranges' partial maxima and sums, in range order */
    for (size_t n = 0; n < Np; n++) {
        double M = -INFINITY, S = 0;
        for (int t = 0; t < NPART; t++) {
            const double *md = (const double *)(const void *)(part + (size_t)t * 6 * Np + 2 * Np);
            if (md[n] > M)
                M = md[n];
        }
        for (int t = 0; t < NPART; t++) {
            const double *md = (const double *)(const void *)(part + (size_t)t * 6 * Np + 2 * Np);
            if (md[n] > -INFINITY)
                S += md[Np + n] * exp(md[n] - M);
        }
        lse[n] = (float)(M + log(S));
    }
}

double tl_xent_loss(const float *logitsT, const float *lse, const uint32_t *targets, int N)
{
    const size_t Np = tl_lmhead_np(N);
    double loss = 0;
    for (int n = 0; n < N; n++)
        loss += (double)lse[n] - (double)logitsT[(size_t)targets[n] * Np + n];
    return loss / N;
}

/* ---- backward ---- */

static void backward_block(float *dxp, float *dw, float *dbias, float *P, const float *logitsT,
                           const float *lse, const float *colscale, const uint32_t *targets, const float *x,
                           const float *w, int N, int C, size_t Np, int v0, int nrows)
{
    const int nvec = (int)(Np / VW);
    const float invN = 1.0f / (float)N;
    /* P = (softmax - onehot) / N for this block of vocabulary rows; padding columns are 0 */
    for (int i = 0; i < nrows; i++) {
        const float *L = logitsT + (size_t)(v0 + i) * Np;
        float *p = P + (size_t)i * Np;
        for (int k = 0; k < nvec; k++) {
            vf e = vexp_neg(vsub(vload(L + k * VW), vload(lse + k * VW)));
            vstore(p + k * VW, vmul(e, vload(colscale + k * VW)));
        }
    }
    for (int n = 0; n < N; n++) {
        uint32_t t = targets[n];
        if (t >= (uint32_t)v0 && t < (uint32_t)(v0 + nrows))
            P[(size_t)(t - (uint32_t)v0) * Np + n] -= invN;
    }
    for (int i = 0; i < nrows; i++) {
        vf s = vzero();
        for (int k = 0; k < nvec; k++)
            s = vadd(s, vload(P + (size_t)i * Np + k * VW));
        dbias[v0 + i] = vsum(s);
    }
    const int Cf = C / VW * VW, ncv = Cf / VW;
    for (int i0 = 0; i0 < nrows; i0 += TR) {
        int R = nrows - i0 < TR ? nrows - i0 : TR;
        for (int k = 0; k < ncv; k += TNV) {
            int NV = ncv - k < TNV ? ncv - k : TNV;
            /* dw[v0+i0..+R][c0..+NV*VW] = Σ_n P[i][n] x[n][c]  (overwrite) */
            float *d = dw + (size_t)(v0 + i0) * C + k * VW;
            const float *p = P + (size_t)i0 * Np, *xc = x + k * VW;
            if (R == TR && NV == TNV)
                tile_madd(d, C, 0, p, Np, 1, xc, C, N, TR, TNV);
            else
                tile_madd_edge(d, C, 0, p, Np, 1, xc, C, N, R, NV);
        }
    }
    for (int n0 = 0; n0 < N; n0 += TR) {
        int R = N - n0 < TR ? N - n0 : TR;
        for (int k = 0; k < ncv; k += TNV) {
            int NV = ncv - k < TNV ? ncv - k : TNV;
            /* dx[n0..+R][c0..+NV*VW] += Σ_i P[i][n] w[v0+i][c] over the block's rows */
            float *d = dxp + (size_t)n0 * C + k * VW;
            const float *p = P + n0, *wc = w + (size_t)v0 * C + k * VW;
            if (R == TR && NV == TNV)
                tile_madd(d, C, 1, p, 1, Np, wc, C, nrows, TR, TNV);
            else
                tile_madd_edge(d, C, 1, p, 1, Np, wc, C, nrows, R, NV);
        }
    }
    for (int c = Cf; c < C; c++) { /* columns not covered by full vectors */
        for (int i = 0; i < nrows; i++) {
            float s = 0;
            for (int n = 0; n < N; n++)
                s += P[(size_t)i * Np + n] * x[(size_t)n * C + c];
            dw[(size_t)(v0 + i) * C + c] = s;
        }
        for (int n = 0; n < N; n++) {
            float s = 0;
            for (int i = 0; i < nrows; i++)
                s += P[(size_t)i * Np + n] * w[(size_t)(v0 + i) * C + c];
            dxp[(size_t)n * C + c] += s;
        }
    }
}

typedef struct {
    float *scratch, *dw, *dbias;
    const float *logitsT, *lse, *colscale, *x, *w;
    const uint32_t *targets;
    int N, C, V;
    size_t Np;
} bwd_job;

/* vocabulary ranges q0..q1-1: each range's blocks add into the range's own dx partial; the slot
 * only lends its work buffer P */
static void bwd_chunk(void *p, int slot, long q0, long q1)
{
    bwd_job *j = p;
    const size_t nc = (size_t)j->N * j->C;
    float *P = j->scratch + (size_t)NPART * nc + (size_t)slot * VB * j->Np;
    const long nblocks = (j->V + VB - 1) / VB;
    for (long q = q0; q < q1; q++) {
        float *dxp = j->scratch + (size_t)q * nc;
        for (long b = q * nblocks / NPART; b < (q + 1) * nblocks / NPART; b++) {
            int v0 = (int)b * VB, nrows = j->V - v0 < VB ? j->V - v0 : VB;
            backward_block(dxp, j->dw, j->dbias, P, j->logitsT, j->lse, j->colscale, j->targets, j->x, j->w, j->N,
                           j->C, j->Np, v0, nrows);
        }
    }
}

void tl_lmhead_backward(float *dx, float *dw, float *dbias, const float *logitsT, const float *lse,
                        const uint32_t *targets, const float *x, const float *w, int N, int C, int V,
                        float *scratch, int nthreads)
{
    const size_t Np = tl_lmhead_np(N);
    const size_t total = (size_t)N * C;
    const int nt = nthreads < 1 ? 1 : nthreads;
    float *colscale = scratch + (size_t)NPART * total + (size_t)nt * VB * Np;
    for (size_t n = 0; n < Np; n++)
        colscale[n] = n < (size_t)N ? 1.0f / (float)N : 0.0f;
    const int want = (long)V * N * C < (1 << 22) ? 1 : nt;
    memset(scratch, 0, (size_t)NPART * total * sizeof(float));
    bwd_job j = {scratch, dw, dbias, logitsT, lse, colscale, x, w, targets, N, C, V, Np};
    tl_parallel_for(NPART, 1, want, bwd_chunk, &j);
    for (int q = 0; q < NPART; q++) { /* in range order */
        const float *src = scratch + (size_t)q * total;
        for (size_t e = 0; e < total; e++)
            dx[e] += src[e];
    }
}

/* ---- inference from packed weights (tl_lmhead_pack) ---- */

#define PB 16 /* vocabulary rows per packed block */

size_t tl_lmhead_packed_floats(int C, int V)
{
    return (size_t)(V + PB - 1) / PB * PB * (size_t)C;
}

void tl_lmhead_pack(float *packed, const float *w, int C, int V)
{
    const long nblk = (V + PB - 1) / PB;
    for (long blk = 0; blk < nblk; blk++) {
        float *dst = packed + (size_t)blk * PB * C;
        for (int c = 0; c < C; c++)
            for (int i = 0; i < PB; i++) {
                long v = blk * PB + i;
                dst[(size_t)c * PB + i] = v < V ? w[(size_t)v * C + c] : 0.0f;
            }
    }
}

typedef struct {
    float *out;
    const float *x, *packed, *bias;
    int nb, C, V;
    float *part; /* [slots][nb][VW] running lane-wise maxima of each row's logits, or NULL */
    const float *xt; /* rows in groups of 16, each group [C][16] (or NULL: 8-row groups from x) */
} packed_job;

#define PV (PB / VW) /* vectors per block row */

/* One packed block (16 vocabulary rows) for input rows b..b+NR-1; NR is a compile-time constant
 * so the accumulators stay in registers. Each logit is a chain of FMAs over c in order. The
 * stored logits also raise mx[r] (the sampler's first pass, done while they are in registers).
 * The same arithmetic as tile_fma (tensor/tile.h), written out: through tile_fma's wider
 * accumulator array the one-row case ran 5-7% slower (bench/kernels_ab.sh), hot loop unchanged. */
TL_INLINE void packed_rows(const packed_job *j, long blk, int b, const int NR, float *mx, const float *x0,
                           const size_t rs, const size_t cs)
{
    const int C = j->C, V = j->V;
    const float *wb = j->packed + (size_t)blk * PB * C;
    const long v0 = blk * PB;
    vf acc[16][PV];
    for (int r = 0; r < NR; r++)
        for (int k = 0; k < PV; k++)
            acc[r][k] = vzero();
    for (int c = 0; c < C; c++) {
        vf wv[PV];
        for (int k = 0; k < PV; k++)
            wv[k] = vload(wb + (size_t)c * PB + k * VW);
        for (int r = 0; r < NR; r++) {
            const vf xv = vset1(x0[(size_t)r * rs + (size_t)c * cs]);
            for (int k = 0; k < PV; k++)
                acc[r][k] = vfma(wv[k], xv, acc[r][k]);
        }
    }
    for (int r = 0; r < NR; r++) {
        float *o = j->out + (size_t)(b + r) * V + v0;
        if (v0 + PB <= V) {
            vf m = mx ? vload(mx + (size_t)(b + r) * VW) : vzero();
            for (int k = 0; k < PV; k++) {
                vf y = vadd(acc[r][k], vload(j->bias + v0 + k * VW));
                vstore(o + k * VW, y);
                m = vmax(m, y);
            }
            if (mx)
                vstore(mx + (size_t)(b + r) * VW, m);
        } else {
            float tmp[PB];
            for (int k = 0; k < PV; k++)
                vstore(tmp + k * VW, acc[r][k]);
            for (long v = v0; v < V; v++) {
                o[v - v0] = tmp[v - v0] + j->bias[v];
                if (mx && o[v - v0] > mx[(size_t)(b + r) * VW])
                    mx[(size_t)(b + r) * VW] = o[v - v0];
            }
        }
    }
}

/* Blocks [blk0, blk1): sixteen input rows at a time share each packed load, read from their
 * [C][16] copy so every broadcast is a constant offset from one pointer (16 accumulators, ~25 %
 * faster than 8 at batch 32; with 16 row pointers the loop ran out of registers); the rest in
 * groups of 8, 4, 2, 1. The same arithmetic for every row whichever group it is in. */
static void packed_chunk(void *p, int slot, long blk0, long blk1)
{
    const packed_job *j = p;
    const size_t C = (size_t)j->C;
    float *mx = j->part ? j->part + (size_t)slot * j->nb * VW : NULL;
    for (long blk = blk0; blk < blk1; blk++) {
        int b = 0;
        for (; j->xt && b + 16 <= j->nb; b += 16)
            packed_rows(j, blk, b, 16, mx, j->xt + (size_t)b * C, 1, 16);
        for (; b + 8 <= j->nb; b += 8)
            packed_rows(j, blk, b, 8, mx, j->x + (size_t)b * C, C, 1);
        if (b + 4 <= j->nb) {
            packed_rows(j, blk, b, 4, mx, j->x + (size_t)b * C, C, 1);
            b += 4;
        }
        if (b + 2 <= j->nb) {
            packed_rows(j, blk, b, 2, mx, j->x + (size_t)b * C, C, 1);
            b += 2;
        }
        if (b < j->nb)
            packed_rows(j, blk, b, 1, mx, j->x + (size_t)b * C, C, 1);
    }
}

void tl_lmhead_rows_packed(float *out, float *rowmax, const float *x, const float *packed, const float *bias, int nb,
                           int C, int V)
{
    const int threads = (long)V * C * nb > (1 << 20) ? 256 : 1, slots = tl_parallel_slots(threads);
    float *part = rowmax ? aligned_alloc(64, tl_round_up((size_t)slots * nb * VW * sizeof *part, 64)) : NULL;
    for (size_t i = 0; part && i < (size_t)slots * nb * VW; i++)
        part[i] = -INFINITY;
    const int n16 = nb / 16 * 16;
    float *xt = n16 ? aligned_alloc(64, tl_round_up((size_t)n16 * C * sizeof *xt, 64)) : NULL;
    for (int g = 0; xt && g < n16; g += 16) /* without it, 8-row groups do the same work */
        for (int c = 0; c < C; c++)
            for (int r = 0; r < 16; r++)
                xt[(size_t)g * C + (size_t)c * 16 + r] = x[(size_t)(g + r) * C + c];
    packed_job j = {out, x, packed, bias, nb, C, V, part, xt};
    const long nblk = (V + PB - 1) / PB;
    /* chunks of 64 blocks (1024 rows, 256 KB of weights at d=64) */
    tl_parallel_for(nblk, 64, threads, packed_chunk, &j);
    tl_sec_free(xt); /* activations of the prompt */
    if (!rowmax)
        return;
    for (int b = 0; b < nb; b++) {
        float m = -INFINITY;
        if (part) {
            for (size_t i = 0; i < (size_t)slots * VW; i++) {
                const float pm = part[((size_t)(i / VW) * nb + b) * VW + i % VW];
                if (pm > m)
                    m = pm;
            }
        } else { /* no memory for the partial maxima: a pass over the row */
            for (int v = 0; v < V; v++)
                if (out[(size_t)b * V + v] > m)
                    m = out[(size_t)b * V + v];
        }
        rowmax[b] = m;
    }
    tl_sec_free(part);
}
