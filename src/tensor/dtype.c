#include "tensor/dtype.h"

#include <stdint.h>
#include <math.h>
#include <string.h>

#include "tensor/quant.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif

static const struct {
    const char *name;
    size_t size, block, block_bytes; /* block 0: an element type */
} info[TL_DT_COUNT] = {
    [TL_DT_F64] = {"F64", 8}, [TL_DT_F32] = {"F32", 4}, [TL_DT_F16] = {"F16", 2},
    [TL_DT_BF16] = {"BF16", 2}, [TL_DT_I64] = {"I64", 8}, [TL_DT_I32] = {"I32", 4},
    [TL_DT_I16] = {"I16", 2}, [TL_DT_I8] = {"I8", 1}, [TL_DT_U8] = {"U8", 1},
    [TL_DT_BOOL] = {"BOOL", 1},
    [TL_DT_Q8_0] = {"Q8_0", 0, TL_QK8_0, TL_Q8_0_BYTES}, [TL_DT_Q4_0] = {"Q4_0", 0, TL_QK4_0, TL_Q4_0_BYTES},
    [TL_DT_Q4_K] = {"Q4_K", 0, TL_QK_K, TL_Q4_K_BYTES}, [TL_DT_Q6_K] = {"Q6_K", 0, TL_QK_K, TL_Q6_K_BYTES},
};

int tl_dtype_from_name_any(const char *name)
{
    for (int i = 0; i < TL_DT_COUNT; i++)
        if (strcmp(info[i].name, name) == 0)
            return i;
    return -1;
}

int tl_dtype_from_name(const char *name)
{
    const int d = tl_dtype_from_name_any(name);
    return d >= 0 && info[d].block ? -1 : d;
}

const char *tl_dtype_name(tl_dtype dt) { return (unsigned)dt < TL_DT_COUNT ? info[dt].name : "?"; }
size_t tl_dtype_size(tl_dtype dt) { return (unsigned)dt < TL_DT_COUNT ? info[dt].size : 0; }
int tl_dtype_is_block(tl_dtype dt) { return (unsigned)dt < TL_DT_COUNT && info[dt].block; }
size_t tl_dtype_block(tl_dtype dt) { return (unsigned)dt >= TL_DT_COUNT ? 0 : info[dt].block ? info[dt].block : 1; }
size_t tl_dtype_block_bytes(tl_dtype dt)
{
    return (unsigned)dt >= TL_DT_COUNT ? 0 : info[dt].block ? info[dt].block_bytes : info[dt].size;
}

size_t tl_dtype_bytes(tl_dtype dt, size_t n)
{
    const size_t b = tl_dtype_block(dt), bb = tl_dtype_block_bytes(dt);
    if (!b || !bb || n % b || n / b > SIZE_MAX / bb)
        return SIZE_MAX;
    return n / b * bb;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE binary16 -> binary32, exact for every input (subnormals, infinities, NaN payloads). */
static float half_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f)
        return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0)
            return bits_f32(sign);
        /* subnormal: value = man * 2^-24, exactly representable in float32 */
        float f = (float)man * 0x1p-24f;
        return sign ? -f : f;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

void tl_dtype_to_f32(tl_dtype dt, const void *src, float *dst, size_t n)
{
    const uint8_t *s = src;
    switch (dt) {
    case TL_DT_F32:
        memcpy(dst, src, n * 4);
        break;
    case TL_DT_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, s + 8 * i, 8);
            dst[i] = (float)d;
        }
        break;
    case TL_DT_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = half_to_f32(h);
        }
        break;
    case TL_DT_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = bits_f32((uint32_t)h << 16);
        }
        break;
    case TL_DT_I64:
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            memcpy(&v, s + 8 * i, 8);
            dst[i] = (float)v;
        }
        break;
    case TL_DT_I32:
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, s + 4 * i, 4);
            dst[i] = (float)v;
        }
        break;
    case TL_DT_I16:
        for (size_t i = 0; i < n; i++) {
            int16_t v;
            memcpy(&v, s + 2 * i, 2);
            dst[i] = (float)v;
        }
        break;
    case TL_DT_I8:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)(int8_t)s[i];
        break;
    case TL_DT_U8:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)s[i];
        break;
    case TL_DT_BOOL:
        for (size_t i = 0; i < n; i++)
            dst[i] = s[i] ? 1.0f : 0.0f;
        break;
    case TL_DT_Q8_0:
    case TL_DT_Q4_0:
    case TL_DT_Q4_K:
    case TL_DT_Q6_K:
        tl_q_dequant(dt, src, dst, n);
        break;
    default:
        memset(dst, 0, n * sizeof *dst);
    }
}

/* float32 to float16 / bfloat16, round to nearest even (as torch's .to()) */

static uint16_t f32_to_bf16(uint32_t x)
{
    if ((x & 0x7fffffffu) > 0x7f800000u) /* NaN stays a (quiet) NaN */
        return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

static uint16_t f32_to_f16(uint32_t x)
{
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf, NaN */
        return sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0);
    if (ax >= 0x477ff000u) /* >= 65520 rounds past the largest half, 65504 */
        return sign | 0x7c00;
    if (ax < 0x38800000u) { /* below 2^-14: a subnormal half, in units of 2^-24 */
        float v;
        memcpy(&v, &ax, 4);
        return sign | (uint16_t)lrintf(v * 16777216.0f); /* exact scaling; rint rounds to even */
    }
    uint32_t r = ax + 0xfffu + ((ax >> 13) & 1);
    return sign | (uint16_t)((r - 0x38000000u) >> 13); /* exponent bias 127 -> 15 */
}

void tl_dtype_from_f32(tl_dtype dt, const float *src, void *dst, size_t n)
{
    uint8_t *o = dst;
    for (size_t j = 0; j < n; j++) {
        uint32_t x;
        memcpy(&x, &src[j], 4);
        if (dt == TL_DT_F32)
            memcpy(o + 4 * j, &x, 4);
        else {
            uint16_t h = dt == TL_DT_BF16 ? f32_to_bf16(x) : f32_to_f16(x);
            memcpy(o + 2 * j, &h, 2);
        }
    }
}

void tl_dtype_round_f32(tl_dtype dt, const float *src, float *dst, size_t n)
{
    size_t i = 0;
    if (dt == TL_DT_BF16) {
        /* f32_to_bf16 without branches, so the loop vectorizes (a prompt chunk rounds ~10^6 floats) */
        for (; i < n; i++) {
            uint32_t x;
            memcpy(&x, &src[i], 4);
            const uint32_t r = (x + 0x7fffu + ((x >> 16) & 1)) & 0xffff0000u;
            const uint32_t q = (x | 0x400000u) & 0xffff0000u;
            const uint32_t y = (x & 0x7fffffffu) > 0x7f800000u ? q : r;
            memcpy(&dst[i], &y, 4);
        }
        return;
    }
    if (dt == TL_DT_F16) {
#if defined(__F16C__)
        for (; i + 8 <= n; i += 8) /* vcvtps2ph rounds to nearest even, as f32_to_f16 */
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT)));
#endif
        for (; i < n; i++) {
            uint16_t h;
            tl_dtype_from_f32(TL_DT_F16, &src[i], &h, 1);
            dst[i] = half_to_f32(h);
        }
        return;
    }
    if (dst != src)
        memmove(dst, src, n * sizeof *dst);
}
