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
/* the AVX-512 form: j = 1 + b·(c1 + ...), scaled by vscalefps */
static inline float tl_expf_ggml(float x)
{
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r; /* round(x / ln 2) */
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    if (fabsf(n) > 192.0f) /* far outside float's range: 0 or infinity */
        return n <= 0.0f ? 0.0f : INFINITY;
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                         fmaf(0x1.ffffecp-1f, b, 1.0f));
    const int e = (int)n;
    if (e < -126 || e > 127) /* vscalefps: j · 2^e rounded once; 2^e is no normal float here */
        return scalbnf(j, e);
    return j * tl_ggml_float((uint32_t)(e + 127) << 23);
}
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

#endif
