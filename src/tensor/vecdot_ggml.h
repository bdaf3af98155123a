/* ggml_vec_dot_f32 as ggml's AVX-512 build computes it (ggml-cpu/vec.cpp): four 16-lane chains,
 * element i in chain (i / 16) % 4, over the whole steps of 64; chains 0 + 2 and 1 + 3, then those
 * two, reduced by _mm512_reduce_add_ps; the rest one product at a time in float, each product
 * rounded before it is added (ggml's leftover loop; teelm builds as ISO C, so the compiler fuses
 * nothing there either). llama.cpp's attention sums (tensor/kvattn_ggml.c) and its F32 products
 * of a single row (tensor/wlinear.c) are this. AVX-512 builds only (TL_VEC_DOT_GGML defined). */
#ifndef TEELM_TENSOR_VECDOT_GGML_H
#define TEELM_TENSOR_VECDOT_GGML_H

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#define TL_VEC_DOT_GGML 1

static inline float tl_vec_dot_f32_ggml(const float *x, const float *y, int n)
{
    const int np = n / 64 * 64;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (int i = 0; i < np; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), _mm512_loadu_ps(y + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), _mm512_loadu_ps(y + i + 48), s3);
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s2), _mm512_add_ps(s1, s3)));
    for (int i = np; i < n; i++)
        sum += x[i] * y[i];
    return sum;
}
#endif

#endif
