/* Register tiles of tl_q_dot (tensor/quant_tile.h). With AVX-512 (F, BW, VL, VNNI) one 512-bit
 * register holds the eight float lanes of two weight rows against one activation row, so a tile
 * of R rows by 2·NP outputs keeps R·NP accumulators: each half is exactly the __m256 accumulator
 * of qdot.c's AVX2 kernel for its pair (the same per-block scale product, conversion and fused
 * multiply-add per lane, the same final tree), so the bits cannot differ. The integer block sums
 * are built so that the weight side is decoded once per tile and the activation side once per
 * row: the weights are made unsigned (Q8_0 + 128, Q4_0's raw nibbles) and each row's correction
 * (-128 or -8 times its 4-element sums) seeds vpdpbusd; the K-quants multiply their sub-block
 * scales in with vpdpwssd. All these sums are exact in int32, as ggml's.
 * Without those extensions the tile is a loop of tl_q_dot. */
#include "tensor/quant_tile.h"

#include <string.h>

#include "tensor/q4k_scales.h"
#include "tensor/quant.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__) && \
    defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define QT512 1
#endif

#ifdef QT512

#define QT_NP (TL_QT_P / 2) /* register pairs of outputs */
#define QT_INLINE static inline __attribute__((always_inline))

static uint16_t ld_h(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

static float ld_f(const uint8_t *p)
{
    float f;
    memcpy(&f, p, 4);
    return f;
}

/* the f16 at a in the low eight lanes, the one at b in the high eight (exact conversions) */
QT_INLINE __m512 pair_h(const uint8_t *a, const uint8_t *b)
{
    const __m128i ha = _mm_set1_epi16((short)ld_h(a)), hb = _mm_set1_epi16((short)ld_h(b));
    return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(ha), hb, 1));
}

QT_INLINE __m512i pair_256(const uint8_t *a, const uint8_t *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

QT_INLINE __m512i bcast_256(const uint8_t *a) { return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)a)); }

/* qdot.c's hsum8: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)) */
QT_INLINE float hsum8(__m256 x)
{
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

QT_INLINE __m256 lo_ps(__m512 v) { return _mm512_castps512_ps256(v); }
QT_INLINE __m256 hi_ps(__m512 v) { return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)); }

/* ggml's (m0+m2) + (m1+m3) of the four minimum lanes */
QT_INLINE float hsum4(__m128 m)
{
    m = _mm_add_ps(m, _mm_movehl_ps(m, m));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* decoding streams the weights once: ask for the rows after the tile's ahead of use */
QT_INLINE void tile_prefetch(const char *pf, size_t b, size_t pstep)
{
    for (size_t i = 0; pf && i < pstep; i += 64)
        __builtin_prefetch(pf + b * pstep + i, 0, 3);
}

/* A K-quant block's integer sums times the activations' scale and the weights' (wd). */
QT_INLINE void tile_kblock(__m512 acc[TL_QT_R][QT_NP], __m512i si[TL_QT_R][QT_NP], const __m512 wd[QT_NP],
                           const uint8_t *x, size_t xrow, size_t b, const int R, const int NP)
{
    for (int r = 0; r < R; r++) {
        const __m512 yd = _mm512_set1_ps(ld_f(x + (size_t)r * xrow + b * TL_Q8_K_BYTES));
        for (int j = 0; j < NP; j++)
            acc[r][j] = _mm512_fmadd_ps(_mm512_mul_ps(yd, wd[j]), _mm512_cvtepi32_ps(si[r][j]), acc[r][j]);
    }
}

/* ---- Q8_0 and Q4_0 weights, Q8_0 activations ---- */

QT_INLINE void q0_tile(const int q4, size_t nb, const uint8_t *const wp[2 * QT_NP], const uint8_t *x, size_t xrow,
                       float *out, int P, const char *pf, size_t pstep, const int R, const int NP)
{
    const size_t wb = q4 ? TL_Q4_0_BYTES : TL_Q8_0_BYTES;
    /* Q4_0: the 16 bytes twice per output, the second copy shifted to its high nibbles */
    const __m512i sh = _mm512_set_epi64(0x0004000400040004, 0x0004000400040004, 0, 0, 0x0004000400040004,
                                        0x0004000400040004, 0, 0);
    const __m512i m4 = _mm512_set1_epi8(0xF), k = _mm512_set1_epi8(q4 ? 8 : (char)0x80), z = _mm512_setzero_si512();
    __m512 acc[TL_QT_R][QT_NP];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NP; j++)
            acc[r][j] = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        tile_prefetch(pf, b, pstep);
        __m512i wq[QT_NP];
        __m512 wd[QT_NP];
        for (int j = 0; j < NP; j++) {
            const uint8_t *a = wp[2 * j] + b * wb, *c = wp[2 * j + 1] + b * wb;
            if (q4) {
                const __m256i ta = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(a + 2)));
                const __m256i tc = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(c + 2)));
                wq[j] = _mm512_and_si512(_mm512_srlv_epi16(_mm512_inserti64x4(_mm512_castsi256_si512(ta), tc, 1), sh), m4);
            } else {
                wq[j] = _mm512_xor_si512(pair_256(a + 2, c + 2), k); /* w + 128 */
            }
            wd[j] = pair_h(a, c);
        }
        for (int r = 0; r < R; r++) {
            const uint8_t *xb = x + (size_t)r * xrow + b * TL_Q8_0_BYTES;
            const __m512i xv = bcast_256(xb + 2);
            /* Σ (w + k)·x − k·Σ x = Σ w·x per 4 elements */
            const __m512i corr = _mm512_sub_epi32(z, _mm512_dpbusd_epi32(z, k, xv));
            const __m512 xd = _mm512_cvtph_ps(_mm256_set1_epi16((short)ld_h(xb)));
            for (int j = 0; j < NP; j++) {
                const __m512i s = _mm512_dpbusd_epi32(corr, wq[j], xv);
                acc[r][j] = _mm512_fmadd_ps(_mm512_mul_ps(wd[j], xd), _mm512_cvtepi32_ps(s), acc[r][j]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NP; j++) {
            if (2 * j < P)
                out[r * P + 2 * j] = hsum8(lo_ps(acc[r][j]));
            if (2 * j + 1 < P)
                out[r * P + 2 * j + 1] = hsum8(hi_ps(acc[r][j]));
        }
}

/* ---- Q4_K weights, Q8_K activations ---- */

/* the 12 scale bytes of a Q4_K block as 8 scales then 8 mins, one u16 each */
QT_INLINE __m256i k4_scales(const uint8_t *w)
{
    uint32_t u[4];
    q4k_scales16(w + 4, u);
    return _mm256_cvtepu8_epi16(_mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]));
}

/* word s of each output's 16 in a pair register, broadcast over that output's half */
QT_INLINE __m512i pair_word(__m512i v, int s)
{
    return _mm512_permutexvar_epi16(_mm512_inserti64x4(_mm512_set1_epi16((short)s), _mm256_set1_epi16((short)(16 + s)), 1), v);
}

QT_INLINE void q4k_tile(size_t nb, const uint8_t *const wp[2 * QT_NP], const uint8_t *x, size_t xrow, float *out,
                        int P, const char *pf, size_t pstep, const int R, const int NP)
{
    const __m512i m4 = _mm512_set1_epi8(0xF);
    __m512 acc[TL_QT_R][QT_NP];
    __m256 accm[TL_QT_R][QT_NP];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NP; j++) {
            acc[r][j] = _mm512_setzero_ps();
            accm[r][j] = _mm256_setzero_ps();
        }
    for (size_t b = 0; b < nb; b++) {
        tile_prefetch(pf, b, pstep);
        __m512i sm[QT_NP];
        __m256i mins[QT_NP];
        __m512 wd[QT_NP];
        __m256 wm[QT_NP];
        const uint8_t *wa[QT_NP], *wc[QT_NP];
        for (int j = 0; j < NP; j++) {
            wa[j] = wp[2 * j] + b * TL_Q4_K_BYTES;
            wc[j] = wp[2 * j + 1] + b * TL_Q4_K_BYTES;
            const __m256i sa = k4_scales(wa[j]), sc = k4_scales(wc[j]);
            sm[j] = _mm512_inserti64x4(_mm512_castsi256_si512(sa), sc, 1);
            mins[j] = _mm256_permute2x128_si256(sa, sc, 0x31);
            wd[j] = pair_h(wa[j], wc[j]);
            /* the four minimum lanes of each output: dmin of a then of c */
            wm[j] = _mm256_cvtph_ps(_mm_unpacklo_epi64(_mm_set1_epi16((short)ld_h(wa[j] + 2)),
                                                       _mm_set1_epi16((short)ld_h(wc[j] + 2))));
        }
        __m512i si[TL_QT_R][QT_NP];
        for (int r = 0; r < R; r++) {
            const uint8_t *xb = x + (size_t)r * xrow + b * TL_Q8_K_BYTES;
            const float yd = ld_f(xb);
            const __m256i bs = _mm256_loadu_si256((const __m256i *)(xb + 4 + TL_QK_K));
            const __m256i s8 = _mm256_broadcastsi128_si256(
                _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1)));
            const __m256 dmin = _mm256_set1_ps(-yd);
            for (int j = 0; j < NP; j++) {
                accm[r][j] = _mm256_fmadd_ps(_mm256_mul_ps(dmin, wm[j]), _mm256_cvtepi32_ps(_mm256_madd_epi16(mins[j], s8)),
                                             accm[r][j]);
                si[r][j] = _mm512_setzero_si512();
            }
        }
        for (int q = 0; q < 4; q++) { /* 64 elements: low nibbles of 32 bytes, then their high nibbles */
            __m512i lo[QT_NP], hi[QT_NP], sl[QT_NP], sh[QT_NP];
            for (int j = 0; j < NP; j++) {
                const __m512i bits = pair_256(wa[j] + 16 + 32 * q, wc[j] + 16 + 32 * q);
                lo[j] = _mm512_and_si512(bits, m4);
                hi[j] = _mm512_and_si512(_mm512_srli_epi16(bits, 4), m4);
                sl[j] = pair_word(sm[j], 2 * q);
                sh[j] = pair_word(sm[j], 2 * q + 1);
            }
            for (int r = 0; r < R; r++) {
                const uint8_t *q8 = x + (size_t)r * xrow + b * TL_Q8_K_BYTES + 4 + 64 * q;
                const __m512i yl = bcast_256(q8), yh = bcast_256(q8 + 32);
                for (int j = 0; j < NP; j++) {
                    si[r][j] = _mm512_dpwssd_epi32(si[r][j], _mm512_maddubs_epi16(lo[j], yl), sl[j]);
                    si[r][j] = _mm512_dpwssd_epi32(si[r][j], _mm512_maddubs_epi16(hi[j], yh), sh[j]);
                }
            }
        }
        tile_kblock(acc, si, wd, x, xrow, b, R, NP);
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NP; j++) {
            if (2 * j < P)
                out[r * P + 2 * j] = hsum8(lo_ps(acc[r][j])) + hsum4(_mm256_castps256_ps128(accm[r][j]));
            if (2 * j + 1 < P)
                out[r * P + 2 * j + 1] = hsum8(hi_ps(acc[r][j])) + hsum4(_mm256_extractf128_ps(accm[r][j], 1));
        }
}

/* ---- Q6_K weights, Q8_K activations ---- */

QT_INLINE void q6k_tile(size_t nb, const uint8_t *const wp[2 * QT_NP], const uint8_t *x, size_t xrow, float *out,
                        int P, const char *pf, size_t pstep, const int R, const int NP)
{
    const __m512i m4 = _mm512_set1_epi8(0xF), m2 = _mm512_set1_epi8(3);
    __m512 acc[TL_QT_R][QT_NP];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NP; j++)
            acc[r][j] = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        tile_prefetch(pf, b, pstep);
        __m512i sc16[QT_NP];
        __m512 wd[QT_NP];
        const uint8_t *wa[QT_NP], *wc[QT_NP];
        for (int j = 0; j < NP; j++) {
            wa[j] = wp[2 * j] + b * TL_Q6_K_BYTES;
            wc[j] = wp[2 * j + 1] + b * TL_Q6_K_BYTES;
            sc16[j] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wa[j] + 192)))),
                                         _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wc[j] + 192))), 1);
            wd[j] = pair_h(wa[j] + 208, wc[j] + 208);
        }
        __m512i si[TL_QT_R][QT_NP];
        for (int r = 0; r < R; r++)
            for (int j = 0; j < NP; j++)
                si[r][j] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512i q6[QT_NP][4], s16[QT_NP][4];
            for (int j = 0; j < NP; j++) {
                const __m512i b1 = pair_256(wa[j] + 64 * h, wc[j] + 64 * h);
                const __m512i b2 = pair_256(wa[j] + 64 * h + 32, wc[j] + 64 * h + 32);
                const __m512i bh = pair_256(wa[j] + 128 + 32 * h, wc[j] + 128 + 32 * h);
                q6[j][0] = _mm512_or_si512(_mm512_and_si512(b1, m4), _mm512_slli_epi16(_mm512_and_si512(bh, m2), 4));
                q6[j][1] = _mm512_or_si512(_mm512_and_si512(b2, m4),
                                           _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(bh, 2), m2), 4));
                q6[j][2] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(b1, 4), m4),
                                           _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(bh, 4), m2), 4));
                q6[j][3] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(b2, 4), m4),
                                           _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(bh, 6), m2), 4));
                for (int t = 0; t < 4; t++) {
                    /* group g = 4h + t: scale 2g on its first 16 elements, 2g + 1 on the others */
                    const int g = 4 * h + t;
                    const __m256i ia = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)(2 * g))),
                                                               _mm_set1_epi16((short)(2 * g + 1)), 1);
                    const __m512i idx = _mm512_inserti64x4(_mm512_castsi256_si512(ia),
                                                           _mm256_add_epi16(ia, _mm256_set1_epi16(16)), 1);
                    s16[j][t] = _mm512_permutexvar_epi16(idx, sc16[j]);
                }
            }
            for (int r = 0; r < R; r++) {
                const uint8_t *q8 = x + (size_t)r * xrow + b * TL_Q8_K_BYTES + 4 + 128 * h;
                for (int t = 0; t < 4; t++) {
                    const __m512i y = bcast_256(q8 + 32 * t);
                    for (int j = 0; j < NP; j++)
                        si[r][j] = _mm512_dpwssd_epi32(si[r][j], _mm512_maddubs_epi16(q6[j][t], y), s16[j][t]);
                }
            }
        }
        /* the weights' -32, lane k that of group k: 32·(bsums[2k]·sc[2k] + bsums[2k+1]·sc[2k+1]) */
        for (int r = 0; r < R; r++) {
            const __m512i bs = bcast_256(x + (size_t)r * xrow + b * TL_Q8_K_BYTES + 4 + TL_QK_K);
            for (int j = 0; j < NP; j++)
                si[r][j] = _mm512_sub_epi32(si[r][j], _mm512_slli_epi32(_mm512_madd_epi16(bs, sc16[j]), 5));
        }
        tile_kblock(acc, si, wd, x, xrow, b, R, NP);
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < NP; j++) {
            if (2 * j < P)
                out[r * P + 2 * j] = hsum8(lo_ps(acc[r][j]));
            if (2 * j + 1 < P)
                out[r * P + 2 * j + 1] = hsum8(hi_ps(acc[r][j]));
        }
}

/* One instantiation per (type, R, NP): the loops unroll and the accumulators stay in registers.
 * Q8_0/Q4_0 take up to four pairs (R·NP = 16 of the 32 registers accumulate); the K-quants hold
 * integer sums and decoded sub-blocks besides, so two pairs. */
typedef void (*qt_fn)(size_t nb, const uint8_t *const wp[2 * QT_NP], const uint8_t *x, size_t xrow, float *out, int P,
                      const char *pf, size_t pstep);
#define QT_RP(name, body, R, NP)                                                                                  \
    static __attribute__((noinline)) void name##_##R##_##NP(size_t nb, const uint8_t *const wp[2 * QT_NP],      \
                                                             const uint8_t *x, size_t xrow, float *out, int P,  \
                                                             const char *pf, size_t pstep)                      \
    { body(R, NP); }
#define QT_R(name, body, NP) QT_RP(name, body, 1, NP) QT_RP(name, body, 2, NP) QT_RP(name, body, 3, NP) QT_RP(name, body, 4, NP)
#define QT_TAB2(name) {{name##_1_1, name##_1_2}, {name##_2_1, name##_2_2}, {name##_3_1, name##_3_2}, {name##_4_1, name##_4_2}}
#define QT_ROW4(name, R) {name##_##R##_1, name##_##R##_2, name##_##R##_3, name##_##R##_4}
#define QT_TAB4(name) {QT_ROW4(name, 1), QT_ROW4(name, 2), QT_ROW4(name, 3), QT_ROW4(name, 4)}
#define Q8_BODY(R, NP) q0_tile(0, nb, wp, x, xrow, out, P, pf, pstep, R, NP)
#define Q4_BODY(R, NP) q0_tile(1, nb, wp, x, xrow, out, P, pf, pstep, R, NP)
#define Q4K_BODY(R, NP) q4k_tile(nb, wp, x, xrow, out, P, pf, pstep, R, NP)
#define Q6K_BODY(R, NP) q6k_tile(nb, wp, x, xrow, out, P, pf, pstep, R, NP)
QT_R(qt_q8_0, Q8_BODY, 1) QT_R(qt_q8_0, Q8_BODY, 2) QT_R(qt_q8_0, Q8_BODY, 3) QT_R(qt_q8_0, Q8_BODY, 4)
QT_R(qt_q4_0, Q4_BODY, 1) QT_R(qt_q4_0, Q4_BODY, 2) QT_R(qt_q4_0, Q4_BODY, 3) QT_R(qt_q4_0, Q4_BODY, 4)
QT_R(qt_q4_k, Q4K_BODY, 1) QT_R(qt_q4_k, Q4K_BODY, 2)
QT_R(qt_q6_k, Q6K_BODY, 1) QT_R(qt_q6_k, Q6K_BODY, 2)
static const qt_fn qt_q8_0[TL_QT_R][4] = QT_TAB4(qt_q8_0), qt_q4_0[TL_QT_R][4] = QT_TAB4(qt_q4_0);
static const qt_fn qt_q4_k[TL_QT_R][2] = QT_TAB2(qt_q4_k), qt_q6_k[TL_QT_R][2] = QT_TAB2(qt_q6_k);

void tl_q_tile(tl_dtype wt, size_t n, const void *w, size_t wrow, int P, const void *xq, size_t xrow, int R, float *out,
               int stream)
{
    if (R < 1 || R > TL_QT_R || P < 1 || P > TL_QT_P || tl_q_act_type(wt) < 0)
        return;
    const int np = wt == TL_DT_Q8_0 || wt == TL_DT_Q4_0 ? 4 : 2; /* pairs per call */
    const size_t nb = n / tl_dtype_block(wt);
    float part[TL_QT_R * TL_QT_P];
    for (int p0 = 0; p0 < P; p0 += 2 * np) {
        const int Pc = P - p0 < 2 * np ? P - p0 : 2 * np;
        /* an odd Pc's last register pair reads its weight row twice and stores one half */
        const uint8_t *wp[2 * QT_NP];
        for (int p = 0; p < 2 * QT_NP; p++)
            wp[p] = (const uint8_t *)w + (size_t)(p0 + (p < Pc ? p : Pc - 1)) * wrow;
        const int j = (Pc + 1) / 2 - 1;
        const qt_fn f = wt == TL_DT_Q8_0 ? qt_q8_0[R - 1][j] : wt == TL_DT_Q4_0 ? qt_q4_0[R - 1][j]
                      : wt == TL_DT_Q4_K ? qt_q4_k[R - 1][j] : qt_q6_k[R - 1][j];
        const char *pf = stream ? (const char *)w + (size_t)(p0 + 2 * TL_QT_P) * wrow : NULL;
        f(nb, wp, xq, xrow, Pc == P ? out : part, Pc, pf, (size_t)Pc * tl_dtype_block_bytes(wt));
        if (Pc != P)
            for (int r = 0; r < R; r++)
                memcpy(out + r * P + p0, part + r * Pc, (size_t)Pc * sizeof *out);
    }
}

#else

void tl_q_tile(tl_dtype wt, size_t n, const void *w, size_t wrow, int P, const void *xq, size_t xrow, int R, float *out,
               int stream)
{
    (void)stream;
    for (int r = 0; r < R; r++)
        for (int p = 0; p < P; p++)
            out[r * P + p] = tl_q_dot(wt, n, (const char *)w + (size_t)p * wrow, (const char *)xq + (size_t)r * xrow);
}

#endif
