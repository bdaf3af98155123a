/* Internal to src/tensor: the 12 packed bytes of a Q4_K block's 6-bit sub-block scales and
 * minimums (ggml's layout), unpacked for dequantization (quant.c), the dot products (qdot.c) and
 * the register tiles (quant_tile.c). Plain C: every target may include it. */
#ifndef TEELM_TENSOR_Q4K_SCALES_H
#define TEELM_TENSOR_Q4K_SCALES_H

#include <stdint.h>
#include <string.h>

/* ggml's get_scale_min_k4: scale and min j (0..7) */
static inline void q4k_scale_min(int j, const uint8_t *q, int *d, int *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* All sixteen at once, as the bytes of u: the 8 scales, then the 8 mins. Always inlined: so the
 * register tiles compile to the instructions they had with it written out. */
static inline __attribute__((always_inline)) void q4k_scales16(const uint8_t *q, uint32_t u[4])
{
    memcpy(u, q, 12);
    u[3] = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
    const uint32_t t = u[1] & 0x3f3f3f3f;
    u[1] = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
    u[2] = t;
    u[0] &= 0x3f3f3f3f;
}

#endif
