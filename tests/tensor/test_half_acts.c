/* llama.cpp's arithmetic for half-precision weights (model/config.h round_half_acts):
 *  - tl_dtype_round_f32 is tl_dtype_from_f32 then tl_dtype_to_f32, bit for bit, on every class of
 *    float (ties, subnormals, the overflow edge, infinities, NaN) and on every bfloat16/half
 *    neighbourhood of random values;
 *  - a tl_wlin product with xround gives exactly the product of the rounded input without it (NT
 *    with several ops of mixed types in one call, NN), and rounding changes a BF16 product;
 *  - tl_gelu_tanh_ggml on a whole row (its vector path) equals it element by element (the scalar
 *    path, which the GGUF GPT-2 tests hold against llama.cpp). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/rng.h"
#include "tensor/dtype.h"
#include "tensor/gelu_tanh.h"
#include "tensor/wlinear.h"
#include "util/pool.h"
#include "test.h"

static tl_rng rng;

static float bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int same_bits(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof(float)) == 0;
}

/* the same bits, or both NaN (a NaN's payload is not promised) */
static int same_vals(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], 4) && !(isnan(a[i]) && isnan(b[i])))
            return 0;
    return 1;
}

static void test_round(tl_dtype dt)
{
    enum { N = 4096 };
    static float x[N], got[N], want[N];
    const uint32_t special[] = {0, 0x80000000u, 1, 0x807fffffu, 0x00800000u, 0x33000000u, 0x33800001u,
                                0x387fc000u, 0x38800000u, 0x477fe000u, 0x477ff000u, 0x477fefffu, 0x7f7fffffu,
                                0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u, 0xffc12345u, 0x3f808000u,
                                0x3f818000u, 0x3f800fffu, 0x3f801000u, 0x3f803000u};
    size_t n = 0;
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        x[n++] = bits(special[i]);
    while (n < N) { /* random values and their neighbours at the rounding boundaries of both types */
        uint32_t u = (uint32_t)(tl_rng_double(&rng) * 4294967296.0);
        const uint32_t k = (uint32_t)(n % 8);
        u = k < 2 ? u : k < 4 ? (u & 0xffff0000u) | 0x8000u | (k & 1) : k < 6 ? (u & 0xffffe000u) | 0x1000u : u;
        x[n++] = bits(u);
    }
    uint16_t h[N];
    tl_dtype_from_f32(dt, x, h, N);
    tl_dtype_to_f32(dt, h, want, N);
    tl_dtype_round_f32(dt, x, got, N);
    CHECKF(same_vals(got, want, N), "%s: round_f32 = from_f32 + to_f32", tl_dtype_name(dt));
    memcpy(got, x, sizeof got);
    tl_dtype_round_f32(dt, got, got, N); /* in place */
    CHECKF(same_vals(got, want, N), "%s: in place", tl_dtype_name(dt));
}

static float *rnd(size_t n)
{
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(2 * tl_rng_double(&rng) - 1);
    return p;
}

static void *half(tl_dtype dt, const float *f, size_t n)
{
    void *h = malloc(n * 2);
    tl_dtype_from_f32(dt, f, h, n);
    return h;
}

/* NT: three ops over the same x (F16, BF16, and F16 with a gate) in one call, rounded, against
 * each op on its own pre-rounded input; NN the same. */
static void test_wlin(int N, int C, int O)
{
    float *x = rnd((size_t)N * C), *wf = rnd((size_t)O * C), *w2f = rnd((size_t)O * C), *bias = rnd((size_t)O);
    void *w16 = half(TL_DT_F16, wf, (size_t)O * C), *wb = half(TL_DT_BF16, wf, (size_t)O * C);
    void *w2 = half(TL_DT_F16, w2f, (size_t)O * C);
    float *x16 = malloc((size_t)N * C * sizeof(float)), *xb = malloc((size_t)N * C * sizeof(float));
    tl_dtype_round_f32(TL_DT_F16, x, x16, (size_t)N * C);
    tl_dtype_round_f32(TL_DT_BF16, x, xb, (size_t)N * C);
    const size_t on = (size_t)N * O;
    float *g[3], *w[3], *raw = malloc(on * sizeof(float));
    for (int k = 0; k < 3; k++) {
        g[k] = calloc(on, sizeof(float));
        w[k] = calloc(on, sizeof(float));
    }
    const tl_wlin ops[3] = {{w16, TL_DT_F16, bias, g[0], O, 0, NULL, 1},
                            {wb, TL_DT_BF16, NULL, g[1], O, 0, NULL, 1},
                            {w16, TL_DT_F16, NULL, g[2], O, 0, w2, 1}};
    tl_wlin_nt(ops, 3, x, N, C);
    const tl_wlin r0 = {w16, TL_DT_F16, bias, w[0], O, 0, NULL, 0}, r1 = {wb, TL_DT_BF16, NULL, w[1], O, 0, NULL, 0},
                  r2 = {w16, TL_DT_F16, NULL, w[2], O, 0, w2, 0}, r3 = {wb, TL_DT_BF16, NULL, raw, O, 0, NULL, 0};
    tl_wlin_nt(&r0, 1, x16, N, C);
    tl_wlin_nt(&r1, 1, xb, N, C);
    tl_wlin_nt(&r2, 1, x16, N, C);
    tl_wlin_nt(&r3, 1, x, N, C);
    for (int k = 0; k < 3; k++)
        CHECKF(same_bits(g[k], w[k], on), "NT N %d C %d O %d op %d: rounded x", N, C, O, k);
    CHECKF(!same_bits(g[1], raw, on), "NT N %d C %d O %d: rounding x to BF16 changes the product", N, C, O);
    /* NN: W [C][O] */
    memset(g[0], 0, on * sizeof(float));
    memset(w[0], 0, on * sizeof(float));
    const tl_wlin n0 = {wb, TL_DT_BF16, bias, g[0], O, 0, NULL, 1}, n1 = {wb, TL_DT_BF16, bias, w[0], O, 0, NULL, 0};
    tl_wlin_nn(&n0, x, N, C);
    tl_wlin_nn(&n1, xb, N, C);
    CHECKF(same_bits(g[0], w[0], on), "NN N %d C %d O %d: rounded x", N, C, O);
    for (int k = 0; k < 3; k++) {
        free(g[k]);
        free(w[k]);
    }
    free(raw);
    free(x);
    free(wf);
    free(w2f);
    free(bias);
    free(w16);
    free(wb);
    free(w2);
    free(x16);
    free(xb);
}

static void test_gelu(void)
{
    enum { N = 70000 };
    float *x = malloc(N * sizeof(float)), *one = malloc(N * sizeof(float));
    size_t n = 0;
    for (uint32_t i = 0; i < 65536; i++) { /* every half value (NaN, inf, the +-10 edges among them) */
        const uint16_t hv = (uint16_t)i;
        tl_dtype_to_f32(TL_DT_F16, &hv, &x[n++], 1);
    }
    for (; n < N; n++) /* values between halves, and the -10 / 10 edges from both sides */
        x[n] = n % 5 == 0 ? (n % 2 ? 10.0f : -10.0f) + (float)(tl_rng_double(&rng) - 0.5) * 1e-5f
                          : (float)(24 * tl_rng_double(&rng) - 12);
    memcpy(one, x, N * sizeof(float));
    tl_gelu_tanh_ggml(x, N);
    for (size_t i = 0; i < N; i++)
        tl_gelu_tanh_ggml(&one[i], 1);
    int bad = 0;
    for (size_t i = 0; i < N; i++)
        bad += !(memcmp(&x[i], &one[i], 4) == 0 || (isnan(x[i]) && isnan(one[i])));
    CHECKF(bad == 0, "gelu_ggml: a row differs from its elements one at a time in %d places", bad);
    float e[3] = {-10.0f, 10.0f, 12.5f};
    tl_gelu_tanh_ggml(e, 3);
    CHECK(e[0] == 0.0f && e[1] == 10.0f && e[2] == 12.5f);
    free(x);
    free(one);
}

int main(void)
{
    rng = tl_rng_seed(7);
    test_round(TL_DT_F16);
    test_round(TL_DT_BF16);
    const int shapes[][3] = {{1, 64, 40}, {3, 100, 37}, {8, 576, 64}, {17, 33, 19}};
    for (int t = 1; t <= 2; t++) {
        tl_set_threads(t);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            test_wlin(shapes[s][0], shapes[s][1], shapes[s][2]);
    }
    test_gelu();
    return test_finish();
}
