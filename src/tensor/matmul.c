#include "tensor/matmul.h"

#include <string.h>

#include "util/pool.h"
#include "tensor/simd.h"
#include "tensor/tile.h"

/* Below this many multiply-adds (~0.1 ms on one core) a parallel region costs more than it saves,
 * especially on a loaded machine where every barrier can wait for a descheduled thread. */
#define PAR_MIN (1 << 22)

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
TL_INLINE void small_tile(float *outT, const float *xt, const float *w, const float *bias, int C, size_t Np,
                          int o0, const int R, const int NV)
{
    vf acc[TILE_MR][TILE_MV];
    tile_set_rows(acc, bias ? bias + o0 : NULL, R, NV);
    tile_fma(acc, w + (size_t)o0 * C, C, 1, xt, Np, C, R, NV);
    tile_store(outT + (size_t)o0 * Np, Np, acc, R, NV);
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
TL_INLINE void fwd_tile(float *out, const float *inp, const float *wt, int C, int OC, size_t OCp,
                        int n0, int o0, const int R, const int NV)
{
    vf acc[TILE_MR][TILE_MV];
    tile_load(acc, wt + (size_t)C * OCp + o0, 0, R, NV); /* the bias row in every row */
    tile_fma(acc, inp + (size_t)n0 * C, C, 1, wt + o0, OCp, C, R, NV);
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
TL_EDGE void fwd_tile_edge(float *out, const float *inp, const float *wt, int C, int OC, size_t OCp,
                           int n0, int o0, int R, int NV)
{
    TILE_EDGE(fwd_tile, R, NV, out, inp, wt, C, OC, OCp, n0, o0);
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
            /* dinp[n0..+R][c0..+NV*VW] += Σ_o dout[n][o] · w[o][c] */
            float *d = j->dinp + (size_t)n0 * C + c0;
            const float *g = j->dout + (size_t)n0 * OC, *w = j->w + c0;
            if (R == TR && NV == TNV)
                tile_madd(d, C, 1, g, OC, 1, w, C, OC, TR, TNV);
            else
                tile_madd_edge(d, C, 1, g, OC, 1, w, C, OC, R, NV);
        }
    }
    if (j->dw && i1 > nin) {
        t0 = (i0 > nin ? i0 : nin) - nin;
        t1 = i1 - nin;
        for (long t = t0; t < t1; t++) {
            int o0 = (int)(t / nct) * TR, c0 = (int)(t % nct) * TCOLS;
            int R = OC - o0 < TR ? OC - o0 : TR;
            int NV = ncv - c0 / VW < TNV ? ncv - c0 / VW : TNV;
            /* dw[o0..+R][c0..+NV*VW] += Σ_n dout[n][o] · inp[n][c] */
            float *d = j->dw + (size_t)o0 * C + c0;
            const float *g = j->dout + o0, *x = j->inp + c0;
            if (R == TR && NV == TNV)
                tile_madd(d, C, 1, g, 1, OC, x, C, N, TR, TNV);
            else
                tile_madd_edge(d, C, 1, g, 1, OC, x, C, N, R, NV);
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
