/* The block-quantized types (tensor/quant.h) against the independent numpy reference
 * tests/reference/quant_ref.py, bit for bit: activation quantization (Q8_0 / Q8_K bytes),
 * dequantization, the per-block integer dot products with ggml's float order (AVX2 and scalar),
 * the _ref weight quantizers; then tl_wlin_nt over block-type weights against per-row dots
 * (bias, residual add, gate/up), mixed types in one call, and the dtype helpers. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/dtype.h"
#include "tensor/qdot8.h"
#include "tensor/quant.h"
#include "tensor/wlinear.h"
#include "test.h"
#include "util/pool.h"

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void check_helpers(void)
{
    CHECK(tl_dtype_from_name("Q8_0") == -1); /* safetensors never meets a block type */
    CHECK(tl_dtype_from_name_any("Q4_K") == TL_DT_Q4_K);
    CHECK(tl_dtype_from_name("F16") == TL_DT_F16 && tl_dtype_from_name_any("BF16") == TL_DT_BF16);
    CHECK(tl_dtype_size(TL_DT_Q6_K) == 0 && tl_dtype_size(TL_DT_F32) == 4 && tl_dtype_size(TL_DT_BOOL) == 1);
    CHECK(tl_dtype_block(TL_DT_Q4_0) == 32 && tl_dtype_block(TL_DT_Q6_K) == 256 && tl_dtype_block(TL_DT_BF16) == 1);
    CHECK(tl_dtype_bytes(TL_DT_Q8_0, 64) == 68 && tl_dtype_bytes(TL_DT_Q4_0, 32) == 18);
    CHECK(tl_dtype_bytes(TL_DT_Q4_K, 512) == 288 && tl_dtype_bytes(TL_DT_Q6_K, 256) == 210);
    CHECK(tl_dtype_bytes(TL_DT_Q4_K, 100) == SIZE_MAX && tl_dtype_bytes(TL_DT_F16, 7) == 14);
    CHECK(tl_dtype_bytes(TL_DT_COUNT, 1) == SIZE_MAX && tl_dtype_bytes(TL_DT_Q8_0, SIZE_MAX / 32 * 32) == SIZE_MAX);
    CHECK(tl_dtype_is_block(TL_DT_Q4_K) && !tl_dtype_is_block(TL_DT_F32));
    CHECK(strcmp(tl_dtype_name(TL_DT_Q6_K), "Q6_K") == 0);
    CHECK(tl_q_act_type(TL_DT_Q4_0) == TL_DT_Q8_0 && tl_q_act_type(TL_DT_Q6_K) == TL_Q8_K && tl_q_act_type(TL_DT_F32) == -1);
}

/* the reference file: see quant_ref.py write_kernels */
static void check_kernels(const unsigned char *b, size_t len)
{
    CHECK(len > 8 && memcmp(b, "QREF", 4) == 0);
    uint32_t count;
    memcpy(&count, b + 4, 4);
    size_t o = 8;
    int seen[TL_DT_COUNT] = {0};
    for (uint32_t c = 0; c < count && o < len; c++) {
        char name[9] = {0};
        memcpy(name, b + o, 8);
        uint32_t n;
        memcpy(&n, b + o + 8, 4);
        o += 12;
        const int dt = tl_dtype_from_name_any(name);
        CHECKF(dt >= 0 && tl_dtype_is_block((tl_dtype)dt), "type %s", name);
        if (dt < 0)
            return;
        seen[dt]++;
        float *x = malloc(n * sizeof *x), *dq = malloc(n * sizeof *dq), *mine = malloc(n * sizeof *mine);
        memcpy(x, b + o, n * 4);
        o += n * 4;
        const unsigned char *w = b + o;
        o += tl_dtype_bytes((tl_dtype)dt, n);
        const size_t ab = tl_q_act_bytes((tl_dtype)dt, n);
        const unsigned char *aref = b + o;
        o += ab;
        memcpy(dq, b + o, n * 4);
        o += n * 4;
        float dot;
        memcpy(&dot, b + o, 4);
        uint32_t wqn;
        memcpy(&wqn, b + o + 4, 4);
        const unsigned char *wq = b + o + 8;
        o += 8 + wqn;

        unsigned char *act = malloc(ab);
        tl_q_quantize_act((tl_dtype)dt, x, act, n);
        CHECKF(memcmp(act, aref, ab) == 0, "%s case %u: quantized activations differ", name, c);
        tl_dtype_to_f32((tl_dtype)dt, w, mine, n);
        int bad = 0;
        for (uint32_t i = 0; i < n; i++)
            bad += fbits(mine[i]) != fbits(dq[i]);
        CHECKF(bad == 0, "%s case %u: %d dequantized elements differ", name, c, bad);
        const float d1 = tl_q_dot((tl_dtype)dt, n, w, aref), d2 = tl_q_dot_scalar((tl_dtype)dt, n, w, aref);
        CHECKF(fbits(d1) == fbits(dot), "%s case %u n %u: dot %.9g, reference %.9g", name, c, n, d1, dot);
        CHECKF(fbits(d2) == fbits(dot), "%s case %u n %u: scalar dot %.9g, reference %.9g", name, c, n, d2, dot);
        if (wqn) {
            unsigned char *q = malloc(wqn);
            CHECK(tl_q_quantize_weights((tl_dtype)dt, x, q, n) == 0);
            CHECKF(wqn == tl_dtype_bytes((tl_dtype)dt, n) && memcmp(q, wq, wqn) == 0, "%s case %u: weight quantization",
                   name, c);
            free(q);
        }
        free(act);
        free(x);
        free(dq);
        free(mine);
    }
    CHECK(o == len);
    CHECK(seen[TL_DT_Q8_0] && seen[TL_DT_Q4_0] && seen[TL_DT_Q4_K] && seen[TL_DT_Q6_K]);
}

static uint64_t rs = 88172645463325252ull;
static float frand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)((double)(rs >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* random weights quantized by the C quantizers (Q8_0/Q4_0) or random blocks with sane scales */
static unsigned char *rand_weights(tl_dtype dt, int O, int C)
{
    const size_t rb = tl_dtype_bytes(dt, (size_t)C);
    unsigned char *w = malloc(rb * (size_t)O);
    float *row = malloc((size_t)C * sizeof *row);
    for (int o = 0; o < O; o++) {
        unsigned char *r = w + rb * (size_t)o;
        if (dt == TL_DT_Q8_0 || dt == TL_DT_Q4_0) {
            for (int c = 0; c < C; c++)
                row[c] = frand();
            tl_q_quantize_weights(dt, row, r, (size_t)C);
        } else {
            for (size_t i = 0; i < rb; i++)
                r[i] = (unsigned char)((frand() + 1.0f) * 127.99f);
            for (size_t b = 0; b < rb; b += tl_dtype_block_bytes(dt)) {
                const uint16_t h = tl_q_f32_to_f16(0.01f * (1.5f + frand())), h2 = tl_q_f32_to_f16(0.002f * (1.5f + frand()));
                if (dt == TL_DT_Q4_K) {
                    memcpy(r + b, &h, 2);
                    memcpy(r + b + 2, &h2, 2);
                } else {
                    memcpy(r + b + 208, &h, 2);
                }
            }
        }
    }
    free(row);
    return w;
}

static void check_wlin(void)
{
    const tl_dtype types[] = {TL_DT_Q8_0, TL_DT_Q4_0, TL_DT_Q4_K, TL_DT_Q6_K};
    const int C = 512, O = 37, Ns[] = {1, 3, 9};
    for (int ti = 0; ti < 4; ti++)
        for (int ni = 0; ni < 3; ni++) {
            const tl_dtype dt = types[ti];
            const int N = Ns[ni];
            unsigned char *w = rand_weights(dt, O, C), *w2 = rand_weights(dt, O, C);
            /* a second op of another type in the same call (Q4_K_M mixes them) */
            const tl_dtype dt2 = types[(ti + 1) % 4];
            unsigned char *wb = rand_weights(dt2, O, C);
            float *x = malloc((size_t)N * C * sizeof *x), bias[64], *y = malloc((size_t)N * O * sizeof *y),
                  *y2 = malloc((size_t)N * O * sizeof *y2), *y3 = malloc((size_t)N * O * sizeof *y3);
            for (int i = 0; i < N * C; i++)
                x[i] = frand() * 3;
            for (int i = 0; i < O; i++)
                bias[i] = frand();
            for (int i = 0; i < N * O; i++)
                y[i] = y3[i] = frand();
            const float *y0 = NULL;
            float *keep = malloc((size_t)N * O * sizeof *keep);
            memcpy(keep, y, (size_t)N * O * sizeof *keep);
            y0 = keep;
            const tl_wlin ops[3] = {{w, dt, bias, y, O, 1, NULL}, {w, dt, NULL, y2, O, 0, w2}, {wb, dt2, bias, y3, O, 0, NULL}};
            tl_wlin_nt(ops, 3, x, N, C);
            unsigned char *q = malloc(tl_q_act_bytes(dt, C)), *q2 = malloc(tl_q_act_bytes(dt2, C));
            const size_t rb = tl_dtype_bytes(dt, C), rb2 = tl_dtype_bytes(dt2, C);
            int bad = 0;
            for (int n = 0; n < N; n++) {
                tl_q_quantize_act(dt, x + (size_t)n * C, q, C);
                tl_q_quantize_act(dt2, x + (size_t)n * C, q2, C);
                for (int o = 0; o < O; o++) {
                    const float a = tl_q_dot_scalar(dt, C, w + rb * o, q) + bias[o];
                    const float g = tl_q_dot_scalar(dt, C, w + rb * o, q), u = tl_q_dot_scalar(dt, C, w2 + rb * o, q);
                    const float e1 = y0[n * O + o] + a, e2 = g / (1.0f + expf(-g)) * u;
                    const float e3 = tl_q_dot_scalar(dt2, C, wb + rb2 * o, q2) + bias[o];
                    bad += fbits(y[n * O + o]) != fbits(e1) || fbits(y2[n * O + o]) != fbits(e2) ||
                           fbits(y3[n * O + o]) != fbits(e3);
                }
            }
            CHECKF(bad == 0, "wlin %s+%s N %d: %d outputs differ from the per-row dots", tl_dtype_name(dt),
                   tl_dtype_name(dt2), N, bad);
            free(q);
            free(q2);
            free(keep);
            free(w);
            free(w2);
            free(wb);
            free(x);
            free(y);
            free(y2);
            free(y3);
        }
}

/* raw random blocks (every byte value, Q8_0's -128 included) with sane f16 scales */
static unsigned char *raw_weights(tl_dtype dt, int O, int C)
{
    if (dt == TL_DT_Q4_K || dt == TL_DT_Q6_K)
        return rand_weights(dt, O, C);
    const size_t rb = tl_dtype_bytes(dt, (size_t)C) * (size_t)O, bb = tl_dtype_block_bytes(dt);
    unsigned char *w = malloc(rb);
    for (size_t i = 0; i < rb; i++)
        w[i] = (unsigned char)(rs = rs * 6364136223846793005ull + 1442695040888963407ull, rs >> 56);
    for (size_t b = 0; b < rb; b += bb) {
        const uint16_t h = tl_q_f32_to_f16(0.02f * frand());
        memcpy(w + b, &h, 2);
    }
    return w;
}

/* tl_wlin_nt's register tiles (tensor/quant_tile.h) against a loop of tl_q_dot, memcmp-exact:
 * every type, rows 1..13 (tile tails), O not a multiple of the tile or of the work item (output
 * tails of 7, 5, 1, 3, 6), several widths, plain / bias / residual add / gate-up; and Q4_0 and
 * Q4_K of 24 and 40 rows, which llama.cpp repacks (tensor/qdot8.h), against tl_q_dot8_scalar
 * (37 rows: the prompt kernel's two row chunks), its first N - N % 4 rows as ggml's gemm rows,
 * the rest as gemv rows */
static void check_tiles(void)
{
    const tl_dtype types[] = {TL_DT_Q8_0, TL_DT_Q4_0, TL_DT_Q4_K, TL_DT_Q6_K};
    const int Ns[] = {1, 2, 3, 4, 5, 7, 8, 37}, Cs[] = {256, 512, 1024 + 256, 96}, Os[] = {23, 37, 17, 19, 22, 24, 40};
    int cases = 0, repacked = 0;
    for (int ti = 0; ti < 4; ti++)
        for (int ci = 0; ci < 4; ci++)
            for (int oi = 0; oi < 7; oi++) {
                const tl_dtype dt = types[ti];
                const int C = Cs[ci], O = Os[oi];
                if (C % (int)tl_dtype_block(dt))
                    continue;
                const size_t rb = tl_dtype_bytes(dt, (size_t)C);
                unsigned char *w = (oi % 2 ? rand_weights : raw_weights)(dt, O, C), *w2 = raw_weights(dt, O, C);
                for (int ni = 0; ni < 8; ni++) {
                    const int N = Ns[ni];
                    float *x = malloc((size_t)N * C * sizeof *x), *bias = malloc((size_t)O * sizeof *bias);
                    float *y[4], *e[4];
                    for (int i = 0; i < N * C; i++)
                        x[i] = frand() * (i % 7 == 0 ? 20.0f : 2.0f);
                    for (int i = 0; i < O; i++)
                        bias[i] = frand();
                    for (int v = 0; v < 4; v++) {
                        y[v] = malloc((size_t)N * O * sizeof *y[v]);
                        e[v] = malloc((size_t)N * O * sizeof *e[v]);
                        for (int i = 0; i < N * O; i++)
                            y[v][i] = e[v][i] = frand();
                    }
                    unsigned char gm[37];
                    for (int n = 0; n < N; n++)
                        gm[n] = n < N - N % 4;
                    const tl_wlin ops[4] = {{w, dt, NULL, y[0], O, 0, NULL, .gemm = gm},
                                            {w, dt, bias, y[1], O, 0, NULL, .gemm = gm},
                                            {w2, dt, bias, y[2], O, 1, NULL, .gemm = gm},
                                            {w, dt, bias, y[3], O, 1, w2, .gemm = gm}};
                    tl_wlin_nt(ops, 4, x, N, C);
                    unsigned char *q = malloc(tl_q_act_bytes(dt, (size_t)C));
                    for (int n = 0; n < N; n++) {
                        tl_q_quantize_act(dt, x + (size_t)n * C, q, (size_t)C);
                        float av[40], uv[40];
                        for (int o = 0; o < O; o++) {
                            if (tl_q_repacked(dt, O) && o % 8 == 0) {
                                tl_q_dot8_scalar(dt, (size_t)C, w + rb * o, rb, q, 0, 1, gm + n, av + o);
                                tl_q_dot8_scalar(dt, (size_t)C, w2 + rb * o, rb, q, 0, 1, gm + n, uv + o);
                            }
                            const int rp = tl_q_repacked(dt, O);
                            const float a = rp ? av[o] : tl_q_dot(dt, (size_t)C, w + rb * o, q);
                            const float u = rp ? uv[o] : tl_q_dot(dt, (size_t)C, w2 + rb * o, q);
                            const float g = a + bias[o];
                            float *ev = e[0] + n * O + o;
                            *ev = a;
                            e[1][n * O + o] = a + bias[o];
                            e[2][n * O + o] += u + bias[o];
                            e[3][n * O + o] += g / (1.0f + expf(-g)) * u;
                        }
                    }
                    for (int v = 0; v < 4; v++)
                        CHECKF(memcmp(y[v], e[v], (size_t)N * O * sizeof *y[v]) == 0, "tile %s C %d O %d N %d variant %d",
                               tl_dtype_name(dt), C, O, N, v);
                    cases++;
                    repacked += tl_q_repacked(dt, O);
                    free(q);
                    for (int v = 0; v < 4; v++) {
                        free(y[v]);
                        free(e[v]);
                    }
                    free(x);
                    free(bias);
                }
                free(w);
                free(w2);
            }
    CHECK(cases == 8 * 7 * (2 * 4 + 2 * 3));
#if defined(__AVX2__)
    CHECK(repacked == 8 * 2 * (4 + 3)); /* O 24 and 40: Q4_0 in four widths, Q4_K in three */
#endif
}

int main(void)
{
    check_helpers();
    tl_set_threads(2);
    check_wlin();
    check_tiles();
    for (int seed = 1; seed <= 3; seed++) {
        size_t len = 0;
        unsigned char *b = test_reference_bytes(&len, "quant_ref.py kernels --seed %d --rows 24", seed);
        if (b)
            check_kernels(b, len);
        free(b);
    }
    return test_finish();
}
