/* e^x and SiLU exactly as llama.cpp's CPU backend computes them (ggml_v_expf, ggml_v_silu of
 * ggml-cpu/vec.h, the AVX-512 form: "adapted from ARM's optimized routine", at most 1.45 + 0.5
 * ulp from e^x), so that a GGUF model's activations match llama.cpp's to the bit (docs/gguf.md
 * "Numbers against llama.cpp"). One element at a time; the compiler turns fmaf into FMA
 * instructions on the machines teelm builds for. */
#ifndef TEELM_TENSOR_EXPF_GGML_H
#define TEELM_TENSOR_EXPF_GGML_H

#include <math.h>
#include <stdint.h>
#include <string.h>

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
    const uint32_t bits = (uint32_t)(e + 127) << 23;
    float p;
    memcpy(&p, &bits, 4);
    return j * p;
}

/* x / (1 + e^-x), as ggml_v_silu (its negation is 0 - x) */
static inline float tl_silu_ggml(float x) { return x / (1.0f + tl_expf_ggml(0.0f - x)); }

#endif
