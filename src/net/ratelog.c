/* Rate-limited event lines (ratelog.h). */
#include "net/ratelog.h"

int tl_ratelog_event(tl_ratelog *r, double now, double interval, unsigned long *held)
{
    if (r->last > 0 && now - r->last < interval) {
        r->suppressed++;
        return 0;
    }
    *held = r->suppressed;
    r->suppressed = 0;
    r->last = now;
    return 1;
}

unsigned long tl_ratelog_take(tl_ratelog *r, double now)
{
    unsigned long n = r->suppressed;
    r->suppressed = 0;
    if (n)
        r->last = now;
    return n;
}
