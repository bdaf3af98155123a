/* e^x and SiLU exactly as llama.cpp's CPU backend computes them (ggml_v_expf, ggml_v_silu of
 * ggml-cpu/vec.h, "adapted from ARM's optimized routine", at most 1.45 + 0.5 ulp from e^x) in the
 * form ggml's build for this machine's instruction set uses (AVX-512 and AVX2 round differently),
 * so that a GGUF model's activations match llama.cpp's to the bit (docs/gguf.md "Numbers against
 * llama.cpp"). One element at a time; fmaf compiles to FMA instructions where the forms apply. */
#ifndef TEELM_TENSOR_EXPF_GGML_H
#define TEELM_TENSOR_EXPF_GGML_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#endif

static inline uint32_t tl_ggml_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float tl_ggml_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

#if defined(__AVX512F__) && defined(__AVX512DQ__)
/* the vector width of ggml's element-wise loops in this build; elements past the last whole
 * vector of a row go through libm's expf (ggml's scalar tail) */
#define TL_GGML_LANES 16
/* the AVX-512 form, sixteen at a time: ggml_v_expf itself (j = 1 + b·(c1 + ...), scaled by
 * vscalefps) */
static inline __m512 tl_vexpf_ggml(__m512 x)
{
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __mmask16 d = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192), _CMP_GT_OQ);
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    const __m512 res = _mm512_scalef_ps(j, n);
    if (_mm512_kortestz(d, d))
        return res;
    const __m512 alt = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ),
                                            _mm512_set1_ps(INFINITY), _mm512_setzero_ps());
    return _mm512_mask_blend_ps(d, res, alt);
}
/* x / (1 + e^-x) in sixteen lanes: ggml_v_silu */
static inline __m512 tl_vsilu_ggml(__m512 x)
{
    const __m512 e = tl_vexpf_ggml(_mm512_sub_ps(_mm512_setzero_ps(), x));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}
/* one element: the vector form in one lane */
static inline float tl_expf_ggml(float x) { return _mm512_cvtss_f32(tl_vexpf_ggml(_mm512_set1_ps(x))); }
#elif defined(__AVX2__) && defined(__FMA__)
#define TL_GGML_LANES 8
/* the AVX2 form: k = 2^n from the exponent bits, e^x = k + k·j with j = b·(c1 + ...) */
static inline float tl_expf_ggml(float x)
{
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    const uint32_t e = tl_ggml_bits(z) << 23;
    const float k = tl_ggml_float(e + tl_ggml_bits(1.0f));
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                         0x1.ffffecp-1f * b);
    if (!(fabsf(n) > 126.0f))
        return fmaf(j, k, k);
    const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
    const float s1 = tl_ggml_float(g + 0x7f000000u), s2 = tl_ggml_float(e - g);
    if (fabsf(n) > 192.0f)
        return s1 * s1;
    return fmaf(s2, j, s2) * s1;
}
#else
#define TL_GGML_LANES 1
/* no vector form in ggml's build for this machine: its scalar code, libm's expf */
static inline float tl_expf_ggml(float x) { return expf(x); }
#endif

/* x / (1 + e^-x), as ggml_v_silu (its negation is 0 - x) */
static inline float tl_silu_ggml(float x) { return x / (1.0f + tl_expf_ggml(0.0f - x)); }
/* element i of a row of n as ggml_vec_swiglu_f32 computes its SiLU: vector lanes, then the tail */
static inline float tl_silu_ggml_at(float x, int i, int n)
{
    return i < n / TL_GGML_LANES * TL_GGML_LANES ? tl_silu_ggml(x) : x / (1.0f + expf(-x));
}

/* x[0..n) = tl_silu_ggml_at(x[i], i0 + i, O): columns i0.. of a row of O, in vectors where the
 * build has them (the same bits) */
static inline void tl_silu_ggml_cols(float *x, int n, int i0, int O)
{
    int m = O / TL_GGML_LANES * TL_GGML_LANES - i0; /* the first m are in ggml's vector lanes */
    m = m < 0 ? 0 : m > n ? n : m;
    int i = 0;
#if TL_GGML_LANES == 16
    for (; i < m; i += 16) {
        const __mmask16 k = m - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (m - i)) - 1u);
        const __m512 y = tl_vsilu_ggml(_mm512_maskz_loadu_ps(k, x + i));
        /* plain stores where they fit: a masked store does not forward to the loads that follow */
        if (m - i >= 16)
            _mm512_storeu_ps(x + i, y);
        else if (m - i == 8)
            _mm256_storeu_ps(x + i, _mm512_castps512_ps256(y));
        else
            _mm512_mask_storeu_ps(x + i, k, y);
    }
#endif
    for (; i < m; i++)
        x[i] = tl_silu_ggml(x[i]);
    for (i = m; i < n; i++)
        x[i] = x[i] / (1.0f + expf(-x[i]));
}

#endif
