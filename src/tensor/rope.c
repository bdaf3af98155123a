#include "tensor/rope.h"

#include <math.h>
#include <stddef.h>

void tl_rope_inv_freq(float *inv, int hd, float theta, int type, float factor, float flo, float fhi, int orig_ctx)
{
    const int h = hd / 2;
    for (int i = 0; i < h; i++) {
        double f = (double)(float)(1.0 / pow((double)theta, (double)(float)(2.0 * i / hd)));
        if (type == TL_ROPE_SCALE_LINEAR) {
            f /= factor;
        } else if (type == TL_ROPE_SCALE_LLAMA3) {
            const double fac = factor, lo = flo, hi = fhi, n0 = orig_ctx;
            const double wl = 2.0 * M_PI / f;
            if (wl > n0 / lo) {
                f /= fac;
            } else if (!(wl < n0 / hi)) { /* the band between: interpolate */
                const double s = (n0 / wl - lo) / (hi - lo);
                f = (1.0 - s) * f / fac + s * f;
            }
        }
        inv[i] = (float)f;
    }
}

void tl_rope_table(float *cs, const float *inv, int hd, int p)
{
    const int h = hd / 2;
    for (int i = 0; i < h; i++) {
        const float a = (float)p * inv[i];
        cs[i] = (float)cos((double)a);
        cs[h + i] = (float)sin((double)a);
    }
}

void tl_rope_table_ggml(float *cs, int hd, int p, float theta, float freq_scale)
{
    const int h = hd / 2;
    const float s = powf(theta, -2.0f / (float)hd);
    float t = (float)p;
    for (int i = 0; i < h; i++) {
        const float a = freq_scale * t;
        cs[i] = cosf(a);
        cs[h + i] = sinf(a);
        t *= s;
    }
}

/* fused: llama.cpp's form (one product fused into the other), else each product rounded */
static inline void rotate(float *x, int nh, int hd, const float *cs, int fused)
{
    const int h = hd / 2;
    for (int j = 0; j < nh; j++) {
        float *v = x + (size_t)j * hd;
        for (int i = 0; i < h; i++) {
            const float a = v[i], b = v[i + h], co = cs[i], si = cs[h + i];
            v[i] = fused ? fmaf(a, co, -(b * si)) : a * co - b * si;
            v[i + h] = fused ? fmaf(a, si, b * co) : b * co + a * si;
        }
    }
}

void tl_rope_apply_ggml(float *x, int nh, int hd, const float *cs) { rotate(x, nh, hd, cs, 1); }

void tl_rope_apply(float *x, int nh, int hd, const float *cs) { rotate(x, nh, hd, cs, 0); }
