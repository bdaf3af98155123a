/* LayerNorm over the last dimension (nn.LayerNorm: biased variance, eps inside the square root). */
#ifndef TEELM_TENSOR_LAYERNORM_H
#define TEELM_TENSOR_LAYERNORM_H

/* out[N,C] = (inp - mean) * rstd * w + b; mean[N], rstd[N] are kept for the backward pass. */
void tl_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                          const float *b, int N, int C, float eps);
/* The same normalization for inference (no statistics kept), with vectorized sums: the last bits
 * may differ from tl_layernorm_forward; each row's result depends only on that row. out may be inp. */
void tl_layernorm_rows(float *out, const float *inp, const float *w, const float *b, int N, int C, float eps);

/* The same as llama.cpp's CPU backend computes it (ggml_norm, then the weight and bias as two
 * more operations): the mean from a double sum in order, the variance from ggml_vec_cvar_f32's
 * sums, each step rounded where ggml rounds it. out may be inp. */
void tl_layernorm_rows_ggml(float *out, const float *inp, const float *w, const float *b, int N, int C, float eps);

/* dinp[N,C] += ..., dw[C] += ..., db[C] += ... */
void tl_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                           const float *w, const float *mean, const float *rstd, int N, int C);

#endif
