/* Prompt-processing speed of tl_wlin_nt with block-quantized weights on the 135M Llama's FFN
 * shapes (random blocks; values do not change the work):
 *   wlin_q [N [THREADS [RUNS]]]
 * gate+up (w2, O 1536, C 576; Q8_0/Q4_0, as no K type fits rows of 576) and down (O 576, C 1536;
 * every type) over N rows (default 128); prints the best of RUNS (default 5) in ms and GMAC/s.
 * Link it against two builds of libteelm_core.a to compare kernels in one run (bench/RESULTS.md). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/quant.h"
#include "tensor/wlinear.h"
#include "util/pool.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static unsigned rnd8(void)
{
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(rs >> 56);
}

/* random bytes with small f16 scales where each type keeps them */
static unsigned char *weights(tl_dtype dt, int O, int C)
{
    const size_t bb = tl_dtype_block_bytes(dt), rb = tl_dtype_bytes(dt, (size_t)C) * (size_t)O;
    unsigned char *w = malloc(rb);
    for (size_t i = 0; i < rb; i++)
        w[i] = (unsigned char)rnd8();
    const uint16_t h = tl_q_f32_to_f16(0.01f);
    for (size_t b = 0; b < rb; b += bb) {
        memcpy(w + b + (dt == TL_DT_Q6_K ? 208 : 0), &h, 2);
        if (dt == TL_DT_Q4_K)
            memcpy(w + b + 2, &h, 2);
    }
    return w;
}

static void run(const char *name, tl_dtype dt, int O, int C, int gated, int N, int runs)
{
    unsigned char *w = weights(dt, O, C), *w2 = gated ? weights(dt, O, C) : NULL;
    float *x = malloc((size_t)N * C * sizeof *x), *y = malloc((size_t)N * O * sizeof *y);
    for (size_t i = 0; i < (size_t)N * C; i++)
        x[i] = (float)rnd8() / 64.0f - 2.0f;
    const tl_wlin op = {w, dt, NULL, y, O, 0, w2};
    double best = 1e30;
    for (int r = 0; r < runs; r++) {
        const double t0 = now();
        tl_wlin_nt(&op, 1, x, N, C);
        const double t = now() - t0;
        best = t < best ? t : best;
    }
    const double macs = (double)N * O * C * (gated ? 2 : 1);
    printf("%-5s %-7s O %4d C %4d N %3d: %8.3f ms %6.2f GMAC/s\n", tl_dtype_name(dt), name, O, C, N, best * 1e3,
           macs / best * 1e-9);
    free(w);
    free(w2);
    free(x);
    free(y);
}

int main(int argc, char **argv)
{
    const int N = argc > 1 ? atoi(argv[1]) : 128, threads = argc > 2 ? atoi(argv[2]) : 2;
    const int runs = argc > 3 ? atoi(argv[3]) : 5;
    tl_set_threads(threads);
    const tl_dtype q0[] = {TL_DT_Q8_0, TL_DT_Q4_0}, all[] = {TL_DT_Q8_0, TL_DT_Q4_0, TL_DT_Q4_K, TL_DT_Q6_K};
    for (int i = 0; i < 2; i++)
        run("gate+up", q0[i], 1536, 576, 1, N, runs);
    for (int i = 0; i < 4; i++)
        run("down", all[i], 576, 1536, 0, N, runs);
    return 0;
}
