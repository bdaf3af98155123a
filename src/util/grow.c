#include "util/grow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/secmem.h"

int tl_grow_(void *arrp, size_t *cap, size_t need, size_t elem, size_t first, int secret)
{
    size_t c = *cap ? *cap : (first ? first : 1);
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return -1;
        c *= 2;
    }
    if (c > SIZE_MAX / elem) /* elem: a sizeof, never 0 */
        return -1;
    void *p;
    memcpy(&p, arrp, sizeof p);
    void *q = secret ? tl_sec_realloc(p, c * elem) : realloc(p, c * elem);
    if (!q)
        return -1;
    memcpy(arrp, &q, sizeof q);
    *cap = c;
    return 0;
}
