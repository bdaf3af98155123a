/* RMSNorm over the last dimension (Llama family: x / sqrt(mean(x²) + eps) · w), float32. */
#ifndef TEELM_TENSOR_RMSNORM_H
#define TEELM_TENSOR_RMSNORM_H

/* out[N,C] = inp · rsqrt(mean_c inp² + eps) · w. Each row's result depends only on that row
 * (vectorized sum of squares in a fixed order). out may be inp. */
void tl_rmsnorm_rows(float *out, const float *inp, const float *w, int N, int C, float eps);
/* The same as llama.cpp's CPU backend computes it (ggml's rms_norm then mul): Σx² summed in double
 * in order, scale = 1 / sqrtf((float)(Σ/C) + eps) in float, y = x · scale · w. */
void tl_rmsnorm_rows_ggml(float *out, const float *inp, const float *w, int N, int C, float eps);

#endif
