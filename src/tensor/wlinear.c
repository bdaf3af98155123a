#include "tensor/wlinear.h"

#define _DEFAULT_SOURCE /* explicit_bzero */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/expf_ggml.h"
#include "tensor/qdot8.h"
#include "tensor/quant.h"
#include "tensor/quant_tile.h"
#include "tensor/vecdot_ggml.h"
#include "tensor/simd.h"
#include "tensor/tile.h"
#include "util/pool.h"

/* Below this many multiply-adds a parallel region costs more than it saves (a 576 x 576 decoding
 * product, 0.33 M, is memory bound and still gains from the second core). */
#define PAR_MIN (1L << 16)
#define TL_ALL 256
#define QA_PAR_MIN (1L << 14) /* activations worth quantizing in parallel */
#define NT_R 4     /* rows per NT tile */
#define NT_P 4     /* outputs per NT tile */
#define NT_OB 16   /* outputs per NT work item */
/* Decoding (one row block) streams each weight once: the tile prefetches the rows PF_TILES tiles
 * ahead into L1 (prefetcht0; measured best of 1/2/4/8 tiles, nta/t0 on this machine). */
#ifndef PF_TILES
#define PF_TILES 2
#endif
#ifndef PF_LOC
#define PF_LOC 3
#endif
#ifndef NN_PF
#define NN_PF 16
#endif
#define NN_R 4
#define NN_NV 4    /* vectors per NN tile */
#define NN_WIDE 16 /* vectors per NN work item, and of the one-row tile: a decoding step then reads 1 KB
                      (F32) of each weight row at a time, not 256 bytes scattered over pages */

/* VW weights from w + i (elements of dt) as floats. dt is a compile-time constant at every call. */
TL_INLINE vf wload(const void *w, size_t i, const tl_dtype dt)
{
    if (dt == TL_DT_F32)
        return vload((const float *)w + i);
    const uint16_t *h = (const uint16_t *)w + i;
#if VW == 16
    __m256i v = _mm256_loadu_si256((const __m256i *)h);
    if (dt == TL_DT_BF16)
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
    return _mm512_cvtph_ps(v);
#elif VW == 8 && defined(__F16C__)
    __m128i v = _mm_loadu_si128((const __m128i *)h);
    if (dt == TL_DT_BF16)
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
    return _mm256_cvtph_ps(v);
#else
    float f[VW];
    tl_dtype_to_f32(dt, h, f, VW);
    return vload(f);
#endif
}

/* The last n < VW elements from w + i, zero-padded to a vector. */
static vf wload_tail(const void *w, size_t i, int n, tl_dtype dt)
{
    float f[VW] = {0};
    tl_dtype_to_f32(dt, (const char *)w + i * tl_dtype_size(dt), f, (size_t)n);
    return vload(f);
}

static vf xload_tail(const float *x, int n)
{
    float f[VW] = {0};
    memcpy(f, x, (size_t)n * sizeof(float));
    return vload(f);
}

static inline float silu(float z) { return z / (1.0f + expf(-z)); }
/* z[0..P) = the gate activation of op's outputs o0.. */
static inline void gate_cols(const tl_wlin *op, float *z, int P, int o0)
{
    if (op->ggml_silu)
        tl_silu_ggml_cols(z, P, o0, op->O);
    else
        for (int p = 0; p < P; p++)
            z[p] = silu(z[p]);
}

/* ---- NT ---- */

/* res[r][p] = Σ_c x[n0+r][c]·W[o0+p][c] (+ bias) for r < R, p < P */
TL_INLINE void nt_tile(float res[NT_R][NT_P], const float *x, int C, const void *w, const float *bias, int n0,
                       int o0, int pref, const int R, const int P, const tl_dtype dt)
{
    vf acc[NT_R][NT_P];
    for (int r = 0; r < R; r++)
        for (int p = 0; p < P; p++)
            acc[r][p] = vzero();
    const float *xr = x + (size_t)n0 * C;
    const size_t wr = (size_t)o0 * C;
    const int Cf = C / VW * VW;
    const char *pf = (const char *)w + (wr + (size_t)PF_TILES * P * C) * tl_dtype_size(dt); /* PF_TILES tiles ahead */
    const size_t pstep = (size_t)C * tl_dtype_size(dt) * (size_t)P / (size_t)(Cf / VW > 0 ? Cf / VW : 1);
    for (int c = 0; c < Cf; c += VW) {
        vf wv[NT_P];
        /* decoding streams the weights once: ask for the next tile's bytes while this one computes */
        if (pref)
            for (size_t b = 0; b < pstep; b += 64)
                __builtin_prefetch(pf + (size_t)(c / VW) * pstep + b, 0, PF_LOC);
        for (int p = 0; p < P; p++)
            wv[p] = wload(w, wr + (size_t)p * C + c, dt);
        for (int r = 0; r < R; r++) {
            const vf xv = vload(xr + (size_t)r * C + c);
            for (int p = 0; p < P; p++)
                acc[r][p] = vfma(xv, wv[p], acc[r][p]);
        }
    }
    if (Cf < C) {
        vf wv[NT_P];
        for (int p = 0; p < P; p++)
            wv[p] = wload_tail(w, wr + (size_t)p * C + Cf, C - Cf, dt);
        for (int r = 0; r < R; r++) {
            const vf xv = xload_tail(xr + (size_t)r * C + Cf, C - Cf);
            for (int p = 0; p < P; p++)
                acc[r][p] = vfma(xv, wv[p], acc[r][p]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int p = 0; p < P; p++)
            res[r][p] = vsum(acc[r][p]) + (bias ? bias[o0 + p] : 0.0f);
}

/* One instantiation per (dtype, R, P): the tile's loops unroll and its accumulators stay in registers. */
#define NT_RP(dt, R, P) \
    static __attribute__((noinline)) void nt_##dt##_##R##_##P(float res[NT_R][NT_P], const float *x, int C, \
                                                               const void *w, const float *bias, int n0, int o0, int pref) \
    { nt_tile(res, x, C, w, bias, n0, o0, pref, R, P, TL_DT_##dt); }
#define NT_R4(dt, P) NT_RP(dt, 1, P) NT_RP(dt, 2, P) NT_RP(dt, 3, P) NT_RP(dt, 4, P)
#define NT_DT(dt) NT_R4(dt, 1) NT_R4(dt, 2) NT_R4(dt, 3) NT_R4(dt, 4)
NT_DT(F32)
NT_DT(F16)
NT_DT(BF16)

typedef void (*nt_fn)(float res[NT_R][NT_P], const float *x, int C, const void *w, const float *bias, int n0, int o0,
                      int pref);
#define NT_ROW(dt, R) {nt_##dt##_##R##_1, nt_##dt##_##R##_2, nt_##dt##_##R##_3, nt_##dt##_##R##_4}
#define NT_TAB(dt) {NT_ROW(dt, 1), NT_ROW(dt, 2), NT_ROW(dt, 3), NT_ROW(dt, 4)}
static const nt_fn nt_f32[NT_R][NT_P] = NT_TAB(F32);
static const nt_fn nt_f16[NT_R][NT_P] = NT_TAB(F16);
static const nt_fn nt_bf16[NT_R][NT_P] = NT_TAB(BF16);

static nt_fn nt_pick(tl_dtype dt, int R, int P)
{
    const nt_fn(*t)[NT_P] = dt == TL_DT_BF16 ? nt_bf16 : dt == TL_DT_F16 ? nt_f16 : nt_f32;
    return t[R - 1][P - 1];
}

typedef struct {
    const tl_wlin *ops;
    const float *x;
    int nops, N, C;
    long first[9]; /* first item of each op (nops <= 8), then the total */
    const unsigned char *xq[9]; /* block-type ops: the rows of x quantized for them (tensor/quant.h);
                                   rounding half-type ops: x rounded to their type (floats) */
    size_t xq_row[9];           /* bytes per quantized row of those */
    const tl_q8_aux *aux;       /* prompt rows for repacked ops: their Q8_0 rows' tl_q8_aux_row, else NULL */
} nt_job;

/* 1 when op computes on x rounded to its half type */
static int rounds(const tl_wlin *op) { return op->xround && (op->dt == TL_DT_F16 || op->dt == TL_DT_BF16); }

/* y[0..P) (+)= bias + a (the gate: silu(bias + a) * g) for outputs o0.. of op */
static void put_outputs(const tl_wlin *op, float *y, const float *a, const float *g, int P, int o0)
{
#if TL_GGML_LANES == 16
    if (op->w2 && op->ggml_silu && o0 + P <= op->O / 16 * 16) { /* in registers: the same bits */
        const __mmask16 k = (__mmask16)((1u << P) - 1u);
        __m512 v = _mm512_maskz_loadu_ps(k, a);
        if (op->bias)
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, op->bias + o0));
        v = _mm512_mul_ps(tl_vsilu_ggml(v), _mm512_maskz_loadu_ps(k, g));
        if (op->add)
            v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, y), v);
        _mm512_mask_storeu_ps(y, k, v);
        return;
    }
#endif
    float v[NT_OB]; /* P <= 16 */
    for (int p = 0; p < P; p++)
        v[p] = a[p] + (op->bias ? op->bias[o0 + p] : 0.0f);
    if (op->w2) {
        gate_cols(op, v, P, o0);
        for (int p = 0; p < P; p++)
            v[p] *= g[p];
    }
    for (int p = 0; p < P; p++)
        y[p] = op->add ? y[p] + v[p] : v[p];
}

/* Outputs ob*NT_OB .. +NT_OB of an op llama.cpp repacks (tensor/qdot8.h): eight outputs by up
 * to four rows at a time, each block's weights unpacked once for the rows; sixteen outputs by
 * many rows where the build has the kernel (prompt rows). */
static void nt_block_q8(const tl_wlin *op, const unsigned char *xq, size_t xq_row, const tl_q8_aux *aux, int N,
                        int C, int ob)
{
    const int o_end = (ob + 1) * NT_OB < op->O ? (ob + 1) * NT_OB : op->O; /* O % 8 == 0 */
    const size_t wr = tl_dtype_bytes(op->dt, (size_t)C);
    if (N >= 4 && o_end - ob * NT_OB == 16) {
        const int o0 = ob * NT_OB;
        int n0 = 0;
        for (; n0 < N; n0 += TL_Q8_ROWS) {
            const int R = N - n0 < TL_Q8_ROWS ? N - n0 : TL_Q8_ROWS;
            float a[TL_Q8_ROWS * 16], g[TL_Q8_ROWS * 16];
            const unsigned char *xr = xq + (size_t)n0 * xq_row, *gm = op->gemm ? op->gemm + n0 : NULL;
            const tl_q8_aux *xa = aux ? aux + (size_t)n0 * (size_t)(C / 32) : NULL;
            if (tl_q_rows16(op->dt, (size_t)C, (const unsigned char *)op->w + (size_t)o0 * wr, wr, xr, xq_row, xa, gm, R,
                            a) ||
                (op->w2 && tl_q_rows16(op->dt, (size_t)C, (const unsigned char *)op->w2 + (size_t)o0 * wr, wr, xr,
                                       xq_row, xa, gm, R, g)))
                break; /* no such kernel here: the eight-output path below */
            for (int r = 0; r < R; r++)
                put_outputs(op, op->out + (size_t)(n0 + r) * op->O + o0, a + r * 16, g + r * 16, 16, o0);
        }
        if (n0 >= N)
            return;
    }
    for (int o0 = ob * NT_OB; o0 < o_end; o0 += 8)
        for (int n0 = 0; n0 < N; n0 += 4) {
            const int R = N - n0 < 4 ? N - n0 : 4;
            float a[32], g[32];
            const unsigned char *xr = xq + (size_t)n0 * xq_row, *gm = op->gemm ? op->gemm + n0 : NULL;
            tl_q_dot8(op->dt, (size_t)C, (const unsigned char *)op->w + (size_t)o0 * wr, wr, xr, xq_row, R, gm, a);
            if (op->w2)
                tl_q_dot8(op->dt, (size_t)C, (const unsigned char *)op->w2 + (size_t)o0 * wr, wr, xr, xq_row, R, gm, g);
            for (int r = 0; r < R; r++)
                put_outputs(op, op->out + (size_t)(n0 + r) * op->O + o0, a + r * 8, g + r * 8, 8, o0);
        }
}

/* Outputs ob*NT_OB .. +NT_OB of a block-type op on the rows quantized once per call: register
 * tiles of ggml's vec_dot (tensor/quant_tile.h), each weight block decoded once per tile; the
 * work item's weights stay in L1 while the rows pass. */
static void nt_block_q(const tl_wlin *op, const unsigned char *xq, size_t xq_row, int N, int C, int ob)
{
    const int o_end = (ob + 1) * NT_OB < op->O ? (ob + 1) * NT_OB : op->O;
    const size_t wr = tl_dtype_bytes(op->dt, (size_t)C);
    if (N == 1) { /* one decoding row streams the rows in order: faster than the tiles' interleaved rows */
        float a[NT_OB], g[NT_OB];
        for (int o = ob * NT_OB; o < o_end; o++) {
            a[o - ob * NT_OB] = tl_q_dot(op->dt, (size_t)C, (const unsigned char *)op->w + (size_t)o * wr, xq);
            if (op->w2)
                g[o - ob * NT_OB] = tl_q_dot(op->dt, (size_t)C, (const unsigned char *)op->w2 + (size_t)o * wr, xq);
        }
        put_outputs(op, op->out + ob * NT_OB, a, g, o_end - ob * NT_OB, ob * NT_OB);
        return;
    }
    for (int n0 = 0; n0 < N; n0 += TL_QT_R) {
        const int R = N - n0 < TL_QT_R ? N - n0 : TL_QT_R;
        const unsigned char *xr = xq + (size_t)n0 * xq_row;
        for (int o0 = ob * NT_OB; o0 < o_end; o0 += TL_QT_P) {
            const int P = o_end - o0 < TL_QT_P ? o_end - o0 : TL_QT_P;
            float a[TL_QT_R * TL_QT_P], g[TL_QT_R * TL_QT_P];
            tl_q_tile(op->dt, (size_t)C, (const unsigned char *)op->w + (size_t)o0 * wr, wr, P, xr, xq_row, R, a,
                      N <= TL_QT_R);
            if (op->w2)
                tl_q_tile(op->dt, (size_t)C, (const unsigned char *)op->w2 + (size_t)o0 * wr, wr, P, xr, xq_row, R, g,
                          N <= TL_QT_R);
            for (int r = 0; r < R; r++)
                put_outputs(op, op->out + (size_t)(n0 + r) * op->O + o0, a + r * P, g + r * P, P, o0);
        }
    }
}

#if VW == 16 && defined(TL_VEC_DOT_GGML)
/* ggml_vec_dot_f16 (x already rounded to F16): tl_vec_dot_f32_ggml's chains over the widened
 * weights, but the sum and the rest of the row in double */
static float dot_f16_ggml(const uint16_t *w, const float *x, int C)
{
    const int np = C / 64 * 64;
    __m512 s[4] = {vzero(), vzero(), vzero(), vzero()};
    for (int c = 0; c < np; c += 64)
        for (int j = 0; j < 4; j++)
            s[j] = vfma(wload(w, (size_t)c + 16 * (size_t)j, TL_DT_F16), vload(x + c + 16 * j), s[j]);
    double sum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s[0], s[2]), _mm512_add_ps(s[1], s[3])));
    for (int c = np; c < C; c++) {
        float t;
        tl_dtype_to_f32(TL_DT_F16, w + c, &t, 1);
        sum += (double)(t * x[c]);
    }
    return (float)sum;
}

/* ggml_vec_dot of weight row o of op with x */
static float dot_ggml(const void *w, size_t o, const float *x, int C, tl_dtype dt)
{
    return dt == TL_DT_F32 ? tl_vec_dot_f32_ggml((const float *)w + o * (size_t)C, x, C)
                           : dot_f16_ggml((const uint16_t *)w + o * (size_t)C, x, C);
}

static int alone(const tl_wlin *op, int n)
{
    return op->gemm && (op->gemm[n] & TL_ROW_ALONE) && (op->dt == TL_DT_F32 || op->dt == TL_DT_F16);
}

/* Outputs o0..o_end of op for row n alone (alone(op, n)). */
static void nt_row_ggml(const tl_wlin *op, const float *x, int C, int n, int o0, int o_end)
{
    float a[NT_OB], b[NT_OB];
    const float *xr = x + (size_t)n * C;
    for (int o = o0; o < o_end; o++) {
        a[o - o0] = dot_ggml(op->w, (size_t)o, xr, C, op->dt);
        if (op->w2)
            b[o - o0] = dot_ggml(op->w2, (size_t)o, xr, C, op->dt);
    }
    put_outputs(op, op->out + (size_t)n * op->O + o0, a, b, o_end - o0, o0);
}
#else
static int alone(const tl_wlin *op, int n)
{
    (void)op;
    (void)n;
    return 0;
}
static void nt_row_ggml(const tl_wlin *op, const float *x, int C, int n, int o0, int o_end)
{
    (void)op; (void)x; (void)C; (void)n; (void)o0; (void)o_end;
}
#endif

/* Outputs ob*NT_OB .. +NT_OB of op for every row. */
static void nt_block(const tl_wlin *op, const float *x, int N, int C, int ob)
{
    const int o_end = (ob + 1) * NT_OB < op->O ? (ob + 1) * NT_OB : op->O;
    for (int n0 = 0, R; n0 < N; n0 += R) {
        if (alone(op, n0)) {
            nt_row_ggml(op, x, C, n0, ob * NT_OB, o_end);
            R = 1;
            continue;
        }
        for (R = 1; R < NT_R && n0 + R < N && !alone(op, n0 + R);)
            R++;
        for (int o0 = ob * NT_OB; o0 < o_end; o0 += NT_P) {
            const int P = o_end - o0 < NT_P ? o_end - o0 : NT_P;
            float a[NT_R][NT_P], b[NT_R][NT_P];
            nt_pick(op->dt, R, P)(a, x, C, op->w, op->bias, n0, o0, N <= NT_R);
            if (op->w2) {
                nt_pick(op->dt, R, P)(b, x, C, op->w2, NULL, n0, o0, N <= NT_R);
                for (int r = 0; r < R; r++) {
                    gate_cols(op, a[r], P, o0);
                    for (int p = 0; p < P; p++)
                        a[r][p] *= b[r][p];
                }
            }
            for (int r = 0; r < R; r++) {
                float *y = op->out + (size_t)(n0 + r) * op->O + o0;
                for (int p = 0; p < P; p++)
                    y[p] = op->add ? y[p] + a[r][p] : a[r][p];
            }
        }
    }
}

static void nt_chunk(void *arg, int slot, long i0, long i1)
{
    (void)slot;
    const nt_job *j = arg;
    int k = 0;
    for (long i = i0; i < i1; i++) {
        while (i >= j->first[k + 1])
            k++;
        if (j->xq[k] && !rounds(&j->ops[k]) && tl_q_repacked(j->ops[k].dt, j->ops[k].O))
            nt_block_q8(&j->ops[k], j->xq[k], j->xq_row[k], j->aux, j->N, j->C, (int)(i - j->first[k]));
        else if (j->xq[k] && !rounds(&j->ops[k]))
            nt_block_q(&j->ops[k], j->xq[k], j->xq_row[k], j->N, j->C, (int)(i - j->first[k]));
        else
            nt_block(&j->ops[k], j->xq[k] ? (const float *)(const void *)j->xq[k] : j->x, j->N, j->C,
                     (int)(i - j->first[k]));
    }
}

static long grain(long items)
{
    long g = items / (8L * tl_get_threads());
    return g < 1 ? 1 : g;
}

typedef struct {
    tl_dtype dt;
    const float *x;
    unsigned char *q;
    size_t row;
    int C;
    tl_q8_aux *aux; /* with it, each quantized row's tl_q8_aux_row too */
} qa_job;

static void qa_chunk(void *arg, int slot, long i0, long i1)
{
    (void)slot;
    const qa_job *j = arg;
    for (long n = i0; n < i1; n++)
        if (tl_dtype_is_block(j->dt)) {
            tl_q_quantize_act(j->dt, j->x + (size_t)n * j->C, j->q + (size_t)n * j->row, (size_t)j->C);
            if (j->aux)
                tl_q8_aux_row(j->q + (size_t)n * j->row, (size_t)j->C, j->aux + (size_t)n * (size_t)(j->C / 32));
        } else
            tl_dtype_round_f32(j->dt, j->x + (size_t)n * j->C, (float *)(void *)(j->q + (size_t)n * j->row),
                               (size_t)j->C);
}

/* x[N][C] quantized or rounded for dt into q (row bytes a row), on every core when it is worth it */
static void prepare_x(tl_dtype dt, const float *x, unsigned char *q, size_t row, tl_q8_aux *aux, int N, int C)
{
    qa_job qa = {dt, x, q, row, C, aux};
    /* a prompt chunk's rows are prepared on every core (serially they took a fifth of the tiles'
       time); a few decoding rows are not worth waking the workers */
    tl_parallel_for(N, grain(N), (long)N * C >= QA_PAR_MIN ? TL_ALL : 1, qa_chunk, &qa);
}

void tl_wlin_nt(const tl_wlin *ops, int nops, const float *x, int N, int C)
{
    while (nops > 8) { /* never in the engine (at most 3 ops); kept correct anyway */
        tl_wlin_nt(ops, 8, x, N, C);
        ops += 8;
        nops -= 8;
    }
    if (nops < 1 || N < 1)
        return;
    nt_job j = {ops, x, nops, N, C, {0}};
    long macs = 0;
    for (int k = 0; k < nops; k++) {
        j.first[k + 1] = j.first[k] + (ops[k].O + NT_OB - 1) / NT_OB;
        macs += (long)ops[k].O * (ops[k].w2 ? 2 : 1);
    }
    macs *= (long)N * C;
    /* x quantized once per activation type (block types: Q8_0, Q8_K) or rounded once per half type
       (F16, BF16 with xround) for all the ops that use it */
    unsigned char *qbuf[4] = {NULL, NULL, NULL, NULL}; /* Q8_0, Q8_K, F16, BF16 */
    size_t qbytes[4] = {0, 0, 0, 0};
    /* a decoding row (up to C = 14336) quantized fits on the stack; prompt chunks and rounded
       rows take the heap */
    _Alignas(64) unsigned char stack[2][16384];
    /* prompt rows meeting a repacked Q4_0 matrix: their blocks' sums and scales once for all its
       outputs */
    tl_q8_aux *aux = NULL;
    size_t aux_bytes = 0;
    for (int k = 0; k < nops && !aux && N >= 4; k++)
        if (ops[k].dt == TL_DT_Q4_0 && tl_q_repacked(ops[k].dt, ops[k].O)) {
            aux_bytes = (size_t)N * (size_t)(C / 32) * sizeof *aux;
            if (!(aux = malloc(aux_bytes)))
                abort(); /* as for the quantized rows below */
        }
    j.aux = aux;
    for (int k = 0; k < nops; k++) {
        const int a = tl_q_act_type(ops[k].dt);
        if (a < 0 && !rounds(&ops[k]))
            continue;
        const int s = a == TL_DT_Q8_0 ? 0 : a >= 0 ? 1 : ops[k].dt == TL_DT_F16 ? 2 : 3;
        const size_t row = a >= 0 ? tl_q_act_bytes(ops[k].dt, (size_t)C) : (size_t)C * sizeof(float);
        if (!qbuf[s]) {
            qbytes[s] = (size_t)N * row;
            qbuf[s] = s < 2 && qbytes[s] <= sizeof stack[s] ? stack[s] : malloc(qbytes[s]);
            if (!qbuf[s]) /* no memory for the chunk's prepared rows: nothing sensible to compute */
                abort();
            prepare_x(ops[k].dt, x, qbuf[s], row, s == 0 ? aux : NULL, N, C);
        }
        j.xq[k] = qbuf[s];
        j.xq_row[k] = row;
    }
    const long items = j.first[nops];
    tl_parallel_for(items, grain(items), macs > PAR_MIN ? TL_ALL : 1, nt_chunk, &j);
    for (int s = 0; s < 4; s++)
        if (qbuf[s]) { /* the quantized activations are as secret as the prompt */
            explicit_bzero(qbuf[s], qbytes[s]);
            if (s >= 2 || qbuf[s] != stack[s])
                free(qbuf[s]);
        }
    if (aux) {
        explicit_bzero(aux, aux_bytes);
        free(aux);
    }
}

/* ---- NN ---- */

/* y[n0..+R][o0..+NV*VW) = bias + Σ_c x[n][c]·W[c][o] (lanes past O are not stored) */
TL_INLINE void nn_tile(const tl_wlin *op, const float *x, int C, int n0, int o0, const int R, const int NV,
                       const tl_dtype dt)
{
    vf acc[NN_R][NN_WIDE];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++)
            acc[r][v] = vzero();
    const int O = op->O;
    const size_t es = tl_dtype_size(dt);
    for (int c = 0; c < C; c++) {
        vf wv[NN_WIDE];
        /* rows of W are O elements apart: ask for row c + NN_PF's slice ahead of its use */
        if (R <= 2 && c + NN_PF < C)
            for (int b = 0; b < NV * VW * (int)es; b += 64)
                __builtin_prefetch((const char *)op->w + ((size_t)(c + NN_PF) * O + o0) * es + b, 0, 3);
        for (int v = 0; v < NV; v++)
            wv[v] = wload(op->w, (size_t)c * O + o0 + v * VW, dt);
        for (int r = 0; r < R; r++) {
            const vf xb = vset1(x[(size_t)(n0 + r) * C + c]);
            for (int v = 0; v < NV; v++)
                acc[r][v] = vfma(xb, wv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < R; r++) {
        float *y = op->out + (size_t)(n0 + r) * O + o0;
        for (int v = 0; v < NV; v++) {
            float t[VW];
            vstore(t, acc[r][v]);
            for (int l = 0; l < VW; l++) {
                const float s = t[l] + (op->bias ? op->bias[o0 + v * VW + l] : 0.0f);
                y[v * VW + l] = op->add ? y[v * VW + l] + s : s;
            }
        }
    }
}

/* The outputs past the last whole vector: one lane at a time, the same chain per output. */
static void nn_tail(const tl_wlin *op, const float *x, int N, int C, int o0)
{
    for (int n = 0; n < N; n++)
        for (int o = o0; o < op->O; o++) {
            float acc = 0.0f, w;
            for (int c = 0; c < C; c++) {
                tl_dtype_to_f32(op->dt, (const char *)op->w + ((size_t)c * op->O + o) * tl_dtype_size(op->dt), &w, 1);
                acc = fmaf(x[(size_t)n * C + c], w, acc);
            }
            const float s = acc + (op->bias ? op->bias[o] : 0.0f);
            float *y = op->out + (size_t)n * op->O + o;
            *y = op->add ? *y + s : s;
        }
}

#define NN_RV(dt, R, NV) \
    static __attribute__((noinline)) void nn_##dt##_##R##_##NV(const tl_wlin *op, const float *x, int C, int n0, int o0) \
    { nn_tile(op, x, C, n0, o0, R, NV, TL_DT_##dt); }
#define NN_R4(dt, NV) NN_RV(dt, 1, NV) NN_RV(dt, 2, NV) NN_RV(dt, 3, NV) NN_RV(dt, 4, NV)
#define NN_DT(dt) NN_R4(dt, 1) NN_R4(dt, 2) NN_R4(dt, 3) NN_R4(dt, 4)
NN_DT(F32)
NN_DT(F16)
NN_DT(BF16)
typedef void (*nn_fn)(const tl_wlin *op, const float *x, int C, int n0, int o0);
#define NN_ROW(dt, R) {nn_##dt##_##R##_1, nn_##dt##_##R##_2, nn_##dt##_##R##_3, nn_##dt##_##R##_4}
#define NN_TAB(dt) {NN_ROW(dt, 1), NN_ROW(dt, 2), NN_ROW(dt, 3), NN_ROW(dt, 4)}
static const nn_fn nn_f32[NN_R][NN_NV] = NN_TAB(F32);
static const nn_fn nn_f16[NN_R][NN_NV] = NN_TAB(F16);
static const nn_fn nn_bf16[NN_R][NN_NV] = NN_TAB(BF16);
NN_RV(F32, 1, 16)
NN_RV(F16, 1, 16)
NN_RV(BF16, 1, 16)

typedef struct {
    const tl_wlin *op;
    const float *x;
    int N, C, Ov; /* Ov: outputs covered by whole vectors */
} nn_job;

static void nn_chunk(void *arg, int slot, long i0, long i1)
{
    (void)slot;
    const nn_job *j = arg;
    const tl_dtype dt = j->op->dt;
    const nn_fn(*t)[NN_NV] = dt == TL_DT_BF16 ? nn_bf16 : dt == TL_DT_F16 ? nn_f16 : nn_f32;
    const nn_fn wide = dt == TL_DT_BF16 ? nn_BF16_1_16 : dt == TL_DT_F16 ? nn_F16_1_16 : nn_F32_1_16;
    for (long i = i0; i < i1; i++) {
        const int o0 = (int)i * NN_WIDE * VW;
        const int nv = (j->Ov - o0) / VW < NN_WIDE ? (j->Ov - o0) / VW : NN_WIDE;
        if (j->N == 1 && nv == NN_WIDE) {
            wide(j->op, j->x, j->C, 0, o0);
            continue;
        }
        for (int v0 = 0; v0 < nv; v0 += NN_NV) {
            const int NV = nv - v0 < NN_NV ? nv - v0 : NN_NV;
            for (int n0 = 0; n0 < j->N; n0 += NN_R) {
                const int R = j->N - n0 < NN_R ? j->N - n0 : NN_R;
                t[R - 1][NV - 1](j->op, j->x, j->C, n0, o0 + v0 * VW);
            }
        }
    }
}

void tl_wlin_nn(const tl_wlin *op, const float *x, int N, int C)
{
    if (N < 1)
        return;
    if (rounds(op)) {
        const size_t bytes = (size_t)N * (size_t)C * sizeof(float);
        float *xr = malloc(bytes);
        if (!xr) /* no memory for the rounded rows: nothing sensible to compute */
            abort();
        prepare_x(op->dt, x, (unsigned char *)xr, (size_t)C * sizeof(float), NULL, N, C);
        tl_wlin op2 = *op;
        op2.xround = 0;
        tl_wlin_nn(&op2, xr, N, C);
        explicit_bzero(xr, bytes); /* as secret as the prompt */
        free(xr);
        return;
    }
    nn_job j = {op, x, N, C, op->O / VW * VW};
    const long items = (j.Ov / VW + NN_WIDE - 1) / NN_WIDE;
    const long macs = (long)N * C * op->O;
    if (items)
        tl_parallel_for(items, grain(items), macs > PAR_MIN ? TL_ALL : 1, nn_chunk, &j);
    if (j.Ov < op->O)
        nn_tail(op, x, N, C, j.Ov);
}
