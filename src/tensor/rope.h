/* Rotary position embeddings as Hugging Face applies them (docs/architectures.md "RoPE"): the
 * rotate_half form, element c < hd/2 paired with c + hd/2 (not interleaved pairs), with the
 * rope_scaling types linear and llama3. */
#ifndef TEELM_TENSOR_ROPE_H
#define TEELM_TENSOR_ROPE_H


enum { TL_ROPE_PLAIN = 0, TL_ROPE_SCALE_LINEAR = 1, TL_ROPE_SCALE_LLAMA3 = 2 }; /* = tl_rope_type */

/* inv[0..hd/2) = 1 / θ^(2i/hd), rescaled per type (linear: / factor; llama3: Meta's apply_scaling
 * with factor, lo, hi, orig_ctx), rounded to float32 as HF keeps them. */
void tl_rope_inv_freq(float *inv, int hd, float theta, int type, float factor, float lo, float hi, int orig_ctx);
/* cs[0..hd/2) = cos(p·inv[i]), cs[hd/2..hd) = sin(p·inv[i]) with the angle p·inv[i] in float32 (HF). */
void tl_rope_table(float *cs, const float *inv, int hd, int p);
/* Rotates nh heads of hd floats at x (heads hd apart) by the table cs of their position:
 * y[c] = x[c]·cos − x[c+hd/2]·sin, y[c+hd/2] = x[c+hd/2]·cos + x[c]·sin, each product rounded. */
void tl_rope_apply(float *x, int nh, int hd, const float *cs);

/* The same two steps as llama.cpp's CPU backend computes them (ggml's rope cache and
 * rotate_pairs, docs/gguf.md "Numbers against llama.cpp"): the angle of pair i is
 * freq_scale · (p · s^i) with s = powf(θ, −2/hd) and the power taken by i float multiplications,
 * cos/sin in float (cosf, sinf); the rotation fuses one product into the other
 * (fma(x0, cos, −x1·sin), fma(x0, sin, x1·cos)). */
void tl_rope_table_ggml(float *cs, int hd, int p, float theta, float freq_scale);
void tl_rope_apply_ggml(float *x, int nh, int hd, const float *cs);

#endif
