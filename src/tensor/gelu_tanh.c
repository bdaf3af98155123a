#include "tensor/gelu_tanh.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>

#include "tensor/dtype.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif

void tl_gelu_tanh(float *x, size_t n)
{
    const float k = 0.7978845608028654f; /* sqrt(2/π) */
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}

static uint16_t table[1 << 16];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

/* ggml_gelu_f32's own expression and order, each operation rounded to float (no fused
 * multiply-add: the table must hold ggml's values, not values one rounding away) */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
__attribute__((optimize("fp-contract=off")))
#endif
static float ggml_gelu(float x)
{
    const float a = 0.044715f, s = 0.79788456080286535587989211986876f;
    return 0.5f * x * (1.0f + tanhf(s * x * (1.0f + a * x * x)));
}

static void table_init(void)
{
    for (uint32_t i = 0; i < (1u << 16); i++) {
        const uint16_t h = (uint16_t)i;
        float f;
        tl_dtype_to_f32(TL_DT_F16, &h, &f, 1);
        f = ggml_gelu(f);
        tl_dtype_from_f32(TL_DT_F16, &f, &table[i], 1);
    }
}

/* ggml_vec_gelu_f32 with the table: 0 at or below -10, x at or above 10, else the table at x
 * rounded to F16 */
void tl_gelu_tanh_ggml(float *x, size_t n)
{
    pthread_once(&table_once, table_init);
    size_t i = 0;
#if defined(__F16C__)
    /* 8 at a time: vcvtps2ph rounds to nearest even, as ggml's own conversion on x86 does */
    const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f);
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        _Alignas(16) uint16_t h[8];
        _mm_store_si128((__m128i *)h, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
        for (int k = 0; k < 8; k++)
            h[k] = table[h[k]];
        __m256 g = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)h));
        g = _mm256_blendv_ps(g, v, _mm256_cmp_ps(v, hi, _CMP_GE_OQ));
        g = _mm256_blendv_ps(g, _mm256_setzero_ps(), _mm256_cmp_ps(v, lo, _CMP_LE_OQ));
        _mm256_storeu_ps(x + i, g);
    }
#endif
    for (; i < n; i++) {
        const float v = x[i];
        if (v <= -10.0f) {
            x[i] = 0.0f;
        } else if (v < 10.0f) {
            uint16_t h;
            tl_dtype_from_f32(TL_DT_F16, &v, &h, 1);
            tl_dtype_to_f32(TL_DT_F16, &table[h], &x[i], 1);
        }
    }
}
