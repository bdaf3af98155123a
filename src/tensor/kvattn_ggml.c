/* Attention of one query row as llama.cpp's CPU backend computes it without flash attention
 * (docs/gguf.md "Numbers against llama.cpp"): kq = mul_mat(k, q), soft_max_ext(kq, mask, scale),
 * kqv = mul_mat(vᵀ, kq), every sum in ggml's order. The key/value cache it reads holds n_kv
 * positions, a multiple of 64 (llama.cpp pads n_kv to 256, or to its cache size), masked past the
 * query's position: those add exact zeros, so only positions < n are visited here. */
#include "tensor/kvattn.h"

#include <math.h>
#include <stddef.h>

#include "tensor/expf_ggml.h"
#include "tensor/vecdot_ggml.h"

#if TL_GGML_LANES == 16 && defined(TL_VEC_DOT_GGML)

/* For each of hd outputs c (16 at a time, in the lanes): _mm512_reduce_add_ps over the 16
 * partial sums a[l][c], l < 16 (its tree: l + 8, then + 4, then + 2, then + 1) */
static void reduce16_rows(float *out, float *a, int hd)
{
    for (int c = 0; c < hd; c += 16) {
        __m512 t[16];
        for (int l = 0; l < 16; l++)
            t[l] = _mm512_loadu_ps(a + (size_t)l * hd + c);
        for (int w = 8; w >= 1; w /= 2)
            for (int l = 0; l < w; l++)
                t[l] = _mm512_add_ps(t[l + w], t[l]);
        _mm512_storeu_ps(out + c, t[0]);
    }
}

int tl_kvattn_ggml_exact(int hd) { return hd % 16 == 0; }

void tl_kvattn_row_ggml(float *out, const float *q, const float *K, const float *V, int n, int hd, float scale,
                        int prefill, float *s)
{
    if (hd % 16) {
        tl_kvattn_row(out, q, K, V, n, hd, scale, s);
        return;
    }
    /* kq[u] = k_u · q (vec_dot_f32), then soft_max_ext: kq · scale (+ the mask's 0) */
    float m = -INFINITY;
    for (int u = 0; u < n; u++) {
        s[u] = tl_vec_dot_f32_ggml(K + (size_t)u * hd, q, hd) * scale;
        m = s[u] > m ? s[u] : m;
    }
    /* ggml_vec_soft_max_f32: e^(x - max) sixteen at a time, each group's sum (reduce_add) added
     * in double; masked positions give e^-inf = 0 */
    const int ng = (n + 15) / 16;
    for (int u = n; u < ng * 16; u++)
        s[u] = -INFINITY;
    double sum = 0.0;
    for (int g = 0; g < ng; g++) {
        const __m512 e = tl_vexpf_ggml(_mm512_sub_ps(_mm512_loadu_ps(s + 16 * g), _mm512_set1_ps(m)));
        _mm512_storeu_ps(s + 16 * g, e);
        sum += (double)_mm512_reduce_add_ps(e);
    }
    const float inv = (float)(1.0 / sum);
    for (int u = 0; u < n; u++)
        s[u] *= inv;
    /* kqv[c] = Σ_u p_u v_u[c]: a decoding row as ggml_vec_dot_f32 over n_kv (chain u % 64, the
     * four 16-lane chains added pairwise, then reduced), a prompt row as llamafile's tinyBLAS
     * (chain u % 16, reduced); the partial sums live in a[chain][c] (s + n rounded up, 64 hd) */
    float *a = s + (size_t)ng * 16;
    const int nc = prefill ? 16 : 64;
    for (size_t i = 0; i < (size_t)nc * hd; i++)
        a[i] = 0.0f;
    for (int u = 0; u < n; u++) {
        const __m512 p = _mm512_set1_ps(s[u]);
        const float *v = V + (size_t)u * hd;
        float *acc = a + (size_t)(u % nc) * hd;
        for (int c = 0; c < hd; c += 16)
            _mm512_storeu_ps(acc + c, _mm512_fmadd_ps(_mm512_loadu_ps(v + c), p, _mm512_loadu_ps(acc + c)));
    }
    if (!prefill) /* chains j and j + 32 (s0 + s2, s1 + s3), then those two: into chains 0..15 */
        for (int l = 0; l < 16; l++)
            for (int c = 0; c < hd; c += 16) {
                float *r = a + (size_t)l * hd + c;
                const __m512 x0 = _mm512_add_ps(_mm512_loadu_ps(r), _mm512_loadu_ps(r + (size_t)32 * hd));
                const __m512 x1 =
                    _mm512_add_ps(_mm512_loadu_ps(r + (size_t)16 * hd), _mm512_loadu_ps(r + (size_t)48 * hd));
                _mm512_storeu_ps(r, _mm512_add_ps(x0, x1));
            }
    reduce16_rows(out, a, hd);
}

#else

int tl_kvattn_ggml_exact(int hd)
{
    (void)hd;
    return 0;
}

void tl_kvattn_row_ggml(float *out, const float *q, const float *K, const float *V, int n, int hd, float scale,
                        int prefill, float *s)
{
    (void)prefill;
    tl_kvattn_row(out, q, K, V, n, hd, scale, s);
}

#endif
