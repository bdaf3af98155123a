/* llama.cpp's repacked Q4_0 products (tensor/qdot8.h) against the independent numpy reference
 * tests/reference/quant_ref.py (kernels8: random 8-row matrices, 1-4 activation rows), bit for
 * bit through the SIMD and the scalar code; then tl_wlin_nt over matrices of 8k rows (which take
 * that arithmetic; the 16-output prompt kernel included) against tl_q_dot8_scalar, with bias,
 * residual add and gate/up; and which matrices are repacked. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/dtype.h"
#include "tensor/qdot8.h"
#include "tensor/quant.h"
#include "tensor/wlinear.h"
#include "test.h"
#include "util/pool.h"

/* the reference file: see quant_ref.py write_kernels8 */
static void check_reference(const unsigned char *b, size_t len)
{
    CHECK(len > 8 && memcmp(b, "QR8K", 4) == 0);
    uint32_t count;
    memcpy(&count, b + 4, 4);
    size_t o = 8;
    int seen = 0;
    for (uint32_t c = 0; c < count && o + 16 <= len; c++) {
        char name[9] = {0};
        memcpy(name, b + o, 8);
        uint32_t n, R;
        memcpy(&n, b + o + 8, 4);
        memcpy(&R, b + o + 12, 4);
        o += 16;
        const int dt = tl_dtype_from_name_any(name);
        CHECKF(dt == TL_DT_Q4_0 && R >= 1 && R <= 4, "case %u: %s R %u", c, name, R);
        if (dt != TL_DT_Q4_0 || R < 1 || R > 4)
            return;
        seen++;
        const size_t wr = tl_dtype_bytes((tl_dtype)dt, n), ar = tl_q_act_bytes((tl_dtype)dt, n);
        const unsigned char *w = b + o, *a = w + 8 * wr;
        float want[32], got[32], sc[32];
        memcpy(want, a + R * ar, R * 8 * sizeof(float));
        o += 8 * wr + R * ar + R * 8 * sizeof(float);
        tl_q_dot8((tl_dtype)dt, n, w, wr, a, ar, (int)R, got);
        tl_q_dot8_scalar((tl_dtype)dt, n, w, wr, a, ar, (int)R, sc);
        CHECKF(memcmp(got, want, R * 8 * sizeof(float)) == 0, "%s case %u n %u R %u: SIMD differs from the reference",
               name, c, n, R);
        CHECKF(memcmp(sc, want, R * 8 * sizeof(float)) == 0, "%s case %u n %u R %u: scalar differs from the reference",
               name, c, n, R);
    }
    CHECK(o == len);
    CHECK(seen > 0);
}

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static float frand(void)
{
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rs >> 40) / 16777216.0) * 2.0f - 1.0f;
}

/* random blocks with sane f16 scales */
static unsigned char *rand_weights(tl_dtype dt, int O, int C)
{
    const size_t rb = tl_dtype_bytes(dt, (size_t)C) * (size_t)O, bb = tl_dtype_block_bytes(dt);
    unsigned char *w = malloc(rb);
    for (size_t i = 0; i < rb; i++)
        w[i] = (unsigned char)(frand() * 127.0f + 128.0f);
    for (size_t b = 0; b < rb; b += bb) {
        const uint16_t h = tl_q_f32_to_f16(0.02f * frand());
        memcpy(w + b, &h, 2);
    }
    return w;
}

/* tl_wlin_nt on matrices of 8k rows against tl_q_dot8_scalar, memcmp-exact */
static void check_wlin(void)
{
    const tl_dtype types[] = {TL_DT_Q4_0};
    const int Ns[] = {1, 3, 4, 6, 9, 37}, Os[] = {8, 24, 40};
    for (int ti = 0; ti < 1; ti++)
        for (int oi = 0; oi < 3; oi++)
            for (int ni = 0; ni < 6; ni++) {
                const tl_dtype dt = types[ti];
                const int N = Ns[ni], O = Os[oi], C = 512;
                unsigned char *w = rand_weights(dt, O, C), *w2 = rand_weights(dt, O, C);
                float *x = malloc((size_t)N * C * sizeof *x), *bias = malloc((size_t)O * sizeof *bias);
                float *y[3], *e[3];
                for (int i = 0; i < N * C; i++)
                    x[i] = frand() * (i % 7 == 0 ? 20.0f : 2.0f);
                for (int i = 0; i < O; i++)
                    bias[i] = frand();
                for (int v = 0; v < 3; v++) {
                    y[v] = malloc((size_t)N * O * sizeof *y[v]);
                    e[v] = malloc((size_t)N * O * sizeof *e[v]);
                    for (int i = 0; i < N * O; i++)
                        y[v][i] = e[v][i] = frand();
                }
                const tl_wlin ops[3] = {{w, dt, bias, y[0], O, 0, NULL}, {w2, dt, bias, y[1], O, 1, NULL},
                                        {w, dt, bias, y[2], O, 1, w2}};
                tl_wlin_nt(ops, 3, x, N, C);
                const size_t rb = tl_dtype_bytes(dt, (size_t)C), ab = tl_q_act_bytes(dt, (size_t)C);
                unsigned char *q = malloc((size_t)N * ab);
                for (int n = 0; n < N; n++)
                    tl_q_quantize_act(dt, x + (size_t)n * C, q + (size_t)n * ab, (size_t)C);
                for (int n = 0; n < N; n++)
                    for (int o0 = 0; o0 < O; o0 += 8) {
                        float a[8], u[8];
                        tl_q_dot8_scalar(dt, (size_t)C, w + rb * o0, rb, q + (size_t)n * ab, ab, 1, a);
                        tl_q_dot8_scalar(dt, (size_t)C, w2 + rb * o0, rb, q + (size_t)n * ab, ab, 1, u);
                        for (int p = 0; p < 8; p++) {
                            const float g = a[p] + bias[o0 + p];
                            e[0][n * O + o0 + p] = g;
                            e[1][n * O + o0 + p] += u[p] + bias[o0 + p];
                            e[2][n * O + o0 + p] += g / (1.0f + expf(-g)) * u[p];
                        }
                    }
                for (int v = 0; v < 3; v++)
                    CHECKF(memcmp(y[v], e[v], (size_t)N * O * sizeof *y[v]) == 0, "wlin %s O %d N %d variant %d",
                           tl_dtype_name(dt), O, N, v);
                free(q);
                for (int v = 0; v < 3; v++) {
                    free(y[v]);
                    free(e[v]);
                }
                free(x);
                free(bias);
                free(w);
                free(w2);
            }
}

int main(void)
{
#if defined(__AVX2__)
    CHECK(tl_q_repacked(TL_DT_Q4_0, 64) && tl_q_repacked(TL_DT_Q4_0, 8) && !tl_q_repacked(TL_DT_Q4_0, 1500) &&
          !tl_q_repacked(TL_DT_Q4_K, 64) &&
          !tl_q_repacked(TL_DT_Q8_0, 64) && !tl_q_repacked(TL_DT_Q6_K, 64) && !tl_q_repacked(TL_DT_F16, 64));
#else
    CHECK(!tl_q_repacked(TL_DT_Q4_0, 64));
#endif
    tl_set_threads(2);
    check_wlin();
    for (int seed = 1; seed <= 3; seed++) {
        size_t len = 0;
        unsigned char *b = test_reference_bytes(&len, "quant_ref.py kernels8 --seed %d", seed);
        if (b)
            check_reference(b, len);
        free(b);
    }
    return test_finish();
}
