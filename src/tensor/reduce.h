/* Vectorized reductions over one float array, for callers outside src/tensor/ (the sampler): the
 * lane order of the sums is that of tensor/simd.h, fixed at compile time, so results are
 * reproducible on one build. */
#ifndef TEELM_TENSOR_REDUCE_H
#define TEELM_TENSOR_REDUCE_H

/* max of x[0..n) (n >= 1) */
float tl_vec_max(const float *x, int n);
/* sum of x[0..n), accumulated lane-wise, then across lanes, then the tail */
float tl_vec_sum(const float *x, int n);
/* x[i] = exp((x[i] - mx) * invt) in place (x[i] <= mx: softmax numerators, the max maps to exactly
 * 1; results below ~1e-38 flush to 0 in the vector part) and returns their sum. */
double tl_vec_exp_shift(float *x, int n, float mx, float invt);

#endif
