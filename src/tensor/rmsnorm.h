/* RMSNorm over the last dimension (Llama family: x / sqrt(mean(x²) + eps) · w), float32. */
#ifndef TEELM_TENSOR_RMSNORM_H
#define TEELM_TENSOR_RMSNORM_H

/* out[N,C] = inp · rsqrt(mean_c inp² + eps) · w. Each row's result depends only on that row
 * (vectorized sum of squares in a fixed order). out may be inp. */
void tl_rmsnorm_rows(float *out, const float *inp, const float *w, int N, int C, float eps);

#endif
