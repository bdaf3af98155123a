/* llama.cpp's repacked Q4_0 products (tensor/qdot8.h) against the independent numpy reference
 * tests/reference/quant_ref.py (kernels8: random 8-row matrices, 1-4 activation rows), bit for
 * bit through the SIMD and the scalar code, and which matrices are repacked. tl_wlin_nt over such
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

int main(void)
{
#if defined(__AVX2__)
    CHECK(tl_q_repacked(TL_DT_Q4_0, 64) && tl_q_repacked(TL_DT_Q4_0, 8) && !tl_q_repacked(TL_DT_Q4_0, 1500) &&
          !tl_q_repacked(TL_DT_Q4_K, 64) &&
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
    return test_finish();
}
