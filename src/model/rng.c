#include "model/rng.h"

#include <math.h>

double tl_rng_normal(tl_rng *r)
{
    double u1 = 1.0 - tl_rng_double(r); /* (0, 1]: log is finite */
    double u2 = tl_rng_double(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
