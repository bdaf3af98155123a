/* llama.cpp's repacked Q4_0 / Q4_K products (tensor/qdot8.h) against the independent numpy
 * reference tests/reference/quant_ref.py (kernels8: random 8-row matrices, 1-4 activation rows,
 * gemm and gemv rows), bit for bit through the SIMD and the scalar code, and which matrices are
 * repacked. test_ggml_ops checks the same kernels against ggml's own. tl_wlin_nt over such
 * matrices (the prompt kernel included) is test_quant's check_tiles. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/dtype.h"
#include "tensor/qdot8.h"
#include "tensor/quant.h"
#include "test.h"

/* the reference file: see quant_ref.py write_kernels8 */
static int differs; /* Q4_K gemm rows whose bits differ from the same rows as gemv rows */

static void check_reference(const unsigned char *b, size_t len)
{
    CHECK(len > 8 && memcmp(b, "QR8K", 4) == 0);
    uint32_t count;
    memcpy(&count, b + 4, 4);
    size_t o = 8;
    int seen[2] = {0, 0}, gemm_rows = 0;
    for (uint32_t c = 0; c < count && o + 20 <= len; c++) {
        char name[9] = {0};
        memcpy(name, b + o, 8);
        uint32_t n, R;
        memcpy(&n, b + o + 8, 4);
        memcpy(&R, b + o + 12, 4);
        const unsigned char *gemm = b + o + 16;
        o += 20;
        const int dt = tl_dtype_from_name_any(name);
        CHECKF((dt == TL_DT_Q4_0 || dt == TL_DT_Q4_K) && R >= 1 && R <= 4, "case %u: %s R %u", c, name, R);
        if ((dt != TL_DT_Q4_0 && dt != TL_DT_Q4_K) || R < 1 || R > 4)
            return;
        seen[dt == TL_DT_Q4_K]++;
        const size_t wr = tl_dtype_bytes((tl_dtype)dt, n), ar = tl_q_act_bytes((tl_dtype)dt, n);
        const unsigned char *w = b + o, *a = w + 8 * wr;
        float want[32], got[32], sc[32];
        memcpy(want, a + R * ar, R * 8 * sizeof(float));
        o += 8 * wr + R * ar + R * 8 * sizeof(float);
        tl_q_dot8((tl_dtype)dt, n, w, wr, a, ar, (int)R, gemm, got);
        tl_q_dot8_scalar((tl_dtype)dt, n, w, wr, a, ar, (int)R, gemm, sc);
        CHECKF(memcmp(got, want, R * 8 * sizeof(float)) == 0, "%s case %u n %u R %u: SIMD differs from the reference",
               name, c, n, R);
        CHECKF(memcmp(sc, want, R * 8 * sizeof(float)) == 0, "%s case %u n %u R %u: scalar differs from the reference",
               name, c, n, R);
        for (uint32_t r = 0; r < R; r++)
            gemm_rows += gemm[r] != 0;
        if (dt == TL_DT_Q4_K) { /* gemm rows round otherwise than gemv rows (else a lost flag would not show) */
            const unsigned char none[4] = {0, 0, 0, 0};
            float g0[32];
            tl_q_dot8((tl_dtype)dt, n, w, wr, a, ar, (int)R, none, g0);
            for (uint32_t r = 0; r < R; r++)
                differs += gemm[r] && memcmp(g0 + 8 * r, got + 8 * r, 8 * sizeof(float)) != 0;
        }
    }
    CHECK(o == len);
    CHECK(seen[0] > 0 && seen[1] > 0 && gemm_rows > 0);
}

int main(void)
{
#if defined(__AVX2__)
    CHECK(tl_q_repacked(TL_DT_Q4_0, 64) && tl_q_repacked(TL_DT_Q4_0, 8) && !tl_q_repacked(TL_DT_Q4_0, 1500) &&
          tl_q_repacked(TL_DT_Q4_K, 64) && !tl_q_repacked(TL_DT_Q4_K, 36) &&
          !tl_q_repacked(TL_DT_Q8_0, 64) && !tl_q_repacked(TL_DT_Q6_K, 64) && !tl_q_repacked(TL_DT_F16, 64));
#else
    CHECK(!tl_q_repacked(TL_DT_Q4_0, 64));
#endif
    for (int seed = 1; seed <= 3; seed++) {
        size_t len = 0;
        unsigned char *b = test_reference_bytes(&len, "quant_ref.py kernels8 --seed %d", seed);
        if (b)
            check_reference(b, len);
        free(b);
    }
    CHECKF(differs > 0, "Q4_K: gemm and gemv rows gave the same bits in every case");
    return test_finish();
}
