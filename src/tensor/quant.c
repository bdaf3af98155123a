/* Quantization, dequantization and half-precision conversions of ggml's block types
 * (tensor/quant.h; docs/quantization.md). Every function reproduces ggml's arithmetic operation
 * for operation, so the bytes and floats are the ones llama.cpp produces; this file is compiled
 * with ISO C floating-point semantics (no contraction into fused multiply-adds), like ggml's. */
#include "tensor/quant.h"

#include <math.h>
#include <string.h>

#include "tensor/q4k_scales.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float tl_q_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f)
        return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        const float f = (float)man * 0x1p-24f; /* zero and subnormals, exact */
        return sign ? -f : f;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t tl_q_f32_to_f16(float f)
{
#if defined(__F16C__)
    return (uint16_t)_cvtss_sh(f, 0); /* what ggml's CPU backend uses: round to nearest even */
#else
    /* round to nearest even, as ggml_compute_fp32_to_fp16 */
    uint32_t w;
    memcpy(&w, &f, 4);
    const uint32_t sign = (w >> 16) & 0x8000, a = w & 0x7fffffffu;
    if (a > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00);
    if (a >= 0x477ff000u) /* rounds to infinity */
        return (uint16_t)(sign | 0x7c00);
    if (a < 0x38800000u) { /* subnormal or zero in half: round a * 2^24 to an integer */
        const float v = bits_f32(a) * 0x1p24f;
        return (uint16_t)(sign | (uint16_t)rintf(v));
    }
    const uint32_t mant = a & 0x1fffu, base = (a - 0x38000000u) >> 13;
    uint32_t r = base + (mant > 0x1000u || (mant == 0x1000u && (base & 1)));
    return (uint16_t)(sign | r);
#endif
}

static float ld16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return tl_q_f16_to_f32(h);
}

static void st16(uint8_t *p, float f)
{
    const uint16_t h = tl_q_f32_to_f16(f);
    memcpy(p, &h, 2);
}

int tl_q_act_type(tl_dtype wt)
{
    switch (wt) {
    case TL_DT_Q8_0:
    case TL_DT_Q4_0:
        return TL_DT_Q8_0;
    case TL_DT_Q4_K:
    case TL_DT_Q6_K:
        return TL_Q8_K;
    default:
        return -1;
    }
}

size_t tl_q_act_bytes(tl_dtype wt, size_t n)
{
    const int a = tl_q_act_type(wt);
    return a == TL_DT_Q8_0 ? n / TL_QK8_0 * TL_Q8_0_BYTES : a == TL_Q8_K ? n / TL_QK_K * TL_Q8_K_BYTES : 0;
}

/* ggml-cpu's x86 quantize_row_q8_0 (the AVX2 path, which the scalar lines below restate):
 * d = amax / 127 stored as f16; the multiplier is 127 / amax (not 1 / d) and the products round
 * to nearest even (vroundps), then saturate through the int16/int8 packs. */
static void q8_0_act(const float *x, uint8_t *y, size_t n)
{
    for (size_t b = 0; b < n / TL_QK8_0; b++, x += TL_QK8_0, y += TL_Q8_0_BYTES) {
        float amax = 0.0f;
        for (int j = 0; j < TL_QK8_0; j++) {
            const float a = fabsf(x[j]);
            amax = a > amax ? a : amax; /* maxps: the second operand when unordered */
        }
        st16(y, amax / 127.f);
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        int8_t *q = (int8_t *)(y + 2);
        for (int j = 0; j < TL_QK8_0; j++) {
            const float v = rintf(x[j] * id);
            /* cvtps2dq gives INT_MIN for NaN and out-of-range values; the packs saturate */
            q[j] = (int8_t)(!(v >= -128.0f && v <= 2147483520.0f) ? -128 : v > 127.0f ? 127 : (int)v);
        }
    }
}

/* ggml's nearest_int: round to nearest even through the 1.5 * 2^23 trick (valid for |f| < 2^22) */
static int nearest_int(float f)
{
    const float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* quantize_row_q8_K_ref: scale -127 / (the element of largest magnitude, with its sign),
 * d = its reciprocal, sums of each 16 quants kept for the K-quants' minimums. (The repacked
 * kernels' four-row quantizer takes the sign from any element equal to +amax instead; where
 * +amax and -amax both occur, -amax first, its quants, sums and d are these negated, and every
 * product with them the same bits.) */
static void q8_K_act(const float *x, uint8_t *y, size_t n)
{
    for (size_t b = 0; b < n / TL_QK_K; b++, x += TL_QK_K, y += TL_Q8_K_BYTES) {
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < TL_QK_K; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        int8_t *q = (int8_t *)(y + 4);
        int16_t bs[16];
        if (!(amax > 0.0f)) {
            memset(y, 0, TL_Q8_K_BYTES);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < TL_QK_K; j++) {
            const int v = nearest_int(iscale * x[j]);
            q[j] = (int8_t)(v < 127 ? (v < -128 ? -128 : v) : 127);
        }
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int i = 0; i < 16; i++)
                s += q[16 * j + i];
            bs[j] = (int16_t)s;
        }
        const float d = 1 / iscale;
        memcpy(y, &d, 4);
        memcpy(y + 4 + TL_QK_K, bs, sizeof bs);
    }
}

void tl_q_quantize_act(tl_dtype wt, const float *x, void *y, size_t n)
{
    if (tl_q_act_type(wt) == TL_DT_Q8_0)
        q8_0_act(x, y, n);
    else if (tl_q_act_type(wt) == TL_Q8_K)
        q8_K_act(x, y, n);
}

void tl_q_dequant(tl_dtype wt, const void *src, float *y, size_t n)
{
    const uint8_t *b = src;
    switch (wt) {
    case TL_DT_Q8_0:
        for (size_t i = 0; i < n / TL_QK8_0; i++, b += TL_Q8_0_BYTES) {
            const float d = ld16(b);
            for (int j = 0; j < 32; j++)
                *y++ = (float)(int8_t)b[2 + j] * d;
        }
        break;
    case TL_DT_Q4_0:
        for (size_t i = 0; i < n / TL_QK4_0; i++, b += TL_Q4_0_BYTES, y += 32) {
            const float d = ld16(b);
            for (int j = 0; j < 16; j++) {
                y[j] = (float)((b[2 + j] & 0x0F) - 8) * d;
                y[j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
            }
        }
        break;
    case TL_DT_Q4_K:
        for (size_t i = 0; i < n / TL_QK_K; i++, b += TL_Q4_K_BYTES) {
            const float d = ld16(b), min = ld16(b + 2);
            const uint8_t *sc = b + 4, *q = b + 16;
            for (int j = 0, is = 0; j < TL_QK_K; j += 64, q += 32, is += 2) {
                int s, m;
                q4k_scale_min(is, sc, &s, &m);
                const float d1 = d * (float)s, m1 = min * (float)m;
                q4k_scale_min(is + 1, sc, &s, &m);
                const float d2 = d * (float)s, m2 = min * (float)m;
                for (int l = 0; l < 32; l++)
                    *y++ = d1 * (float)(q[l] & 0xF) - m1;
                for (int l = 0; l < 32; l++)
                    *y++ = d2 * (float)(q[l] >> 4) - m2;
            }
        }
        break;
    case TL_DT_Q6_K:
        for (size_t i = 0; i < n / TL_QK_K; i++, b += TL_Q6_K_BYTES) {
            const float d = ld16(b + 208);
            const uint8_t *ql = b, *qh = b + 128;
            const int8_t *sc = (const int8_t *)(b + 192);
            for (int h = 0; h < TL_QK_K; h += 128, y += 128, ql += 64, qh += 32, sc += 8)
                for (int l = 0; l < 32; l++) {
                    const int is = l / 16;
                    const int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                    const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    y[l] = d * (float)sc[is] * (float)q1;
                    y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                    y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                    y[l + 96] = d * (float)sc[is + 6] * (float)q4;
                }
        }
        break;
    default:
        memset(y, 0, n * sizeof *y);
    }
}

int tl_q_quantize_weights(tl_dtype wt, const float *x, void *dst, size_t n)
{
    uint8_t *y = dst;
    if (n % 32 || (wt != TL_DT_Q8_0 && wt != TL_DT_Q4_0))
        return -1;
    for (size_t b = 0; b < n / 32; b++, x += 32) {
        if (wt == TL_DT_Q8_0) { /* quantize_row_q8_0_ref: roundf (half away from zero) by 1 / d */
            float amax = 0.0f;
            for (int j = 0; j < 32; j++)
                amax = fmaxf(amax, fabsf(x[j]));
            const float d = amax / 127, id = d != 0.0f ? 1.0f / d : 0.0f;
            st16(y, d);
            for (int j = 0; j < 32; j++) {
                const float v = roundf(x[j] * id);
                y[2 + j] = (uint8_t)(int8_t)(v >= -128.0f && v <= 127.0f ? (int)v : 0);
            }
            y += TL_Q8_0_BYTES;
        } else { /* quantize_row_q4_0_ref: d = (the signed extreme) / -8, truncation of q + 8.5 */
            float amax = 0.0f, max = 0.0f;
            for (int j = 0; j < 32; j++)
                if (amax < fabsf(x[j])) {
                    amax = fabsf(x[j]);
                    max = x[j];
                }
            const float d = max / -8, id = d != 0.0f ? 1.0f / d : 0.0f;
            st16(y, d);
            for (int j = 0; j < 16; j++) {
                const float a = x[j] * id + 8.5f, c = x[16 + j] * id + 8.5f;
                /* (int8_t) of a value in [0, 16.5]: MIN(15, ...) as ggml */
                const int q0 = a >= 0.0f && a < 16.0f ? (int)a : a >= 16.0f ? 15 : 0;
                const int q1 = c >= 0.0f && c < 16.0f ? (int)c : c >= 16.0f ? 15 : 0;
                y[2 + j] = (uint8_t)((q0 > 15 ? 15 : q0) | (q1 > 15 ? 15 : q1) << 4);
            }
            y += TL_Q4_0_BYTES;
        }
    }
    return 0;
}
