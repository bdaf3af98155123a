#include "tensor/reduce.h"

#include <math.h>

#include "tensor/simd.h"

float tl_vec_max(const float *x, int n)
{
    const int nf = n / VW * VW;
    vf vm = vset1(-INFINITY);
    for (int i = 0; i < nf; i += VW)
        vm = vmax(vm, vload(x + i));
    float mx = vhmax(vm);
    for (int i = nf; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    return mx;
}

float tl_vec_sum(const float *x, int n)
{
    const int nf = n / VW * VW;
    vf s = vzero();
    for (int i = 0; i < nf; i += VW)
        s = vadd(s, vload(x + i));
    float sum = vsum(s);
    for (int i = nf; i < n; i++)
        sum += x[i];
    return sum;
}

double tl_vec_exp_shift(float *x, int n, float mx, float invt)
{
    const int nf = n / VW * VW;
    const vf vmx = vset1(mx), vt = vset1(invt);
    vf vs = vzero();
    for (int i = 0; i < nf; i += VW) {
        vf e = vexp_neg(vmul(vsub(vload(x + i), vmx), vt));
        vstore(x + i, e);
        vs = vadd(vs, e);
    }
    double sum = vsum(vs);
    for (int i = nf; i < n; i++) {
        x[i] = expf((x[i] - mx) * invt);
        sum += x[i];
    }
    return sum;
}
