#include "tensor/layernorm.h"

#include <math.h>

#include "tensor/reduce.h"
#include "tensor/simd.h"
#include <stddef.h>

void tl_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                          const float *b, int N, int C, float eps)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float m = 0;
        for (int c = 0; c < C; c++)
            m += x[c];
        m /= (float)C;
        float v = 0;
        for (int c = 0; c < C; c++) {
            float d = x[c] - m;
            v += d * d;
        }
        v /= (float)C;
        float s = 1.0f / sqrtf(v + eps);
        float *o = out + (size_t)n * C;
        for (int c = 0; c < C; c++)
            o[c] = (x[c] - m) * s * w[c] + b[c];
        mean[n] = m;
        rstd[n] = s;
    }
}

void tl_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                           const float *w, const float *mean, const float *rstd, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * C, *x = inp + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        const float m = mean[n], s = rstd[n];
        /* with xh = (x-m)*s and dxh = g*w: dx = s * (dxh - mean(dxh) - xh * mean(dxh*xh)) */
        float sum1 = 0, sum2 = 0;
        for (int c = 0; c < C; c++) {
            float xh = (x[c] - m) * s, dxh = g[c] * w[c];
            sum1 += dxh;
            sum2 += dxh * xh;
        }
        sum1 /= (float)C;
        sum2 /= (float)C;
        for (int c = 0; c < C; c++) {
            float xh = (x[c] - m) * s, dxh = g[c] * w[c];
            dw[c] += g[c] * xh;
            db[c] += g[c];
            dx[c] += s * (dxh - sum1 - xh * sum2);
        }
    }
}

void tl_layernorm_rows(float *out, const float *inp, const float *w, const float *b, int N, int C, float eps)
{
    const int Cv = C / VW * VW;
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        const float m = tl_vec_sum(x, C) / (float)C;
        const vf vm = vset1(m);
        vf vv = vzero();
        for (int c = 0; c < Cv; c += VW) {
            vf d = vsub(vload(x + c), vm);
            vv = vfma(d, d, vv);
        }
        float v = vsum(vv);
        for (int c = Cv; c < C; c++)
            v += (x[c] - m) * (x[c] - m);
        v /= (float)C;
        const float s = 1.0f / sqrtf(v + eps);
        const vf vsc = vset1(s);
        for (int c = 0; c < Cv; c += VW)
            vstore(o + c, vfma(vmul(vsub(vload(x + c), vm), vsc), vload(w + c), vload(b + c)));
        for (int c = Cv; c < C; c++)
            o[c] = (x[c] - m) * s * w[c] + b[c];
    }
}

#if defined(__AVX512F__) && defined(__AVX512DQ__) || defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

/* Σ (x - mean)² as ggml_vec_cvar_f32 forms it (d[] = x - mean): each vector's squares reduced
 * in float by its tree, the reductions and the tail added in double */
static double cvar_sum(float *d, const float *x, float mean, int C)
{
    int c = 0;
    double sum = 0.0;
#if defined(__AVX512F__) && defined(__AVX512DQ__)
    for (; c + 15 < C; c += 16) {
        const __m512 v = _mm512_sub_ps(_mm512_loadu_ps(x + c), _mm512_set1_ps(mean));
        _mm512_storeu_ps(d + c, v);
        sum += (double)_mm512_reduce_add_ps(_mm512_mul_ps(v, v));
    }
#elif defined(__AVX2__) && defined(__FMA__)
    for (; c + 7 < C; c += 8) {
        __m256 v = _mm256_sub_ps(_mm256_loadu_ps(x + c), _mm256_set1_ps(mean));
        _mm256_storeu_ps(d + c, v);
        v = _mm256_mul_ps(v, v);
        __m128 h = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        sum += (double)_mm_cvtss_f32(h);
    }
#endif
    for (; c < C; c++) {
        const float v = x[c] - mean;
        d[c] = v;
        sum += (double)(v * v);
    }
    return sum;
}

void tl_layernorm_rows_ggml(float *out, const float *inp, const float *w, const float *b, int N, int C, float eps)
{
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        double s = 0.0;
        for (int c = 0; c < C; c++)
            s += (double)x[c];
        const float mean = (float)s / (float)C;
        const float var = (float)(cvar_sum(o, x, mean, C) / C);
        const float scale = 1.0f / sqrtf(var + eps);
        for (int c = 0; c < C; c++) /* ggml_norm, then ggml_mul by w and ggml_add of b: three roundings */
            o[c] = o[c] * scale * w[c] + b[c];
    }
}
