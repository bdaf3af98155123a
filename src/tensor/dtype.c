#include "tensor/dtype.h"

#include <stdint.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} info[TL_DT_COUNT] = {
    [TL_DT_F64] = {"F64", 8}, [TL_DT_F32] = {"F32", 4}, [TL_DT_F16] = {"F16", 2},
    [TL_DT_BF16] = {"BF16", 2}, [TL_DT_I64] = {"I64", 8}, [TL_DT_I32] = {"I32", 4},
    [TL_DT_I16] = {"I16", 2}, [TL_DT_I8] = {"I8", 1}, [TL_DT_U8] = {"U8", 1},
    [TL_DT_BOOL] = {"BOOL", 1},
};

int tl_dtype_from_name(const char *name)
{
    for (int i = 0; i < TL_DT_COUNT; i++)
        if (strcmp(info[i].name, name) == 0)
            return i;
    return -1;
}

const char *tl_dtype_name(tl_dtype dt) { return (unsigned)dt < TL_DT_COUNT ? info[dt].name : "?"; }
size_t tl_dtype_size(tl_dtype dt) { return (unsigned)dt < TL_DT_COUNT ? info[dt].size : 0; }

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
    default:
        memset(dst, 0, n * sizeof *dst);
    }
}
