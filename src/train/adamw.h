/* AdamW exactly as torch.optim.AdamW (PyTorch 1.13, single-tensor path) with its defaults:
 *   p *= 1 - lr*wd;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g²;
 *   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 * applied to every float of the arena (padding stays 0 because its gradient is 0). */
#ifndef TEELM_TRAIN_ADAMW_H
#define TEELM_TRAIN_ADAMW_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
} tl_adamw;

/* betas 0.9/0.999, eps 1e-8, weight decay 0.01 */
tl_adamw tl_adamw_defaults(double lr);
/* One update; t is the step number (1 for the first step). */
void tl_adamw_step(const tl_adamw *o, float *p, const float *g, float *m, float *v, size_t n, int64_t t);

#endif
