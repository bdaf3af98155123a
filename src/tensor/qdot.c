/* Dot products of a quantized weight row with a row of quantized activations (tensor/quant.h),
 * in the arithmetic of ggml-cpu's x86 AVX2 kernels (ggml_vec_dot_q8_0_q8_0, _q4_0_q8_0,
 * _q4_K_q8_K, _q6_K_q8_K). Each kernel keeps eight float lanes; a block's integer products are
 * summed per lane (lane k holds elements 4k..4k+3 of each 32-element group, exact in int32),
 * converted to float (exact: every lane sum is below 2^24), and multiply-added into the lane
 * with the block's combined scale; the lanes are reduced at the end by hsum_float_8's tree
 * ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). The scalar functions restate the same operations lane
 * by lane, so both give the same bits. */
#include <math.h>
#include <string.h>

#include "tensor/q4k_scales.h"
#include "tensor/quant.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define QAVX2 1
#endif

static inline float ld16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
#if defined(__F16C__)
    return _cvtsh_ss(h); /* exact, as the portable conversion */
#else
    return tl_q_f16_to_f32(h);
#endif
}

static float ld32(const uint8_t *p)
{
    float f;
    memcpy(&f, p, 4);
    return f;
}

static float hsum8_scalar(const float a[8])
{
    const float r0 = a[4] + a[0], r1 = a[5] + a[1], r2 = a[6] + a[2], r3 = a[7] + a[3];
    return (r0 + r2) + (r1 + r3);
}

/* ---- scalar ---- */

/* Q8_0 and Q4_0 weights with Q8_0 activations: lane k of block b gets
 * fma(f16(w.d) * f16(x.d), Σ_{e=4k..4k+3} wq[e]·xq[e], lane) */
static float dot_q0_scalar(int q4, size_t n, const uint8_t *w, const uint8_t *x)
{
    float acc[8] = {0};
    const size_t wb = q4 ? TL_Q4_0_BYTES : TL_Q8_0_BYTES;
    for (size_t b = 0; b < n / 32; b++, w += wb, x += TL_Q8_0_BYTES) {
        const float d = ld16(w) * ld16(x);
        const int8_t *xq = (const int8_t *)(x + 2);
        int wq[32];
        for (int j = 0; j < 16 && q4; j++) {
            wq[j] = (w[2 + j] & 0xF) - 8;
            wq[j + 16] = (w[2 + j] >> 4) - 8;
        }
        for (int j = 0; j < 32 && !q4; j++)
            wq[j] = (int8_t)w[2 + j];
        for (int k = 0; k < 8; k++) {
            int s = 0;
            for (int e = 4 * k; e < 4 * k + 4; e++)
                s += wq[e] * xq[e];
            acc[k] = fmaf(d, (float)s, acc[k]);
        }
    }
    return hsum8_scalar(acc);
}

/* Q4_K with Q8_K: lane k += d·Σ_{sub-blocks s} sc[s]·Σ_{e=4k..4k+3} q4[32s+e]·x[32s+e]
 * (d = x.d · f16(w.d)); four more lanes take the minimums, lane i += dmin·(m[2i]·S[2i] +
 * m[2i+1]·S[2i+1]) with S[s] the activations' sum over sub-block s and dmin = -x.d · f16(w.dmin);
 * the result is hsum8(lanes) + ((m0+m2) + (m1+m3)). */
static float dot_q4_K_scalar(size_t n, const uint8_t *w, const uint8_t *x)
{
    float acc[8] = {0}, accm[4] = {0};
    for (size_t b = 0; b < n / TL_QK_K; b++, w += TL_Q4_K_BYTES, x += TL_Q8_K_BYTES) {
        const float yd = ld32(x);
        const float d = yd * ld16(w), dmin = -yd * ld16(w + 2);
        const uint8_t *q4 = w + 16;
        const int8_t *q8 = (const int8_t *)(x + 4);
        int16_t bs[16];
        memcpy(bs, x + 4 + TL_QK_K, sizeof bs);
        int sc[8], mn[8];
        for (int j = 0; j < 8; j++)
            q4k_scale_min(j, w + 4, &sc[j], &mn[j]);
        for (int i = 0; i < 4; i++) {
            const int p = mn[2 * i] * (bs[4 * i] + bs[4 * i + 1]) + mn[2 * i + 1] * (bs[4 * i + 2] + bs[4 * i + 3]);
            accm[i] = fmaf(dmin, (float)p, accm[i]);
        }
        int s[8] = {0};
        for (int j = 0; j < 4; j++) /* 64 elements: low nibbles of 32 bytes, then their high nibbles */
            for (int k = 0; k < 8; k++) {
                int lo = 0, hi = 0;
                for (int e = 4 * k; e < 4 * k + 4; e++) {
                    lo += (q4[32 * j + e] & 0xF) * q8[64 * j + e];
                    hi += (q4[32 * j + e] >> 4) * q8[64 * j + 32 + e];
                }
                s[k] += sc[2 * j] * lo + sc[2 * j + 1] * hi;
            }
        for (int k = 0; k < 8; k++)
            acc[k] = fmaf(d, (float)s[k], acc[k]);
    }
    return hsum8_scalar(acc) + ((accm[0] + accm[2]) + (accm[1] + accm[3]));
}

/* Q6_K with Q8_K: lane k += d·(Σ_{groups g of 32} sc[2g + (k >= 4)]·Σ_{e=4k..4k+3} q6·x
 *                            - 32·(bsums[2k]·sc[2k] + bsums[2k+1]·sc[2k+1]))
 * (q6 unsigned, 0..63; d = x.d · f16(w.d)): ggml takes the -32 of every weight back from the
 * activations' 16-element sums, lane k that of group k. */
static float dot_q6_K_scalar(size_t n, const uint8_t *w, const uint8_t *x)
{
    float acc[8] = {0};
    for (size_t b = 0; b < n / TL_QK_K; b++, w += TL_Q6_K_BYTES, x += TL_Q8_K_BYTES) {
        const float d = ld32(x) * ld16(w + 208);
        const int8_t *q8 = (const int8_t *)(x + 4), *sc = (const int8_t *)(w + 192);
        int s[8] = {0};
        int16_t bs[16];
        memcpy(bs, x + 4 + TL_QK_K, sizeof bs);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w + 64 * h, *qh = w + 128 + 32 * h;
            for (int t = 0; t < 4; t++) { /* group g = 4h + t: elements 128h + 32t .. +32 */
                const int g = 4 * h + t;
                for (int k = 0; k < 8; k++) {
                    int p = 0;
                    for (int e = 4 * k; e < 4 * k + 4; e++) {
                        const int lo = (t & 1 ? ql[32 + e] : ql[e]) >> (t & 2 ? 4 : 0) & 0xF;
                        const int q = lo | ((qh[e] >> (2 * t)) & 3) << 4;
                        p += q * q8[32 * g + e];
                    }
                    s[k] += sc[2 * g + (k >= 4)] * p;
                }
            }
        }
        for (int k = 0; k < 8; k++) {
            s[k] -= 32 * (bs[2 * k] * sc[2 * k] + bs[2 * k + 1] * sc[2 * k + 1]);
            acc[k] = fmaf(d, (float)s[k], acc[k]);
        }
    }
    return hsum8_scalar(acc);
}

float tl_q_dot_scalar(tl_dtype wt, size_t n, const void *w, const void *xq)
{
    switch (wt) {
    case TL_DT_Q8_0:
        return dot_q0_scalar(0, n, w, xq);
    case TL_DT_Q4_0:
        return dot_q0_scalar(1, n, w, xq);
    case TL_DT_Q4_K:
        return dot_q4_K_scalar(n, w, xq);
    case TL_DT_Q6_K:
        return dot_q6_K_scalar(n, w, xq);
    default:
        return 0.0f;
    }
}

/* ---- AVX2 ---- */
#ifdef QAVX2

static inline float hsum8(__m256 x)
{
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* Σ of 4 adjacent products of unsigned a (0..128) and signed b per int32 lane; the maddubs pair
 * sums never saturate for the operands of these kernels */
static inline __m256i dot_us8(__m256i a, __m256i b)
{
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
#elif defined(__AVXVNNI__)
    return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), a, b);
#else
    return _mm256_madd_epi16(_mm256_set1_epi16(1), _mm256_maddubs_epi16(a, b));
#endif
}

static inline __m256i dot_s8(__m256i x, __m256i y)
{
    return dot_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

static float dot_q0_avx2(int q4, size_t n, const uint8_t *w, const uint8_t *x)
{
    __m256 acc = _mm256_setzero_ps();
    const size_t wb = q4 ? TL_Q4_0_BYTES : TL_Q8_0_BYTES;
    const __m256i m4 = _mm256_set1_epi8(0xF), off = _mm256_set1_epi8(8);
    for (size_t b = 0; b < n / 32; b++, w += wb, x += TL_Q8_0_BYTES) {
        const __m256 d = _mm256_set1_ps(ld16(w) * ld16(x));
        __m256i qw;
        if (q4) {
            const __m128i t = _mm_loadu_si128((const __m128i *)(w + 2));
            qw = _mm256_and_si256(_mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1), m4);
            qw = _mm256_sub_epi8(qw, off);
        } else {
            qw = _mm256_loadu_si256((const __m256i *)(w + 2));
        }
        const __m256i qx = _mm256_loadu_si256((const __m256i *)(x + 2));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_s8(qw, qx)), acc);
    }
    return hsum8(acc);
}

static float dot_q4_K_avx2(size_t n, const uint8_t *w, const uint8_t *x)
{
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (size_t b = 0; b < n / TL_QK_K; b++, w += TL_Q4_K_BYTES, x += TL_Q8_K_BYTES) {
        const float yd = ld32(x);
        const float d = yd * ld16(w), dmin = -yd * ld16(w + 2);
        uint32_t u[4];
        q4k_scales16(w + 4, u);
        const __m256i sm = _mm256_cvtepu8_epi16(_mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]));
        const __m256i bs = _mm256_loadu_si256((const __m256i *)(x + 4 + TL_QK_K));
        const __m128i s8 = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
        const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(sm, 1), s8);
        accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), accm);
        const uint8_t *sc = (const uint8_t *)u;
        const uint8_t *q4 = w + 16;
        const int8_t *q8 = (const int8_t *)(x + 4);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(q4 + 32 * j));
            const __m256i lo = _mm256_and_si256(bits, m4), hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            const __m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j)));
            const __m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j + 32)));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_madd_epi16(_mm256_set1_epi16(sc[2 * j]), pl),
                                                           _mm256_madd_epi16(_mm256_set1_epi16(sc[2 * j + 1]), ph)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
    return hsum8(acc) + _mm_cvtss_f32(accm);
}

static float dot_q6_K_avx2(size_t n, const uint8_t *w, const uint8_t *x)
{
    const __m256i m4 = _mm256_set1_epi8(0xF), m2 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (size_t b = 0; b < n / TL_QK_K; b++, w += TL_Q6_K_BYTES, x += TL_Q8_K_BYTES) {
        const float d = ld32(x) * ld16(w + 208);
        const int8_t *sc = (const int8_t *)(w + 192), *q8 = (const int8_t *)(x + 4);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i b1 = _mm256_loadu_si256((const __m256i *)(w + 64 * h));
            const __m256i b2 = _mm256_loadu_si256((const __m256i *)(w + 64 * h + 32));
            const __m256i bh = _mm256_loadu_si256((const __m256i *)(w + 128 + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(b1, m4), _mm256_slli_epi16(_mm256_and_si256(bh, m2), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(b2, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 2), m2), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 4), m2), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 6), m2), 4));
            __m256i p[4];
            for (int t = 0; t < 4; t++) {
                const int g = 4 * h + t;
                const __m256i y = _mm256_loadu_si256((const __m256i *)(q8 + 32 * g));
                const __m256i p16 = _mm256_maddubs_epi16(q[t], y);
                const __m256i s16 = _mm256_insertf128_si256(_mm256_castsi128_si256(_mm_set1_epi16(sc[2 * g])),
                                                            _mm_set1_epi16(sc[2 * g + 1]), 1);
                p[t] = _mm256_madd_epi16(s16, p16);
            }
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p[0], p[1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p[2], p[3]));
        }
        const __m256i bs = _mm256_loadu_si256((const __m256i *)(x + 4 + TL_QK_K));
        const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(_mm256_madd_epi16(bs, s16), 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc);
}

float tl_q_dot(tl_dtype wt, size_t n, const void *w, const void *xq)
{
    switch (wt) {
    case TL_DT_Q8_0:
        return dot_q0_avx2(0, n, w, xq);
    case TL_DT_Q4_0:
        return dot_q0_avx2(1, n, w, xq);
    case TL_DT_Q4_K:
        return dot_q4_K_avx2(n, w, xq);
    case TL_DT_Q6_K:
        return dot_q6_K_avx2(n, w, xq);
    default:
        return 0.0f;
    }
}

#else

float tl_q_dot(tl_dtype wt, size_t n, const void *w, const void *xq) { return tl_q_dot_scalar(wt, n, w, xq); }

#endif
