#include "tensor/matmul.h"

#include <string.h>

#include "tensor/pool.h"
#include "tensor/simd.h"

/* Register tile: TR rows x TNV vectors of accumulators (24 zmm with AVX-512; fewer with the
 * 16-register AVX2 file). Each step broadcasts one scalar and multiplies TNV vectors. */
#define TR 6
#if VW == 8
#define TNV 2
#else
#define TNV 4
#endif
#define TCOLS (TNV * VW)
/* Below this many multiply-adds (~0.1 ms on one core) a parallel region costs more than it saves,
 * especially on a loaded machine where every barrier can wait for a descheduled thread. */
#define PAR_MIN (1 << 22)

#define INLINE static inline __attribute__((always_inline))
#define TL_ALL 256

/* chunks of ~1/16 of the work per thread: small enough that a descheduled thread holds little */
static long grain(long items)
{
    long g = items / (16L * tl_get_threads());
    return g < 1 ? 1 : g;
}

/* Up to this many rows the forward pass works on transposed activations instead of transposing
 * the weight (inference: a window of 16 tokens); rows sit in SIMD lanes. */
#define SMALL_N 32

size_t tl_linear_scratch(int C, int OC)
{
    size_t big = ((size_t)C + 1) * tl_round_up((size_t)OC, VW);
    size_t small = ((size_t)C + (size_t)OC) * tl_round_up(SMALL_N, VW);
    return big > small ? big : small;
}

/* outT[o0..+R][0..NV*VW) = bias + Σ_c w[o][c] · xt[c][n] (rows of the output in lanes). */
INLINE void small_tile(float *outT, const float *xt, const float *w, const float *bias, int C, size_t Np,
                       int o0, const int R, const int NV)
{
    vf acc[8][2];
    for (int r = 0; r < R; r++) {
        vf b = vset1(bias ? bias[o0 + r] : 0.0f);
        for (int j = 0; j < NV; j++)
            acc[r][j] = b;
    }
    const float *wr = w + (size_t)o0 * C;
    for (int c = 0; c < C; c++) {
        vf xv[2];
        for (int j = 0; j < NV; j++)
            xv[j] = vload(xt + (size_t)c * Np + j * VW);
        for (int r = 0; r < R; r++) {
            vf wv = vset1(wr[(size_t)r * C + c]);
            for (int j = 0; j < NV; j++)
                acc[r][j] = vfma(wv, xv[j], acc[r][j]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NV; j++)
            vstore(outT + (size_t)(o0 + r) * Np + j * VW, acc[r][j]);
}

static void small_forward(float *out, const float *inp, const float *w, const float *bias, int N, int C, int OC,
                          float *scratch)
{
    const size_t Np = tl_round_up((size_t)N, VW);
    const int NV = (int)(Np / VW);
    float *xt = scratch, *outT = scratch + (size_t)C * Np;
    for (int c = 0; c < C; c++) {
        for (int n = 0; n < N; n++)
            xt[(size_t)c * Np + n] = inp[(size_t)n * C + c];
        for (size_t n = (size_t)N; n < Np; n++)
            xt[(size_t)c * Np + n] = 0;
    }
    int o0 = 0;
    if (NV == 1)
        for (; o0 + 8 <= OC; o0 += 8)
            small_tile(outT, xt, w, bias, C, Np, o0, 8, 1);
    else if (NV == 2)
        for (; o0 + 8 <= OC; o0 += 8)
            small_tile(outT, xt, w, bias, C, Np, o0, 8, 2);
    for (; o0 < OC; o0++) {
        if (NV == 1)
            small_tile(outT, xt, w, bias, C, Np, o0, 1, 1);
        else
            small_tile(outT, xt, w, bias, C, Np, o0, 1, 2);
    }
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++)
            out[(size_t)n * OC + o] = outT[(size_t)o * Np + n];
}

/* out rows n0..n0+R, columns o0..o0+NV*VW (clipped at OC); wt is [C+1][OCp] with the bias last. */
INLINE void fwd_tile(float *out, const float *inp, const float *wt, int C, int OC, size_t OCp,
                     int n0, int o0, const int R, const int NV)
{
    vf acc[TR][TNV];
    const float *brow = wt + (size_t)C * OCp + o0;
    for (int j = 0; j < NV; j++) {
        vf b = vload(brow + j * VW);
        for (int r = 0; r < R; r++)
            acc[r][j] = b;
    }
    const float *a = inp + (size_t)n0 * C;
    for (int c = 0; c < C; c++) {
        vf w[TNV];
        const float *wr = wt + (size_t)c * OCp + o0;
        for (int j = 0; j < NV; j++)
            w[j] = vload(wr + j * VW);
        for (int r = 0; r < R; r++) {
            vf x = vset1(a[(size_t)r * C + c]);
            for (int j = 0; j < NV; j++)
                acc[r][j] = vfma(x, w[j], acc[r][j]);
        }
    }
    for (int r = 0; r < R; r++) {
        float *o = out + (size_t)(n0 + r) * OC;
        for (int j = 0; j < NV; j++) {
            int col = o0 + j * VW;
            if (col + VW <= OC) {
                vstore(o + col, acc[r][j]);
            } else {
                float tmp[VW];
                vstore(tmp, acc[r][j]);
                memcpy(o + col, tmp, (size_t)(OC - col) * sizeof(float));
            }
        }
    }
}

/* Edge tiles: fewer rows get their own unrolled copies; fewer vectors use a generic loop. */
static void fwd_tile_edge(float *out, const float *inp, const float *wt, int C, int OC, size_t OCp,
                          int n0, int o0, int R, int NV)
{
    if (NV == TNV) {
        switch (R) {
        case 1: fwd_tile(out, inp, wt, C, OC, OCp, n0, o0, 1, TNV); return;
        case 2: fwd_tile(out, inp, wt, C, OC, OCp, n0, o0, 2, TNV); return;
        case 3: fwd_tile(out, inp, wt, C, OC, OCp, n0, o0, 3, TNV); return;
        case 4: fwd_tile(out, inp, wt, C, OC, OCp, n0, o0, 4, TNV); return;
        case 5: fwd_tile(out, inp, wt, C, OC, OCp, n0, o0, 5, TNV); return;
        }
    }
    fwd_tile(out, inp, wt, C, OC, OCp, n0, o0, R, NV);
}

typedef struct {
    float *out;
    const float *inp, *wt;
    int N, C, OC;
    size_t OCp;
} fwd_job;

static void fwd_chunk(void *p, int slot, long t0, long t1)
{
    (void)slot;
    const fwd_job *j = p;
    const int N = j->N, OC = j->OC;
    const int ntc = (OC + TCOLS - 1) / TCOLS;
    for (long t = t0; t < t1; t++) {
        int n0 = (int)(t / ntc) * TR, o0 = (int)(t % ntc) * TCOLS;
        int R = N - n0 < TR ? N - n0 : TR;
        int NV = (OC - o0 + VW - 1) / VW;
        if (NV > TNV)
            NV = TNV;
        if (R == TR && NV == TNV)
            fwd_tile(j->out, j->inp, j->wt, j->C, OC, j->OCp, n0, o0, TR, TNV);
        else
            fwd_tile_edge(j->out, j->inp, j->wt, j->C, OC, j->OCp, n0, o0, R, NV);
    }
}

size_t tl_linear_packed_floats(int C, int OC)
{
    return ((size_t)C + 1) * tl_round_up((size_t)OC, VW);
}

void tl_linear_pack(float *wt, const float *w, const float *bias, int C, int OC)
{
    const size_t OCp = tl_round_up((size_t)OC, VW);
    /* wᵀ (zero-padded to OCp columns) followed by the bias row */
    for (int c = 0; c <= C; c++)
        memset(wt + (size_t)c * OCp + OC, 0, (OCp - OC) * sizeof(float));
    for (int o = 0; o < OC; o++)
        for (int c = 0; c < C; c++)
            wt[(size_t)c * OCp + o] = w[(size_t)o * C + c];
    if (bias)
        memcpy(wt + (size_t)C * OCp, bias, (size_t)OC * sizeof(float));
    else
        memset(wt + (size_t)C * OCp, 0, (size_t)OC * sizeof(float));
}

void tl_linear_forward_packed(float *out, const float *inp, const float *wt, int N, int C, int OC)
{
    const size_t OCp = tl_round_up((size_t)OC, VW);
    fwd_job j = {out, inp, wt, N, C, OC, OCp};
    const long ntiles = (long)((N + TR - 1) / TR) * ((OC + TCOLS - 1) / TCOLS);
    tl_parallel_for(ntiles, grain(ntiles), (long)N * C * OC > PAR_MIN ? TL_ALL : 1, fwd_chunk, &j);
}

void tl_linear_forward(float *out, const float *inp, const float *w, const float *bias,
                       int N, int C, int OC, float *wt)
{
    if (N <= SMALL_N) {
        small_forward(out, inp, w, bias, N, C, OC, wt);
        return;
    }
    tl_linear_pack(wt, w, bias, C, OC);
    tl_linear_forward_packed(out, inp, wt, N, C, OC);
}

/* dinp[n0..+R, c0..+NV*VW] += dout[n, :] · w[:, c] over all OC outputs (full vectors only). */
INLINE void dinp_tile(float *dinp, const float *dout, const float *w, int C, int OC, int n0, int c0,
                      const int R, const int NV)
{
    vf acc[TR][TNV];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NV; j++)
            acc[r][j] = vload(dinp + (size_t)(n0 + r) * C + c0 + j * VW);
    for (int o = 0; o < OC; o++) {
        vf wv[TNV];
        for (int j = 0; j < NV; j++)
            wv[j] = vload(w + (size_t)o * C + c0 + j * VW);
        for (int r = 0; r < R; r++) {
            vf g = vset1(dout[(size_t)(n0 + r) * OC + o]);
            for (int j = 0; j < NV; j++)
                acc[r][j] = vfma(g, wv[j], acc[r][j]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NV; j++)
            vstore(dinp + (size_t)(n0 + r) * C + c0 + j * VW, acc[r][j]);
}

static void dinp_tile_edge(float *dinp, const float *dout, const float *w, int C, int OC, int n0, int c0, int R, int NV)
{
    if (NV == TNV) {
        switch (R) {
        case 1: dinp_tile(dinp, dout, w, C, OC, n0, c0, 1, TNV); return;
        case 2: dinp_tile(dinp, dout, w, C, OC, n0, c0, 2, TNV); return;
        case 3: dinp_tile(dinp, dout, w, C, OC, n0, c0, 3, TNV); return;
        case 4: dinp_tile(dinp, dout, w, C, OC, n0, c0, 4, TNV); return;
        case 5: dinp_tile(dinp, dout, w, C, OC, n0, c0, 5, TNV); return;
        }
    }
    dinp_tile(dinp, dout, w, C, OC, n0, c0, R, NV);
}

/* dw[o0..+R, c0..+NV*VW] += Σ_n dout[n, o] · inp[n, c]. */
INLINE void dw_tile(float *dw, const float *dout, const float *inp, int N, int C, int OC, int o0, int c0,
                    const int R, const int NV)
{
    vf acc[TR][TNV];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NV; j++)
            acc[r][j] = vload(dw + (size_t)(o0 + r) * C + c0 + j * VW);
    for (int n = 0; n < N; n++) {
        vf xv[TNV];
        for (int j = 0; j < NV; j++)
            xv[j] = vload(inp + (size_t)n * C + c0 + j * VW);
        const float *g = dout + (size_t)n * OC + o0;
        for (int r = 0; r < R; r++) {
            vf gv = vset1(g[r]);
            for (int j = 0; j < NV; j++)
                acc[r][j] = vfma(gv, xv[j], acc[r][j]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NV; j++)
            vstore(dw + (size_t)(o0 + r) * C + c0 + j * VW, acc[r][j]);
}

static void dw_tile_edge(float *dw, const float *dout, const float *inp, int N, int C, int OC, int o0, int c0, int R, int NV)
{
    if (NV == TNV) {
        switch (R) {
        case 1: dw_tile(dw, dout, inp, N, C, OC, o0, c0, 1, TNV); return;
        case 2: dw_tile(dw, dout, inp, N, C, OC, o0, c0, 2, TNV); return;
        case 3: dw_tile(dw, dout, inp, N, C, OC, o0, c0, 3, TNV); return;
        case 4: dw_tile(dw, dout, inp, N, C, OC, o0, c0, 4, TNV); return;
        case 5: dw_tile(dw, dout, inp, N, C, OC, o0, c0, 5, TNV); return;
        }
    }
    dw_tile(dw, dout, inp, N, C, OC, o0, c0, R, NV);
}

typedef struct {
    float *dinp, *dw;
    const float *dout, *inp, *w;
    int N, C, OC;
} bwd_job;

/* Items: the dinp tiles, then the dw tiles (independent outputs). */
static void bwd_chunk(void *p, int slot, long i0, long i1)
{
    (void)slot;
    const bwd_job *j = p;
    const int N = j->N, C = j->C, OC = j->OC;
    const int ncv = C / VW, nct = (ncv + TNV - 1) / TNV;
    const long nin = j->dinp ? (long)((N + TR - 1) / TR) * nct : 0;
    long t0, t1;
    if (j->dinp && i0 < nin) {
        t0 = i0;
        t1 = i1 < nin ? i1 : nin;
        for (long t = t0; t < t1; t++) {
            int n0 = (int)(t / nct) * TR, c0 = (int)(t % nct) * TCOLS;
            int R = N - n0 < TR ? N - n0 : TR;
            int NV = ncv - c0 / VW < TNV ? ncv - c0 / VW : TNV;
            if (R == TR && NV == TNV)
                dinp_tile(j->dinp, j->dout, j->w, C, OC, n0, c0, TR, TNV);
            else
                dinp_tile_edge(j->dinp, j->dout, j->w, C, OC, n0, c0, R, NV);
        }
    }
    if (j->dw && i1 > nin) {
        t0 = (i0 > nin ? i0 : nin) - nin;
        t1 = i1 - nin;
        for (long t = t0; t < t1; t++) {
            int o0 = (int)(t / nct) * TR, c0 = (int)(t % nct) * TCOLS;
            int R = OC - o0 < TR ? OC - o0 : TR;
            int NV = ncv - c0 / VW < TNV ? ncv - c0 / VW : TNV;
            if (R == TR && NV == TNV)
                dw_tile(j->dw, j->dout, j->inp, N, C, OC, o0, c0, TR, TNV);
            else
                dw_tile_edge(j->dw, j->dout, j->inp, N, C, OC, o0, c0, R, NV);
        }
    }
}

void tl_linear_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                        const float *w, int N, int C, int OC)
{
    const int Cf = C / VW * VW; /* columns covered by full vectors; the rest is scalar */
    bwd_job j = {dinp, dw, dout, inp, w, N, C, OC};
    const long nct = ((C / VW) + TNV - 1) / TNV;
    const long items = (dinp ? (long)((N + TR - 1) / TR) * nct : 0) + (dw ? (long)((OC + TR - 1) / TR) * nct : 0);
    tl_parallel_for(items, grain(items), (long)N * C * OC > PAR_MIN ? TL_ALL : 1, bwd_chunk, &j);
    if (dinp)
        for (int n = 0; n < N && Cf < C; n++)
            for (int o = 0; o < OC; o++) {
                float g = dout[(size_t)n * OC + o];
                for (int c = Cf; c < C; c++)
                    dinp[(size_t)n * C + c] += g * w[(size_t)o * C + c];
            }
    if (dw)
        for (int n = 0; n < N && Cf < C; n++)
            for (int o = 0; o < OC; o++) {
                float g = dout[(size_t)n * OC + o];
                for (int c = Cf; c < C; c++)
                    dw[(size_t)o * C + c] += g * inp[(size_t)n * C + c];
            }
    if (dbias)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++)
                dbias[o] += dout[(size_t)n * OC + o];
}
