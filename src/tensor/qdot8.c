/* ggml's repacked Q4_0 / Q4_K products (tensor/qdot8.h): eight weight rows at a time, as the
 * interleaved kernels compute them. The SIMD version keeps one 8-lane vector per activation row,
 * lane j = output j: per block, each output's exact integer sum is formed in 32-bit lanes and the
 * eight are reduced by hadd into one vector (integer adds: any order gives the same sum), which is
 * converted and multiply-added with the eight blocks' scales, exactly ggml's one FMA per block
 * and output. The weights of a block are unpacked once for up to four rows. */
#include "tensor/qdot8.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tensor/q4k_scales.h"
#include "tensor/quant.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define Q8AVX2 1
#endif

int tl_q_repacked(tl_dtype wt, int rows)
{
#if defined(__AVX2__)
    return (wt == TL_DT_Q4_0 || wt == TL_DT_Q4_K) && rows > 0 && rows % 8 == 0;
#else
    (void)wt;
    (void)rows;
    return 0;
#endif
}

static inline float h2f(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
#if defined(__F16C__)
    return _cvtsh_ss(h); /* exact, as the portable conversion; and a call would spill every vector register */
#else
    return tl_q_f16_to_f32(h);
#endif
}

static inline float f32at(const uint8_t *p)
{
    float f;
    memcpy(&f, p, 4);
    return f;
}

/* bit 0 of a row's tl_wlin.gemm bits: ggml's gemm row */
static inline int is_gemm(const unsigned char *gemm_rows, int r) { return gemm_rows && (gemm_rows[r] & 1); }

/* Block b of Q8_K activation row r: its bytes, 16 sums and scale */
typedef struct {
    const uint8_t *q; /* the block */
    int16_t bs[16];
    float d;
} q8k_blk;

static inline q8k_blk q8k_block(const uint8_t *x, size_t xq_row, int r, size_t b)
{
    q8k_blk k = {x + (size_t)r * xq_row + b * TL_Q8_K_BYTES, {0}, 0.0f};
    memcpy(k.bs, k.q + 4 + TL_QK_K, sizeof k.bs);
    k.d = f32at(k.q);
    return k;
}

void tl_q8_aux_row(const void *xq, size_t n, tl_q8_aux *aux)
{
    const uint8_t *x = xq;
    for (size_t b = 0; b < n / 32; b++, x += TL_Q8_0_BYTES) {
        int s = 0;
        for (int e = 0; e < 32; e++)
            s += (int8_t)x[2 + e];
        aux[b] = (tl_q8_aux){h2f(x), -8 * s};
    }
}

/* ---- scalar ---- */

static float q4_0_chain(size_t nb, const uint8_t *w, const uint8_t *x)
{
    float acc = 0.0f;
    for (size_t b = 0; b < nb; b++, w += TL_Q4_0_BYTES, x += TL_Q8_0_BYTES) {
        const int8_t *xq = (const int8_t *)(x + 2);
        int s = 0;
        for (int e = 0; e < 16; e++)
            s += ((w[2 + e] & 0xF) - 8) * xq[e] + ((w[2 + e] >> 4) - 8) * xq[e + 16];
        acc = fmaf((float)s, h2f(w) * h2f(x), acc);
    }
    return acc;
}

/* gemm scales and accumulates each pair of sub-blocks (64 weights) on its own, gemv a whole
 * block's sums once; the minimums likewise */
static float q4_K_chain(size_t nb, const uint8_t *w, const uint8_t *x, int gemm)
{
    float acc = 0.0f, accm = 0.0f;
    for (size_t b = 0; b < nb; b++, w += TL_Q4_K_BYTES, x += TL_Q8_K_BYTES) {
        uint32_t u[4];
        q4k_scales16(w + 4, u);
        const uint8_t *sc = (const uint8_t *)u, *mn = sc + 8;
        const int8_t *xq = (const int8_t *)(x + 4);
        const q8k_blk xk = q8k_block(x, 0, 0, 0);
        const int16_t *bs = xk.bs;
        const float dw = h2f(w) * xk.d, dm = h2f(w + 2) * xk.d;
        int s = 0, sm = 0;
        for (int g = 0; g < 4; g++) {
            const uint8_t *q = w + 16 + 32 * g;
            int lo = 0, hi = 0;
            for (int e = 0; e < 32; e++) {
                lo += (q[e] & 0xF) * xq[64 * g + e];
                hi += (q[e] >> 4) * xq[64 * g + 32 + e];
            }
            const int sg = sc[2 * g] * lo + sc[2 * g + 1] * hi;
            const int mg = mn[2 * g] * (bs[4 * g] + bs[4 * g + 1]) + mn[2 * g + 1] * (bs[4 * g + 2] + bs[4 * g + 3]);
            if (gemm) {
                acc = fmaf((float)sg, dw, acc);
                accm = fmaf((float)mg, dm, accm);
            } else {
                s += sg;
                sm += mg;
            }
        }
        if (!gemm) {
            acc = fmaf((float)s, dw, acc);
            accm = fmaf((float)sm, dm, accm);
        }
    }
    return acc - accm;
}

void tl_q_dot8_scalar(tl_dtype wt, size_t n, const void *w, size_t wrow, const void *xq, size_t xq_row, int R,
                      const unsigned char *gemm, float *out)
{
    for (int r = 0; r < R; r++)
        for (int j = 0; j < 8; j++) {
            const uint8_t *wj = (const uint8_t *)w + (size_t)j * wrow, *xr = (const uint8_t *)xq + (size_t)r * xq_row;
            out[r * 8 + j] = wt == TL_DT_Q4_0   ? q4_0_chain(n / 32, wj, xr)
                             : wt == TL_DT_Q4_K ? q4_K_chain(n / TL_QK_K, wj, xr, is_gemm(gemm, r))
                                                : 0.0f;
        }
}

#if Q8AVX2

/* Σ of a's eight u8·s8 products per 32-bit lane (four each) */
static inline __m256i dot_u8s8(__m256i a, __m256i b)
{
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
#endif
}

/* lane j = the sum of v[j]'s eight lanes */
static inline __m256i reduce8(const __m256i v[8])
{
    const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
    const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
    const __m256i a = _mm256_hadd_epi32(h01, h23), b = _mm256_hadd_epi32(h45, h67);
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

/* the eight weight rows' f16 at byte offset off of their block */
static inline __m256 scales8(const uint8_t *w, size_t wrow, size_t off)
{
    uint16_t h[8];
    for (int j = 0; j < 8; j++)
        memcpy(&h[j], w + (size_t)j * wrow + off, 2);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

static void q4_0_avx2(size_t nb, const uint8_t *w, size_t wrow, const uint8_t *x, size_t xq_row, int R, float *out)
{
    const __m256i m4 = _mm256_set1_epi8(0xF), ones = _mm256_set1_epi8(1);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    /* the eight rows are read side by side, 8 short streams the prefetchers do not follow: ask for
       the next eight rows (the next contiguous 8·wrow bytes) at the pace this group is read */
    const uint8_t *next = w + 8 * wrow;
    for (size_t b = 0; b < nb; b++) {
        const size_t wo = b * TL_Q4_0_BYTES;
        for (size_t k = 0; k < 8 * TL_Q4_0_BYTES; k += 64)
            __builtin_prefetch(next + b * 8 * TL_Q4_0_BYTES + k, 0, 3);
        __m256i q[8];
        for (int j = 0; j < 8; j++) {
            const __m128i t = _mm_loadu_si128((const __m128i *)(w + (size_t)j * wrow + wo + 2));
            q[j] = _mm256_and_si256(_mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1), m4);
        }
        const __m256 dw = scales8(w, wrow, wo);
        for (int r = 0; r < R; r++) {
            const uint8_t *xb = x + (size_t)r * xq_row + b * TL_Q8_0_BYTES;
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(xb + 2));
            __m256i p[8];
            for (int j = 0; j < 8; j++)
                p[j] = dot_u8s8(q[j], xv);
            /* the nibbles are unsigned (q + 8): take 8·Σx back once for all eight outputs */
            __m256i sx = dot_u8s8(ones, xv);
            sx = _mm256_hadd_epi32(sx, sx);
            sx = _mm256_hadd_epi32(sx, sx);
            sx = _mm256_add_epi32(sx, _mm256_permute2x128_si256(sx, sx, 1));
            const __m256i s = _mm256_sub_epi32(reduce8(p), _mm256_slli_epi32(sx, 3));
            const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(h2f(xb)));
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), d, acc[r]);
        }
    }
    for (int r = 0; r < R; r++)
        _mm256_storeu_ps(out + 8 * r, acc[r]);
}

/* The eight outputs' sub-block sums come from u8·s8 pairs in 16 bits (at most 2·15·128), times
 * the sub-block's scale in 32; reduce8 makes each output's exact sum. */
static void q4_K_avx2(size_t nb, const uint8_t *w, size_t wrow, const uint8_t *x, size_t xq_row, int R,
                      const unsigned char *gemm_rows, float *out)
{
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc[4], accm[4];
    for (int r = 0; r < 4; r++)
        acc[r] = accm[r] = _mm256_setzero_ps();
    const uint8_t *next = w + 8 * wrow; /* as in q4_0_avx2 */
    for (size_t b = 0; b < nb; b++) {
        const size_t wo = b * TL_Q4_K_BYTES;
        for (size_t k = 0; k < 8 * TL_Q4_K_BYTES; k += 64)
            __builtin_prefetch(next + b * 8 * TL_Q4_K_BYTES + k, 0, 3);
        uint8_t sc[8][16]; /* per output: its 8 scales, then its 8 mins */
        for (int j = 0; j < 8; j++) {
            uint32_t u[4];
            q4k_scales16(w + (size_t)j * wrow + wo + 4, u);
            memcpy(sc[j], u, 16);
        }
        __m256i mv[8]; /* min k of the eight outputs */
        for (int k = 0; k < 8; k++)
            mv[k] = _mm256_setr_epi32(sc[0][8 + k], sc[1][8 + k], sc[2][8 + k], sc[3][8 + k], sc[4][8 + k],
                                      sc[5][8 + k], sc[6][8 + k], sc[7][8 + k]);
        const __m256 dw = scales8(w, wrow, wo), dmw = scales8(w, wrow, wo + 2);
        for (int r = 0; r < R; r++) {
            const int gemm = is_gemm(gemm_rows, r);
            const q8k_blk xk = q8k_block(x, xq_row, r, b);
            const uint8_t *xb = xk.q;
            const int16_t *bs = xk.bs;
            const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(xk.d)), dm = _mm256_mul_ps(dmw, _mm256_set1_ps(xk.d));
            __m256i p[8], sm = _mm256_setzero_si256();
            for (int j = 0; j < 8; j++)
                p[j] = _mm256_setzero_si256();
            for (int g = 0; g < 4; g++) {
                const __m256i xl = _mm256_loadu_si256((const __m256i *)(xb + 4 + 64 * g));
                const __m256i xh = _mm256_loadu_si256((const __m256i *)(xb + 4 + 64 * g + 32));
                for (int j = 0; j < 8; j++) {
                    const __m256i qb = _mm256_loadu_si256((const __m256i *)(w + (size_t)j * wrow + wo + 16 + 32 * g));
                    const __m256i lo = _mm256_and_si256(qb, m4), hi = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);
                    const __m256i t = _mm256_add_epi32(
                        _mm256_madd_epi16(_mm256_maddubs_epi16(lo, xl), _mm256_set1_epi16(sc[j][2 * g])),
                        _mm256_madd_epi16(_mm256_maddubs_epi16(hi, xh), _mm256_set1_epi16(sc[j][2 * g + 1])));
                    p[j] = gemm ? t : _mm256_add_epi32(p[j], t);
                }
                const __m256i mg =
                    _mm256_add_epi32(_mm256_mullo_epi32(mv[2 * g], _mm256_set1_epi32(bs[4 * g] + bs[4 * g + 1])),
                                     _mm256_mullo_epi32(mv[2 * g + 1], _mm256_set1_epi32(bs[4 * g + 2] + bs[4 * g + 3])));
                if (gemm) { /* ggml's gemm: one FMA per pair of sub-blocks */
                    acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8(p)), d, acc[r]);
                    accm[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mg), dm, accm[r]);
                } else {
                    sm = _mm256_add_epi32(sm, mg);
                }
            }
            if (!gemm) { /* its gemv: one per block */
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8(p)), d, acc[r]);
                accm[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sm), dm, accm[r]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        _mm256_storeu_ps(out + 8 * r, _mm256_sub_ps(acc[r], accm[r]));
}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define Q16 1
/* Many rows (prompt processing): sixteen outputs in the sixteen lanes of a 512-bit vector. Each
 * weight block's 32-bit groups (four weights) are transposed once so that lane j holds output j's
 * group g; a row's integer block sums then come from vpdpbusd with the row's group g broadcast,
 * lane j = output j's exact sum: no horizontal sums, and each block's transposition serves every
 * row of the call. The float steps are those of the functions above, lane by lane. */

/* out[g] lane j = element g of in[j] (32-bit elements; in[0..7] and in[8..15] are ymm) */
static inline void transpose16(const __m256i in[16], __m512i out[8])
{
    __m256i lo[8], hi[8];
    for (int h = 0; h < 2; h++) {
        const __m256i *q = in + 8 * h;
        __m256i t[8], u[8];
        for (int k = 0; k < 4; k++) {
            t[2 * k] = _mm256_unpacklo_epi32(q[2 * k], q[2 * k + 1]);
            t[2 * k + 1] = _mm256_unpackhi_epi32(q[2 * k], q[2 * k + 1]);
        }
        for (int k = 0; k < 2; k++) {
            u[4 * k] = _mm256_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
            u[4 * k + 1] = _mm256_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
            u[4 * k + 2] = _mm256_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
            u[4 * k + 3] = _mm256_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
        }
        __m256i *o = h ? hi : lo;
        for (int g = 0; g < 4; g++) {
            o[g] = _mm256_permute2x128_si256(u[g], u[g + 4], 0x20);
            o[g + 4] = _mm256_permute2x128_si256(u[g], u[g + 4], 0x31);
        }
    }
    for (int g = 0; g < 8; g++)
        out[g] = _mm512_inserti64x4(_mm512_castsi256_si512(lo[g]), hi[g], 1);
}

static inline __m512 scales16(const uint8_t *w, size_t wrow, size_t off)
{
    uint16_t h[16];
    for (int j = 0; j < 16; j++)
        memcpy(&h[j], w + (size_t)j * wrow + off, 2);
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h));
}

static inline int32_t ld_i32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static void q4_0_rows16(size_t nb, const uint8_t *w, size_t wrow, const uint8_t *x, size_t xq_row,
                        const tl_q8_aux *aux, int N, float *out)
{
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m512 acc[TL_Q8_ROWS];
    for (int r = 0; r < N; r++)
        acc[r] = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        const size_t wo = b * TL_Q4_0_BYTES;
        __m256i q[16];
        for (int j = 0; j < 16; j++) {
            const __m128i t = _mm_loadu_si128((const __m128i *)(w + (size_t)j * wrow + wo + 2));
            q[j] = _mm256_and_si256(_mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1), m4);
        }
        __m512i T[8];
        transpose16(q, T);
        const __m512 dw = scales16(w, wrow, wo);
        for (int r = 0; r < N; r++) {
            const uint8_t *xb = x + (size_t)r * xq_row + b * TL_Q8_0_BYTES;
            const tl_q8_aux *xa = aux + (size_t)r * nb + b;
            /* two chains of integer sums (exact in any order) halve the dependent latency */
            __m512i s = _mm512_set1_epi32(xa->off), s1 = _mm512_setzero_si512();
            for (int g = 0; g < 8; g += 2) {
                s = _mm512_dpbusd_epi32(s, T[g], _mm512_set1_epi32(ld_i32(xb + 2 + 4 * g)));
                s1 = _mm512_dpbusd_epi32(s1, T[g + 1], _mm512_set1_epi32(ld_i32(xb + 6 + 4 * g)));
            }
            s = _mm512_add_epi32(s, s1);
            const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(xa->d));
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), d, acc[r]);
        }
    }
    for (int r = 0; r < N; r++)
        _mm512_storeu_ps(out + 16 * r, acc[r]);
}

static void q4_K_rows16(size_t nb, const uint8_t *w, size_t wrow, const uint8_t *x, size_t xq_row, int N,
                        const unsigned char *gemm_rows, float *out)
{
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m512 acc[TL_Q8_ROWS], accm[TL_Q8_ROWS];
    for (int r = 0; r < N; r++)
        acc[r] = accm[r] = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        const size_t wo = b * TL_Q4_K_BYTES;
        int32_t scs[16][16]; /* [k][j]: scale k (0..7), then min k-8, of output j */
        for (int j = 0; j < 16; j++) {
            uint32_t u[4];
            q4k_scales16(w + (size_t)j * wrow + wo + 4, u);
            const uint8_t *s8 = (const uint8_t *)u;
            for (int k = 0; k < 16; k++)
                scs[k][j] = s8[k];
        }
        __m512i scv[8], mnv[8];
        for (int k = 0; k < 8; k++) {
            scv[k] = _mm512_loadu_si512(scs[k]);
            mnv[k] = _mm512_loadu_si512(scs[8 + k]);
        }
        __m512i T[8][8]; /* sub-block s: its 8 groups of four weights transposed */
        for (int g = 0; g < 4; g++) {
            __m256i lo[16], hi[16];
            for (int j = 0; j < 16; j++) {
                const __m256i qb = _mm256_loadu_si256((const __m256i *)(w + (size_t)j * wrow + wo + 16 + 32 * g));
                lo[j] = _mm256_and_si256(qb, m4);
                hi[j] = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);
            }
            transpose16(lo, T[2 * g]);
            transpose16(hi, T[2 * g + 1]);
        }
        const __m512 dw = scales16(w, wrow, wo), dmw = scales16(w, wrow, wo + 2);
        for (int r = 0; r < N; r++) {
            const q8k_blk xk = q8k_block(x, xq_row, r, b);
            const int16_t *bs = xk.bs;
            const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(xk.d)), dm = _mm512_mul_ps(dmw, _mm512_set1_ps(xk.d));
            const int gemm = is_gemm(gemm_rows, r);
            __m512i si = _mm512_setzero_si512(), sm = _mm512_setzero_si512();
            for (int g = 0; g < 4; g++) {
                __m512i p[2];
                for (int h = 0; h < 2; h++) {
                    const uint8_t *xs = xk.q + 4 + 64 * g + 32 * h;
                    __m512i t = _mm512_setzero_si512(), t1 = _mm512_setzero_si512();
                    for (int e = 0; e < 8; e += 2) {
                        t = _mm512_dpbusd_epi32(t, T[2 * g + h][e], _mm512_set1_epi32(ld_i32(xs + 4 * e)));
                        t1 = _mm512_dpbusd_epi32(t1, T[2 * g + h][e + 1], _mm512_set1_epi32(ld_i32(xs + 4 * e + 4)));
                    }
                    p[h] = _mm512_mullo_epi32(_mm512_add_epi32(t, t1), scv[2 * g + h]);
                }
                const __m512i sg = _mm512_add_epi32(p[0], p[1]);
                const __m512i mg =
                    _mm512_add_epi32(_mm512_mullo_epi32(mnv[2 * g], _mm512_set1_epi32(bs[4 * g] + bs[4 * g + 1])),
                                     _mm512_mullo_epi32(mnv[2 * g + 1], _mm512_set1_epi32(bs[4 * g + 2] + bs[4 * g + 3])));
                if (gemm) {
                    acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sg), d, acc[r]);
                    accm[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(mg), dm, accm[r]);
                } else {
                    si = _mm512_add_epi32(si, sg);
                    sm = _mm512_add_epi32(sm, mg);
                }
            }
            if (!gemm) {
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(si), d, acc[r]);
                accm[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sm), dm, accm[r]);
            }
        }
    }
    for (int r = 0; r < N; r++)
        _mm512_storeu_ps(out + 16 * r, _mm512_sub_ps(acc[r], accm[r]));
}

#endif

int tl_q_rows16(tl_dtype wt, size_t n, const void *w, size_t wrow, const void *xq, size_t xq_row,
                const tl_q8_aux *aux, const unsigned char *gemm, int N, float *out)
{
#if defined(Q16)
    if (N < 1 || N > TL_Q8_ROWS)
        return -1;
    if (wt == TL_DT_Q4_0) {
        q4_0_rows16(n / 32, w, wrow, xq, xq_row, aux, N, out);
        return 0;
    }
    if (wt == TL_DT_Q4_K) {
        q4_K_rows16(n / TL_QK_K, w, wrow, xq, xq_row, N, gemm, out);
        return 0;
    }
#else
    (void)wt; (void)n; (void)w; (void)wrow; (void)xq; (void)xq_row; (void)aux; (void)gemm; (void)N; (void)out;
#endif
    return -1;
}

void tl_q_dot8(tl_dtype wt, size_t n, const void *w, size_t wrow, const void *xq, size_t xq_row, int R,
               const unsigned char *gemm, float *out)
{
    if (wt == TL_DT_Q4_0)
        q4_0_avx2(n / 32, w, wrow, xq, xq_row, R, out);
    else if (wt == TL_DT_Q4_K)
        q4_K_avx2(n / TL_QK_K, w, wrow, xq, xq_row, R, gemm, out);
    else
        tl_q_dot8_scalar(wt, n, w, wrow, xq, xq_row, R, gemm, out);
}

#else

void tl_q_dot8(tl_dtype wt, size_t n, const void *w, size_t wrow, const void *xq, size_t xq_row, int R,
               const unsigned char *gemm, float *out)
{
    tl_q_dot8_scalar(wt, n, w, wrow, xq, xq_row, R, gemm, out);
}

int tl_q_rows16(tl_dtype wt, size_t n, const void *w, size_t wrow, const void *xq, size_t xq_row,
                const tl_q8_aux *aux, const unsigned char *gemm, int N, float *out)
{
    (void)wt; (void)n; (void)w; (void)wrow; (void)xq; (void)xq_row; (void)aux; (void)gemm; (void)N; (void)out;
    return -1;
}

#endif
